import { Cap, MAX_PACKET_PAYLOAD } from '../protocol/constants';
import type { Frame } from '../protocol/framer';
import { buildErr } from '../protocol/ok-err';
import { framePayload } from '../protocol/packet-writer';
import { BackendConnection } from '../backend/backend-connection';
import { Resp } from './result-relay';
import { rowCountExpr, substituteCalls } from './row-count';
import { commandKeepsDiagnostics } from './diagnostics';
import { clientTrackList, sysVarEdits, sysVarValues } from './sysvar-substitute';
import { writeMaybeFast } from '../io/raw-io';
import { lost } from './statement-loss';
import type { StatementRunner, Current } from './statement';

/*
 * The send stage of a statement: the fail-closed account check, ROW_COUNT() ownership of the
 * connection, in-flight counting, arming the relay and writing the command; and the LOCAL INFILE
 * data passed on to the backend.
 */

/** Writes the statement to its connection, with the relay armed for the answer. */
export function send(run: StatementRunner, conn: BackendConnection, cur: Current): void {
  if (conn.closed) {
    lost(run, conn, new Error('backend connection closed'), false);
    return;
  }
  const t = run.s.tenant;
  if (t !== null && conn.account !== t.backendUser) {
    // Fail closed: a tenant's statement never runs under another account (the server layer of isolation).
    run.s.sendPacket(buildErr(1045, '28000', `tenantgate: backend connection is not logged in as tenant '${t.tenant}''s account; statement not sent`), 1);
    run.dropConn(conn);
    run.cur = null;
    run.s.toIdle();
    return;
  }
  // Replay and bookkeeping queries ran after this session's previous statement on this connection.
  // (A prepare, fetch or other command does not set ROW_COUNT(): the flag stays until a statement runs.)
  if (conn.internalSinceClient) cur.foreign = true;
  if (cur.kind === Resp.QUERY || cur.kind === Resp.EXECUTE) conn.internalSinceClient = false;
  // A prepare (fetch, ...) of this session on a connection another session ran on last leaves that
  // session's ROW_COUNT() there: keep the connection foreign to this session until a statement runs.
  else if (cur.foreign) conn.internalSinceClient = true;
  conn.sink = run;
  if (cur.route) {
    const f = run.s.ctx.inFlight;
    const name = conn.cfg.name;
    f.set(name, (f.get(name) ?? 0) + 1);
    cur.inFlight = name;
  }
  conn.armTimeout(conn.cfg.readTimeoutMs);
  const relay = run.relay;
  relay.start(cur.kind);
  run.terms = 0;
  run.armed = true;
  relay.refuseInfile = !(run.s.clientCaps & Cap.LOCAL_FILES);
  const sock = conn.socket;
  const raw = run.s.ctx.rawIo;
  if (cur.out) {
    if (cur.out.length === 1) writeMaybeFast(sock, cur.out[0], raw);
    else {
      sock.cork();
      for (const b of cur.out) sock.write(b);
      sock.uncork();
    }
  } else {
    const f = cur.frame;
    const sub = cur.info !== null && (cur.info.sysVarAt !== null || (cur.foreign && cur.info.rowCountAt !== null)) ? substitutedQuery(run, cur) : null;
    if (sub !== null) sock.write(framePayload(sub, 0));
    else writeMaybeFast(sock, f.raw ?? framePayload(f.payload, 0), raw);
  }
}

/**
 * The COM_QUERY payload with the session's own values substituted: ROW_COUNT() when the
 * connection's previous statement was not the session's, @@warning_count / @@error_count /
 * @@session_track_system_variables (sysvar-substitute.ts). Null: send the client's bytes.
 */
function substitutedQuery(run: StatementRunner, cur: Current): Buffer | null {
  const info = cur.info as NonNullable<Current['info']>;
  const p = cur.frame.payload;
  const st = run.s.st;
  const calls: Array<{ at: number; value: string; end?: number }> = [];
  if (cur.foreign && info.rowCountAt !== null) for (const at of info.rowCountAt) calls.push({ at, value: rowCountExpr(st.rowCount) });
  const v = sysVarValues(info, st.diag, st.diag !== null && commandKeepsDiagnostics(p, info, null), clientTrackList(st.trackPrefs, run.s.pool ? run.s.pool.defaults : null));
  if (v !== null) for (const e of sysVarEdits(p, info.sysVarAt as number[], v)) calls.push(e);
  if (calls.length === 0) return null;
  calls.sort((x, y) => x.at - y.at);
  return substituteCalls(p, calls, 9);
}

/** A client packet of a LOCAL INFILE transfer, passed on to the backend. */
export function forwardInfileData(run: StatementRunner, f: Frame): void {
  const conn = run.conn;
  if (!conn) return;
  // Under compression inner sequence ids are not checked, and older clients number them all 0
  // (my_net_write in libmysqlclient): the backend, uncompressed, gets its own numbering.
  const seq = run.s.client.compressed ? run.infileSeq : (f.seq - run.relay.seqDelta) & 0xff;
  run.infileSeq = (seq + Math.floor(f.payload.length / MAX_PACKET_PAYLOAD) + 1) & 0xff;
  let ok: boolean;
  if (f.raw) {
    f.raw[3] = seq;
    ok = conn.socket.write(f.raw);
  } else ok = conn.socket.write(framePayload(f.payload, seq));
  if (f.payload.length === 0) {
    run.relay.infileSent();
    run.s.toBusy();
  }
  if (!ok) {
    const c = run.s.client;
    c.pauseInput();
    conn.socket.once('drain', () => run.s.guard('infile_drain', () => c.resumeInput()));
  }
}

/** The backend asked for a LOCAL INFILE: the client sends it, or (not allowed to) an empty file is sent for it. */
export function startLocalInfile(run: StatementRunner, backendSeq: number): void {
  run.s.toInfile();
  run.infileSeq = (backendSeq + 1) & 0xff;
  if (!(run.s.clientCaps & Cap.LOCAL_FILES)) {
    // The client cannot send files: answer the backend with an empty file; the relay turns its OK into ERR 4166.
    const conn = run.conn as BackendConnection;
    conn.socket.write(Buffer.from([0, 0, 0, (backendSeq + 1) & 0xff]));
    run.relay.infileSent();
    run.s.toBusy();
  }
}
