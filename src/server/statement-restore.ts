import { buildErr } from '../protocol/ok-err';
import { PacketWriter } from '../protocol/packet-writer';
import { BackendConnection, BackendQueryError } from '../backend/backend-connection';
import type { BackendPool } from '../backend/pool';
import { Err, ProxyError } from '../errors';
import { needsReplay, noSchemaStmtDropped, replaySteps } from '../session/replay';
import { resetToNoSchema, runReplaySteps } from './replay-exec';
import { commandKeepsDiagnostics } from './diagnostics';
import { Com } from '../protocol/constants';
import { clientTrackList, type SysVarValues, sysVarEdits, sysVarValues } from './sysvar-substitute';
import { ClientStmt, ensureBackendStmt, executePacket, execVariant } from './prepared';
import { Resp } from './result-relay';
import { lost } from './statement-loss';
import { send } from './statement-send';
import type { StatementRunner, Current } from './statement';

/*
 * The restore stage of a statement: bring the leased connection to the session's state (replay
 * steps), make sure a statement being executed is prepared there under the right schema, and pick
 * what is executed (the client's statement or its ROW_COUNT()/schema variant).
 */

/** A connection was leased (and switched or waited for as the route asked): restore, then send. */
export function onReady(run: StatementRunner, conn: BackendConnection, cur: Current): void {
  cur.foreign = conn.lastSession !== run.s || conn.internalSinceClient;
  // Another session's warnings, kept by a statement reading no table, would be counted as this session's.
  const d = conn.diagOwner;
  if (d !== null && d !== run.s && !cur.clearDiag && cur.kind !== Resp.FETCH && commandKeepsDiagnostics(cur.frame.payload, cur.info, cur.stmt ? cur.stmt.sql : null)) cur.clearDiag = true;
  const replay = needsReplay(run.s, conn, cur);
  if (cur.kind === Resp.EXECUTE) {
    pickExec(run, conn, cur, replay);
    if (cur.frame.payload[5] !== 0 && execSysVars(run.s, cur.stmt as ClientStmt) !== null) {
      run.s.sendPacket(buildErr(1235, '42000', CURSOR_SYSVARS), 1);
      return run.finishStatement();
    }
    if (cursorWithoutSchema(cur, conn)) {
      run.s.sendPacket(buildErr(1235, '42000', CURSOR_NO_SCHEMA), 1);
      return run.finishStatement();
    }
  }
  const exec = cur.kind === Resp.EXECUTE ? (cur.exec as ClientStmt) : null;
  if (replay || (exec !== null && stmtNeedsPrep(conn, exec))) {
    restore(run, conn, cur).then(
      (errPkt) => run.s.guard('statement_send', () => {
        if (run.s.closed) return;
        if (errPkt) {
          // the statement failed (as its own execute would have): ROW_COUNT() -1
          run.s.st.rowCount = -1;
          run.s.sendPacket(errPkt, 1);
          run.finishStatement();
          return;
        }
        send(run, conn, cur);
      }),
      (e: Error) => run.s.guard('statement_restore', () => restoreFailed(run, conn, e)),
    );
    return;
  }
  if (cur.kind === Resp.EXECUTE) cur.out = executeOut(run, conn, cur);
  send(run, conn, cur);
}

/**
 * The statement to execute on the backend: the client's, or — when it reads ROW_COUNT() and the
 * connection's previous statement was not this session's (another session, or the proxy's own
 * replay/prepare) — a variant with the session's value substituted, prepared under its own key.
 * (Not for cursors: a fetch addresses the client statement's backend statement.)
 */
