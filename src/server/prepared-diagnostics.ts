import type { Frame } from '../protocol/framer';
import { Q } from '../classify/lexer';
import type { BackendPool } from '../backend/pool';
import type { ClientSession } from './client-session';
import type { DiagStatement, Diagnostics } from './diagnostics';
import { diagnosticsResult, parseDiagStatement } from './diagnostics';
import { buildErr } from '../protocol/ok-err';
import { localStatus, writeLocalResult } from './local-result';
import { onExecute } from './stmt-commands';

const CURSOR_DIAG =
  "This version of tenantgate doesn't yet support 'a cursor on SHOW WARNINGS, SHOW ERRORS or @@warning_count / " +
  "@@error_count'; execute it without a cursor (CURSOR_TYPE_NO_CURSOR) or as a text query";

/**
 * COM_STMT_EXECUTE of a prepared diagnostics statement (SHOW WARNINGS / ERRORS [LIMIT],
 * SHOW COUNT(*) ..., SELECT @@warning_count / @@error_count [AS alias]): answered, as the text
 * statement is, from the session's captured diagnostics, in the binary protocol. Executed on a
 * backend instead, it would show the diagnostics of whatever that pooled connection ran last —
 * another session's, or none. (Routing it to the connection the diagnostics were left on is no
 * answer: that connection may be serving another session by then, and the capture is taken
 * anyway.) A session without diagnostics executes it on a backend whose diagnostics area is
 * cleared first (clearDiag), as for text, with or without a cursor. A cursor request while the
 * session has diagnostics is refused with ERR 1235.
 * Returns true when answered here.
 */
export function onPreparedDiagnostics(s: ClientSession, f: Frame): boolean {
  const p = f.payload;
  if (p.length < 10) return false;
  const st = s.prepared.get(p.readUInt32LE(1));
  if (st === null || !(st.info.flags & Q.READS_DIAGNOSTICS) || st.info.flags & Q.MULTI) return false;
  const ds = parseDiagStatement(st.sql, 0);
  if (ds === null) return false;
  const diag = s.st.diag;
  if (diag === null) {
    onExecute(s, f, true);
    return true;
  }
  if (p[5] !== 0) {
    // A cursor needs a server-side statement, whose diagnostics would be the connection's, not the
    // session's: refused (fails closed) rather than showing another session's warnings.
    s.sendPacket(buildErr(1235, '42000', CURSOR_DIAG), 1);
    return true;
  }
  answerDiagnostics(s, ds, diag, true);
  return true;
}

/**
 * Sends the answer to a diagnostics statement from `diag` and records what it did to the session:
 * ROW_COUNT() -1; FOUND_ROWS() 1 after a count form (a SELECT on the server), kept after SHOW
 * WARNINGS / ERRORS (as MariaDB does).
 */
export function answerDiagnostics(s: ClientSession, ds: DiagStatement, diag: Diagnostics, binary: boolean): void {
  const packets = diagnosticsResult(ds, diag, s.clientCaps, localStatus(s), (s.pool as BackendPool).extMeta, binary);
  s.runner.noteLocalResult(ds.form === 'warnings' || ds.form === 'errors' ? null : 1);
  writeLocalResult(s, packets);
}
