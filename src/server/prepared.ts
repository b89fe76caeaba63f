import { settleUseOrder, touch } from '../cache/use-order';
import { ownedCopy } from '../protocol/owned-copy';
import { Com } from '../protocol/constants';
import type { StatementRoute } from '../routing/planner';
import type { DigestEntry } from '../metrics/digest-stats';
import type { Frame } from '../protocol/framer';
import type { ErrPacket } from '../protocol/ok-err';
import { framePayload, PacketWriter } from '../protocol/packet-writer';
import type { BackendConnection, BackendStmt } from '../backend/backend-connection';
import { Q, QueryInfo, scanQuery, type RoutineNames } from '../classify/lexer';
import { closeBackendStmt, ER_MAX_PREPARED_STMT_COUNT_REACHED, evictLru, trackStmtConn } from './stmt-lifetime';
import { rowCountExpr, substituteCalls } from './row-count';
import { type SysVarValues, sysVarEdits } from './sysvar-substitute';
import type { U64 } from '../protocol/packet-reader';

/**
 * A prepared statement as the client sees it. Its id is the proxy's; the statement is prepared
 * on demand on whichever backend connection executes it (keyed by schema + SQL there).
 */
export interface ClientStmt {
  id: number;
  /** SQL text bytes as the client sent them. */
  sql: Buffer;
  /** Its digest, computed once for the per-digest statistics (see Proxy.noteStatement). */
  digest?: string;
  /** Its digest-statistics entry, kept so an execute finds it without building a key (see Proxy.digestEntry). */
  statsEntry?: DigestEntry;
  /** Cache key on backend connections: schema at prepare time + SQL. */
  key: string;
  schema: string | null;
  numParams: number;
  numColumns: number;
  /** Parameter types from the last execute that bound them (2 bytes per parameter). */
  paramTypes: Buffer | null;
  /** COM_STMT_SEND_LONG_DATA chunks buffered until the next execute. */
  longData: { param: number; data: Buffer }[] | null;
  /** What `longData` is charged against the session's budget (data + LONG_DATA_CHUNK_COST per chunk; see long-data.ts). */
  longDataBytes: number;
  /** Data bytes buffered per parameter (made on the first chunk). */
  longDataParams?: Map<number, number> | null;
  /** Long data went past a limit: every EXECUTE fails with that error until COM_STMT_RESET (as on the server). */
  longDataError?: 'param' | 'session' | null;
  cursorOpen: boolean;
  /** Route class decided at PREPARE time (tenant sessions), reused for each EXECUTE. */
  route?: StatementRoute;
  /** What the lexer found in the SQL at prepare time: applied to the session at each execute, like a text query. */
  info: QueryInfo;
  /** The routine definitions `info` was scanned with (see freshInfo). */
  routinesAt?: RoutineNames;
  /** Approved for the fast lane (lane-manager.ts) in this approval epoch, under these routine definitions. */
  laneEpoch?: number;
  laneRoutines?: unknown;
  /** The route role of the tenant execute that approved it (null: passthrough). */
  laneRole?: 'primary' | 'replica' | null;
}

/**
 * The statement's scan, redone when the backend's routine definitions changed since it was made
 * (a stored function known stateless at PREPARE may have been redefined): an identity test per
 * execute. Tenant statements had CONNECTION_ID() substituted at PREPARE (its flag stays off).
 */
export function freshInfo(st: ClientStmt, routines: RoutineNames | undefined, tenant: boolean): QueryInfo {
  if (st.routinesAt === routines) return st.info;
  st.info = scanQuery(st.sql, 0, st.sql.length, routines);
  if (tenant) st.info.flags &= ~Q.CONNECTION_ID;
  st.routinesAt = routines;
  return st.info;
}

/** Records a backend statement in a connection's bounded cache, closing what falls out (or what it replaces). */
export function rememberBackendStmt(conn: BackendConnection, key: string, bs: BackendStmt, max: number): void {
  trackStmtConn(conn);
  const old = conn.stmts.get(key);
  if (old && old.id !== bs.id) closeBackendStmt(conn, old.id);
  conn.stmts.delete(key);
  if (conn.stmts.size >= max) {
    settleUseOrder(conn.stmts);
    // Least recently used first; a statement with an open cursor stays (a FETCH still needs it), so
    // while cursors are open the cache may hold more than `max` (at most one per open cursor).
    let over = conn.stmts.size - max + 1;
    for (const [k, v] of conn.stmts) {
      if (over === 0) break;
      if (v.cursor) continue;
      conn.stmts.delete(k);
      closeBackendStmt(conn, v.id);
      over--;
    }
  }
  touch(bs);
  conn.stmts.set(key, bs);
}

/**
 * Makes sure `st` is prepared on `conn` (preparing it there, under the schema it was prepared
 * in, if needed). Resolves with the server's ERR if preparing fails.
 */
