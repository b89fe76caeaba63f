import { SessionTrack, Status } from '../protocol/constants';
import { noteServerStateChange } from './state-change-pin';
import { clientTracksStateChange } from '../session/state-change';
import { parseSessionState, type OkPacket } from '../protocol/ok-err';
import { Resp } from './result-relay';
import type { BackendConnection } from '../backend/backend-connection';
import { LAST_GTID_VAR } from '../backend/gtid';
import { recordVar, UNMANAGED_VARS } from './session-vars';
import { recordWriteGtid } from './tenant-session';
import type { StatementRunner } from './statement';

/*
 * What a result's terminator tells the session, and the session state a backend reports in OK
 * packets (session tracking): recorded into the session's state and the connection's, and filtered
 * to what the client asked to be told.
 */

/**
 * A result's terminator (OK, or EOF): the server status and warnings, ROW_COUNT() of a statement
 * that ran, LAST_INSERT_ID() and the session-state block of an OK.
 */
export function noteTerminator(run: StatementRunner, status: number, warnings: number, ok: OkPacket | null): void {
  const st = run.s.st;
  run.endedWithOk = ok !== null;
  st.lastStatus = status;
  st.lastWarnings = warnings;
  const term = run.terms++;
  if (status & Status.SESSION_STATE_CHANGED && run.cur) noteServerStateChange(run.s, run.cur, run.conn, term, ok);
  // Only statements that run change ROW_COUNT() (not COM_STMT_PREPARE's EOF/OK packets, nor a fetch).
  const kind = run.cur ? run.cur.kind : Resp.QUERY;
  if (kind === Resp.QUERY || kind === Resp.EXECUTE) st.rowCount = ok ? ok.affectedRows : -1;
  if (!ok) return;
  const conn = run.conn;
  if (ok.lastInsertId !== 0) {
    st.lastInsertId = ok.lastInsertId;
    if (conn) conn.noteLastInsertId(ok.lastInsertId);
  }
  if (ok.sessionState && conn) applySessionState(run, conn, ok.sessionState);
}

/**
 * Records a backend OK packet's session-state block: system variables (into the session's state,
 * replayed elsewhere, and the connection's), the schema, and the client's own tracking preferences;
 * `last_gtid` goes to read-your-writes.
 */
export function applySessionState(run: StatementRunner, conn: BackendConnection, block: Buffer): void {
  const st = run.s.st;
  const defaults = run.s.pool ? run.s.pool.defaults : null;
  for (const e of parseSessionState(block)) {
    if (e.type === SessionTrack.SYSTEM_VARIABLES) {
      if (e.name === LAST_GTID_VAR) {
        // Read-only and per write: never session state to replay (SET last_gtid fails with 1238).
        recordWriteGtid(run.s, e.value);
        continue;
      }
      if (UNMANAGED_VARS.has(e.name)) {
        if (e.name.startsWith('session_track_')) {
          (st.trackPrefs ??= new Map()).set(e.name, e.value);
          conn.markNeedsReinit();
        }
        continue;
      }
      conn.noteVar(e.name, e.value, defaults);
      if (recordVar(st.vars, defaults, e.name, e.value)) st.version++;
      // SET NAMES / SET CHARACTER SET change collation_connection without the tracker saying so.
      if (e.name === 'character_set_connection') run.collationUnknown = true;
    } else if (e.type === SessionTrack.SCHEMA) {
      const schema = e.name === '' ? null : e.name;
      conn.noteSchema(schema);
      st.dbCharsetDefault = false; // USE / COM_INIT_DB: the schema's character set again
      if (st.schema !== schema) {
        st.schema = schema;
        st.version++;
      }
    }
  }
}

/**
 * The part of a backend's session-state block the client is told: the proxy's connections track
 * every variable and the schema, the client only what its own session_track_system_variables and
 * session_track_schema (`prefs`, else the server's defaults) ask for — never the variables the
 * proxy manages itself, except the session_track_* ones. Null: nothing to report.
 */
export function clientSessionState(block: Buffer, prefs: ReadonlyMap<string, string> | null | undefined, defaults: ReadonlyMap<string, string> | null | undefined): Buffer | null {
  const pref = (k: string, d: string) => prefs?.get(k) ?? defaults?.get(k) ?? d;
  const list = pref('session_track_system_variables', 'autocommit,character_set_client,character_set_connection,character_set_results,time_zone');
  const all = list.trim() === '*';
  const names = new Set(list.toLowerCase().split(',').map((x) => x.trim()));
  const schemaOn = /^(on|1)$/i.test(pref('session_track_schema', 'ON'));
  const stateOn = clientTracksStateChange(prefs ?? null, defaults ?? null);
  const keep: Buffer[] = [];
  for (const e of parseSessionState(block)) {
    if (e.type === SessionTrack.SYSTEM_VARIABLES) {
      if (UNMANAGED_VARS.has(e.name) && !e.name.startsWith('session_track_')) continue;
      if (all || names.has(e.name)) keep.push(e.raw);
    } else if (e.type === SessionTrack.SCHEMA) {
      if (schemaOn) keep.push(e.raw);
    } else if (e.type === SessionTrack.STATE_CHANGE) {
      if (stateOn) keep.push(e.raw);
    }
  }
  return keep.length === 0 ? null : Buffer.concat(keep);
}
