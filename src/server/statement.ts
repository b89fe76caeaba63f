import type { Frame } from '../protocol/framer';
import { buildErr, OkPacket } from '../protocol/ok-err';
import { framePayload } from '../protocol/packet-writer';
import { BackendConnection, BackendSink } from '../backend/backend-connection';
import type { BackendPool } from '../backend/pool';
import { Q, QueryInfo } from '../classify/lexer';
import { Pin } from '../session/pins';
import { PSEUDO_ID_FLAGS, ReplayNeeds } from '../session/replay';
import { ClientStmt } from './prepared';
import { Resp, ResultRelay } from './result-relay';
import type { RelayHost } from './relay-host';
import type { StatementRoute } from '../routing/planner';
import type { RouteChoice } from './tenant-statement';
import { TRACKING_INIT_SQL } from './session-vars';
import type { ClientSession } from './client-session';
import { setRunning } from './safety-net';
import { defaultRoute } from './tenant-session';
import { lost, watch } from './statement-loss';
import { afterRelay } from './statement-done';
import { clientSessionState, noteTerminator } from './session-track';
import { clientTracksStateChange } from '../session/state-change';
import { forwardInfileData, send, startLocalInfile } from './statement-send';
import { onReady } from './statement-restore';
import { switchIdentity, waitGtid } from './statement-lease';
import { registerPrepared, retryPrepareAfterEviction } from './statement-prepare';
import { disownFoundRows } from './found-rows-owner';

/** The statement in flight. */
export interface Current extends ReplayNeeds {
  kind: Resp;
  frame: Frame;
  info: QueryInfo | null;
  stmt: ClientStmt | null;
  /** What to write to the backend (built in prep for EXECUTE). */
  out: Buffer[] | null;
  /** The backend connection's previous statement was not this session's (ROW_COUNT() must be substituted). */
  foreign: boolean;
  /** Tenant sessions: the pool, account and GTID wait chosen for this statement (null: pinned or passthrough). */
  route?: RouteChoice | null;
  /** COM_STMT_PREPARE of a tenant session: the statement's route class, kept on the ClientStmt. */
  prepRoute?: StatementRoute;
  /** Backend counted in ctx.inFlight for this statement. */
  inFlight?: string | null;
  /** Already moved once to another connection after the first one turned out to be dead before sending. */
  retried: boolean;
  /** For EXECUTE: the statement executed on the backend (the client's, or its ROW_COUNT() variant). */
  exec?: ClientStmt;
  /** A PREPARE of a statement that reads diagnostics (it must not clear them). */
  readsDiag?: boolean;
  /** The session held its connection when the statement arrived (a one-shot pin included). */
  pinned?: boolean;
}

export type ConnCallback = (err: Error | null, conn: BackendConnection | null) => void;

/**
 * The statement lifecycle of one session: lease a backend connection → restore the session's
 * state on it (replay steps) → send → relay the result → bookkeeping (state, pins, diagnostics,
 * user variables, locks) → release, or keep it while the session is pinned. Owns the backend
 * connection the session holds. One plain callback path per statement, no promise unless a
 * replay or bookkeeping round trip is actually needed.
 *
 * This class holds the statement's state and the lease and release steps; the stages are functions
 * over it in their own modules: statement-lease.ts (GTID wait, account switch), statement-restore.ts
 * (replay, prepare, execute variant), statement-send.ts (send, LOCAL INFILE), session-track.ts
 * (terminators, session state), statement-prepare.ts (PREPARE_OK), statement-done.ts (bookkeeping),
 * statement-loss.ts (a lost connection, the watch on a pinned one). Its fields are theirs to use.
 */
export class StatementRunner implements RelayHost, BackendSink {
  /** Backend connection attached right now (during a statement, or pinned). */
  conn: BackendConnection | null = null;
  lastConn: BackendConnection | null = null;
  relayObj: ResultRelay | null = null;
  cur: Current | null = null;
  /** The last result ended with an OK packet (false: an EOF, which carries no session state). */
  endedWithOk = true;
  /** The relay was started for the current statement (its lastSeq is this statement's). */
  armed = false;
  /** Sink of a pinned connection between statements: hears that it died (killed, timed out, server gone). */
  watchObj: BackendSink | null = null;
  /** The last statement changed character_set_connection: collation_connection must be read back. */
  collationUnknown = false;
  /** Sequence id of the next LOCAL INFILE packet forwarded to the backend (used under compression). */
  infileSeq = 0;