export async function ensureBackendStmt(conn: BackendConnection, st: ClientStmt, max: number): Promise<ErrPacket | null> {
  if (conn.stmts.has(st.key)) return null;
  const switchSchema = st.schema !== null && st.schema !== conn.schema;
  const back = conn.schema;
  // initDb records the schema on the connection: when there is no schema to switch back to, the
  // connection keeps st.schema and says so (the next borrower's replay then resets it).
  if (switchSchema) {
    const e = await conn.initDb(st.schema as string);
    if (e) return e;
  }
  const prep = new PacketWriter(st.sql.length + 1).u8(Com.STMT_PREPARE).bytes(st.sql).finish(0);
  const preparedIn = conn.schema;
  let r = await conn.command(prep.subarray(4), 'prepare');
  // max_prepared_stmt_count reached: free this connection's least recently used statements and retry once.
  if (r.err && r.err.errno === ER_MAX_PREPARED_STMT_COUNT_REACHED && evictLru(conn) > 0) r = await conn.command(prep.subarray(4), 'prepare');
  if (switchSchema && back !== null) await conn.initDb(back);
  if (r.err) return r.err;
  const p = r.prepare as { stmtId: number; numColumns: number; numParams: number };
  rememberBackendStmt(conn, st.key, { id: p.stmtId, numParams: p.numParams, numColumns: p.numColumns, types: null, schema: preparedIn }, max);
  return null;
}

/**
 * A variant of `st` to prepare and execute instead, under a key of its own (closed after the execute:
 * no client statement holds it): ROW_COUNT() replaced by the session's `rowCount` (the connection's
 * previous statement was not the session's), and/or — for a statement prepared without a schema
 * that must be prepared on a pinned connection that has one, `schema` (it cannot be reset to none) —
 * DATABASE() / SCHEMA() replaced by NULL, what they return there; the rest of such a statement does
 * not depend on the schema it is prepared under (it prepared without one: it names no table without
 * its schema). Pure.
 */
export function execVariant(st: ClientStmt, rowCount: U64 | null, schema: string | null, sysVars: SysVarValues | null = null): ClientStmt {
  const calls: Array<{ at: number; value: string; end?: number }> = [];
  if (rowCount !== null) for (const at of st.info.rowCountAt ?? []) calls.push({ at, value: rowCountExpr(rowCount) });
  if (schema !== null) for (const at of st.info.schemaFnAt ?? []) calls.push({ at, value: 'NULL' });
  const sv = sysVars !== null && st.info.sysVarAt !== null ? sysVarEdits(st.sql, st.info.sysVarAt, sysVars) : [];
  for (const e of sv) calls.push(e);
  calls.sort((x, y) => x.at - y.at);
  const svKey = sv.length !== 0 ? `\0SYSVARS=${sv.map((e) => e.value).join('\0')}` : '';
  const key = `${st.key}${schema !== null ? `\0NULL_SCHEMA@${schema}` : ''}${rowCount !== null ? `\0ROW_COUNT=${rowCount}` : ''}${svKey}`;
  return { ...st, sql: substituteCalls(st.sql, calls), key, schema: schema ?? st.schema };
}

/** Whether two parameter-type blocks hold the same bytes (a few bytes: a loop beats a native call). */
export function sameTypes(a: Buffer, b: Buffer): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Records the parameter types a COM_STMT_EXECUTE payload binds (new-params-bound flag set), keeping
 * the existing block when the types did not change: drivers that send types with every execute
 * (mysql2) then cost no allocation, and backend statements that already have them need no re-send.
 * Returns false when the payload is too short for the types it announces (a packet too short for
 * its null bitmap goes to the server, whose own error the client gets, as directly).
 */
export function noteParamTypes(st: ClientStmt, p: Buffer): boolean {
  const n = st.numParams;
  if (n === 0) return true;
  const at = 10 + ((n + 7) >> 3);
  if (p.length <= at || p[at] !== 1) return true;
  const end = at + 1 + 2 * n;
  if (p.length < end) return false;
  const old = st.paramTypes;
  const view = p.subarray(at + 1, end);
  if (old === null || !sameTypes(old, view)) st.paramTypes = ownedCopy(view);
  return true;
}

/**
 * The bytes to send for a client's COM_STMT_EXECUTE on `conn`: buffered long data first, then the
 * execute with the backend's statement id — and with the parameter types re-sent when the client
 * relies on types bound earlier that this backend statement has not seen.
 */
export function executePacket(conn: BackendConnection, st: ClientStmt, frame: Frame): Buffer[] {
  const bs = conn.stmts.get(st.key) as BackendStmt;
  // LRU: stamped, not re-inserted (see cache/use-order.ts); eviction puts the map in use order first.
  touch(bs);
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
  // Backend statements are shared by every session with the same SQL, so the types they last got
  // are often another session's block: compare bytes, not identity, before re-sending them.
  // A packet too short to hold the new-params-bound flag is passed on as it is: the server answers it
  // (1210), and re-sending types into it would need bytes that are not there.
  const types = st.paramTypes;
  if (n === 0 || bound === 1 || types === null || p.length <= at || bs.types === types || (bs.types !== null && sameTypes(bs.types, types))) {
    p.writeUInt32LE(bs.id, 1);
    if (bound === 1) bs.types = st.paramTypes;
    out.push(frame.raw ?? framePayload(p, 0));
    return out;
  }
  // Client re-executes with "types unchanged" but this backend statement never got them: send them.
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
 * client's (proxy-side) id and could kill another session's backend thread. The answer is a
 * server's for statements it cannot prepare (ER_UNSUPPORTED_PS), so clients that fall back to
 * COM_QUERY on it (PDO, mysqltest --ps-protocol) send the KILL as text, where the proxy maps the id.
 */
export function refusePrepare(info: QueryInfo): ErrPacket | null {
  if (info.flags & Q.KILL) return { errno: 1295, sqlState: 'HY000', message: 'This command is not supported in the prepared statement protocol yet' };
  return null;
}