export function pickExec(run: StatementRunner, conn: BackendConnection, cur: Current, replay: boolean): void {
  const stmt = cur.stmt as ClientStmt;
  const st = run.s.st;
  const sv = execSysVars(run.s, stmt);
  const v = execVariantFor(stmt.info.rowCountAt !== null, cur.frame.payload[5] !== 0, cur.foreign || replay, stmtNeedsPrep(conn, stmt), stmt.schema === null && st.schema !== null, cur.pinned === true, sv !== null);
  cur.exec = v !== 0 ? execVariant(stmt, v & EXEC_ROW_COUNT ? st.rowCount : null, v & EXEC_NO_SCHEMA ? st.schema : null, v & EXEC_SYSVARS ? sv : null) : stmt;
}

/** {@link execVariantFor}: the session's ROW_COUNT() substituted. */
export const EXEC_ROW_COUNT = 1;
/** {@link execVariantFor}: prepared under the session's schema (the statement was prepared without one). */
export const EXEC_NO_SCHEMA = 2;
/** {@link execVariantFor}: the session's @@warning_count / @@error_count / @@session_track_system_variables substituted. */
export const EXEC_SYSVARS = 4;

/**
 * Which variant of a prepared statement an execute runs (0: the client's own statement). ROW_COUNT()
 * is substituted when the statement reads it and the connection's previous statement was not the
 * session's (`foreignOrReplay`: another session's, or the proxy's replay) or the statement must be
 * prepared there first (the prepare is a statement too). A statement prepared without a schema,
 * executed by a session that has one now on its pinned connection (which cannot be reset to no
 * schema), is prepared there as a variant under the session's schema, when it must be prepared
 * anyway. Never for a cursor: a fetch addresses the client statement's own backend statement.
 */
export function execVariantFor(readsRowCount: boolean, cursor: boolean, foreignOrReplay: boolean, needsPrep: boolean, schemaLess: boolean, pinned: boolean, sysVars = false): number {
  if (cursor) return 0;
  const rowCount = readsRowCount && (foreignOrReplay || needsPrep);
  const noSchema = schemaLess && pinned && (rowCount || needsPrep || sysVars);
  return (rowCount ? EXEC_ROW_COUNT : 0) | (noSchema ? EXEC_NO_SCHEMA : 0) | (sysVars ? EXEC_SYSVARS : 0);
}

/** executePacket for the statement picked, with buffered long data consumed on the client's statement. */
export function executeOut(run: StatementRunner, conn: BackendConnection, cur: Current): Buffer[] {
  const exec = cur.exec as ClientStmt;
  const stmt = cur.stmt as ClientStmt;
  const charged = stmt.longDataBytes;
  const out = executePacket(conn, exec, cur.frame);
  if (exec !== stmt) stmt.paramTypes = exec.paramTypes;
  if (charged !== 0) {
    // Sent with this execute (also when `exec` is the ROW_COUNT() variant, which shares the chunks).
    stmt.longDataBytes = charged;
    run.s.prepared.dropLongData(stmt);
  }
  return out;
}

/** Whether `st` must be prepared on `conn` before it runs there (not prepared there yet, or long data to send with it). */
export function stmtNeedsPrep(conn: BackendConnection, st: ClientStmt): boolean {
  return st.longData !== null || !conn.stmts.has(st.key);
}

/**
 * Executes the replay steps that bring `conn` to this session's state, and makes sure a
 * statement being executed is prepared there — under the schema it was prepared in: one prepared
 * while the session had none is prepared on this connection after a reset to no schema, before the
 * replay (the server resolves DATABASE() and table names at prepare time). Resolves with an ERR
 * packet to send instead of running the statement, if any.
 */
