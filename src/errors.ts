import { PacketWriter } from './protocol/packet-writer';
import { buildErr } from './protocol/ok-err';

/**
 * Proxy-only failures. Each has a stable code, an errno in the proxy's range (9000+, as ProxySQL
 * uses 9001 for "could not reach the backend") and a SQLSTATE.
 */
export const Err = {
  BACKEND_UNAVAILABLE: { code: 'BACKEND_UNAVAILABLE', errno: 9001, sqlState: 'HY000' },
  STATE_RESTORE: { code: 'STATE_RESTORE', errno: 9002, sqlState: 'HY000' },
  INTERNAL: { code: 'INTERNAL', errno: 9003, sqlState: 'HY000' },
  TOO_MANY_CONNECTIONS: { code: 'TOO_MANY_CONNECTIONS', errno: 1040, sqlState: '08004' },
  /** ER_USER_LIMIT_REACHED: one user's (tenant's) share of a backend pool is all held (max_connections_per_user). */
  USER_LIMIT: { code: 'USER_LIMIT', errno: 1226, sqlState: '42000' },
} as const;

export type ErrKind = (typeof Err)[keyof typeof Err];

/** An error a client is told about with a proper ERR packet. */
export class ProxyError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly sqlState: string;
  constructor(kind: ErrKind, message: string, readonly ids: { tenant?: string; client?: number; backend?: string } = {}) {
    super(message);
    this.code = kind.code;
    this.errno = kind.errno;
    this.sqlState = kind.sqlState;
  }
}

/** The ERR packet for any error: proxy errors keep their errno; backend availability maps to 9001. */
export function errPacket(e: Error): PacketWriter {
  if (e instanceof ProxyError) return buildErr(e.errno, e.sqlState, e.message);
  const code = (e as { code?: string }).code;
  if (code === 'BACKEND_REFUSED') {
    const r = e as Error & { errno: number; sqlState: string };
    return buildErr(r.errno, r.sqlState, r.message);
  }
  if (code === 'BACKEND_UNAVAILABLE') {
    return buildErr(Err.BACKEND_UNAVAILABLE.errno, Err.BACKEND_UNAVAILABLE.sqlState, `tenantgate: ${e.message}`);
  }
  if (code === 'BACKEND_CONNECT') {
    // Its message names the backend's address and account: for the log only.
    return buildErr(Err.BACKEND_UNAVAILABLE.errno, Err.BACKEND_UNAVAILABLE.sqlState, 'tenantgate: backend unavailable');
  }
  return buildErr(Err.INTERNAL.errno, Err.INTERNAL.sqlState, `tenantgate: ${e.message}`);
}
