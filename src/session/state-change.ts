/**
 * Decisions about the server's SERVER_SESSION_STATE_CHANGED flag (session_track_state_change=ON on
 * every backend connection): whether a statement's own classification explains it, and whether the
 * client would see it from a server with its own settings. Pure.
 */
import { Q, QueryInfo } from '../classify/lexer';
import { SessionTrack } from '../protocol/constants';
import { parseSessionState } from '../protocol/ok-err';

/**
 * First words of statements whose state changes the proxy tracks itself (system variables and the
 * schema through the tracker's other entries, user variables it reads back after `SET @v`,
 * prepared statements and temporary tables through sticky pins), and which run no stored code of
 * their own: `DROP`/`ALTER`/`TRUNCATE`/`RENAME` of a temporary table set the flag too.
 */
const EXPLAINING_VERBS = new Set(['SET', 'USE', 'DROP', 'ALTER', 'TRUNCATE', 'RENAME', 'PREPARE', 'DEALLOCATE', 'CREATE']);

/** Flags whose sticky pins already keep the connection (the flag then adds nothing). */
const STICKY = Q.CALL | Q.CREATE_TEMPORARY | Q.SQL_PREPARE | Q.HANDLER | Q.LOCK_TABLES;

/**
 * Words that can make a statement run stored code: a query (views calling functions), a write
 * (triggers), a call, a prepared statement's execution. Matched anywhere in the text, strings and
 * comments included (a false match only pins needlessly).
 */
const RUNS_CODE = /\b(SELECT|INSERT|UPDATE|DELETE|REPLACE|CALL|EXECUTE|LOAD|DO|VALUES|HANDLER)\b|(^|;)\s*(TABLE|WITH)\b|\bSET\s+(ROLE|PASSWORD|DEFAULT\s+ROLE|STATEMENT)\b/i;

/**
 * True when a statement that ended with SERVER_SESSION_STATE_CHANGED changed only state the proxy
 * knows about. `info`: its classification (null: not a statement, e.g. COM_INIT_DB, whose change
 * is the schema the tracker reports); `sql`: its text. A statement that may run stored code (a
 * function, a trigger, a view) does not explain the flag: that code may have created user
 * variables or temporary tables the proxy cannot see, so the session must keep the connection.
 * `SET`, `USE`, `DROP`, ... of plain values explain it (the server flags every `SET`, also of an
 * unchanged value).
 */
export function stateChangeExplained(info: QueryInfo | null, sql: string | null): boolean {
  if (info === null) return true;
  if (info.flags & STICKY) return true;
  if (!EXPLAINING_VERBS.has(info.kind)) return false;
  if (sql === null) return false;
  // Stored functions called by name are Q.CALL (unknown ones too, see builtins): what is left is
  // code reached through tables, which a statement of these verbs reaches only through a query.
  return !RUNS_CODE.test(sql);
}

/**
 * Whether a client should see SERVER_SESSION_STATE_CHANGED and the tracker's STATE_CHANGE entries:
 * its own `session_track_state_change` if it set one, else the server's default.
 */
export function clientTracksStateChange(prefs: ReadonlyMap<string, string> | null, defaults: ReadonlyMap<string, string> | null): boolean {
  const v = prefs?.get('session_track_state_change') ?? defaults?.get('session_track_state_change') ?? 'OFF';
  return v === 'ON' || v === '1' || v === 'on';
}

/**
 * Whether an OK packet's session-state block reports a state change beyond the tracked system
 * variables and schema: its STATE_CHANGE entry. The server sets SERVER_SESSION_STATE_CHANGED also
 * when only a tracked variable changed (`last_gtid` after every write on a server with a binary
 * log), and adds the STATE_CHANGE entry only for the rest (user variables, temporary tables, ...).
 * An EOF has no block: its flag alone counts. Pure.
 */
export function blockReportsStateChange(block: Buffer | null): boolean {
  if (block === null) return false;
  for (const e of parseSessionState(block)) if (e.type === SessionTrack.STATE_CHANGE) return true;
  return false;
}
