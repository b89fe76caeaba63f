import type { Logger } from 'pino';
import { Cap } from '../protocol/constants';
import { buildErr } from '../protocol/ok-err';
import type { PacketWriter } from '../protocol/packet-writer';
import type { Backend } from '../backend/pool';
import type { SessionState } from '../session/session-state';
import type { ClientConn } from './client-conn';
import type { ProxyContext } from './proxy-context';

/** Like the server's connect_timeout: a client that has not logged in by then is disconnected. */
export const LOGIN_TIMEOUT_MS = 10_000;

/** Which timeout, if any, has passed for a session (checked by the proxy's sweep). */
export type TimeoutAction = 'login' | 'net_read' | 'wait' | null;

/** The facts {@link timeoutAction} decides on (times in ms, `waitTimeoutSec` in seconds, 0: never). */
export interface TimeoutFacts {
  /** The session's named state (handshake, auth, idle, busy, infile, closed). */
  state: string;
  now: number;
  /** When the current login (or COM_CHANGE_USER) exchange started. */
  loginStartedAt: number;
  /** Bytes of an incomplete client packet buffered (0: between packets). */
  buffered: number;
  lastInput: number;
  netReadTimeoutMs: number;
  /** When the session last became idle. */
  idleSince: number;
  waitTimeoutSec: number;
}

/**
 * The login timeout counts from the start of the login exchange; in the middle of a packet (idle or
 * LOCAL INFILE) net_read_timeout applies; an idle session between packets gets wait_timeout, counted
 * from the later of becoming idle and its last input. A running statement is never timed out here.
 */
export function timeoutAction(f: TimeoutFacts): TimeoutAction {
  const state = f.state;
  if (state === 'handshake' || state === 'auth') return f.now - f.loginStartedAt >= LOGIN_TIMEOUT_MS ? 'login' : null;
  if (state === 'busy' || state === 'closed') return null;
  if (f.buffered > 0) return f.now - f.lastInput >= f.netReadTimeoutMs ? 'net_read' : null;
  if (state !== 'idle') return null;
  const wt = f.waitTimeoutSec;
  return wt > 0 && f.now - Math.max(f.idleSince, f.lastInput) >= wt * 1000 ? 'wait' : null;
}

/**
 * Seconds of inactivity after which the server would close the connection (0: never): the session's
 * own wait_timeout, else the backend's — for an interactive client its interactive_timeout, as a
 * server starts such a client's wait_timeout with it.
 */
export function waitTimeoutSec(sessionValue: string | undefined, clientCaps: number, backend: { interactiveTimeout: number; waitTimeout: number } | null): number {
  if (sessionValue !== undefined) return Number(sessionValue);
  if (!backend) return 0;
  return Math.max(0, clientCaps & Cap.INTERACTIVE ? backend.interactiveTimeout : backend.waitTimeout);
}

/** What the timeout check needs from its session. */
export interface TimeoutHost {
  readonly ctx: ProxyContext;
  readonly client: ClientConn;
  readonly st: SessionState;
  readonly log: Logger;
  readonly state: string;
  readonly backend: Backend | null;
  readonly clientCaps: number;
  readonly loginStartedAt: number;
  readonly idleSince: number;
  /** Sequence id of the last login packet (the login timeout's ERR follows it). */
  readonly loginSeq: number;
  sendPacket(w: PacketWriter, seq: number): void;
  close(reason: string): void;
}

/** Closes the session if a login, idle or read timeout has passed at `now`. */
export function checkTimeouts(s: TimeoutHost, now: number): void {
  const c = s.client;
  const state = s.state;
  const wt = state === 'idle' && c.buffered === 0 ? waitTimeoutSec(s.st.vars.get('wait_timeout'), s.clientCaps, s.backend) : 0;
  const action = timeoutAction({
    state,
    now,
    loginStartedAt: s.loginStartedAt,
    buffered: c.buffered,
    lastInput: c.lastInput,
    netReadTimeoutMs: s.ctx.config.server.netReadTimeoutMs,
    idleSince: s.idleSince,
    waitTimeoutSec: wt,
  });
  if (action === 'login') {
    s.sendPacket(buildErr(1043, '08S01', 'Bad handshake: login not completed within the connect timeout'), (s.loginSeq + 1) & 0xff);
    s.close('login timeout');
  } else if (action === 'net_read') {
    s.ctx.metrics.errors.inc({ kind: 'net_read_timeout' });
    s.log.info({ buffered: c.buffered, state }, 'client stopped in the middle of a packet; closing session');
    s.sendPacket(buildErr(1159, '08S01', 'Got timeout reading communication packets'), 1);
    s.close('net read timeout');
  } else if (action === 'wait') {
    // MariaDB 10.11 closes the socket without a packet (newer MySQL sends ERR 4031 first).
    s.ctx.metrics.errors.inc({ kind: 'wait_timeout' });
    if (s.ctx.log.isLevelEnabled('debug')) s.log.debug({ waitTimeout: wt, pinned: s.st.pins !== 0 }, 'wait_timeout: closing idle session');
    s.client.reset(); // before close(), which would send a FIN first
    s.close('wait_timeout');
  }
}
