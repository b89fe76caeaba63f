import { ownedCopy } from '../protocol/owned-copy';
import { Cap, Com, MAX_PACKET_PAYLOAD, SessionTrack, Status } from '../protocol/constants';
import type { Frame } from '../protocol/framer';
import { buildErr, OkPacket, parseSessionState } from '../protocol/ok-err';
import { framePayload, PacketWriter } from '../protocol/packet-writer';
import { BackendConnection, BackendQueryError, BackendSink } from '../backend/backend-connection';
import type { BackendPool } from '../backend/pool';
import { Q, QueryInfo, scanQuery } from '../classify/lexer';
import { Err, ProxyError } from '../errors';
import { onBackendLoss } from '../session/backend-loss';
import { nextPins, Pin } from '../session/pins';
import { needsReplay, PSEUDO_ID_FLAGS, ReplayNeeds, replaySteps } from '../session/replay';
import { resetToNoSchema, runReplaySteps } from './replay-exec';
import { commandKeepsDiagnostics } from './diagnostics';
import { ClientStmt, ensureBackendStmt, executePacket, execVariant, rememberBackendStmt } from './prepared';
import { Resp, ResultRelay } from './result-relay';
import type { RelayHost } from './relay-host';
import { evictLru, holdStmt } from './stmt-lifetime';
import { substituteRowCount } from './row-count';
import { interpretGtidWait, LAST_GTID_VAR, masterGtidWaitSql } from '../backend/gtid';
import type { StatementRoute } from '../routing/planner';
import type { RouteChoice } from './tenant-statement';
import { recordVar, TRACKING_INIT_SQL, UNMANAGED_VARS } from './session-vars';
import { noteServerStateChange } from './state-change-pin';
import { clientTracksStateChange } from '../session/state-change';
import type { ClientSession } from './client-session';
import { setRunning } from './safety-net';
import { afterStatement } from './statement-bookkeeping';
import { writeMaybeFast } from '../io/raw-io';

const RETURNING_KINDS = new Set(['INSERT', 'DELETE', 'REPLACE']);

/** The statement in flight. */
interface Current extends ReplayNeeds {
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

type ConnCallback = (err: Error | null, conn: BackendConnection | null) => void;

/**
 * The statement lifecycle of one session: lease a backend connection → restore the session's
 * state on it (replay steps) → send → relay the result → bookkeeping (state, pins, diagnostics,
 * user variables, locks) → release, or keep it while the session is pinned. Owns the backend
 * connection the session holds. One plain callback path per statement, no promise unless a
 * replay or bookkeeping round trip is actually needed.
 */
export class StatementRunner implements RelayHost, BackendSink {
  /** Backend connection attached right now (during a statement, or pinned). */
  conn: BackendConnection | null = null;
  private lastConn: BackendConnection | null = null;
  private relayObj: ResultRelay | null = null;
  private cur: Current | null = null;
  /** The last result ended with an OK packet (false: an EOF, which carries no session state). */
  private endedWithOk = true;
  /** The relay was started for the current statement (its lastSeq is this statement's). */
  private armed = false;
  /** Sink of a pinned connection between statements: hears that it died (killed, timed out, server gone). */
  private watchObj: BackendSink | null = null;
  /** The last statement changed character_set_connection: collation_connection must be read back. */
  private collationUnknown = false;
  /** Sequence id of the next LOCAL INFILE packet forwarded to the backend (used under compression). */
  private infileSeq = 0;

  constructor(private readonly s: ClientSession) {}

