import type * as net from 'node:net';
import type { Logger } from 'pino';
import type { UserConfig } from '../config/types';
import { MAX_PACKET_PAYLOAD, Status } from '../protocol/constants';
import type { Frame } from '../protocol/framer';
import { buildOk } from '../protocol/ok-err';
import { ProtocolError } from '../protocol/packet-reader';
import type { PacketWriter } from '../protocol/packet-writer';
import type { BackendConnection } from '../backend/backend-connection';
import type { Backend, BackendPool } from '../backend/pool';
import { SessionShare, type LeaseShare } from '../backend/lease-share';
import { errPacket } from '../errors';
import type { RoutineInfo } from '../classify/routines';
import type { ScanOptions } from '../classify/scan-types';
import type { Placement } from '../routing/placement';
import { newSessionState, okStatus, SessionState } from '../session/session-state';
import { PreparedMap } from '../session/prepared-map';
import { ClientConn, ClientConnHost } from './client-conn';
import { dispatch } from './dispatcher';
import { ChangeUserRequest, Identity, Login, LoginHost } from './login';
import type { ProxyContext } from './proxy-context';
import { StatementRunner } from './statement';
import { releaseStmts } from './stmt-lifetime';
import type { RouteChoice } from './tenant-statement';
import { continueBatch, type BatchRun } from './batch-run';
import { checkTimeouts } from './session-timeouts';
import { completeLogin } from './login-complete';
import { CommandRecord } from './command-record';
import { fault, protocolFailure } from './session-faults';
import { admitCommand } from './command-gate';
import type { LaneOf } from './lane-manager';

/** Named states of a client session. */
export const enum S {
  HANDSHAKE = 'handshake',
  AUTH = 'auth',
  IDLE = 'idle',
  BUSY = 'busy',
  INFILE = 'infile',
  CLOSED = 'closed',
}

/** Largest packet accepted before login completes (a handshake response with attributes fits easily). */
const LOGIN_MAX_PACKET = 1 << 16;

const EMPTY = Buffer.alloc(0);

/**
 * One client connection, as an explicit state machine (handshake → auth → idle ⇄ busy/infile →
 * closed) composed of: the client I/O ({@link ClientConn}), the login exchange ({@link Login}) and
 * its completion (login-complete.ts), the session's state as data ({@link SessionState},
 * {@link PreparedMap}, {@link CommandRecord}), the COM_* dispatcher (dispatcher.ts, with
 * stmt-commands.ts and session-reset.ts), the statement lifecycle ({@link StatementRunner}),
 * timeouts (session-timeouts.ts), the check before each command (command-gate.ts) and failure
 * handling (session-faults.ts). Between statements it holds no backend connection unless session
 * state requires it (transactions, locks, temporary tables, ...).
 */
