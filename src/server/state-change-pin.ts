/**
 * The session side of the server's SERVER_SESSION_STATE_CHANGED flag: a statement that ended with
 * it, and whose classification does not explain it, left state on the backend connection that the
 * proxy cannot replay (stored code created user variables or temporary tables). The session then
 * keeps that connection until it resets or closes (Pin.SERVER_STATE), and a pinned connection is
 * reset before any other session gets it.
 */
import type { QueryInfo } from '../classify/lexer';
import { Pin, pinNames } from '../session/pins';
import { stateChangeExplained } from '../session/state-change';
import { Resp } from './result-relay';
import type { ClientStmt } from './prepared';
import type { ClientSession } from './client-session';

/** Called for a terminator with SERVER_SESSION_STATE_CHANGED (rare: the check is off the hot path). */
export function noteServerStateChange(s: ClientSession, kind: Resp, info: QueryInfo | null, stmt: ClientStmt | null, payload: Buffer): void {
  const st = s.st;
  if (st.pins & Pin.SERVER_STATE) return;
  let sql: string | null;
  if (kind === Resp.QUERY) sql = payload.toString('latin1', 1);
  else if (kind === Resp.EXECUTE || kind === Resp.FETCH) {
    // a fetch runs the cursor's statement further: judge it by the prepared statement
    info = stmt ? stmt.info : UNKNOWN;
    sql = stmt ? stmt.sql.toString('latin1') : null;
  } else return; // COM_INIT_DB, COM_CHANGE_USER, ...: no stored code; the tracker names the change
  if (stateChangeExplained(info, sql)) return;
  st.pins |= Pin.SERVER_STATE;
  s.ctx.metrics.serverStatePins.inc();
  s.log.info({ pins: pinNames(st.pins), verb: info ? info.kind : null }, 'server reported session state the statement does not explain (stored code): session pinned to its backend connection until reset');
}

const UNKNOWN: QueryInfo = { kind: '', flags: 0, userVars: null, killId: -1, killQuery: false, lockDelta: 0, lockNames: null, lockNameUnknown: false, rowCountAt: null, connIdAt: null, schemaFnAt: null };
