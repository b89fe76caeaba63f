import type { Logger } from 'pino';
import { PacketTooLargeError } from '../protocol/framer';
import { buildErr } from '../protocol/ok-err';
import { Err, ProxyError } from '../errors';
import type { ClientConn } from './client-conn';
import type { ClientSession } from './client-session';
import { HandshakeRefusedError } from './login';
import type { ProxyContext } from './proxy-context';

/** The ERR a session sends before closing on a malformed client packet, and its sequence id. */
export interface ProtocolErrorReply {
  errno: number;
  sqlState: string;
  message: string;
  seq: number;
}

/**
 * The answer to a malformed client packet: during login, the refusal the login chose or Bad
 * handshake (1043), after the last login packet; after login, ER_NET_PACKET_TOO_LARGE (1153) after
 * the oversized packet, else ER_NET_PACKETS_OUT_OF_ORDER (1156) as the command's first response.
 */
export function protocolErrorReply(e: Error, inLogin: boolean, loginSeq: number): ProtocolErrorReply {
  const seq = (loginSeq + 1) & 0xff;
  if (inLogin) {
    if (e instanceof HandshakeRefusedError) return { errno: e.errno, sqlState: e.sqlState, message: e.message, seq };
    return { errno: 1043, sqlState: '08S01', message: `Bad handshake: ${e.message}`, seq };
  }
  if (e instanceof PacketTooLargeError) return { errno: 1153, sqlState: '08S01', message: e.message, seq: (e.seq + 1) & 0xff };
  return { errno: 1156, sqlState: '08S01', message: `Got packets out of order or malformed: ${e.message}`, seq: 1 };
}

/** What failure handling needs from its session. */
export interface FaultHost {
  readonly id: number;
  readonly ctx: ProxyContext;
  readonly client: ClientConn;
  readonly log: Logger;
  /** The session's named state (set to closed when even closing fails). */
  state: string;
  /** In the handshake or authentication exchange. */
  readonly inLogin: boolean;
  readonly loginSeq: number;
  sendPacket(w: ReturnType<typeof buildErr>, seq: number): void;
  sendErr(e: Error, seq: number): void;
  close(reason: string): void;
}

/** A malformed client packet: ERR (see {@link protocolErrorReply}), then the session closes. */
export function protocolFailure(s: FaultHost, e: Error): void {
  s.log.info({ err: e.message, state: s.state }, 'malformed client packet; closing session');
  const r = protocolErrorReply(e, s.inLogin, s.loginSeq);
  s.sendPacket(buildErr(r.errno, r.sqlState, r.message), r.seq);
  s.close('protocol error');
}

/**
 * An unexpected throw on a session's path (a bug, or input no check caught): logged at error level
 * and counted (tenantgate_internal_errors_total), the client told with ERR 9003 where a packet can
 * still be sent, and only this session ended. Never throws.
 */
export function fault(s: FaultHost, e: unknown, where: string, seq: number): void {
  const err = e instanceof Error ? e : new Error(String(e));
  try {
    s.ctx.metrics.internalErrors.inc({ where });
    s.log.error({ err: err.stack, where, state: s.state }, 'internal error; closing this session');
    if (s.state === 'closed') return;
    const q = seq >= 0 ? seq : s.inLogin ? (s.loginSeq + 1) & 0xff : 1;
    s.sendErr(new ProxyError(Err.INTERNAL, 'tenantgate internal error; the session is closed'), q);
    s.close('internal error');
  } catch (again) {
    s.ctx.log.error({ err: (again as Error).stack, session: s.id }, 'closing a faulted session failed; destroying its socket');
    s.state = 'closed';
    s.ctx.sessions.delete(s.id);
    s.ctx.handshaking.delete(s as unknown as ClientSession);
    s.client.socket.destroy();
  }
}

/** Dropped to make room for a newer unauthenticated connection (max_handshake_connections): ERR 1040. */
export function evictUnauthenticated(s: FaultHost): void {
  if (s.ctx.log.isLevelEnabled('debug')) s.log.debug({ state: s.state }, 'unauthenticated connection dropped: handshake budget full');
  s.sendPacket(buildErr(1040, '08004', 'Too many connections'), (s.loginSeq + 1) & 0xff);
  s.close('handshake budget full');
}