export class ClientSession implements LoginHost, ClientConnHost {
  readonly id: number;
  state: S = S.HANDSHAKE;
  readonly client: ClientConn;
  readonly remoteHost: string;
  private readonly login: Login;
  /** The session's state (replayed on whichever backend connection runs its next statement). */
  readonly st: SessionState;
  readonly prepared = new PreparedMap();
  clientCaps = 0;
  user: UserConfig | null = null;
  backend: Backend | null = null;
  pool: BackendPool | null = null;
  /** The tenant this connection belongs to (null: passthrough, no tenants configured). */
  tenant: Placement | null = null;
  /** User name as the client sent it at login. */
  loginName = '';
  /** What backend pools of this session are keyed by (set at login). */
  profileCaps = 0;
  collation = 0;
  extMeta = false;
  scanOpts: ScanOptions | null = null;
  scanOptsVersion = -1;
  /** Literal-free key bits for `keyBitsFor` (tenant-statement's keyBits). */
  keyBits = -1;
  keyBitsFor: ScanOptions | null = null;
  /** Per-placement caches of the statement path (see tenant-statement.ts). */
  rywKeyFor: Placement | null = null;
  rywKeyValue: string | null = null;
  choicesFor: Placement | null = null;
  readonly choices = new Map<string, RouteChoice>();
  private runnerObj: StatementRunner | null = null;
  private readonly share = new SessionShare();
  /** The backend connection holding this session's state died between statements (answered at the next command). */
  stateLost = false;
  private logger: Logger | null = null;
  /** Config version `backend`/`pool`/`tenant` were resolved under (see command-gate.ts). */
  poolVersion = 0;
  /** The command being served (process list, metrics, digest statistics). */
  readonly cmd = new CommandRecord();
  /** When the current login (or COM_CHANGE_USER) exchange started: the login timeout counts from it. */
  loginStartedAt: number;
  /** When the session last became idle (wait_timeout counts from the later of this and the last input). */
  idleSince = 0;
  /** When the running statement started (the process list's Time of a busy session). */
  private busySince = 0;
  /** The backend connection holding this session's FOUND_ROWS() value, if any (found-rows-owner.ts). */
  foundRowsConn: BackendConnection | null = null;
  /** The native fast lane relaying this session's statements now, or null (lane-manager.ts). */
  lane: LaneOf | null = null;
  /** The statement just finished may run in a lane (lane-eligibility.ts lanePlainStatement). */
  laneApproved = false;
  /** That statement's COM_QUERY payload, to approve its shape when the lane attaches. */
  laneShape: Buffer | null = null;
  /** A tenant statement's route, when approved (the lane must be on that route's connection). */
  laneRoute: RouteChoice | null = null;

  constructor(readonly ctx: ProxyContext, socket: net.Socket, id: number) {
    this.id = id;
    this.remoteHost = normalizeHost(socket.remoteAddress);
    this.st = newSessionState(id, false);
    // Until login completes only small packets are legitimate; garbage (an HTTP request, say) is refused at its header.
    this.client = new ClientConn(socket, LOGIN_MAX_PACKET, this, ctx.clientBuffer);
    this.login = new Login(this);
    this.loginStartedAt = Date.now();
    ctx.handshaking.add(this);
    this.client.write(this.login.greeting(id));
  }

  /** The statement lifecycle, made on first use. */
  get runner(): StatementRunner {
    return (this.runnerObj ??= new StatementRunner(this));
  }

  /** The backend connection the session holds now (pinned or mid-statement), without making a runner. */
  get heldConn(): BackendConnection | null {
    return this.runnerObj ? this.runnerObj.conn : null;
  }

  /** The identity this session marks backend connections with (see replay.ts). */
  get owner(): unknown {
    return this;
  }

  /** Child logger, made on first use: 10,000 idle sessions should not each carry one. */
  get log(): Logger {
    return (this.logger ??= this.ctx.log.child({ session: this.id, client: this.remoteHost }));
  }

  /** Server-side code of this session's backend that may change session state (see Backend.loadRoutines). */
  get routines(): RoutineInfo | undefined {
    return this.backend ? this.backend.routines : undefined;
  }

  /** The command in progress (null between commands): COM_* name, COM_QUERY text, start time. */
  get current(): { command: string; sql: Buffer | null; startedAt: number } | null {
    return this.cmd.current(this.state === S.BUSY || this.state === S.INFILE);
  }

  get closed(): boolean {
    return this.state === S.CLOSED;
  }

  // ---- ClientConnHost -------------------------------------------------------------------------

  onInput(): void {
    this.pump();
  }

  onClosed(): void {
    this.close('client closed the connection');
  }

  onSocketError(e: Error): void {
    if (this.ctx.log.isLevelEnabled('debug')) this.log.debug({ err: e.message, state: this.state }, 'client socket error');
  }

  // ---- state transitions ------------------------------------------------------------------------

  toBusy(): void {
    this.state = S.BUSY;
    this.busySince = Date.now();
  }

  toInfile(): void {
    this.state = S.INFILE;
  }

