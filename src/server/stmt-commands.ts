import { Com } from '../protocol/constants';
import type { Frame } from '../protocol/framer';
import { buildErr } from '../protocol/ok-err';
import { PacketWriter } from '../protocol/packet-writer';
import { longDataErr } from '../session/long-data';
import { S, type ClientSession } from './client-session';
import { ClientStmt, freshInfo, noteParamTypes } from './prepared';
import { Resp } from './result-relay';
import { releaseStmts } from './stmt-lifetime';
import { executeChoice } from './tenant-statement';

/**
 * The prepared-statement commands a session answers or forwards itself: COM_STMT_EXECUTE,
 * COM_STMT_FETCH, COM_STMT_SEND_LONG_DATA, COM_STMT_CLOSE and COM_STMT_RESET. (COM_STMT_PREPARE
 * goes through the dispatcher and the statement runner.)
 */

/** The client statement a command names, or null; ERR 1243 when `cmd` names a command that answers. */
function stmtFor(s: ClientSession, p: Buffer, cmd: string): ClientStmt | null {
  const id = p.length >= 5 ? p.readUInt32LE(1) : -1;
  const st = s.prepared.get(id);
  if (!st && cmd !== '') {
    // as the server's error: ROW_COUNT() -1 after it
    s.runner.noteLocalResult(null);
    s.sendPacket(buildErr(1243, 'HY000', `Unknown prepared statement handler (${id}) given to ${cmd}`), 1);
  }
  return st;
}

/** COM_STMT_EXECUTE. `clearDiag`: a diagnostics statement with nothing captured (prepared-diagnostics.ts). */
export function onExecute(s: ClientSession, f: Frame, clearDiag: boolean): void {
  const st = stmtFor(s, f.payload, 'mysqld_stmt_execute');
  if (!st) return;
  s.cmd.statsStmt = st;
  if (st.longDataError) {
    const e = longDataErr(st.longDataError, s.ctx.config.server.maxLongDataPerSession);
    return s.sendPacket(buildErr(e.errno, e.sqlState, e.message), 1);
  }
  if (!noteParamTypes(st, f.payload)) {
    return s.sendPacket(buildErr(1210, 'HY000', 'Incorrect arguments to mysqld_stmt_execute'), 1);
  }
  const info = freshInfo(st, s.routines, s.tenant !== null);
  if (s.tenant) {
    const c = executeChoice(s, st.route);
    if (c !== null && 'action' in c) return s.sendPacket(buildErr(c.errno, c.sqlState, c.message), 1);
    return s.runner.forward(Resp.EXECUTE, f, info, st, clearDiag, c);
  }
  s.runner.forward(Resp.EXECUTE, f, info, st, clearDiag);
}

/** COM_STMT_FETCH: only for a cursor open on the connection the session holds. */
export function onFetch(s: ClientSession, f: Frame): void {
  const st = stmtFor(s, f.payload, 'mysqld_stmt_fetch');
  if (!st) return;
  const r = s.runner;
  const conn = r.conn;
  const bs = conn ? conn.stmts.get(st.key) : undefined;
  if (!st.cursorOpen || !conn || !bs) {
    return s.sendPacket(buildErr(1421, 'HY000', `The statement (${st.id}) has no open cursor.`), 1);
  }
  r.fetch(f, st, bs.id);
}

/** COM_STMT_SEND_LONG_DATA: buffered on the client statement until its execute (never answered). */
export function onLongData(s: ClientSession, p: Buffer): void {
  const st = stmtFor(s, p, '');
  if (!st || p.length < 7) return; // no response to this command, even on error
  const srv = s.ctx.config.server;
  s.prepared.takeLongData(st, p, srv.maxAllowedPacket, srv.maxLongDataPerSession);
}

/** COM_STMT_CLOSE (never answered). */
export function onStmtClose(s: ClientSession, p: Buffer): void {
  const st = stmtFor(s, p, '');
  if (!st) return;
  const hadCursor = st.cursorOpen;
  s.prepared.delete(st);
  // the backend statement is closed on the server once no client statement of any session holds it
  releaseStmts([st], s.heldConn);
  if (hadCursor) {
    const r = s.runner;
    // the open cursor lives in that server-side statement: close it there
    if (r.conn) r.conn.closeStatement(st.key);
    r.updateCursorPin();
  }
}

/** COM_STMT_RESET: drops long data; an open cursor is reset on its backend statement. */
export function onStmtReset(s: ClientSession, p: Buffer): void {
  const st = stmtFor(s, p, 'mysqld_stmt_reset');
  if (!st) return;
  s.prepared.dropLongData(st);
  st.longDataError = null;
  const r = s.runner;
  const conn = r.conn;
  const bs = conn ? conn.stmts.get(st.key) : undefined;
  if (st.cursorOpen && conn && bs) {
    s.state = S.BUSY;
    conn.command(new PacketWriter(8).u8(Com.STMT_RESET).u32(bs.id), 'ok').then(
      (res) => s.guard('stmt_reset', () => {
        s.prepared.setCursor(st, false);
        bs.cursor = false;
        r.updateCursorPin();
        s.sendPacket(res.err ? buildErr(res.err.errno, res.err.sqlState, res.err.message) : s.okPacket(), 1);
        r.toIdleMaybeRelease();
      }),
      (e: Error) => s.guard('stmt_reset', () => r.onRelayFailed(e)),
    );
    return;
  }
  s.sendPacket(s.okPacket(), 1);
}
