import { Com } from '../protocol/constants';
import { Q, QueryInfo } from '../classify/lexer';
import type { Frame } from '../protocol/framer';
import type { ErrPacket } from '../protocol/ok-err';
import { framePayload, PacketWriter } from '../protocol/packet-writer';
import type { BackendConnection, BackendStmt } from '../backend/backend-connection';

/**
 * A prepared statement as the client sees it. Its id is the proxy's; the statement is prepared
 * on demand on whichever backend connection executes it (keyed by schema + SQL there).
 */
export interface ClientStmt {
  id: number;
  /** SQL text bytes as the client sent them. */
  sql: Buffer;
  /** Cache key on backend connections: schema at prepare time + SQL. */
  key: string;
  schema: string | null;
  numParams: number;
  numColumns: number;
  /** Parameter types from the last execute that bound them (2 bytes per parameter). */
  paramTypes: Buffer | null;
  /** COM_STMT_SEND_LONG_DATA chunks buffered until the next execute. */
  longData: { param: number; data: Buffer }[] | null;
  longDataBytes: number;
  cursorOpen: boolean;
  /**
   * The lexer's scan of the SQL, used for every execute as for a text query: pins (a temporary
   * table, a user lock), user variables, LAST_INSERT_ID()/FOUND_ROWS() restores.
   */
  info: QueryInfo | null;
}

/** ER_MAX_PREPARED_STMT_COUNT_REACHED: the server-wide max_prepared_stmt_count is used up. */
export const ER_MAX_PREPARED_STMT_COUNT_REACHED = 1461;

/**
 * Which backend statements client statements still hold, per backend pool: a backend statement
 * (schema + SQL on one connection) is closed on the server as soon as no client statement of any
 * session holds its key any more, so COM_STMT_CLOSE through the proxy frees server resources as it
 * does directly (Prepared_stmt_count stays flat under prepare+close loops, as with PHP PDO).
 */
interface PoolStmts {
  holds: Map<string, number>;
  /** Connections of the pool that may cache statements (closed ones are pruned as they are seen). */
  conns: Set<BackendConnection>;
}

const registry = new WeakMap<object, PoolStmts>();

function poolStmts(pool: object): PoolStmts {
  let r = registry.get(pool);
  if (!r) registry.set(pool, (r = { holds: new Map(), conns: new Set() }));
  return r;
}

/** A client statement now holds `key` on `pool` (called when the client's PREPARE succeeded). */
export function holdStmt(pool: object, key: string): void {
  const h = poolStmts(pool).holds;
  h.set(key, (h.get(key) ?? 0) + 1);
}

/**
 * Client statements were closed (COM_STMT_CLOSE, session reset or end). Every backend statement
 * whose key no client holds any more is closed: at once on `current` (the caller's own connection,
 * at a command boundary) and on idle pooled connections, or when a busy connection is released.
 */
