import { Q } from '../classify/lexer';
import { userVarRef, utf8ByteString, varAssignments } from '../server/session-vars';
import type { U64 } from '../protocol/packet-reader';
import type { SessionState } from './session-state';

/** What a backend connection carries, as far as replay is concerned (BackendConnection satisfies it). */
export interface BackendConnState {
  readonly schema: string | null;
  readonly multiStatements: boolean;
  readonly vars: ReadonlyMap<string, string>;
  readonly userVars: ReadonlySet<string>;
  readonly userVarOwner: unknown;
  readonly lastInsertId: U64;
  readonly pseudoThreadId: number;
  readonly lastSession: unknown;
  readonly appliedVersion: number;
  readonly diagOwner: unknown;
  /** The proxy ran its own queries here since the last client statement. */
  readonly internalSinceClient?: boolean;
  /** Whose FOUND_ROWS() the connection holds (see BackendConnection.foundRowsOwner). */
  readonly foundRowsOwner: unknown;
  /** @@character_set_database / @@collation_database are the server's, not the schema's (see SessionState.dbCharsetDefault). */
  readonly dbCharsetDefault?: boolean;
}

/** What the statement about to run needs restored beyond the session's state. */
export interface ReplayNeeds {
  /** Lexer flags of the statement (0 when not a text query). */
  flags: number;
  /** A diagnostics statement that must not see another session's warnings. */
  clearDiag: boolean;
}

/** One step that brings a backend connection to a session's state, executed in order. */
export type ReplayStep =
  /** COM_CHANGE_USER without a database, then the proxy's own initialisation: no schema (nor any other state) afterwards. */
  | { t: 'reset' }
  /**
   * COM_RESET_CONNECTION (the account and the schema stay), then the proxy's own initialisation:
   * the only way to drop another session's user variables (MariaDB cannot drop one; `SET @v = NULL`
   * keeps the variable and its type, which `SELECT @v` then shows).
   */
  | { t: 'reset_session' }
  | { t: 'init_db'; schema: string }
  /** @@character_set_database / @@collation_database to the server's defaults, as after the client's own COM_RESET_CONNECTION. */
  | { t: 'db_charset_default' }
  | { t: 'set_option'; multi: boolean }
  /**
   * One SET round trip: session variables, the session's own user variables and pseudo_thread_id
   * (another session's user variables were dropped by a reset step before). `sql` is a byte string
   * (one char per byte: user variable values keep their exact bytes); send it with sqlBytes().
   */
  | { t: 'set'; sql: string; userVars: string[]; pseudoThreadId: number }
  | { t: 'last_insert_id'; value: U64 }
  | { t: 'found_rows'; n: number }
  | { t: 'clear_diag' };

/** A session and the identity it uses to mark backend connections as applied. */
export interface ReplaySession {
  readonly st: SessionState;
  /** Identity recorded in BackendConnState.lastSession. */
  readonly owner: unknown;
}

/**
 * Statements that must run with pseudo_thread_id = the session's id: CONNECTION_ID() reads it; the
 * server keys temporary tables by it (one created under another session's id is invisible to this
 * session's later statements once they set its own id); a procedure may do either unseen, and so
 * may SQL run by EXECUTE / EXECUTE IMMEDIATE (SQL_PREPARE: PREPARE and DEALLOCATE are included,
 * harmlessly, as the lexer does not tell them apart).
 */
export const PSEUDO_ID_FLAGS = Q.CONNECTION_ID | Q.CALL | Q.CREATE_TEMPORARY | Q.SQL_PREPARE;

/**
 * Cheap check run for every statement: whether `conn` needs any replay step for `s` (when false,
 * replaySteps would return an empty list).
 */
export function needsReplay(s: ReplaySession, conn: BackendConnState, need: ReplayNeeds): boolean {
  const st = s.st;
  // Always compared: a connection's schema can change between two statements of the same session
  // (another session's login selects its schema on a pooled connection).
  if (conn.schema !== st.schema) return true;
  if ((conn.dbCharsetDefault === true) !== st.dbCharsetDefault) return true;
  if (conn.lastSession !== s.owner || conn.appliedVersion !== st.version) {
    if (st.vars.size !== 0 || conn.vars.size !== 0 || conn.multiStatements !== st.multi) return true;
    if (conn.userVars.size !== 0 || st.userVars.size !== 0) return true;
  }
  const f = need.flags;
  if (need.clearDiag && conn.diagOwner !== null) return true;
  if (f & Q.LAST_INSERT_ID && conn.lastInsertId !== st.lastInsertId) return true;
  if (f & PSEUDO_ID_FLAGS && conn.pseudoThreadId !== st.id) return true;
  if (f & Q.FOUND_ROWS && conn.foundRowsOwner !== s.owner) return true;
  return false;
}

