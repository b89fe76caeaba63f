import type { Logger } from 'pino';
import { type ClientSession, S } from './client-session';

/**
 * The draining half of a graceful stop: closes each session once it is between statements with
 * nothing pinned (so transactions, locks and statements in flight finish), until none is left or
 * `timeoutMs` passed; the caller then closes whatever is left.
 */
export async function drainSessions(sessions: Map<number, ClientSession>, timeoutMs: number, log: Logger): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const s of [...sessions.values()]) {
      if ((s.state === S.IDLE && s.st.pins === 0) || s.state === S.HANDSHAKE || s.state === S.AUTH) s.close('proxy shutting down');
    }
    if (sessions.size === 0 || Date.now() >= deadline) break;
    // Off the hot path: a coarse poll costs nothing here and keeps sessions free of shutdown hooks.
    await new Promise((r) => setTimeout(r, 50));
  }
  if (sessions.size > 0) log.warn({ sessions: sessions.size, timeoutMs }, 'shutdown timeout: closing sessions still in a transaction or statement');
}