  constructor(readonly s: ClientSession) {}

  /** The result relay, made on first use (idle sessions that never run a statement need none). */
  get relay(): ResultRelay {
    return (this.relayObj ??= new ResultRelay(this));
  }

  get clientCaps(): number {
    return this.s.clientCaps;
  }

  /** Whether a statement is being relayed now. */
  get busy(): boolean {
    return this.cur !== null;
  }

  /** Text of the statement running now (COM_QUERY, or the SQL of an executed prepared statement), or null. */
  get currentSql(): string | null {
    const cur = this.cur;
    if (cur === null) return null;
    if (cur.kind === Resp.QUERY) return cur.frame.payload.toString('utf8', 1);
    return cur.stmt ? cur.stmt.sql.toString('utf8') : null;
  }

  /** The backend connection running the current statement (SHOW EXPLAIN FOR maps to its thread), or null. */
  get runningOn(): BackendConnection | null {
    return this.cur !== null ? this.conn : null;
  }

  // ---- lease and send ---------------------------------------------------------------------------

  /**
   * Routes a command to a backend connection and relays the answer. `route`: the tenant
   * routing's choice (undefined: the session's default — for tenant sessions the primary, as the
   * tenant's account; null: the pinned connection or passthrough). `readsDiag`: a PREPARE of a
   * statement that reads diagnostics (SHOW WARNINGS, @@warning_count), which must not clear them.
   */
  forward(kind: Resp, frame: Frame, info: QueryInfo | null, stmt: ClientStmt | null, clearDiag = false, route?: RouteChoice | null, prepRoute?: StatementRoute, readsDiag = false): void {
    const st = this.s.st;
    if (route === undefined && this.s.tenant) {
      const d = defaultRoute(this.s);
      if (d !== null && 'action' in d) {
        this.s.sendPacket(buildErr(d.errno, d.sqlState, d.message), 1);
        return;
      }
      route = d;
    }
    // A tenant's account may not set pseudo_thread_id (SUPER / BINLOG REPLAY): no replay of it (CONNECTION_ID() is substituted).
    this.cur = { kind, frame, info, stmt, out: null, clearDiag, foreign: false, retried: false, flags: info ? (this.s.tenant ? info.flags & ~PSEUDO_ID_FLAGS : info.flags) : 0, route: route ?? null, prepRoute, inFlight: null, readsDiag, pinned: st.pins !== 0 };
    this.s.toBusy();
    if (st.pins & Pin.ONE_SHOT) st.pins &= ~Pin.ONE_SHOT; // held for this one statement; re-evaluated after it
    const sticky = info !== null && (info.flags & (Q.FOUND_ROWS | Q.ROW_COUNT | Q.READS_DIAGNOSTICS)) !== 0;
    if (route && !this.conn) {
      this.s.pool = route.pool;
      this.s.backend = route.pool.backend;
    }
    this.withConn(this.onConn, sticky, route ? route.account : null);
  }

  /** Calls back with the pinned connection, the session's last one if asked and still idle, or a pooled one. */
  withConn(cb: ConnCallback, sticky = false, account: string | null = null): void {
    if (this.conn) return cb(null, this.conn);
    const pool = this.s.pool as BackendPool;
    const last = this.lastConn;
    const share = this.s.leaseShare(pool.backend);
    if (sticky && last && last.lastSession === this.s && last.pool === pool && pool.takeIfIdle(last, share)) {
      this.conn = last;
      return cb(null, last);
    }
    const got = (err: Error | null, conn: BackendConnection | null) => {
      // May run inside a promise callback: a throw must end this session, not become an unhandled rejection.
      try {
        if (this.s.closed) {
          if (conn) pool.release(conn);
          return;
        }
        if (conn) this.conn = conn;
        cb(err, conn);
      } catch (e) {
        this.s.fault(e, 'statement_acquire');
      }
    };
    const token = this.s.st.userVarToken;
    if (account !== null) pool.acquireAs(account, got, share, token);
    else pool.acquire(got, share, token);
  }

