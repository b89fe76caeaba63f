/**
 * Bookkeeping round trips after a statement, on the backend connection it ran on, before the
 * connection is released: the GTID of a write that returned rows, which named locks the connection
 * holds, the diagnostics (SHOW WARNINGS), LAST_INSERT_ID(expr), assigned user variables, the
 * collation after SET NAMES, the tracking re-init, and the routine definitions after routine DDL.
 */
import { Com } from '../protocol/constants';
import { PacketWriter } from '../protocol/packet-writer';
import { BackendConnection } from '../backend/backend-connection';
import { Q, QueryInfo } from '../classify/lexer';
import { Pin } from '../session/pins';
import { captureDiagnostics } from './diagnostics';
import { LAST_GTID_SQL } from '../backend/gtid';
import type { U64 } from '../protocol/packet-reader';
import { quote, recordVar, TRACKING_INIT_SQL, userVarLiterals, userVarReadSql } from './session-vars';
import type { ClientSession } from './client-session';
import { recordWriteGtid } from './tenant-session';

/** The session-tracking variables the proxy keeps on its connections, with its own values (TRACKING_INIT_SQL). */
const TRACK_VARS: [string, string][] = [
  ['session_track_system_variables', '*'],
  ['session_track_schema', 'ON'],
  ['session_track_state_change', 'ON'],
  ['session_track_transaction_info', 'OFF'],
];

/** Runs what the statement's effects require (see the file comment); `captureErr`: null = no diagnostics to capture. */
export async function afterStatement(s: ClientSession, conn: BackendConnection, info: QueryInfo | null, captureErr: boolean | null, readLid: boolean, gtid: boolean, collationUnknown: boolean, calc = false, track = false): Promise<void> {
  const st = s.st;
  if (calc) {
    const r = await conn.query('SELECT FOUND_ROWS()'); // first: any other query changes it
    st.foundRows = Number(r.rows[0]?.[0]?.toString() ?? st.foundRows);
  }
  if (gtid) {
    const r = await conn.query(LAST_GTID_SQL);
    const cell = r.rows[0] ? r.rows[0][0] : null;
    if (cell) recordWriteGtid(s, cell.toString('latin1'));
  }
  if (info && info.lockNames && !info.lockNameUnknown && !(info.flags & Q.RELEASE_ALL_LOCKS)) {
    // Ask the server which of the named locks this connection now holds (GET_LOCK may have timed out).
    const names = [...new Set([...st.userLocks, ...info.lockNames])];
    const r = await conn.query(`SELECT ${names.map((n) => `IS_USED_LOCK(${quote(n)})`).join(', ')}`);
    const row = r.rows[0] ?? [];
    st.userLocks.clear();
    names.forEach((n, i) => {
      const v = row[i];
      if (v && Number(v.toString()) === conn.threadId) st.userLocks.add(n);
    });
    if (st.userLocks.size > 0 || st.lockCount > 0) st.pins |= Pin.USER_LOCK;
    else st.pins &= ~Pin.USER_LOCK;
  }
  if (captureErr !== null) {
    const warnings = st.lastWarnings;
    const r = await conn.command(new PacketWriter(16).u8(Com.QUERY).string('SHOW WARNINGS'), 'query');
    if (!r.err) st.diag = captureDiagnostics(r, warnings, captureErr);
  }
  if (readLid) {
    // LAST_INSERT_ID(expr) in a SELECT changes the value without an OK packet saying so; read it
    // back, or the next session on this connection would see it (and this one lose it on another).
    const r = await conn.query('SELECT LAST_INSERT_ID()');
    const big = BigInt(r.rows[0]?.[0]?.toString() ?? '0'); // 64-bit unsigned: above 2^53 it stays a bigint
    const v: U64 = big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
    st.lastInsertId = v;
    conn.noteLastInsertId(v);
  }
  if (info && info.userVars) {
    const names = info.userVars;
    const r = await conn.query(userVarReadSql(names));
    const lits = userVarLiterals(r, s.backend ? s.backend.collations : null);
    names.forEach((n, i) => {
      if (lits[i] === 'NULL') st.userVars.delete(n);
      else st.userVars.set(n, lits[i]);
    });
    conn.noteUserVars(names, st.userVarToken);
    st.version++;
  }
  if (collationUnknown) {
    const r = await conn.query('SELECT @@session.collation_connection');
    const v = r.rows[0]?.[0];
    if (v) {
      const defaults = s.pool ? s.pool.defaults : null;
      conn.noteVar('collation_connection', v.toString('utf8'), defaults);
      if (recordVar(st.vars, defaults, 'collation_connection', v.toString('utf8'))) st.version++;
    }
  }
  if (track) {
    // The client's own tracking settings (what it reads back, and what its OK packets report): a SET
    // that leaves session_track_system_variables out of its own list is not reported by the server.
    // A value still equal to the proxy's own is one the statement did not change (the connection had
    // the proxy's settings when it ran; a SET to that value was reported by the OK): not the client's.
    const r = await conn.query(`SELECT ${TRACK_VARS.map(([v]) => `@@session.${v}`).join(', ')}`);
    const row = r.rows[0] ?? [];
    TRACK_VARS.forEach(([v, own], i) => {
      const cell = row[i];
      const value = cell ? cell.toString('utf8') : null;
      if (value !== null && value.toUpperCase() !== own) (s.st.trackPrefs ??= new Map()).set(v, value);
    });
    conn.markNeedsReinit();
  }
  if (conn.needsReinit) await conn.reinit(TRACKING_INIT_SQL);
  if (info && info.flags & Q.ROUTINE_DDL && s.backend) {
    const b = s.backend;
    if (s.tenant) {
      // A tenant's account sees only its own routines: reload the server-wide view as the proxy's own account.
      const other = new BackendConnection(b.cfg, 0, conn.collation, false);
      try {
        await other.connect();
        await b.loadRoutines(other);
      } catch (e) {
        b.noteRoutinesLoadFailed(e as Error);
      } finally {
        other.quit();
      }
    } else await b.loadRoutines(conn).catch((e: Error) => b.noteRoutinesLoadFailed(e));
  }
}
