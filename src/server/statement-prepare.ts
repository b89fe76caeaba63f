import { ownedCopy } from '../protocol/owned-copy';
import { framePayload } from '../protocol/packet-writer';
import { BackendConnection } from '../backend/backend-connection';
import { Q, scanQuery } from '../classify/lexer';
import { ClientStmt, rememberBackendStmt } from './prepared';
import { evictLru, holdStmt } from './stmt-lifetime';
import type { StatementRunner, Current } from './statement';

/*
 * COM_STMT_PREPARE answered by a backend: the client statement registered under a proxy id (its
 * backend statement remembered and held on the connection), and a prepare retried once after
 * evicting the connection's least recently used statement (the server's max_prepared_stmt_count
 * was reached).
 */

/** PREPARE_OK from the backend: the client's statement, registered; returns the id the client gets. */
export function registerPrepared(run: StatementRunner, backendId: number, numColumns: number, numParams: number, warnings: number): number {
  const s = run.s;
  s.st.lastWarnings = warnings; // (a PREPARE_OK ends the response: no terminator reports them)
  const cur = run.cur as Current;
  const conn = run.conn as BackendConnection;
  const sql = cur.frame.payload.subarray(1);
  const schema = s.st.schema;
  const stmt: ClientStmt = {
    id: s.prepared.allocId(),
    sql: ownedCopy(sql),
    key: `${schema ?? ''}\0${sql.toString('latin1')}`,
    schema,
    numParams,
    numColumns,
    paramTypes: null,
    longData: null,
    longDataBytes: 0,
    cursorOpen: false,
    info: scanQuery(sql, 0, sql.length, s.routines),
    routinesAt: s.routines,
  };
  if (cur.prepRoute) stmt.route = cur.prepRoute;
  // Tenant accounts cannot set pseudo_thread_id: CONNECTION_ID() was substituted at PREPARE (tenantPrepare).
  if (s.tenant) stmt.info.flags &= ~Q.CONNECTION_ID;
  s.prepared.add(stmt);
  rememberBackendStmt(conn, stmt.key, { id: backendId, numParams, numColumns, types: null, schema: conn.schema }, s.ctx.maxPrepared(conn));
  holdStmt(stmt.key);
  return stmt.id;
}

/** The backend refused the prepare for too many statements: evict one and send it again (false: nothing to evict). */
export function retryPrepareAfterEviction(run: StatementRunner): boolean {
  const conn = run.conn;
  const cur = run.cur;
  if (!conn || !cur || evictLru(conn) === 0) return false;
  conn.socket.write(framePayload(cur.frame.payload, 0));
  return true;
}
