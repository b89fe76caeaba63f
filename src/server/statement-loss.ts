import { buildErr } from '../protocol/ok-err';
import { BackendConnection } from '../backend/backend-connection';
import { onBackendLoss } from '../session/backend-loss';
import { Pin } from '../session/pins';
import { Resp } from './result-relay';
import type { StatementRunner } from './statement';
import { endInFlight } from './statement-done';
import { backendStateLost } from './command-gate';

/*
 * A backend connection lost under a statement, or while pinned between statements (the watch on a
 * pinned connection), and what the session does then (session/backend-loss.ts decides).
 */

/**
 * The backend connection under a statement is gone (closed, killed, timed out, protocol broken).
 * If the session kept state on it (transaction, locks, temporary tables, ...), that state is lost:
 * the client gets ERR 2013 and its connection is closed, as a server's would be — never a silent
 * continuation on a fresh connection. Without such state, a statement that never reached the
 * backend moves to another connection once; one that did gets ERR 2013 and the session goes on.
 */
export function lost(run: StatementRunner, conn: BackendConnection | null, e: Error, sent: boolean): void {
  const s = run.s;
  endInFlight(run, run.cur);
  const st = s.st;
  const cur = run.cur;
  // relative to what the session already sent of a multi-statement batch (sendPacket adds that)
  const seq = run.armed ? (run.relay.lastSeq + 1 - run.s.seqOffset) & 0xff : 1;
  // The client got part of a packet (a row passed through as it arrived): an ERR after it would be
  // read as the rest of that packet and the client would wait forever. Closed, as by the server.
  const midPacket = run.armed && run.relay.midPacket;
  run.armed = false;
  if (conn) run.dropConn(conn);
  if (s.closed) return;
  s.ctx.metrics.errors.inc({ kind: 'backend_lost' });
  const action = onBackendLoss({ pins: st.pins, sent, retried: cur ? cur.retried : true, fetch: cur !== null && cur.kind === Resp.FETCH });
  s.log.warn({ err: e.message, backend: conn?.cfg.name, pins: st.pins, action }, 'backend connection lost during a statement');
  if (action === 'retry' && cur) {
    cur.retried = true;
    run.withConn(run.onConn, false, cur.route ? cur.route.account : null);
    return;
  }
  run.cur = null;
  if (midPacket) {
    s.close('backend connection lost in the middle of a packet relayed to the client');
    return;
  }
  if (action === 'close') {
    s.sendPacket(buildErr(2013, 'HY000', "Lost connection to server during query (the backend connection holding this session's transaction, locks or temporary tables is gone)"), seq);
    s.close('backend connection with session state lost');
    return;
  }
  s.sendPacket(buildErr(2013, 'HY000', 'Lost connection to server during query'), seq);
  st.lockCount = 0;
  st.userLocks.clear();
  s.prepared.closeAllCursors();
  s.toIdle();
}

/** A pinned connection died between statements: the session's state on it is gone. */
export function idleLost(run: StatementRunner, err: Error | null): void {
  const conn = run.conn;
  if (conn) run.dropConn(conn);
  backendStateLost(run.s, err);
}

/** Watches a pinned connection between statements (and arms the idle-in-transaction timeout). */
export function watch(run: StatementRunner, conn: BackendConnection): void {
  conn.sink = run.watchObj ??= {
    onBackendData: () => {
      const c = run.conn;
      if (c) c.destroy(new Error('unsolicited data from backend'));
    },
    onBackendClose: (err) => idleLost(run, err),
  };
  conn.armTimeout(run.s.st.pins & Pin.TX ? conn.cfg.idleInTransactionTimeoutMs : 0);
}