export function releaseStmts(pool: object, stmts: Iterable<ClientStmt>, current: BackendConnection | null): void {
  const r = poolStmts(pool);
  let orphans: string[] | null = null;
  for (const st of stmts) {
    const n = (r.holds.get(st.key) ?? 1) - 1;
    if (n > 0) r.holds.set(st.key, n);
    else {
      r.holds.delete(st.key);
      (orphans ??= []).push(st.key);
    }
  }
  if (orphans === null) return;
  for (const conn of r.conns) {
    if (conn.closed) {
      r.conns.delete(conn);
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
 * statements cached on `conn`, so a PREPARE can be retried there. Client statements that still
 * hold an evicted key are prepared again on demand when next executed. Returns how many were closed.
 */
export function evictLru(conn: BackendConnection): number {
  const n = Math.max(1, conn.stmts.size >> 1);
  let done = 0;
  for (const [k, v] of conn.stmts) {
    if (done >= n) break;
    conn.stmts.delete(k);
    closeBackendStmt(conn, v.id);
    done++;
  }
  return done;
}

/** Records a backend statement in a connection's bounded cache, closing what falls out (or what it replaces). */
export function rememberBackendStmt(conn: BackendConnection, key: string, bs: BackendStmt, max: number): void {
  if (conn.pool !== null) poolStmts(conn.pool as object).conns.add(conn);
  const old = conn.stmts.get(key);
  if (old && old.id !== bs.id) closeBackendStmt(conn, old.id);
  conn.stmts.delete(key);
  while (conn.stmts.size >= max) {
    const [k, v] = conn.stmts.entries().next().value as [string, BackendStmt];
    conn.stmts.delete(k);
    closeBackendStmt(conn, v.id);
  }
  conn.stmts.set(key, bs);
}

function closeBackendStmt(conn: BackendConnection, id: number): void {
  if (!conn.closed) conn.socket.write(new PacketWriter(8).u8(Com.STMT_CLOSE).u32(id).finish(0));
}

/**
 * Makes sure `st` is prepared on `conn` (preparing it there, under the schema it was prepared
 * in, if needed). Resolves with the server's ERR if preparing fails.
 */
export async function ensureBackendStmt(conn: BackendConnection, st: ClientStmt, max: number): Promise<ErrPacket | null> {
  if (conn.stmts.has(st.key)) return null;
  const switchSchema = st.schema !== null && st.schema !== conn.schema;
  const back = conn.schema;
  if (switchSchema) {
    const r = await conn.command(new PacketWriter(64).u8(Com.INIT_DB).string(st.schema as string), 'ok');
    if (r.err) return r.err;
  }
  const prep = new PacketWriter(st.sql.length + 1).u8(Com.STMT_PREPARE).bytes(st.sql).finish(0);
  let r = await conn.command(prep.subarray(4), 'prepare');
  if (r.err && r.err.errno === ER_MAX_PREPARED_STMT_COUNT_REACHED && evictLru(conn) > 0) r = await conn.command(prep.subarray(4), 'prepare');
  if (switchSchema && back !== null) await conn.command(new PacketWriter(64).u8(Com.INIT_DB).string(back), 'ok');
  if (r.err) return r.err;
  const p = r.prepare as { stmtId: number; numColumns: number; numParams: number };
  rememberBackendStmt(conn, st.key, { id: p.stmtId, numParams: p.numParams, numColumns: p.numColumns, types: null }, max);
  return null;
}

/**
 * The bytes to send for a client's COM_STMT_EXECUTE on `conn`: buffered long data first, then the
 * execute with the backend's statement id — and with the parameter types re-sent when the client
 * relies on types bound earlier that this backend statement has not seen.
 */
export function executePacket(conn: BackendConnection, st: ClientStmt, frame: Frame): Buffer[] {
  const bs = conn.stmts.get(st.key) as BackendStmt;
  // LRU: mark as recently used
  conn.stmts.delete(st.key);
  conn.stmts.set(st.key, bs);
  const out: Buffer[] = [];
  if (st.longData) {
    for (const ld of st.longData) {
      out.push(new PacketWriter(ld.data.length + 8).u8(Com.STMT_SEND_LONG_DATA).u32(bs.id).u16(ld.param).bytes(ld.data).finish(0));
    }
    st.longData = null;
    st.longDataBytes = 0;
  }
  const p = frame.payload;
  const n = st.numParams;
  const nb = (n + 7) >> 3;
  const at = 10 + nb;
  const bound = n > 0 && p.length > at ? p[at] : 0;
  if (n === 0 || bound === 1 || st.paramTypes === null || bs.types === st.paramTypes) {
    p.writeUInt32LE(bs.id, 1);
    if (bound === 1) bs.types = st.paramTypes;
    out.push(frame.raw ?? framePayload(p, 0));
    return out;
  }
  // Client re-executes with "types unchanged" but this backend statement never got them: send them.
  const types = st.paramTypes;
  const q = Buffer.allocUnsafe(p.length + types.length);
  p.copy(q, 0, 0, at);
  q.writeUInt32LE(bs.id, 1);
  q[at] = 1;
  types.copy(q, at + 1);
  p.copy(q, at + 1 + types.length, at + 1);
  bs.types = types;
  out.push(framePayload(q, 0));
  return out;
}

/**
 * Whether a statement must not be prepared on a backend: KILL would reach the server with the
 * client's (proxy-side) id and could kill another session's backend thread. The answer mimics a
 * server's for statements it cannot prepare, so clients that fall back to COM_QUERY on it
 * (mysqltest --ps-protocol, libmariadb) send the KILL as text, where the proxy maps the id.
 */
export function refusePrepare(info: QueryInfo): ErrPacket | null {
  if (info.flags & Q.KILL) return { errno: 1295, sqlState: 'HY000', message: 'This command is not supported in the prepared statement protocol yet' };
  return null;
}