export async function restore(run: StatementRunner, conn: BackendConnection, cur: Current): Promise<PacketWriter | null> {
  const s = run.s;
  const max = s.ctx.maxPrepared(conn);
  const exec = cur.kind === Resp.EXECUTE ? (cur.exec as ClientStmt) : null;
  const defaults = (s.pool as BackendPool).defaults;
  let steps = replaySteps(s, conn, cur, defaults);
  // Before the replay, which may select the session's current schema; on a pinned connection (which
  // cannot be reset) only where it has none (else pickExec chose a variant with a schema). Also when
  // the replay would reset the connection, dropping the statement prepared there without a schema.
  const drops = exec !== null && exec.schema === null && noSchemaStmtDropped(steps);
  if (exec !== null && exec.schema === null && (drops || !conn.stmts.has(exec.key)) && (cur.pinned !== true || conn.schema === null)) {
    if (conn.schema !== null || drops) await resetToNoSchema(s, conn);
    const e = await ensureBackendStmt(conn, exec, max);
    if (e) return buildErr(e.errno, e.sqlState, e.message);
    steps = replaySteps(s, conn, cur, defaults);
  }
  const e = await runReplaySteps(s, conn, steps);
  if (e) return e;
  conn.noteApplied(s, s.st.version);
  if (exec !== null) {
    const e = await ensureBackendStmt(conn, exec, max);
    if (e) return buildErr(e.errno, e.sqlState, e.message);
    cur.out = executeOut(run, conn, cur);
  }
  return null;
}

/** The replay or prepare on the leased connection failed: ERR for the statement, or the connection is lost. */
export function restoreFailed(run: StatementRunner, conn: BackendConnection, e: Error): void {
  const s = run.s;
  if (s.closed) return;
  s.log.warn({ err: e.message }, 'could not prepare backend connection for the session');
  if (e instanceof BackendQueryError) {
    s.st.rowCount = -1;
    s.sendPacket(buildErr(e.errno, e.sqlState, e.message), 1);
    run.finishStatement();
    return;
  }
  if (!conn.closed && !s.st.pins) {
    s.sendErr(new ProxyError(Err.STATE_RESTORE, `tenantgate could not restore this session's state on backend '${conn.cfg.name}': ${e.message}`), 1);
    run.dropConn(conn);
    run.cur = null;
    s.toIdle();
    return;
  }
  lost(run, conn, e, false);
}

const CURSOR_SYSVARS =
  "This version of tenantgate doesn't yet support 'a cursor on a statement reading @@warning_count, @@error_count or " +
  "@@session_track_system_variables' (a cursor needs the server-side statement, which would read the pooled connection's values); " +
  'execute it without a cursor or as a text query';

/** The session's values for the variables `stmt` reads that a variant must substitute (sysvar-substitute.ts), or null. */
function execSysVars(s: StatementRunner['s'], stmt: ClientStmt): SysVarValues | null {
  const st = s.st;
  const v = sysVarValues(stmt.info, st.diag, st.diag !== null && keepsDiagnosticsSql(stmt), clientTrackList(st.trackPrefs, s.pool ? s.pool.defaults : null));
  return v !== null && sysVarEdits(stmt.sql, stmt.info.sysVarAt as number[], v).length !== 0 ? v : null;
}

function keepsDiagnosticsSql(stmt: ClientStmt): boolean {
  return commandKeepsDiagnostics(EXECUTE_CMD, stmt.info, stmt.sql);
}

const EXECUTE_CMD = Buffer.from([Com.STMT_EXECUTE]);

const CURSOR_NO_SCHEMA =
  "This version of tenantgate doesn't yet support 'a cursor on a statement prepared without a default database, " +
  "executed while the session holds a backend connection with one (transaction, locks or temporary tables)'; " +
  'prepare the statement again after USE, or execute it without a cursor';

/**
 * A cursor execute of a statement prepared without a schema, on a pinned connection that has one
 * and has not prepared it yet: it would be prepared there under the connection's schema (a pinned
 * connection cannot be reset to none, and a cursor needs the client statement's own backend
 * statement, not a substituted variant) and cached under the schema-less key, where another
 * schema-less session could find it. Refused instead (fails closed).
 */
function cursorWithoutSchema(cur: Current, conn: BackendConnection): boolean {
  const ex = cur.exec as ClientStmt;
  return cur.frame.payload[5] !== 0 && ex.schema === null && cur.pinned === true && conn.schema !== null && !conn.stmts.has(ex.key);
}
