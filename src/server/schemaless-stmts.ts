import type { BackendConnection } from '../backend/backend-connection';
import { Q, type QueryInfo } from '../classify/lexer';
import type { PreparedMap } from '../session/prepared-map';
import type { ClientStmt } from './prepared';

/**
 * Most schema-less statements a session gets prepared ahead on a connection (see
 * schemalessToPrepare); a session holding more runs the rest in its current schema when it meets
 * them on a pinned connection (README, Known limitations).
 */
export const SCHEMALESS_AHEAD_MAX = 128;

/** Statement flags after which the session may keep its connection (see session/pins.ts nextPins). */
const MAY_PIN = Q.LOCK_TABLES | Q.GET_LOCK | Q.CREATE_TEMPORARY | Q.SQL_PREPARE | Q.HANDLER | Q.CALL | Q.CALC_FOUND_ROWS | Q.SET_TRANSACTION | Q.XA | Q.MULTI | Q.LOAD_DATA;
/** Statement kinds that may start a transaction (or turn autocommit off). */
const MAY_PIN_KINDS = new Set(['BEGIN', 'START', 'SET', 'XA']);

/**
 * Whether the statement about to run may pin the session to its connection: what it does (flags,
 * kind), a cursor it asks for, or autocommit being off (any statement then opens a transaction).
 * Conservative; used only to prepare schema-less statements ahead. Pure.
 */
export function mayPin(info: QueryInfo | null, cursor: boolean, autocommitOff: boolean): boolean {
  if (autocommitOff || cursor) return true;
  if (info === null) return false;
  return (info.flags & MAY_PIN) !== 0 || MAY_PIN_KINDS.has(info.kind);
}

/**
 * The statements to prepare on `conn` before the replay selects the session's schema, on a
 * connection with no schema (reset to none if needed): a server resolves DATABASE() and table names
 * when it prepares, so a statement prepared while the session had no schema must be prepared without
 * one. `exec`, the statement about to execute, if it is such a statement and not prepared there; and
 * when the statement about to run may pin the session (`ahead`) while it is not pinned and has a
 * schema now (it selected one after preparing them), its other schema-less statements too: a pinned
 * connection cannot be reset to no schema, so they must already be there. `pinned`: the session
 * holds `conn` (only `exec`, and only when the connection has no schema). Pure.
 */
export function schemalessToPrepare(
  conn: BackendConnection,
  exec: ClientStmt | null,
  prepared: PreparedMap,
  schema: string | null,
  pinned: boolean,
  ahead: boolean,
): ClientStmt[] {
  const out: ClientStmt[] = [];
  if (exec !== null && exec.schema === null && !conn.stmts.has(exec.key) && (!pinned || conn.schema === null)) out.push(exec);
  if (!ahead || pinned || schema === null || prepared.schemaless === 0 || prepared.schemaless > SCHEMALESS_AHEAD_MAX) return out;
  for (const st of prepared.values()) {
    if (st.schema === null && st !== exec && st.key !== exec?.key && !conn.stmts.has(st.key)) out.push(st);
  }
  return out;
}
