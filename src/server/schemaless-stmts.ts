import type { BackendConnection } from '../backend/backend-connection';
import type { PreparedMap } from '../session/prepared-map';
import type { ClientStmt } from './prepared';

/**
 * Most schema-less statements a session gets prepared ahead on a connection (see
 * schemalessToPrepare); a session holding more runs the rest in its current schema when it meets
 * them on a pinned connection (README, Known limitations).
 */
export const SCHEMALESS_AHEAD_MAX = 32;

/**
 * The statements to prepare on `conn` before the replay selects the session's schema, on a
 * connection with no schema (reset to none if needed): a server resolves DATABASE() and table names
 * when it prepares, so a statement prepared while the session had no schema must be prepared without
 * one. `exec`, the statement about to execute, if it is such a statement and not prepared there; and
 * while the session is not pinned and has a schema now (it selected one after preparing them), its
 * other schema-less statements too: a pinned connection cannot be reset to no schema, so they must
 * already be there if the statement about to run pins the session. `pinned`: the session holds `conn`
 * (only `exec`, and only when the connection has no schema). Pure.
 */
export function schemalessToPrepare(
  conn: BackendConnection,
  exec: ClientStmt | null,
  prepared: PreparedMap,
  schema: string | null,
  pinned: boolean,
): ClientStmt[] {
  const out: ClientStmt[] = [];
  if (exec !== null && exec.schema === null && !conn.stmts.has(exec.key) && (!pinned || conn.schema === null)) out.push(exec);
  if (pinned || schema === null || prepared.schemaless === 0 || prepared.schemaless > SCHEMALESS_AHEAD_MAX) return out;
  for (const st of prepared.values()) {
    if (st.schema === null && st !== exec && st.key !== exec?.key && !conn.stmts.has(st.key)) out.push(st);
  }
  return out;
}