  /** The result relay, made on first use (idle sessions that never run a statement need none). */
  private get relay(): ResultRelay {
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
      const d = this.s.defaultRoute();
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

  private onConn = (err: Error | null, conn: BackendConnection | null): void => {
    const cur = this.cur as Current;
    if (err || !conn) {
      this.s.sendErr(err ?? new Error('no backend connection'), 1);
      this.cur = null;
      this.s.toIdle();
      return;
    }
    const route = cur.route;
    if (route && route.waitGtid) return this.waitGtid(conn, cur, route);
    if (route && conn.account !== route.account) return this.switchIdentity(conn, cur, route);
    if (route) this.s.ctx.identity.hits++;
    this.onReady(conn, cur);
  };

  /** Read-your-writes on a replica: MASTER_GTID_WAIT, else the configured fallback. */
  private waitGtid(conn: BackendConnection, cur: Current, route: RouteChoice): void {
    const ryw = this.s.ctx.routing.config.readYourWrites;
    conn.query(masterGtidWaitSql(route.waitGtid as NonNullable<RouteChoice['waitGtid']>, ryw.gtidWaitTimeoutMs)).then(
      (r) => {
        if (this.s.closed) return;
        const cell = r.rows[0] ? r.rows[0][0] : null;
        const outcome = interpretGtidWait(cell ?? null);
        const next: RouteChoice = { ...route, waitGtid: null };
        cur.route = next;
        if (outcome.kind === 'reached') {
          if (conn.account !== next.account) return this.switchIdentity(conn, cur, next);
          this.s.ctx.identity.hits++;
          return this.onReady(conn, cur);
        }
        this.releaseConn(conn);
        if (ryw.fallback === 'fail') {
          this.s.sendPacket(buildErr(9004, 'HY000', `tenantgate: replica '${route.backend}' did not apply this session's last write within ${ryw.gtidWaitTimeoutMs} ms (read_your_writes.fallback is 'fail')`), 1);
          return this.finishStatement();
        }
        const primary = this.s.tenant ? this.s.defaultRoute() : null;
        if (primary === null || 'action' in primary) {
          this.s.sendPacket(buildErr(primary ? primary.errno : 9001, primary ? primary.sqlState : 'HY000', primary ? primary.message : 'tenantgate: no primary'), 1);
          return this.finishStatement();
        }
        cur.route = primary;
        this.s.pool = primary.pool;
        this.s.backend = primary.pool.backend;
        this.withConn(this.onConn, false, primary.account);
      },
      (e: Error) => this.restoreFailed(conn, e),
    );
  }

  /** COM_CHANGE_USER to the tenant's backend account; the session's state is replayed afterwards. */
  private switchIdentity(conn: BackendConnection, cur: Current, route: RouteChoice): void {
    const ctx = this.s.ctx;
    ctx.identity.switches++;
    const t0 = performance.now();
    conn.changeUser(route.account, route.password, TRACKING_INIT_SQL).then(
      () => {
        ctx.identity.switchMs += performance.now() - t0;
        if (this.s.closed) return;
        this.onReady(conn, cur);
      },
      (e: Error) => this.restoreFailed(conn, e),
    );
  }

  private onReady(conn: BackendConnection, cur: Current): void {
    cur.foreign = conn.lastSession !== this.s || conn.internalSinceClient;
    // Another session's warnings, kept by a statement reading no table, would be counted as this session's.
    const d = conn.diagOwner;
    if (d !== null && d !== this.s && !cur.clearDiag && cur.kind !== Resp.FETCH && commandKeepsDiagnostics(cur.frame.payload, cur.info, cur.stmt ? cur.stmt.sql : null)) cur.clearDiag = true;
    const replay = needsReplay(this.s, conn, cur);
    if (cur.kind === Resp.EXECUTE) {
      this.pickExec(conn, cur, replay);
      if (cursorWithoutSchema(cur, conn)) {
        this.s.sendPacket(buildErr(1235, '42000', CURSOR_NO_SCHEMA), 1);
        return this.finishStatement();
      }
    }
    const exec = cur.kind === Resp.EXECUTE ? (cur.exec as ClientStmt) : null;
    if (replay || (exec !== null && this.stmtNeedsPrep(conn, exec))) {
      this.restore(conn, cur).then(
        (errPkt) => this.s.guard('statement_send', () => {
          if (this.s.closed) return;
          if (errPkt) {
            this.s.sendPacket(errPkt, 1);
            this.finishStatement();
            return;
          }
          this.send(conn, cur);
        }),
        (e: Error) => this.s.guard('statement_restore', () => this.restoreFailed(conn, e)),
      );
      return;
    }
    if (cur.kind === Resp.EXECUTE) cur.out = this.executeOut(conn, cur);
    this.send(conn, cur);
  }

  /**
   * The statement to execute on the backend: the client's, or — when it reads ROW_COUNT() and the
   * connection's previous statement was not this session's (another session, or the proxy's own
   * replay/prepare) — a variant with the session's value substituted, prepared under its own key.
   * (Not for cursors: a fetch addresses the client statement's backend statement.)
   */
  private pickExec(conn: BackendConnection, cur: Current, replay: boolean): void {
    const stmt = cur.stmt as ClientStmt;
    const st = this.s.st;
    const cursor = cur.frame.payload[5] !== 0;
    const at = stmt.info.rowCountAt;
    const rowCount = at !== null && !cursor && (cur.foreign || replay || this.stmtNeedsPrep(conn, stmt));
    // Prepared without a schema, to be prepared on a pinned connection that has one (which cannot be reset).
    const noSchema = stmt.schema === null && st.schema !== null && cur.pinned === true && !cursor && (rowCount || this.stmtNeedsPrep(conn, stmt));
    cur.exec = rowCount || noSchema ? execVariant(stmt, rowCount ? st.rowCount : null, noSchema ? st.schema : null) : stmt;
  }

  /** executePacket for the statement picked, with buffered long data consumed on the client's statement. */
  private executeOut(conn: BackendConnection, cur: Current): Buffer[] {
    const exec = cur.exec as ClientStmt;
    const stmt = cur.stmt as ClientStmt;
    const charged = stmt.longDataBytes;
    const out = executePacket(conn, exec, cur.frame);
    if (exec !== stmt) stmt.paramTypes = exec.paramTypes;
    if (charged !== 0) {
      // Sent with this execute (also when `exec` is the ROW_COUNT() variant, which shares the chunks).
      stmt.longDataBytes = charged;
      this.s.prepared.dropLongData(stmt);
    }
    return out;
  }

  private stmtNeedsPrep(conn: BackendConnection, st: ClientStmt): boolean {
    return st.longData !== null || !conn.stmts.has(st.key);
  }

  /**
   * Executes the replay steps that bring `conn` to this session's state, and makes sure a
   * statement being executed is prepared there — under the schema it was prepared in: one prepared
   * while the session had none is prepared on this connection after a reset to no schema, before the
   * replay (the server resolves DATABASE() and table names at prepare time). Resolves with an ERR
   * packet to send instead of running the statement, if any.
   */
  private async restore(conn: BackendConnection, cur: Current): Promise<PacketWriter | null> {
    const s = this.s;
    const max = s.ctx.maxPrepared(conn);
    const exec = cur.kind === Resp.EXECUTE ? (cur.exec as ClientStmt) : null;
    // Before the replay, which may select the session's current schema; on a pinned connection (which
    // cannot be reset) only where it has none (else pickExec chose a variant with a schema).
    if (exec !== null && exec.schema === null && !conn.stmts.has(exec.key) && (cur.pinned !== true || conn.schema === null)) {
      if (conn.schema !== null) await resetToNoSchema(s, conn);
      const e = await ensureBackendStmt(conn, exec, max);
      if (e) return buildErr(e.errno, e.sqlState, e.message);
    }
    const e = await runReplaySteps(s, conn, replaySteps(s, conn, cur, (s.pool as BackendPool).defaults));
    if (e) return e;
    conn.noteApplied(s, s.st.version);
    if (exec !== null) {
      const e = await ensureBackendStmt(conn, exec, max);
      if (e) return buildErr(e.errno, e.sqlState, e.message);
      cur.out = this.executeOut(conn, cur);
    }
    return null;
  }

  private restoreFailed(conn: BackendConnection, e: Error): void {
    const s = this.s;
    if (s.closed) return;
    s.log.warn({ err: e.message }, 'could not prepare backend connection for the session');
    if (e instanceof BackendQueryError) {
      s.sendPacket(buildErr(e.errno, e.sqlState, e.message), 1);
      this.finishStatement();
      return;
    }
    if (!conn.closed && !s.st.pins) {
      s.sendErr(new ProxyError(Err.STATE_RESTORE, `tenantgate could not restore this session's state on backend '${conn.cfg.name}': ${e.message}`), 1);
      this.dropConn(conn);
      this.cur = null;
      s.toIdle();
      return;
    }
    this.lost(conn, e, false);
  }

  private send(conn: BackendConnection, cur: Current): void {
    if (conn.closed) {
      this.lost(conn, new Error('backend connection closed'), false);
      return;
    }
    const t = this.s.tenant;
    if (t !== null && conn.account !== t.backendUser) {
      // Fail closed: a tenant's statement never runs under another account (the server layer of isolation).
      this.s.sendPacket(buildErr(1045, '28000', `tenantgate: backend connection is not logged in as tenant '${t.tenant}''s account; statement not sent`), 1);
      this.dropConn(conn);
      this.cur = null;
      this.s.toIdle();
      return;
    }
    // Replay and bookkeeping queries ran after this session's previous statement on this connection.
    // (A prepare, fetch or other command does not set ROW_COUNT(): the flag stays until a statement runs.)
    if (conn.internalSinceClient) cur.foreign = true;
    if (cur.kind === Resp.QUERY || cur.kind === Resp.EXECUTE) conn.internalSinceClient = false;
    // A prepare (fetch, ...) of this session on a connection another session ran on last leaves that
    // session's ROW_COUNT() there: keep the connection foreign to this session until a statement runs.
    else if (cur.foreign) conn.internalSinceClient = true;
    conn.sink = this;
    if (cur.route) {
      const f = this.s.ctx.inFlight;
      const name = conn.cfg.name;
      f.set(name, (f.get(name) ?? 0) + 1);
      cur.inFlight = name;
    }
    conn.armTimeout(conn.cfg.readTimeoutMs);
    const relay = this.relay;
    relay.start(cur.kind);
    this.terms = 0;
    this.armed = true;
    relay.refuseInfile = !(this.s.clientCaps & Cap.LOCAL_FILES);
    const sock = conn.socket;
    const raw = this.s.ctx.rawIo;
    if (cur.out) {
      if (cur.out.length === 1) writeMaybeFast(sock, cur.out[0], raw);
      else {
        sock.cork();
        for (const b of cur.out) sock.write(b);
        sock.uncork();
      }
    } else {
      const f = cur.frame;
      const at = cur.info ? cur.info.rowCountAt : null;
      if (at !== null && cur.foreign) sock.write(framePayload(substituteRowCount(f.payload, at, this.s.st.rowCount), 0));
      else writeMaybeFast(sock, f.raw ?? framePayload(f.payload, 0), raw);
    }
  }

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
    this.send(this.conn as BackendConnection, this.cur);
  }

