import { Status } from '../protocol/constants';
import { BackendConnection } from '../backend/backend-connection';
import { Q, QueryInfo } from '../classify/lexer';
import { nextPins } from '../session/pins';
import { commandKeepsDiagnostics } from './diagnostics';
import { ClientStmt } from './prepared';
import { Resp } from './result-relay';
import { afterStatement } from './statement-bookkeeping';
import { ownFoundRows } from './found-rows-owner';
import type { StatementRunner, Current } from './statement';

/*
 * The bookkeeping stage after a statement's result was relayed: FOUND_ROWS() and ROW_COUNT(),
 * cursors, pins, diagnostics ownership, and the round trips of statement-bookkeeping.ts when they
 * are needed; then finishStatement releases or keeps the connection.
 */

const RETURNING_KINDS = new Set(['INSERT', 'DELETE', 'REPLACE']);

/** The statement no longer counts in ctx.inFlight for its backend (tenant routing's in-flight gauge). */
export function endInFlight(run: StatementRunner, cur: Current | null): void {
  if (!cur || !cur.inFlight) return;
  const f = run.s.ctx.inFlight;
  const n = (f.get(cur.inFlight) ?? 1) - 1;
  if (n <= 0) f.delete(cur.inFlight);
  else f.set(cur.inFlight, n);
  cur.inFlight = null;
}

/** The result was relayed (`err`: it ended with ERR): bookkeeping, then finishStatement. */
export function afterRelay(run: StatementRunner, err: boolean): void {
  const cur = run.cur;
  const conn = run.conn;
  endInFlight(run, cur);
  if (!cur || !conn) return;
  const s = run.s;
  const st = s.st;
  // Only a statement that returned a result set changes FOUND_ROWS() (not SET, DML or an error).
  if ((cur.kind === Resp.QUERY || cur.kind === Resp.EXECUTE) && !err && run.relay.rows >= 0) {
    st.foundRows = run.relay.rows;
    ownFoundRows(s, conn);
  }
  // ROW_COUNT() is -1 after an error and after a result set (whose terminator may be an OK packet
  // under CLIENT_DEPRECATE_EOF, with affected rows 0).
  // A failed COM_STMT_PREPARE sets it to -1 as well (a successful one leaves it).
  if (((cur.kind === Resp.QUERY || cur.kind === Resp.EXECUTE) && (err || run.relay.lastWasResultSet)) || (err && cur.kind === Resp.PREPARE)) st.rowCount = -1;
  const flags = cur.flags;
  const info = cur.info;
  if (cur.stmt && (cur.kind === Resp.EXECUTE || cur.kind === Resp.FETCH)) noteCursor(run, conn, cur.stmt, cur.kind, err);
  updatePins(run, cur.info, err);
  // A ROW_COUNT() variant is held by no client statement (the stmt registry never closes it): close it now.
  if (cur.exec && cur.exec !== cur.stmt) conn.closeStatement(cur.exec.key);
  const leftDiag = err || st.lastWarnings > 0;
  const reads = (flags & Q.READS_DIAGNOSTICS) !== 0 || cur.readsDiag === true;
  if (leftDiag) conn.noteDiagOwner(s);
  else if (conn.diagOwner !== null && !reads && cur.kind !== Resp.FETCH && !commandKeepsDiagnostics(cur.frame.payload, info, cur.stmt ? cur.stmt.sql : null)) conn.noteDiagOwner(null);
  if (!reads && cur.kind !== Resp.FETCH && st.diag !== null && !commandKeepsDiagnostics(cur.frame.payload, info, cur.stmt ? cur.stmt.sql : null)) st.diag = null;
  const capture = leftDiag && !reads && (cur.kind === Resp.QUERY || cur.kind === Resp.EXECUTE || cur.kind === Resp.PREPARE);
  const needVars = info !== null && info.userVars !== null;
  const locks = info !== null && info.lockNames !== null && !info.lockNameUnknown && !(flags & Q.RELEASE_ALL_LOCKS);
  const readLid = !err && (flags & Q.SETS_LAST_INSERT_ID) !== 0;
  // A write returning rows (INSERT/DELETE/REPLACE ... RETURNING) ends with an EOF without last_gtid: ask for it.
  const gtid = s.tenant !== null && !err && !run.endedWithOk && info !== null && RETURNING_KINDS.has(info.kind) && !(st.lastStatus & Status.IN_TRANS);
  // SQL_CALC_FOUND_ROWS: FOUND_ROWS() is not the rows sent; read it, so a replay elsewhere has it.
  const calc = !err && (flags & Q.CALC_FOUND_ROWS) !== 0 && (cur.kind === Resp.QUERY || cur.kind === Resp.EXECUTE);
  // SET session_track_system_variables = <a list without itself>: the server's OK does not report it.
  const track = !err && (flags & Q.SESSION_TRACK_VAR) !== 0 && info !== null && info.kind !== 'SELECT' && (cur.kind === Resp.QUERY || cur.kind === Resp.EXECUTE);
  if (needVars || conn.needsReinit || capture || locks || gtid || flags & Q.ROUTINE_DDL || run.collationUnknown || readLid || calc || track) {
    const coll = run.collationUnknown;
    run.collationUnknown = false;
    afterStatement(run.s, conn, info, capture ? err : null, readLid, gtid, coll, calc, track).then(
      () => s.guard('statement_bookkeeping', () => run.finishStatement()),
      (e: Error) => s.guard('statement_bookkeeping', () => {
        s.log.warn({ err: e.message }, 'post-statement bookkeeping failed; dropping backend connection');
        run.dropConn(conn);
        run.finishStatement();
      }),
    );
    return;
  }
  run.finishStatement();
}

/**
 * After an execute or fetch: whether the statement's cursor is open (an execute closes the old
 * one on the server first), on the client statement (pins) and on the backend statement (never
 * evicted while open).
 */
export function noteCursor(run: StatementRunner, conn: BackendConnection, stmt: ClientStmt, kind: Resp, err: boolean): void {
  const status = run.s.st.lastStatus;
  if (kind === Resp.EXECUTE) run.s.prepared.setCursor(stmt, !err && (status & Status.CURSOR_EXISTS) !== 0);
  else if (status & Status.LAST_ROW_SENT || err) run.s.prepared.setCursor(stmt, false);
  const bs = conn.stmts.get(stmt.key);
  if (bs) bs.cursor = stmt.cursorOpen;
}

/** The session's pins after the statement (session/pins.ts decides). */
export function updatePins(run: StatementRunner, info: QueryInfo | null, failed: boolean): void {
  const s = run.s;
  const st = s.st;
  const d = nextPins({ pins: st.pins, lockCount: st.lockCount, userLocks: st.userLocks.size, openCursors: s.prepared.openCursors }, info, st.lastStatus, failed);
  if (d.releasedAll) st.userLocks.clear();
  st.lockCount = d.lockCount;
  st.pins = d.pins;
}