  onConn = (err: Error | null, conn: BackendConnection | null): void => {
    const cur = this.cur as Current;
    if (err || !conn) {
      this.s.sendErr(err ?? new Error('no backend connection'), 1);
      this.cur = null;
      this.s.toIdle();
      return;
    }
    const route = cur.route;
    if (route && route.waitGtid) return waitGtid(this, conn, cur, route);
    if (route && conn.account !== route.account) return switchIdentity(this, conn, cur, route);
    if (route) this.s.ctx.identity.hits++;
    onReady(this, conn, cur);
  };

  /**
   * The next statement is a segment of a multi-statement batch (batch-run.ts): its sequence ids
   * continue after `lastSeq`, and unless it is the batch's last its final terminator says more
   * results follow.
   */
  armSegment(lastSeq: number, more: boolean): void {
    const r = this.relay;
    r.nextSeqBase = lastSeq;
    r.forceMore = more;
  }

  /** COM_STMT_FETCH for an open cursor on the attached connection (the backend statement id patched in). */
  fetch(frame: Frame, stmt: ClientStmt, backendId: number): void {
    const out = Buffer.from(frame.payload);
    out.writeUInt32LE(backendId, 1);
    this.cur = { kind: Resp.FETCH, frame, info: null, stmt, out: [framePayload(out, 0)], clearDiag: false, foreign: false, retried: false, flags: 0 };
    this.s.toBusy();
    send(this, this.conn as BackendConnection, this.cur);
  }

  /** A client packet of a LOCAL INFILE transfer, passed on to the backend. */
  onInfileData(f: Frame): void {
    forwardInfileData(this, f);
  }

  // ---- RelayHost / BackendSink ------------------------------------------------------------

  writeClient(b: Buffer): boolean {
    return this.s.client.write(b);
  }

  corkClient(): void {
    this.s.client.cork();
  }

  uncorkClient(): void {
    this.s.client.uncork();
  }

  /**
   * Relays a backend chunk; true when a client write still refers to its bytes (see BackendSink).
   * Whatever is thrown below ends this session only.
   */
  onBackendData(chunk: Buffer): boolean {
    const s = this.s;
    setRunning(s);
    try {
      this.relay.onBackendData(chunk);
    } catch (e) {
      s.fault(e, 'backend_data');
    }
    setRunning(null);
    return s.client.writePending;
  }

  onBackendClose(err: Error | null): void {
    try {
      this.relay.onBackendClose(err);
    } catch (e) {
      this.s.fault(e, 'backend_close');
    }
  }

  onClientBackpressure(): void {
    const c = this.conn;
    if (c) this.s.client.holdBackend(c.socket);
  }

  /** A result's terminator (OK or EOF): what it tells the session (session-track.ts). */
  onTerminator(status: number, warnings: number, ok: OkPacket | null): void {
    noteTerminator(this, status, warnings, ok);
  }

  /** Terminators relayed so far in the current response (see noteServerStateChange). */
  terms = 0;

  /** The client would see SERVER_SESSION_STATE_CHANGED and STATE_CHANGE entries from a server (its own session_track_state_change). */
  get clientStateChange(): boolean {
    return clientTracksStateChange(this.s.st.trackPrefs ?? null, this.s.pool ? this.s.pool.defaults : null);
  }

  /** What the client is told of a backend's session-state block (session-track.ts). */
  filterSessionState(block: Buffer): Buffer | null {
    return clientSessionState(block, this.s.st.trackPrefs, this.s.pool ? this.s.pool.defaults : null);
  }

  onPrepareOk(backendId: number, numColumns: number, numParams: number, warnings: number): number {
    return registerPrepared(this, backendId, numColumns, numParams, warnings);
  }

  retryPrepare(): boolean {
    return retryPrepareAfterEviction(this);
  }