  toIdle(): void {
    if (this.state === S.CLOSED) return;
    // A segment of a split multi-statement batch is done: the command goes on with the next one.
    if (this.batch !== null && continueBatch(this)) return;
    if (this.cmd.t0 !== 0) this.endCommand();
    this.state = S.IDLE;
    this.idleSince = Date.now();
    this.client.resumeInput();
    this.pump();
    this.client.account();
    if (this.laneApproved) {
      const lanes = this.ctx.lanes;
      if (lanes !== null) lanes.maybeAttach(this);
      else this.laneApproved = false;
    }
  }

  // ---- timeouts (session-timeouts.ts, checked by the proxy's sweep) ----------------------------

  /** Closes the session if a login, idle or read timeout has passed at `now`. */
  checkTimeouts(now: number): void {
    checkTimeouts(this, now);
  }

  /** Sequence id of the last login packet received or sent. */
  get loginSeq(): number {
    return this.login.seq;
  }

  // ---- input pump ---------------------------------------------------------------------------

  private pump(): void {
    const c = this.client;
    while (this.state !== S.CLOSED) {
      if (this.state === S.BUSY) {
        c.throttleWhileBusy();
        return;
      }
      let f: Frame | null;
      try {
        f = c.next();
      } catch (e) {
        this.protocolFailure(e as Error);
        return;
      }
      if (!f) return;
      try {
        switch (this.state) {
          case S.HANDSHAKE:
            this.login.onHandshakeResponse(f.payload, f.seq);
            break;
          case S.AUTH:
            this.login.onAuthData(f.payload, f.seq);
            break;
          case S.IDLE:
            if (!admitCommand(this)) return;
            this.cmd.begin(f.payload);
            dispatch(this, f);
            // Answered by the proxy without a backend round trip (refusals, diagnostics, ...): ends here.
            if (this.state === S.IDLE && this.cmd.t0 !== 0) this.endCommand();
            break;
          case S.INFILE:
            this.runner.onInfileData(f);
            break;
        }
        if (this.state === S.HANDSHAKE && this.login.authenticating) this.state = S.AUTH;
      } catch (e) {
        if (e instanceof ProtocolError) this.protocolFailure(e);
        else this.fault(e, 'command', (f.seq + 1) & 0xff);
      }
    }
  }

  /** A command's response is complete: metrics, per-digest statistics, slow-query log (in the proxy). */
  private endCommand(): void {
    const c = this.cmd;
    c.end(this.client.socket);
    this.ctx.noteCommand(this, c.payload, c.ms, c.bytesIn, c.bytesOut, c.errClass, c.resultRows, c.startedAt);
    c.clear();
  }

  /** An unexpected throw on this session's path: ERR 9003 where possible, only this session ends (session-faults.ts). */
  fault(e: unknown, where: string, seq = -1): void {
    fault(this, e, where, seq);
  }