  /** A client packet of a LOCAL INFILE transfer, passed on to the backend. */
  onInfileData(f: Frame): void {
    const conn = this.conn;
    if (!conn) return;
    // Under compression inner sequence ids are not checked, and older clients number them all 0
    // (my_net_write in libmysqlclient): the backend, uncompressed, gets its own numbering.
    const seq = this.s.client.compressed ? this.infileSeq : (f.seq - this.relay.seqDelta) & 0xff;
    this.infileSeq = (seq + Math.floor(f.payload.length / MAX_PACKET_PAYLOAD) + 1) & 0xff;
    let ok: boolean;
    if (f.raw) {
      f.raw[3] = seq;
      ok = conn.socket.write(f.raw);
    } else ok = conn.socket.write(framePayload(f.payload, seq));
    if (f.payload.length === 0) {
      this.relay.infileSent();
      this.s.toBusy();
    }
    if (!ok) {
      const c = this.s.client;
      c.pauseInput();
      conn.socket.once('drain', () => this.s.guard('infile_drain', () => c.resumeInput()));
    }
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

  /** Terminators relayed so far in the current response (see noteServerStateChange). */
  private terms = 0;

  onTerminator(status: number, warnings: number, ok: OkPacket | null): void {
    const st = this.s.st;
    this.endedWithOk = ok !== null;
    st.lastStatus = status;
    st.lastWarnings = warnings;
    const term = this.terms++;
    if (status & Status.SESSION_STATE_CHANGED && this.cur) noteServerStateChange(this.s, this.cur, this.conn, term, ok);
    // Only statements that run change ROW_COUNT() (not COM_STMT_PREPARE's EOF/OK packets, nor a fetch).
    const kind = this.cur ? this.cur.kind : Resp.QUERY;
    if (kind === Resp.QUERY || kind === Resp.EXECUTE) st.rowCount = ok ? ok.affectedRows : -1;
    if (!ok) return;
    const conn = this.conn;
    if (ok.lastInsertId !== 0) {
      st.lastInsertId = ok.lastInsertId;
      if (conn) conn.noteLastInsertId(ok.lastInsertId);
    }
    if (ok.sessionState && conn) this.applySessionState(conn, ok.sessionState);
  }

  private applySessionState(conn: BackendConnection, block: Buffer): void {
    const st = this.s.st;
    const defaults = this.s.pool ? this.s.pool.defaults : null;
    for (const e of parseSessionState(block)) {
      if (e.type === SessionTrack.SYSTEM_VARIABLES) {
        if (e.name === LAST_GTID_VAR) {
          // Read-only and per write: never session state to replay (SET last_gtid fails with 1238).
          this.s.onWriteGtid(e.value);
          continue;
        }
        if (UNMANAGED_VARS.has(e.name)) {
          if (e.name.startsWith('session_track_')) {
            (st.trackPrefs ??= new Map()).set(e.name, e.value);
            conn.markNeedsReinit();
          }
          continue;
        }
        conn.noteVar(e.name, e.value, defaults);
        if (recordVar(st.vars, defaults, e.name, e.value)) st.version++;
        // SET NAMES / SET CHARACTER SET change collation_connection without the tracker saying so.
        if (e.name === 'character_set_connection') this.collationUnknown = true;
      } else if (e.type === SessionTrack.SCHEMA) {
        const schema = e.name === '' ? null : e.name;
        conn.noteSchema(schema);
        if (st.schema !== schema) {
          st.schema = schema;
          st.version++;
        }
      }
    }
  }

  /** The client would see SERVER_SESSION_STATE_CHANGED and STATE_CHANGE entries from a server (its own session_track_state_change). */
  get clientStateChange(): boolean {
    return clientTracksStateChange(this.s.st.trackPrefs, this.s.pool ? this.s.pool.defaults : null);
  }

  filterSessionState(block: Buffer): Buffer | null {
    const defaults = this.s.pool ? this.s.pool.defaults : null;
    const prefs = this.s.st.trackPrefs;
    const pref = (k: string, d: string) => prefs?.get(k) ?? defaults?.get(k) ?? d;
    const list = pref('session_track_system_variables', 'autocommit,character_set_client,character_set_connection,character_set_results,time_zone');
    const all = list.trim() === '*';
    const names = new Set(list.toLowerCase().split(',').map((x) => x.trim()));
    const schemaOn = /^(on|1)$/i.test(pref('session_track_schema', 'ON'));
    const stateOn = this.clientStateChange;
    const keep: Buffer[] = [];
    for (const e of parseSessionState(block)) {
      if (e.type === SessionTrack.SYSTEM_VARIABLES) {
        if (UNMANAGED_VARS.has(e.name) && !e.name.startsWith('session_track_')) continue;
        if (all || names.has(e.name)) keep.push(e.raw);
      } else if (e.type === SessionTrack.SCHEMA) {
        if (schemaOn) keep.push(e.raw);
      } else if (e.type === SessionTrack.STATE_CHANGE) {
        if (stateOn) keep.push(e.raw);
      }
    }
    return keep.length === 0 ? null : Buffer.concat(keep);
  }

  onPrepareOk(backendId: number, numColumns: number, numParams: number, warnings: number): number {
    const s = this.s;
    s.st.lastWarnings = warnings; // (a PREPARE_OK ends the response: no terminator reports them)
    const cur = this.cur as Current;
    const conn = this.conn as BackendConnection;
    const sql = cur.frame.payload.subarray(1);
    const schema = s.st.schema;
    const stmt: ClientStmt = {
      id: s.prepared.allocId(),
      sql: ownedCopy(sql),
      key: `${schema ?? ''}\0${sql.toString('latin1')}`,
      schema,
      numParams,
      numColumns,
      paramTypes: null,
      longData: null,
      longDataBytes: 0,
      cursorOpen: false,
      info: scanQuery(sql, 0, sql.length, s.routines),
      routinesAt: s.routines,
    };
    if (cur.prepRoute) stmt.route = cur.prepRoute;
    // Tenant accounts cannot set pseudo_thread_id: CONNECTION_ID() was substituted at PREPARE (tenantPrepare).
    if (s.tenant) stmt.info.flags &= ~Q.CONNECTION_ID;
    s.prepared.add(stmt);
    rememberBackendStmt(conn, stmt.key, { id: backendId, numParams, numColumns, types: null, schema: conn.schema }, s.ctx.maxPrepared(conn));
    holdStmt(stmt.key);
    return stmt.id;
  }

  retryPrepare(): boolean {
    const conn = this.conn;
    const cur = this.cur;
    if (!conn || !cur || evictLru(conn) === 0) return false;
    conn.socket.write(framePayload(cur.frame.payload, 0));
    return true;
  }

  onLocalInfile(backendSeq: number): void {
    this.s.toInfile();
    this.infileSeq = (backendSeq + 1) & 0xff;
    if (!(this.s.clientCaps & Cap.LOCAL_FILES)) {
      // The client cannot send files: answer the backend with an empty file; the relay turns its OK into ERR 4166.
      const conn = this.conn as BackendConnection;
      conn.socket.write(Buffer.from([0, 0, 0, (backendSeq + 1) & 0xff]));
      this.relay.infileSent();
      this.s.toBusy();
    }
  }

  private endInFlight(cur: Current | null): void {
    if (!cur || !cur.inFlight) return;
    const f = this.s.ctx.inFlight;
    const n = (f.get(cur.inFlight) ?? 1) - 1;
    if (n <= 0) f.delete(cur.inFlight);
    else f.set(cur.inFlight, n);
    cur.inFlight = null;
  }

  onRelayDone(err: boolean): void {
    const cur = this.cur;
    const conn = this.conn;
    this.endInFlight(cur);
    if (!cur || !conn) return;
    const s = this.s;
    const st = s.st;
    // Only a statement that returned a result set changes FOUND_ROWS() (not SET, DML or an error).
    if ((cur.kind === Resp.QUERY || cur.kind === Resp.EXECUTE) && !err && this.relay.rows >= 0) {
      st.foundRows = this.relay.rows;
      conn.foundRowsOwner = s;
    }
    // ROW_COUNT() is -1 after an error and after a result set (whose terminator may be an OK packet
    // under CLIENT_DEPRECATE_EOF, with affected rows 0).
    if ((cur.kind === Resp.QUERY || cur.kind === Resp.EXECUTE) && (err || this.relay.lastWasResultSet)) st.rowCount = -1;
    const flags = cur.flags;
    const info = cur.info;
    if (cur.stmt && (cur.kind === Resp.EXECUTE || cur.kind === Resp.FETCH)) this.noteCursor(conn, cur.stmt, cur.kind, err);
    this.updatePins(cur.info, err);
    // A ROW_COUNT() variant is held by no client statement (the stmt registry never closes it): close it now.
    if (cur.exec && cur.exec !== cur.stmt) conn.closeStatement(cur.exec.key);
    const leftDiag = err || st.lastWarnings > 0;
    const reads = (flags & Q.READS_DIAGNOSTICS) !== 0 || cur.readsDiag === true;
    if (leftDiag) conn.noteDiagOwner(s);
    else if (conn.diagOwner !== null && !reads && cur.kind !== Resp.FETCH && !commandKeepsDiagnostics(cur.frame.payload, info, cur.stmt ? cur.stmt.sql : null)) conn.noteDiagOwner(null);
    if (!reads && cur.kind !== Resp.FETCH && st.diag !== null && !commandKeepsDiagnostics(cur.frame.payload, info, cur.stmt ? cur.stmt.sql : null)) st.diag = null;
    const capture = leftDiag && !reads && (cur.kind === Resp.QUERY || cur.kind === Resp.EXECUTE || cur.kind === Resp.PREPARE);
    const needVars = info !== null && info.userVars !== null;
    const locks = info !== null && info.lockNames !== null && !info.lockNameUnknown && !(flags & Q.RELEASE_ALL_LOCKS);
    const readLid = !err && (flags & Q.SETS_LAST_INSERT_ID) !== 0;
    // A write returning rows (INSERT/DELETE/REPLACE ... RETURNING) ends with an EOF without last_gtid: ask for it.
    const gtid = s.tenant !== null && !err && !this.endedWithOk && info !== null && RETURNING_KINDS.has(info.kind) && !(st.lastStatus & Status.IN_TRANS);
    // SQL_CALC_FOUND_ROWS: FOUND_ROWS() is not the rows sent; read it, so a replay elsewhere has it.
    const calc = !err && (flags & Q.CALC_FOUND_ROWS) !== 0 && (cur.kind === Resp.QUERY || cur.kind === Resp.EXECUTE);
    if (needVars || conn.needsReinit || capture || locks || gtid || flags & Q.ROUTINE_DDL || this.collationUnknown || readLid || calc) {
      const coll = this.collationUnknown;
      this.collationUnknown = false;
      afterStatement(this.s, conn, info, capture ? err : null, readLid, gtid, coll, calc).then(
        () => s.guard('statement_bookkeeping', () => this.finishStatement()),
        (e: Error) => s.guard('statement_bookkeeping', () => {
          s.log.warn({ err: e.message }, 'post-statement bookkeeping failed; dropping backend connection');
          this.dropConn(conn);
          this.finishStatement();
        }),
      );
      return;
    }
    this.finishStatement();
  }

  /**
   * After an execute or fetch: whether the statement's cursor is open (an execute closes the old
   * one on the server first), on the client statement (pins) and on the backend statement (never
   * evicted while open).
   */
  private noteCursor(conn: BackendConnection, stmt: ClientStmt, kind: Resp, err: boolean): void {
    const status = this.s.st.lastStatus;
    if (kind === Resp.EXECUTE) this.s.prepared.setCursor(stmt, !err && (status & Status.CURSOR_EXISTS) !== 0);
    else if (status & Status.LAST_ROW_SENT || err) this.s.prepared.setCursor(stmt, false);
    const bs = conn.stmts.get(stmt.key);
    if (bs) bs.cursor = stmt.cursorOpen;
  }

  onRelayFailed(e: Error): void {
    this.lost(this.conn, e, true);
  }

  /**
   * The backend connection under a statement is gone (closed, killed, timed out, protocol broken).
   * If the session kept state on it (transaction, locks, temporary tables, ...), that state is lost:
   * the client gets ERR 2013 and its connection is closed, as a server's would be — never a silent
   * continuation on a fresh connection. Without such state, a statement that never reached the
   * backend moves to another connection once; one that did gets ERR 2013 and the session goes on.
   */
  private lost(conn: BackendConnection | null, e: Error, sent: boolean): void {
    const s = this.s;
    this.endInFlight(this.cur);
    const st = s.st;
    const cur = this.cur;
    // relative to what the session already sent of a multi-statement batch (sendPacket adds that)
    const seq = this.armed ? (this.relay.lastSeq + 1 - this.s.seqOffset) & 0xff : 1;
    this.armed = false;
    if (conn) this.dropConn(conn);
    if (s.closed) return;
    s.ctx.metrics.errors.inc({ kind: 'backend_lost' });
    const action = onBackendLoss({ pins: st.pins, sent, retried: cur ? cur.retried : true, fetch: cur !== null && cur.kind === Resp.FETCH });
    s.log.warn({ err: e.message, backend: conn?.cfg.name, pins: st.pins, action }, 'backend connection lost during a statement');
    if (action === 'retry' && cur) {
      cur.retried = true;
      this.withConn(this.onConn, false, cur.route ? cur.route.account : null);
      return;
    }
    this.cur = null;
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
  private idleLost(err: Error | null): void {
    const conn = this.conn;
    if (conn) this.dropConn(conn);
    this.s.backendStateLost(err);
  }

  /** Watches a pinned connection between statements (and arms the idle-in-transaction timeout). */
  private watch(conn: BackendConnection): void {
    conn.sink = this.watchObj ??= {
      onBackendData: () => {
        const c = this.conn;
        if (c) c.destroy(new Error('unsolicited data from backend'));
      },
      onBackendClose: (err) => this.idleLost(err),
    };
    conn.armTimeout(this.s.st.pins & Pin.TX ? conn.cfg.idleInTransactionTimeoutMs : 0);
  }

  // ---- bookkeeping and release ------------------------------------------------------------

  private updatePins(info: QueryInfo | null, failed: boolean): void {
    const s = this.s;
    const st = s.st;
    const d = nextPins({ pins: st.pins, lockCount: st.lockCount, userLocks: st.userLocks.size, openCursors: s.prepared.openCursors }, info, st.lastStatus, failed);
    if (d.releasedAll) st.userLocks.clear();
    st.lockCount = d.lockCount;
    st.pins = d.pins;
  }

  /** Pin re-derived after a local change (a cursor closed by COM_STMT_CLOSE/RESET). */
  updateCursorPin(): void {
    const st = this.s.st;
    st.pins &= ~Pin.CURSOR;
    if (this.s.prepared.openCursors > 0) st.pins |= Pin.CURSOR;
  }

  private finishStatement(): void {
    const conn = this.conn;
    this.cur = null;
    // The statement's result, for its metrics and digest statistics (recorded when the session idles).
    const relay = this.relayObj;
    if (relay !== null) {
      this.s.resultRows = relay.rows > 0 ? relay.rows : 0; // -1 marks "no result set" for ROW_COUNT()
      this.s.resultErrClass = relay.errClass;
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
      else this.watch(conn);
    }
    this.s.toIdle();
  }

  /** The proxy answered a diagnostics statement: ROW_COUNT() -1, FOUND_ROWS() `foundRows` (null: kept), replayed next. */
  noteLocalResult(foundRows: number | null): void {
    const st = this.s.st;
    st.rowCount = -1;
    if (foundRows !== null) st.foundRows = foundRows;
    const c = this.conn ?? this.lastConn;
    if (c === null || c.lastSession !== this.s) return;
    c.internalSinceClient = true;
    if (foundRows !== null && c.foundRowsOwner === this.s) c.foundRowsOwner = null;
  }

  /** Ends a locally answered command: releases the connection unless pinned, then back to idle. */
  toIdleMaybeRelease(): void {
    const conn = this.conn;
    if (conn) {
      if (this.s.st.pins === 0) this.releaseConn(conn);
      else this.watch(conn);
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
