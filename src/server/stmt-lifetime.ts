import { settleUseOrder } from '../cache/use-order';
import { Com } from '../protocol/constants';
import { PacketWriter } from '../protocol/packet-writer';
import type { BackendConnection } from '../backend/backend-connection';

/** ER_MAX_PREPARED_STMT_COUNT_REACHED: the server-wide max_prepared_stmt_count is used up. */
export const ER_MAX_PREPARED_STMT_COUNT_REACHED = 1461;

/**
 * Which backend statements client statements still hold: a backend statement (schema + SQL on one
 * connection) is closed on the server as soon as no client statement of any session holds its key
 * any more, so COM_STMT_CLOSE through the proxy frees server resources as it does directly
 * (Prepared_stmt_count stays flat under prepare+close loops, as with PHP PDO). One registry for the
 * process, not one per pool: a tenant's statement is prepared on one pool (the primary's) and may
 * be executed, so prepared again, on others (replicas, other accounts), and counts kept per pool
 * would never reach zero there. Sharing keys across backends only ever delays a close.
 */
const holds = new Map<string, number>();
/** Connections that may cache statements (closed ones are pruned as they are seen). */
const conns = new Set<BackendConnection>();

/** Writes COM_STMT_CLOSE for a backend statement id (the command has no response). */
export function closeBackendStmt(conn: BackendConnection, id: number): void {
  if (!conn.closed) conn.socket.write(new PacketWriter(8).u8(Com.STMT_CLOSE).u32(id).finish(0));
}

/** `conn` caches statements of its pool (so releaseStmts looks there). */
export function trackStmtConn(conn: BackendConnection): void {
  conns.add(conn);
}

/** A client statement now holds `key` (called when the client's PREPARE succeeded). */
export function holdStmt(key: string): void {
  holds.set(key, (holds.get(key) ?? 0) + 1);
}

/**
 * Client statements were closed (COM_STMT_CLOSE, session reset or end). Every backend statement
 * whose key no client holds any more is closed: at once on `current` (the caller's own connection,
 * at a command boundary) and on idle pooled connections, or when a busy connection is released.
 */
export function releaseStmts(stmts: Iterable<{ key: string }>, current: BackendConnection | null): void {
  let orphans: string[] | null = null;
  for (const st of stmts) {
    const n = (holds.get(st.key) ?? 1) - 1;
    if (n > 0) holds.set(st.key, n);
    else {
      holds.delete(st.key);
      (orphans ??= []).push(st.key);
    }
  }
  if (orphans === null) return;
  for (const conn of conns) {
    if (conn.closed) {
      conns.delete(conn);
      continue;
    }
    for (const key of orphans) {
      const bs = conn.stmts.get(key);
      if (!bs) continue;
      conn.stmts.delete(key);
      if (conn === current || conn.sink === null) closeBackendStmt(conn, bs.id);
      else (conn.pendingStmtCloses ??= []).push(bs.id);
    }
  }
}

/**
 * After a 1461 from the backend: closes the least recently used half (at least one) of the
 * statements cached on `conn` that hold no open cursor, so a PREPARE can be retried there. Client
 * statements that still hold an evicted key are prepared again on demand when next executed.
 * Returns how many were closed: 0 when every statement holds a cursor (the caller then lets the
 * server's 1461 through, as a server says it).
 */
export function evictLru(conn: BackendConnection): number {
  let free = 0;
  for (const v of conn.stmts.values()) if (!v.cursor) free++;
  if (free === 0) return 0;
  settleUseOrder(conn.stmts);
  const n = Math.max(1, free >> 1);
  let done = 0;
  for (const [k, v] of conn.stmts) {
    if (done >= n) break;
    if (v.cursor) continue;
    conn.stmts.delete(k);
    closeBackendStmt(conn, v.id);
    done++;
  }
  return done;
}
