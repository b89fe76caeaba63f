import { tooManyPreparedErr } from '../session/long-data';
import { Cap, Com } from '../protocol/constants';
import type { Frame } from '../protocol/framer';
import { buildErr } from '../protocol/ok-err';
import { PacketReader, ProtocolError } from '../protocol/packet-reader';
import { Q, scanQuery } from '../classify/lexer';
import { planBatch, splitBatch } from '../classify/batch-split';
import { runBatch } from './batch-run';
import { killSession } from './kill';
import { onPreparedDiagnostics } from './prepared-diagnostics';
import { routeQuery } from './query-route';
import { refusePrepare } from './prepared';
import { Resp } from './result-relay';
import { onChangeUser, onResetConnection, onSetOption } from './session-reset';
import { onExecute, onFetch, onLongData, onStmtClose, onStmtReset } from './stmt-commands';
import type { ClientSession } from './client-session';
import type { BackendPool } from '../backend/pool';
import { scanOptions, tenantInitDb, tenantPrepare, tenantStatistics } from './tenant-statement';

/** Handles one command packet of a logged-in session. */
type Handler = (s: ClientSession, f: Frame) => void;

const onQuery: Handler = (s, f) => {
  const p = f.payload;
  const info = scanQuery(p, 1, p.length, s.routines);
  const refuseLocal = !(s.clientCaps & Cap.LOCAL_FILES);
  if (info.flags & (Q.KILL | Q.KILL_WORD) || (info.flags & Q.LOAD_DATA && refuseLocal)) {
    // KILL <id> anywhere in a batch (mysql2: 'KILL ?; SELECT ...') is answered by the proxy, with the
    // proxy's ids; LOAD ... LOCAL INFILE from a client that may not send files is refused where it
    // stands, as a server does; the statements around them run on backends (tenants: through tenantQuery).
    const sp = splitBatch(p, 1, p.length, scanOptions(s).noBackslashEscapes === true);
    // A KILL passed through would let a client kill backend threads that serve other sessions.
    if (sp.t === 'refuse' || (sp.t === 'none' && info.flags & Q.KILL)) return refuseKill(s);
    // Without the multi-statement option the server runs nothing of such a query (a syntax error at
    // the first ';'): it goes to the backend as it is, to get that very error.
    const segs = sp.t === 'split' && (s.st.multi || sp.parts.length === 1) ? planBatch(sp.parts, refuseLocal) : null;
    if (segs !== null) return runBatch(s, segs, p);
  }
  routeQuery(s, f, info);
};

/** KILL the proxy cannot map to one of the tenant's sessions: refused rather than passed to a shared backend. */
const refuseKill = (s: ClientSession) =>
  s.sendPacket(
    buildErr(1235, '42000', "This version of tenantgate doesn't yet support 'KILL USER, KILL QUERY ID, KILL of an expression or KILL inside procedural text'; use KILL [QUERY] <connection id>"),
    1,
  );

const onPrepare: Handler = (s, f) => {
  const p = f.payload;
  // Like the server's max_prepared_stmt_count, per session: the proxy holds each statement's text and state.
  const max = s.ctx.config.server.maxPreparedStatementsPerSession;
  if (s.prepared.size >= max) {
    const e = tooManyPreparedErr(max);
    return s.sendPacket(buildErr(e.errno, e.sqlState, e.message), 1);
  }
  // A prepared KILL would reach the backend with a backend-side id: refused as a server refuses what
  // it cannot prepare, so clients that fall back to text send it as a KILL the proxy maps.
  const info = scanQuery(p, 1, p.length);
  const refused = refusePrepare(info);
  if (refused) return s.sendPacket(buildErr(refused.errno, refused.sqlState, refused.message), 1);
  if (s.tenant) return tenantPrepare(s, f);
  // Preparing SHOW WARNINGS (or a statement reading @@warning_count) keeps the session's diagnostics.
  s.runner.forward(Resp.PREPARE, f, null, null, false, undefined, undefined, (info.flags & Q.READS_DIAGNOSTICS) !== 0);
};

const forwardAs =
  (kind: Resp): Handler =>
  (s, f) =>
    s.runner.forward(kind, f, null, null);

/** The COM_* table: index = command byte. */
const TABLE: (Handler | undefined)[] = [];
TABLE[Com.QUERY] = onQuery;
TABLE[Com.STMT_EXECUTE] = (s, f) => onPreparedDiagnostics(s, f) || onExecute(s, f, false);
TABLE[Com.STMT_PREPARE] = onPrepare;
TABLE[Com.STMT_SEND_LONG_DATA] = (s, f) => onLongData(s, f.payload);
TABLE[Com.STMT_CLOSE] = (s, f) => onStmtClose(s, f.payload);
TABLE[Com.STMT_RESET] = (s, f) => onStmtReset(s, f.payload);
TABLE[Com.STMT_FETCH] = (s, f) => onFetch(s, f);
TABLE[Com.PING] = (s) => s.sendPacket(s.okPacket(), 1);
TABLE[Com.QUIT] = (s) => s.close('COM_QUIT');
TABLE[Com.INIT_DB] = (s, f) => (s.tenant ? tenantInitDb(s, f) : s.runner.forward(Resp.SIMPLE, f, null, null));
TABLE[Com.FIELD_LIST] = forwardAs(Resp.FIELD_LIST);
TABLE[Com.STATISTICS] = (s, f) => (s.tenant ? tenantStatistics(s) : s.runner.forward(Resp.STATISTICS, f, null, null));
TABLE[Com.SET_OPTION] = (s, f) => onSetOption(s, f.payload);
TABLE[Com.RESET_CONNECTION] = (s) => onResetConnection(s);
TABLE[Com.CHANGE_USER] = (s, f) => onChangeUser(s, f);
TABLE[Com.PROCESS_KILL] = (s, f) => {
  const p = f.payload;
  killSession(s, new PacketReader(p, 1, p.length).u32(), false);
};

/** Runs one command packet of a logged-in, idle session. Throws ProtocolError for malformed packets. */
export function dispatch(s: ClientSession, f: Frame): void {
  const p = f.payload;
  if (f.seq !== 0) throw new ProtocolError(`command packet with sequence id ${f.seq} (expected 0)`);
  if (p.length === 0) throw new ProtocolError('empty command packet');
  const cmd = p[0];
  const m = s.ctx.metrics;
  if (cmd === Com.QUERY) m.cmdQuery.inc();
  else if (cmd === Com.STMT_EXECUTE) m.cmdExecute.inc();
  else m.cmdOther.inc();
  const h = TABLE[cmd];
  if (h) return h(s, f);
  s.sendPacket(buildErr(1047, '08S01', `Unknown command 0x${cmd.toString(16).padStart(2, '0')}`), 1);
}
