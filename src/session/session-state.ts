import { Status } from '../protocol/constants';
import type { U64 } from '../protocol/packet-reader';
import type { Diagnostics } from '../server/diagnostics';

/**
 * Everything a client session would have on a dedicated server connection, as plain data (like
 * Vitess's SafeSession). The statement lifecycle re-applies it to whichever backend connection the
 * session borrows; decisions about it (pins, replay) are pure functions over it.
 */
export interface SessionState {
  /** The proxy's connection id: what CONNECTION_ID() must return. */
  readonly id: number;
  /** Session variables at a non-default value (name → value as the server's tracker reports). */
  vars: Map<string, string>;
  /** Current schema (null: none selected). */
  schema: string | null;
  /** Schema chosen at login. */
  loginSchema: string | null;
  /**
   * The client's COM_RESET_CONNECTION kept the schema but, as on MariaDB, set
   * @@character_set_database / @@collation_database to the server's defaults, until the session
   * selects a schema again (USE, COM_INIT_DB). Only while `schema` is not null.
   */
  dbCharsetDefault: boolean;
  /** Multi-statement option (capability at login, then COM_SET_OPTION). */
  multi: boolean;
  /** User variables: name → SQL literal that recreates the value exactly. */
  userVars: Map<string, string>;
  /** Marks backend connections holding this session's user variables; replaced when the session resets. */
  userVarToken: object;
  /** Bumped whenever replayable state changes (a connection that applied this version needs no replay). */
  version: number;
  /** LAST_INSERT_ID() (up to 2^64-1: a bigint above 2^53-1, see PacketReader.lenencInt). */
  lastInsertId: U64;
  foundRows: number;
  /** What ROW_COUNT() returns after this session's last statement. */
  rowCount: U64;
  /** Status flags and warning count of the last result terminator. */
  lastStatus: number;
  lastWarnings: number;
  /** The client's own session_track_* settings (null until it sets one). */
  trackPrefs: Map<string, string> | null;
  /** Why the session keeps its backend connection between statements (see pins.ts). */
  pins: number;
  /** User locks (GET_LOCK) this session holds, by name, as the backend confirmed. */
  userLocks: Set<string>;
  /** GET_LOCK calls with names the lexer could not read (counted conservatively). */
  lockCount: number;
  /** This session's warnings/errors from its last statement (see diagnostics.ts). */
  diag: Diagnostics | null;
}

/** The state of a session that has just logged in (or been reset) with `schema` as its login schema. */
export function newSessionState(id: number, multi: boolean): SessionState {
  return {
    id,
    vars: new Map(),
    schema: null,
    loginSchema: null,
    dbCharsetDefault: false,
    multi,
    userVars: new Map(),
    userVarToken: {},
    version: 0,
    lastInsertId: 0,
    foundRows: 0,
    // A new server session answers ROW_COUNT() with 0 (and FOUND_ROWS() with whatever its thread
    // last had: not defined, so the proxy says 0 rather than another session's value).
    rowCount: 0,
    lastStatus: Status.AUTOCOMMIT,
    lastWarnings: 0,
    trackPrefs: null,
    pins: 0,
    userLocks: new Set(),
    lockCount: 0,
    diag: null,
  };
}

/**
 * Forgets all session state, as COM_RESET_CONNECTION / COM_CHANGE_USER do on a server. A reset
 * (`connReset`) keeps the current schema, as MariaDB does, with the server's default database
 * character set; otherwise the login schema is back (COM_CHANGE_USER then selects its own).
 */
export function resetSessionState(s: SessionState, connReset = false): void {
  s.vars.clear();
  s.userVars.clear();
  s.userVarToken = {};
  s.trackPrefs = null;
  s.lastInsertId = 0;
  // As on the server: ROW_COUNT() is 0 after a reset; FOUND_ROWS() is not reset.
  s.rowCount = 0;
  s.lockCount = 0;
  s.userLocks.clear();
  s.diag = null;
  s.pins = 0;
  s.lastStatus = Status.AUTOCOMMIT;
  s.lastWarnings = 0;
  if (!connReset) s.schema = s.loginSchema;
  s.dbCharsetDefault = connReset && s.schema !== null;
  s.version++;
}

/** Status flags for an OK the proxy answers itself (no backend attached: from the tracked autocommit). */
export function okStatus(s: SessionState, attached: boolean): number {
  let status = s.lastStatus & (Status.IN_TRANS | Status.AUTOCOMMIT | Status.IN_TRANS_READONLY);
  if (!attached) status = (status & ~Status.IN_TRANS) | (s.vars.get('autocommit') === 'OFF' ? 0 : Status.AUTOCOMMIT);
  return status;
}