  /** Runs `fn` (a callback outside the input pump: timer, promise, pool), turning a throw into {@link fault}. */
  guard(where: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.fault(e, where);
    }
  }

  private protocolFailure(e: Error): void {
    protocolFailure(this, e);
  }

  /** In the handshake or authentication exchange. */
  get inLogin(): boolean {
    return this.state === S.HANDSHAKE || this.state === S.AUTH;
  }

  // ---- login ------------------------------------------------------------------------------------

  onLoginDenied(): void {
    this.close('access denied');
  }

  onLoginOk(id: Identity): void {
    completeLogin(this, id);
  }

  // ---- commands answered (or prepared) by the session ------------------------------------------

  okStatus(): number {
    return okStatus(this.st, this.runnerObj !== null && this.runnerObj.conn !== null);
  }

  okPacket(affected = 0, header = 0x00, sessionState: Buffer | null = null): PacketWriter {
    const status = this.okStatus() | (sessionState ? Status.SESSION_STATE_CHANGED : 0);
    return buildOk({ affectedRows: affected, lastInsertId: 0, status, warnings: 0, info: EMPTY, sessionState }, this.clientCaps, header);
  }

  // ---- connection-level commands ------------------------------------------------------------------

  /** COM_CHANGE_USER parsed by the login exchange (session-reset.ts). */
  parseChangeUser(p: Buffer): ChangeUserRequest {
    return this.login.parseChangeUser(p);
  }

  /** After COM_CHANGE_USER reset the session: authentication starts again (the login timeout with it). */
  startChangeUser(req: ChangeUserRequest): void {
    this.state = S.AUTH;
    this.loginStartedAt = Date.now();
    this.login.changeUserTo(req);
  }

  /** Seconds in the current command (running statement or idle), as a server's process list shows. */
  secondsInState(now: number): number {
    const since = this.state === S.BUSY || this.state === S.INFILE ? this.busySince : this.idleSince;
    return since > 0 ? Math.max(0, Math.floor((now - since) / 1000)) : 0;
  }

  // ---- output helpers and teardown -----------------------------------------------------------------

  /**
   * Writes a packet the proxy answers itself. `seq` counts from the command's first response
   * packet (1), or from after what a split multi-statement batch already sent (see batch-run.ts).
   */
  sendPacket(w: PacketWriter, seq: number): void {
    if (this.state === S.CLOSED) return;
    const batch = this.batch;
    if (batch !== null) seq = (seq + batch.seq) & 0xff;
    if (this.cmd.t0 !== 0) {
      // During a command: an ERR the proxy answers itself counts as that statement's error (metrics).
      const b = w.finish(seq);
      const err = b.length > 4 && b[4] === 0xff;
      if (err && b.length > 12 && b[7] === 0x23) this.cmd.proxyErrClass = b.toString('latin1', 8, 10);
      if (batch !== null) {
        batch.seq = seq;
        if (err) batch.failed = true;
      }
      if (!this.client.socket.destroyed) this.client.write(b);
      return;
    }
    this.client.sendPacket(w, seq);
  }

  /** A split multi-statement batch being run (batch-run.ts), or null. */
  batch: BatchRun | null = null;

  /** What sendPacket adds to sequence ids: the last one a split batch already sent (0 outside batches). */
  get seqOffset(): number {
    return this.batch !== null ? this.batch.seq : 0;
  }

  /** The share of backend `b` this session's leases count in: its tenant's, or its user's (kept between statements). */
  leaseShare(b: Backend): LeaseShare | null {
    return this.share.get(b, this.user, this.tenant);
  }

  sendErr(e: Error, seq: number): void {
    const code = (e as { code?: string }).code;
    this.ctx.metrics.errors.inc({ kind: code ?? 'other' });
    if (code === 'BACKEND_UNAVAILABLE' || code === 'BACKEND_CONNECT' || code === 'BACKEND_REFUSED' || code === 'USER_LIMIT') {
      this.log.warn({ err: (e as { detail?: string }).detail ?? e.message, code }, 'backend error sent to the client');
    }
    this.sendPacket(errPacket(e), seq);
  }

  /** Ends the session; a backend connection it holds is cleaned and returned, or dropped mid-statement. */
  close(reason: string): void {
    if (this.state === S.CLOSED) return;
    // A statement a fast lane is relaying becomes this session's own first (then it is busy).
    if (this.lane !== null) this.ctx.lanes?.detach(this, true);
    const busy = this.state === S.BUSY || this.state === S.INFILE;
    this.state = S.CLOSED;
    if (this.ctx.log.isLevelEnabled('debug')) this.log.debug({ reason }, 'session closed');
    this.ctx.sessions.delete(this.id);
    this.ctx.handshaking.delete(this);
    releaseStmts(this.prepared.values(), null);
    if (this.runnerObj) this.runnerObj.detachOnClose(busy, this.st.pins !== 0);
    this.client.end();
  }
}

function normalizeHost(addr: string | undefined): string {
  if (!addr) return 'unknown';
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}

export { MAX_PACKET_PAYLOAD };
