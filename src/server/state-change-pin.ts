/**
 * The session side of the server's SERVER_SESSION_STATE_CHANGED flag: a statement that ended with
 * it, and whose classification does not explain it, left state on the backend connection that the
 * proxy cannot replay (stored code created user variables or temporary tables). The session then
 * keeps that connection until it resets or closes (Pin.SERVER_STATE), and a pinned connection is
 * reset before any other session gets it.
 */
import { Q, scanQuery, type QueryInfo } from '../classify/lexer';
import { statementParts } from '../classify/batch-split';
import { Pin, pinNames } from '../session/pins';
import { blockReportsStateChange, stateChangeExplained } from '../session/state-change';
import type { OkPacket } from '../protocol/ok-err';
import { Resp } from './result-relay';
import type { ClientStmt } from './prepared';
import type { ClientSession } from './client-session';
import type { BackendConnection } from '../backend/backend-connection';

/** What the pin decision reads of the statement whose response is being relayed. */
export interface StatementInFlight {
  kind: Resp;
  info: QueryInfo | null;
  stmt: ClientStmt | null;
  frame: { payload: Buffer };
  /** For EXECUTE: the statement executed on the backend (the client's, or a variant). */
  exec?: ClientStmt;
}

/**
 * Called for a terminator with SERVER_SESSION_STATE_CHANGED (rare: the check is off the hot path).
 * `ok`: the terminator when it is an OK packet (null: an EOF). `index`: how many terminators of the response came before it (in a multi-statement batch, the
 * flag is judged against the statement that ended there).
 */
export function noteServerStateChange(s: ClientSession, cur: StatementInFlight, conn: BackendConnection | null, index: number, ok: OkPacket | null): void {
  const st = s.st;
  if (st.pins & Pin.SERVER_STATE) return;
  // an OK says what changed: tracked variables and the schema alone are replayed, not pinned
  if (ok !== null && !blockReportsStateChange(ok.sessionState)) return;
  const kind = cur.kind;
  let info = cur.info;
  const stmt = cur.stmt;
  const payload = cur.frame.payload;
  let sql: string | null;
  if (kind === Resp.QUERY) {
    sql = payload.toString('latin1', 1);
    if (info !== null && info.flags & Q.MULTI && !(info.flags & Q.CALL)) {
      // one terminator per statement (a CALL, which may send more, pins by itself)
      const parts = statementParts(payload, 1, payload.length);
      const part = parts !== null ? parts[index] : undefined;
      if (part !== undefined) {
        sql = payload.toString('latin1', part.start, part.end);
        info = scanQuery(payload, part.start, part.end, s.routines);
      }
    }
  } else if (kind === Resp.EXECUTE || kind === Resp.FETCH) {
    // MariaDB runs a prepared statement in the schema it was prepared in: where that is not the
    // connection's current one, switching there and back flags a state change by itself.
    const ex = cur.exec ?? stmt;
    const bs = conn !== null && ex !== null ? conn.stmts.get(ex.key) : undefined;
    if (bs !== undefined && bs.schema !== undefined && bs.schema !== conn?.schema) return;
    // a fetch runs the cursor's statement further: judge it by the prepared statement
    info = stmt ? stmt.info : UNKNOWN;
    sql = stmt ? stmt.sql.toString('latin1') : null;
  } else return; // COM_INIT_DB, COM_CHANGE_USER, ...: no stored code; the tracker names the change
  if (stateChangeExplained(info, sql)) return;
  st.pins |= Pin.SERVER_STATE;
  s.ctx.metrics.serverStatePins.inc();
  s.log.info({ pins: pinNames(st.pins), verb: info ? info.kind : null }, 'server reported session state the statement does not explain (stored code): session pinned to its backend connection until reset');
}

const UNKNOWN: QueryInfo = { kind: '', flags: 0, userVars: null, killId: -1, killQuery: false, lockDelta: 0, lockNames: null, lockNameUnknown: false, rowCountAt: null, connIdAt: null, schemaFnAt: null, sysVarAt: null };