const FRESH: BackendConnState = {
  schema: null,
  multiStatements: false,
  vars: new Map(),
  userVars: new Set(),
  userVarOwner: null,
  lastInsertId: 0,
  pseudoThreadId: 0,
  lastSession: null,
  appliedVersion: -1,
  diagOwner: null,
  foundRowsOwner: null,
};

/**
 * The steps that bring `conn` to session `s`'s state for a statement with `need`: a reset when
 * the connection has no schema to keep or holds another session's user variables, schema (or
 * none), multi-statement option, variables, user variables, CONNECTION_ID, LAST_INSERT_ID,
 * FOUND_ROWS, a clean diagnostics area. Pure: the statement lifecycle executes the steps and
 * records each on the connection.
 */
export function replaySteps(s: ReplaySession, conn: BackendConnState, need: ReplayNeeds, defaults: Map<string, string> | null): ReplayStep[] {
  const st = s.st;
  const steps: ReplayStep[] = [];
  let c = conn;
  if (st.schema === null && conn.schema !== null) {
    steps.push({ t: 'reset' });
    c = { ...FRESH, multiStatements: conn.multiStatements };
  } else if (conn.userVars.size > 0 && conn.userVarOwner !== st.userVarToken) {
    steps.push({ t: 'reset_session' });
    c = { ...FRESH, schema: conn.schema, multiStatements: conn.multiStatements };
  }
  // A connection left with the server's database character set gets the schema's by selecting it again.
  let dbDefault = c.dbCharsetDefault === true;
  if (st.schema !== null && (c.schema !== st.schema || (dbDefault && !st.dbCharsetDefault))) {
    steps.push({ t: 'init_db', schema: st.schema });
    dbDefault = false;
  }
  if (st.dbCharsetDefault && !dbDefault) steps.push({ t: 'db_charset_default' });
  if (c.multiStatements !== st.multi) steps.push({ t: 'set_option', multi: st.multi });
  const f = need.flags;
  const sets = varAssignments(st.vars, c.vars as Map<string, string>, defaults).map(utf8ByteString);
  const stale = c.lastSession !== s.owner || c.appliedVersion !== st.version;
  // The session's own variables left here that it has since set to NULL on another connection (its state drops them).
  if (stale && c.userVarOwner === st.userVarToken) for (const n of c.userVars) if (!st.userVars.has(n)) sets.push(`${utf8ByteString(userVarRef(n))}=NULL`);
  const mine = st.userVars.size > 0 && (c.userVarOwner !== st.userVarToken || stale);
  const userVars: string[] = [];
  if (mine) {
    for (const [n, v] of st.userVars) {
      sets.push(`${utf8ByteString(userVarRef(n))}=${v}`);
      userVars.push(n);
    }
  }
  let pseudo = 0;
  if (f & PSEUDO_ID_FLAGS && c.pseudoThreadId !== st.id) {
    sets.push(`SESSION pseudo_thread_id=${st.id}`);
    pseudo = st.id;
  }
  if (sets.length > 0) steps.push({ t: 'set', sql: `SET ${sets.join(', ')}`, userVars, pseudoThreadId: pseudo });
  if (f & Q.LAST_INSERT_ID && c.lastInsertId !== st.lastInsertId) steps.push({ t: 'last_insert_id', value: st.lastInsertId });
  // Before found_rows: clearing runs a query, which leaves its own FOUND_ROWS().
  if (need.clearDiag && c.diagOwner !== null) steps.push({ t: 'clear_diag' });
  // Another session's result, or the proxy's own queries (a read-back after SET NAMES, captured
  // warnings, clearing them), left their FOUND_ROWS() there.
  if (f & Q.FOUND_ROWS && (c.foundRowsOwner !== s.owner || (need.clearDiag && c.diagOwner !== null))) steps.push({ t: 'found_rows', n: st.foundRows });
  return steps;
}

/**
 * Whether `steps` reset the connection (COM_CHANGE_USER or COM_RESET_CONNECTION), which drops the
 * statements prepared there: one prepared without a schema must then be prepared after such a reset
 * and before the schema is selected, not re-prepared under the schema by the replay. Pure.
 */
export function noSchemaStmtDropped(steps: readonly ReplayStep[]): boolean {
  for (const x of steps) if (x.t === 'reset' || x.t === 'reset_session') return true;
  return false;
}