  onLocalInfile(backendSeq: number): void {
    startLocalInfile(this, backendSeq);
  }

  onRelayDone(err: boolean): void {
    afterRelay(this, err);
  }

  onRelayFailed(e: Error): void {
    lost(this, this.conn, e, true);
  }

  // ---- bookkeeping and release ------------------------------------------------------------

  /** Pin re-derived after a local change (a cursor closed by COM_STMT_CLOSE/RESET). */
  updateCursorPin(): void {
    const st = this.s.st;
    st.pins &= ~Pin.CURSOR;
    if (this.s.prepared.openCursors > 0) st.pins |= Pin.CURSOR;
  }

  finishStatement(): void {
    const conn = this.conn;
    const lanes = this.s.ctx.lanes;
    if (lanes !== null && this.cur !== null) lanes.noteFinished(this.s, this.cur, this.relayObj, this.endedWithOk, this.armed);
    this.cur = null;
    // The statement's result, for its metrics and digest statistics (recorded when the session idles).
    const relay = this.relayObj;
    if (relay !== null) {
      this.s.cmd.resultRows = relay.rows > 0 ? relay.rows : 0; // -1 marks "no result set" for ROW_COUNT()
      this.s.cmd.resultErrClass = relay.errClass;
      const b = this.s.batch;
      if (b !== null && this.armed) {
        b.seq = relay.lastSeq;
        if (relay.errClass !== '') b.failed = true;
      }
    }
    this.armed = false;
    if (conn) {
      conn.noteApplied(this.s, this.s.st.version);
      if (this.s.st.pins === 0) this.releaseConn(conn);
      else watch(this, conn);
    }
    this.s.toIdle();
  }

  /** The proxy answered a statement itself: ROW_COUNT() `rowCount` (-1: a result set or an error), FOUND_ROWS() `foundRows` (null: kept), replayed next. */
  noteLocalResult(foundRows: number | null, rowCount = -1): void {
    const st = this.s.st;
    st.rowCount = rowCount;
    if (foundRows !== null) {
      st.foundRows = foundRows;
      disownFoundRows(this.s);
    }
    const c = this.conn ?? this.lastConn;
    if (c === null || c.lastSession !== this.s) return;
    c.internalSinceClient = true;
  }

  /** Ends a locally answered command: releases the connection unless pinned, then back to idle. */
  toIdleMaybeRelease(): void {
    const conn = this.conn;
    if (conn) {
      if (this.s.st.pins === 0) this.releaseConn(conn);
      else watch(this, conn);
    }
    this.s.toIdle();
  }

  releaseConn(conn: BackendConnection): void {
    if (this.conn === conn) this.conn = null;
    this.lastConn = conn;
    this.s.client.unholdBackend(conn.socket);
    conn.armTimeout(0);
    (conn.pool as BackendPool).release(conn);
  }

  dropConn(conn: BackendConnection): void {
    if (this.conn === conn) this.conn = null;
    if (this.lastConn === conn) this.lastConn = null;
    (conn.pool as BackendPool).discard(conn);
  }

  /** Gives back a pinned connection after cleaning it (or drops it when cleaning fails). */
  cleanRelease(conn: BackendConnection): Promise<void> {
    if (this.conn === conn) this.conn = null;
    conn.sink = null;
    conn.armTimeout(0);
    return conn.resetSession(TRACKING_INIT_SQL).then(
      () => (conn.pool as BackendPool).release(conn),
      () => (conn.pool as BackendPool).discard(conn),
    );
  }

  /** Lets go of the attached connection when the session ends (`busy`: a statement is running on it). */
  detachOnClose(busy: boolean, pinned: boolean): void {
    const conn = this.conn;
    this.conn = null;
    if (!conn) return;
    this.s.client.unholdBackend(conn.socket);
    if (!busy) conn.sink = null;
    if (busy) {
      conn.sink = null;
      this.s.ctx.killBackendThread(conn).finally(() => (conn.pool as BackendPool).discard(conn));
    } else if (pinned) void this.cleanRelease(conn);
    else (conn.pool as BackendPool).release(conn);
  }
}
