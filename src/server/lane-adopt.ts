import { Cap, Com } from '../protocol/constants';
import type { Frame } from '../protocol/framer';
import type { BackendConnection } from '../backend/backend-connection';
import { scanQuery } from '../classify/lexer';
import { freshInfo } from './prepared';
import { Resp } from './result-relay';
import type { ClientSession } from './client-session';

/*
 * A fast lane gave its session back with a statement in flight (the response needs the proxy's
 * relay: an error, warnings, a state change, a large row, a long run, a detach): the statement
 * becomes the session's current one, as if the JS path had sent it, and the relay continues at the
 * packet boundary where the lane stopped (ResultRelay.resumeAt).
 */

/**
 * `cmd`: the command's payload as the client sent it; `info`: the lane's eject info ([0] phase,
 * [1] column definitions to come, [2] rows relayed, [7] µs since the command arrived, [10] column
 * count, [11] last sequence id sent, [12] command bytes).
 */
export function adoptInFlight(s: ClientSession, conn: BackendConnection, cmd: Buffer, info: Float64Array): void {
  const run = s.runner;
  const kind = cmd[0] === Com.STMT_EXECUTE ? Resp.EXECUTE : Resp.QUERY;
  const stmt = kind === Resp.EXECUTE ? (s.prepared.get(cmd.readUInt32LE(1)) ?? null) : null;
  const qi = stmt !== null ? freshInfo(stmt, s.routines, s.tenant !== null) : kind === Resp.QUERY ? scanQuery(cmd, 1, cmd.length, s.routines) : null;
  const frame: Frame = { payload: cmd, seq: 0, lastSeq: 0, raw: null };
  const m = s.ctx.metrics;
  if (kind === Resp.EXECUTE) m.cmdExecute.inc();
  else m.cmdQuery.inc();
  s.cmd.begin(cmd);
  s.cmd.t0 -= (info[7] as number) / 1000;
  s.cmd.statsStmt = stmt;
  // retried: the command was sent already; a connection lost now must not run it again elsewhere.
  run.cur = { kind, frame, info: qi, stmt, out: null, clearDiag: false, foreign: false, retried: true, flags: qi !== null ? qi.flags : 0, route: null, inFlight: null, exec: stmt ?? undefined, pinned: s.st.pins !== 0 };
  run.conn = conn;
  run.lastConn = conn;
  conn.sink = run;
  conn.internalSinceClient = false;
  s.toBusy();
  conn.armTimeout(conn.cfg.readTimeoutMs);
  const relay = run.relay;
  relay.resumeAt(kind, info[0] as number, info[1] as number, info[2] as number, info[11] as number);
  relay.refuseInfile = !(s.clientCaps & Cap.LOCAL_FILES);
  run.terms = 0;
  run.armed = true;
}
