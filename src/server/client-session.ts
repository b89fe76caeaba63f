import type * as net from 'node:net';
import type { Logger } from 'pino';
import type { UserConfig } from '../config/types';
import type { DigestEntry } from '../metrics/digest-stats';
import { Cap, Com, MAX_PACKET_PAYLOAD, Status } from '../protocol/constants';
import type { Frame } from '../protocol/framer';
import { PacketTooLargeError } from '../protocol/framer';
import { buildEof, buildErr, buildOk, schemaStateEntry } from '../protocol/ok-err';
import { PacketReader, ProtocolError } from '../protocol/packet-reader';
import { PacketWriter } from '../protocol/packet-writer';
import { BackendTimeoutError, PROFILE_CAPS } from '../backend/backend-connection';
import type { Backend, BackendPool } from '../backend/pool';
import { SessionShare, type LeaseShare } from '../backend/lease-share';
import { Err, errPacket, ProxyError } from '../errors';
import type { RoutineInfo } from '../classify/routines';
import { newSessionState, okStatus, resetSessionState, SessionState } from '../session/session-state';
import { PreparedMap } from '../session/prepared-map';
import { longDataErr } from '../session/long-data';
import { ClientConn, ClientConnHost } from './client-conn';
import { compressionSettings } from './compressed-transport';
import { dispatch } from './dispatcher';
import { ChangeUserRequest, HandshakeRefusedError, Identity, Login, LoginHost } from './login';
import { ClientStmt, freshInfo, noteParamTypes } from './prepared';
import { recordVar } from './session-vars';
import type { ProxyContext } from './proxy-context';
import { Resp } from './result-relay';
import { StatementRunner } from './statement';
import { releaseStmts } from './stmt-lifetime';
import type { ScanOptions } from '../classify/scan-types';
import { tryParseGtidPos } from '../backend/gtid';
import { identifyTenant } from '../routing/tenant';
import { placementFor, type Placement } from '../routing/placement';
import { dbAccessDenied } from '../routing/refusal';
import { executeChoice, physicalSchema, primaryChoice, rywKey, type RouteChoice } from './tenant-statement';
import { continueBatch, type BatchRun } from './batch-run';

const COMMAND_NAMES: Record<number, string> = {
  [Com.QUERY]: 'query',
  [Com.STMT_PREPARE]: 'stmt_prepare',
  [Com.STMT_EXECUTE]: 'stmt_execute',
  [Com.STMT_FETCH]: 'stmt_fetch',
  [Com.INIT_DB]: 'init_db',
  [Com.PING]: 'ping',
};

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
/** Like the server's connect_timeout: a client that has not logged in by then is disconnected. */
const LOGIN_TIMEOUT_MS = 10_000;

const EMPTY = Buffer.alloc(0);

/**
 * One client connection, as an explicit state machine (handshake → auth → idle ⇄ busy/infile →
 * closed) composed of: the client I/O ({@link ClientConn}), the login exchange ({@link Login}),
 * the session's state as data ({@link SessionState}, {@link PreparedMap}), the COM_* dispatcher
 * and the statement lifecycle ({@link StatementRunner}). Between statements it holds no backend
 * connection unless session state requires it (transactions, locks, temporary tables, ...).
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
  private stateLost = false;
  private logger: Logger | null = null;
  private loginTimer: NodeJS.Timeout | null = null;
  /** Config version `backend`/`pool`/`tenant` were resolved under (see followConfig). */
  private poolVersion = 0;
  /** The command being served, for GET /sessions: its payload (a view, read only while busy) and start time. */
  private curPayload: Buffer | null = null;
  private curStartedAt = 0;
  /** performance.now() at the command's arrival, 0 between commands (statement metrics). */
  private curT0 = 0;
  private bytesInMark = 0;
  private bytesOutMark = 0;
  /**
   * Digest statistics of the current COM_QUERY, filled by the routing path when it computed the
   * statement's literal-free key (see tenant-statement.ts): the entry that key found, or on a miss a
   * copy of the key and its hash, and the digest of a full scan it ran. Cleared at each command.
   */
  statsEntry: DigestEntry | null = null;
  statsKeyHash = -1;
  statsKeyBytes: Buffer | null = null;
  statsDigest: string | null = null;
  /** The current COM_STMT_EXECUTE's statement (its payload's id becomes the backend's: executePacket). */
  statsStmt: ClientStmt | null = null;
  /** Result of the statement's relay, set by the runner's release step (rows sent, ERR SQLSTATE class). */
  resultRows = 0;
  resultErrClass = '';
  private statsUserFor: UserConfig | null = null;
  private statsUserKeyValue = '';
  /** SQLSTATE class of an ERR the proxy itself sent during the current command ('' if none). */
  private proxyErrClass = '';
  /** When the current login (or COM_CHANGE_USER) exchange started: the login timeout counts from it. */
  private loginStartedAt: number;
  /** When the session last became idle (wait_timeout counts from the later of this and the last input). */
  private idleSince = 0;
  /** When the running statement started (the process list's Time of a busy session). */
  private busySince = 0;

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

  /** Dropped to make room for a newer unauthenticated connection (max_handshake_connections). */
  evictUnauthenticated(): void {
    if (this.ctx.log.isLevelEnabled('debug')) this.log.debug({ state: this.state }, 'unauthenticated connection dropped: handshake budget full');
    this.sendPacket(buildErr(1040, '08004', 'Too many connections'), (this.login.seq + 1) & 0xff);
    this.close('handshake budget full');
  }

  /** The statement lifecycle, made on first use. */
  get runner(): StatementRunner {
    return (this.runnerObj ??= new StatementRunner(this));
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
    const p = this.curPayload;
    if (!p || p.length === 0 || (this.state !== S.BUSY && this.state !== S.INFILE)) return null;
    const cmd = p[0]!;
    return { command: COMMAND_NAMES[cmd] ?? `0x${cmd.toString(16)}`, sql: cmd === Com.QUERY ? p : null, startedAt: this.curStartedAt };
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
    if (this.curT0 !== 0) this.endCommand();
    this.state = S.IDLE;
    this.idleSince = Date.now();
    this.client.resumeInput();
    this.pump();
    this.client.account();
  }

  // ---- timeouts (checked by the proxy's sweep) ------------------------------------------------

  /** Seconds of inactivity after which the server would close this connection (0: never). */
  private waitTimeoutSec(): number {
    const v = this.st.vars.get('wait_timeout');
    if (v !== undefined) return Number(v);
    const b = this.backend;
    if (!b) return 0;
    // As on the server: an interactive client starts with interactive_timeout as its wait_timeout.
    return Math.max(0, this.clientCaps & Cap.INTERACTIVE ? b.interactiveTimeout : b.waitTimeout);
  }

  /** Closes the session if a login, idle or read timeout has passed at `now`. */
  checkTimeouts(now: number): void {
    const state = this.state;
    const c = this.client;
    if (state === S.HANDSHAKE || state === S.AUTH) {
      if (now - this.loginStartedAt >= LOGIN_TIMEOUT_MS) this.loginTimeout();
      return;
    }
    if (state === S.BUSY || state === S.CLOSED) return;
    if (c.buffered > 0) {
      // In the middle of a packet (idle or LOCAL INFILE): like net_read_timeout.
      if (now - c.lastInput >= this.ctx.config.server.netReadTimeoutMs) {
        this.ctx.metrics.errors.inc({ kind: 'net_read_timeout' });
        this.log.info({ buffered: c.buffered, state }, 'client stopped in the middle of a packet; closing session');
        this.sendPacket(buildErr(1159, '08S01', 'Got timeout reading communication packets'), 1);
        this.close('net read timeout');
      }
      return;
    }
    if (state !== S.IDLE) return;
    const wt = this.waitTimeoutSec();
    if (wt > 0 && now - Math.max(this.idleSince, c.lastInput) >= wt * 1000) {
      // MariaDB 10.11 closes the socket without a packet (newer MySQL sends ERR 4031 first).
      this.ctx.metrics.errors.inc({ kind: 'wait_timeout' });
      if (this.ctx.log.isLevelEnabled('debug')) this.log.debug({ waitTimeout: wt, pinned: this.st.pins !== 0 }, 'wait_timeout: closing idle session');
      this.client.reset(); // before close(), which would send a FIN first
      this.close('wait_timeout');
    }
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
            if (this.stateLost) {
              this.sendPacket(buildErr(2013, 'HY000', "Lost connection to server during query (the backend connection holding this session's transaction, locks or temporary tables is gone)"), 1);
              this.close('backend connection with session state lost');
              return;
            }
            if (this.poolVersion !== this.ctx.configVersion && !this.followConfig()) {
              this.sendPacket(buildErr(1045, '28000', 'Access denied: this tenant is no longer configured'), 1);
              this.close('tenant removed from the config');
              return;
            }
            this.curPayload = f.payload;
            this.curStartedAt = Date.now();
            this.curT0 = performance.now();
            this.proxyErrClass = '';
            this.statsEntry = null;
            this.statsKeyBytes = null;
            this.statsDigest = null;
            this.statsStmt = null;
            this.resultRows = 0;
            this.resultErrClass = '';
            dispatch(this, f);
            // Answered by the proxy without a backend round trip (refusals, diagnostics, ...): ends here.
            if (this.state === S.IDLE && this.curT0 !== 0) this.endCommand();
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
    const ms = performance.now() - this.curT0;
    this.curT0 = 0;
    const sock = this.client.socket;
    const read = sock.bytesRead; // once each: bytesWritten copies the Writable's buffer list
    const written = sock.bytesWritten;
    const inB = read - this.bytesInMark;
    const outB = written - this.bytesOutMark;
    this.bytesInMark = read;
    this.bytesOutMark = written;
    const errClass = this.proxyErrClass || this.resultErrClass;
    this.ctx.noteCommand(this, this.curPayload, ms, inB, outB, errClass, this.resultRows, this.curStartedAt);
    this.curPayload = null; // no view of a client read kept while idle (raw I/O reads are pool slices)
    this.statsStmt = null;
  }

  /** The digest-statistics key of a session without a tenant (`user:NAME`), built once per user. */
  statsUserKey(): string {
    const u = this.user;
    if (u === null) return '';
    if (this.statsUserFor !== u) {
      this.statsUserFor = u;
      this.statsUserKeyValue = `user:${u.name}`;
    }
    return this.statsUserKeyValue;
  }

  /**
   * After a config reload: the user's (possibly changed) backend and that backend's current pool,
   * taken at a statement boundary and only when no backend connection is pinned, so in-flight and
   * pinned work finishes on the old pool (which drains) and nothing is dropped.
   */
  private followConfig(): boolean {
    if (this.st.pins !== 0 || !this.user) return true;
    const user = this.ctx.users.get(this.user.name) ?? this.user;
    this.user = user;
    let name = user.backend;
    if (this.tenant) {
      const pl = placementFor(this.tenant.tenant, this.ctx.routing);
      // Fails closed: a tenant removed from the config does not go on running statements.
      if ('action' in pl) return false;
      this.tenant = pl;
      const cluster = this.ctx.routing.clustersByName.get(pl.cluster);
      if (cluster) name = cluster.primary;
    }
    const backend = this.ctx.backends.get(name);
    if (!backend) return true; // the user's backend is gone; keep the old one until the user is reconfigured
    if (backend !== this.backend) {
      this.backend = backend;
      this.pool = backend.pool(this.profileCaps, this.collation, this.extMeta);
    }
    this.poolVersion = this.ctx.configVersion;
    return true;
  }


  /**
   * An unexpected throw on this session's path (a bug, or input no check caught): logged at error
   * level and counted (tenantgate_internal_errors_total), the client told with ERR 9003 where a
   * packet can still be sent, and only this session ended. Never throws.
   */
  fault(e: unknown, where: string, seq = -1): void {
    const err = e instanceof Error ? e : new Error(String(e));
    try {
      this.ctx.metrics.internalErrors.inc({ where });
      this.log.error({ err: err.stack, where, state: this.state }, 'internal error; closing this session');
      if (this.state === S.CLOSED) return;
      const s = seq >= 0 ? seq : this.state === S.HANDSHAKE || this.state === S.AUTH ? (this.login.seq + 1) & 0xff : 1;
      this.sendErr(new ProxyError(Err.INTERNAL, 'tenantgate internal error; the session is closed'), s);
      this.close('internal error');
    } catch (again) {
      this.ctx.log.error({ err: (again as Error).stack, session: this.id }, 'closing a faulted session failed; destroying its socket');
      this.state = S.CLOSED;
      this.ctx.sessions.delete(this.id);
      this.ctx.handshaking.delete(this);
      this.client.socket.destroy();
    }
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
    this.log.info({ err: e.message, state: this.state }, 'malformed client packet; closing session');
    const seq = (this.login.seq + 1) & 0xff;
    if (this.state === S.HANDSHAKE || this.state === S.AUTH) {
      this.sendPacket(e instanceof HandshakeRefusedError ? buildErr(e.errno, e.sqlState, e.message) : buildErr(1043, '08S01', `Bad handshake: ${e.message}`), seq);
    } else if (e instanceof PacketTooLargeError) {
      this.sendPacket(buildErr(1153, '08S01', e.message), (e.seq + 1) & 0xff);
    } else {
      this.sendPacket(buildErr(1156, '08S01', `Got packets out of order or malformed: ${e.message}`), 1);
    }
    this.close('protocol error');
  }

  // ---- login ------------------------------------------------------------------------------------

  private loginTimeout(): void {
    if (this.state !== S.HANDSHAKE && this.state !== S.AUTH) return;
    this.sendPacket(buildErr(1043, '08S01', 'Bad handshake: login not completed within the connect timeout'), (this.login.seq + 1) & 0xff);
    this.close('login timeout');
  }

  onLoginDenied(): void {
    this.close('access denied');
  }

  onLoginOk(id: Identity): void {
    const ctx = this.ctx;
    if (ctx.handshaking.delete(this) && ctx.sessions.size - ctx.handshaking.size > ctx.config.server.maxClientConnections) {
      this.sendPacket(buildErr(1040, '08004', 'Too many connections'), id.okSeq);
      this.close('too many connections');
      return;
    }
    const user = id.user;
    this.user = user;
    this.loginName = id.login;
    this.clientCaps = id.clientCaps;
    const ext = this.ctx.config.server.mariadbExtendedCapabilities && (id.mariaCaps & this.ctx.serverMariaCaps) !== 0;
    this.profileCaps = this.clientCaps & PROFILE_CAPS;
    this.collation = id.collation;
    this.extMeta = ext;
    const okSeq = id.okSeq;
    let schema = id.database ?? user.defaultSchema ?? null;
    this.tenant = null;
    this.choicesFor = null;
    this.rywKeyFor = null;
    if (this.ctx.config.tenants.length > 0) {
      const snap = this.ctx.routing;
      const d = identifyTenant({ user: id.login, connectAttrs: Object.fromEntries(id.attrs), database: id.database }, snap);
      const pl = d.action === 'tenant' ? placementFor(d.tenant, snap) : d;
      if ('action' in pl && pl.action === 'refuse') return this.refuseLogin(pl.errno, pl.sqlState, pl.message, okSeq);
      if ('tenant' in pl) {
        this.tenant = pl;
        // A tenant names its schema by its logical or physical name; no name: its own schema.
        if (id.database !== null) {
          const phys = physicalSchema(pl, id.database);
          if (phys === null && !this.ctx.unsafeSkipProxyIsolation) {
            const r = dbAccessDenied(id.login, id.database);
            return this.refuseLogin(r.errno, r.sqlState, r.message, okSeq);
          }
          schema = phys ?? id.database;
        } else schema = pl.schema;
      }
    }
    const cluster = this.tenant ? this.ctx.routing.clustersByName.get(this.tenant.cluster) : undefined;
    const backend = this.ctx.backends.get(cluster ? cluster.primary : user.backend) as Backend;
    this.backend = backend;
    this.pool = backend.pool(this.profileCaps, id.collation, ext);
    this.poolVersion = this.ctx.configVersion;
    const st = this.st;
    st.multi = (this.clientCaps & Cap.MULTI_STATEMENTS) !== 0;
    st.loginSchema = schema;
    this.state = S.BUSY;
    const done = () => {
      this.ctx.metrics.logins.inc({ result: 'ok' });
      this.client.framer.maxPayload = this.ctx.config.server.maxAllowedPacket;
      // As a server does: a client tracking session state learns the schema it logged in to.
      const state = schema !== null && this.clientCaps & Cap.SESSION_TRACK ? this.runner.filterSessionState(schemaStateEntry(schema)) : null;
      this.sendPacket(this.okPacket(0, 0x00, state), okSeq);
      if (id.compression.algorithm !== 'none') this.client.startCompression(compressionSettings(id.compression, this.ctx.config.server));
      if (this.ctx.log.isLevelEnabled('debug')) {
        this.log.debug({ user: user.name, login: id.login, tenant: this.tenant?.tenant, schema, changeUser: id.changeUser, caps: this.clientCaps.toString(16), collation: id.collation, compression: id.compression }, 'login ok');
      }
      this.toIdle();
    };
    if (schema === null) return done();
    if (this.tenant) {
      // The tenant's schema comes from config; the first statement selects it on its connection (replay).
      st.schema = schema;
      st.version++;
      return done();
    }
    const r = this.runner;
    r.withConn((err, conn) => this.guard('login_schema', () => {
      if (err || !conn) {
        this.sendErr(err ?? new Error('no backend connection'), okSeq);
        this.close('backend unavailable at login');
        return;
      }
      const finish = (e: { errno: number; sqlState: string; message: string } | null) => {
        r.releaseConn(conn);
        if (e) {
          this.sendPacket(buildErr(e.errno, e.sqlState, e.message), okSeq);
          this.close('schema refused at login');
          return;
        }
        st.schema = schema;
        st.version++;
        done();
      };
      if (conn.schema === schema) return finish(null);
      conn.initDb(schema).then(
        (e) => this.guard('login_schema', () => finish(e)),
        (e: Error) => this.guard('login_schema', () => {
          r.dropConn(conn);
          this.sendErr(e, okSeq);
          this.close('backend failed at login');
        }),
      );
    }));
  }

  private refuseLogin(errno: number, sqlState: string, message: string, seq: number): void {
    this.ctx.metrics.logins.inc({ result: 'denied' });
    this.log.info({ login: this.loginName, reason: message }, 'login refused: tenant');
    this.sendPacket(buildErr(errno, sqlState, message), seq);
    this.close('tenant not identified');
  }

  /** A write reported `last_gtid` in its OK packet: remembered for read-your-writes. */
  onWriteGtid(value: string): void {
    const t = this.tenant;
    if (!t) return;
    const k = rywKey(this, t);
    if (k === null) return;
    const pos = tryParseGtidPos(value);
    if (pos && pos.size > 0) this.ctx.ryw.recordWrite(k, pos);
  }

  /** The tenant's backend account and password (null: passthrough). */
  tenantAccount(): { account: string; password: string } | null {
    const t = this.tenant;
    if (!t) return null;
    const cfg = this.ctx.routing.tenantsById.get(t.tenant);
    return { account: t.backendUser, password: cfg ? cfg.backendPassword : '' };
  }

  /** Where a command with no plan of its own runs (tenant sessions: the primary, as the tenant's account). */
  defaultRoute(): RouteChoice | null | { action: 'refuse'; errno: number; sqlState: string; message: string } {
    return this.tenant ? primaryChoice(this, this.tenant) : null;
  }

  // ---- commands answered (or prepared) by the session ------------------------------------------

  okStatus(): number {
    return okStatus(this.st, this.runnerObj !== null && this.runnerObj.conn !== null);
  }

  okPacket(affected = 0, header = 0x00, sessionState: Buffer | null = null): PacketWriter {
    const status = this.okStatus() | (sessionState ? Status.SESSION_STATE_CHANGED : 0);
    return buildOk({ affectedRows: affected, lastInsertId: 0, status, warnings: 0, info: EMPTY, sessionState }, this.clientCaps, header);
  }

  onSetOption(p: Buffer): void {
    const opt = new PacketReader(p, 1, p.length).u16();
    if (opt !== 0 && opt !== 1) return this.sendPacket(buildErr(1047, '08S01', 'Unknown COM_SET_OPTION value'), 1);
    const st = this.st;
    st.multi = opt === 0;
    st.version++;
    if (this.clientCaps & Cap.DEPRECATE_EOF) this.sendPacket(this.okPacket(0, 0xfe), 1);
    else this.sendPacket(buildEof(0, st.lastStatus & (Status.IN_TRANS | Status.AUTOCOMMIT)), 1);
  }

  private stmtFor(p: Buffer, cmd: string): ClientStmt | null {
    const id = p.length >= 5 ? p.readUInt32LE(1) : -1;
    const st = this.prepared.get(id);
    if (!st && cmd !== '') this.sendPacket(buildErr(1243, 'HY000', `Unknown prepared statement handler (${id}) given to ${cmd}`), 1);
    return st;
  }

  onExecute(f: Frame, clearDiag: boolean /* a diagnostics statement, nothing captured: prepared-diagnostics.ts */): void {
    const st = this.stmtFor(f.payload, 'mysqld_stmt_execute');
    if (!st) return;
    this.statsStmt = st;
    if (st.longDataError) {
      const e = longDataErr(st.longDataError, this.ctx.config.server.maxLongDataPerSession);
      return this.sendPacket(buildErr(e.errno, e.sqlState, e.message), 1);
    }
    if (!noteParamTypes(st, f.payload)) {
      return this.sendPacket(buildErr(1210, 'HY000', 'Incorrect arguments to mysqld_stmt_execute'), 1);
    }
    const info = freshInfo(st, this.routines, this.tenant !== null);
    if (this.tenant) {
      const c = executeChoice(this, st.route);
      if (c !== null && 'action' in c) return this.sendPacket(buildErr(c.errno, c.sqlState, c.message), 1);
      return this.runner.forward(Resp.EXECUTE, f, info, st, clearDiag, c);
    }
    this.runner.forward(Resp.EXECUTE, f, info, st, clearDiag);
  }

  onFetch(f: Frame): void {
    const st = this.stmtFor(f.payload, 'mysqld_stmt_fetch');
    if (!st) return;
    const r = this.runner;
    const conn = r.conn;
    const bs = conn ? conn.stmts.get(st.key) : undefined;
    if (!st.cursorOpen || !conn || !bs) {
      return this.sendPacket(buildErr(1421, 'HY000', `The statement (${st.id}) has no open cursor.`), 1);
    }
    r.fetch(f, st, bs.id);
  }

  onLongData(p: Buffer): void {
    const st = this.stmtFor(p, '');
    if (!st || p.length < 7) return; // no response to this command, even on error
    const srv = this.ctx.config.server;
    this.prepared.takeLongData(st, p, srv.maxAllowedPacket, srv.maxLongDataPerSession);
  }

  onStmtClose(p: Buffer): void {
    const st = this.stmtFor(p, '');
    if (!st) return;
    const hadCursor = st.cursorOpen;
    this.prepared.delete(st);
    // the backend statement is closed on the server once no client statement of any session holds it
    releaseStmts([st], this.runnerObj ? this.runnerObj.conn : null);
    if (hadCursor) {
      const r = this.runner;
      // the open cursor lives in that server-side statement: close it there
      if (r.conn) r.conn.closeStatement(st.key);
      r.updateCursorPin();
    }
  }

  onStmtReset(p: Buffer): void {
    const st = this.stmtFor(p, 'mysqld_stmt_reset');
    if (!st) return;
    this.prepared.dropLongData(st);
    st.longDataError = null;
    const r = this.runner;
    const conn = r.conn;
    const bs = conn ? conn.stmts.get(st.key) : undefined;
    if (st.cursorOpen && conn && bs) {
      this.state = S.BUSY;
      conn.command(new PacketWriter(8).u8(Com.STMT_RESET).u32(bs.id), 'ok').then(
        (res) => this.guard('stmt_reset', () => {
          this.prepared.setCursor(st, false);
          bs.cursor = false;
          r.updateCursorPin();
          this.sendPacket(res.err ? buildErr(res.err.errno, res.err.sqlState, res.err.message) : this.okPacket(), 1);
          r.toIdleMaybeRelease();
        }),
        (e: Error) => this.guard('stmt_reset', () => r.onRelayFailed(e)),
      );
      return;
    }
    this.sendPacket(this.okPacket(), 1);
  }

  // ---- connection-level commands ------------------------------------------------------------------

  /** Forgets all session state, as COM_RESET_CONNECTION / COM_CHANGE_USER do on a server. */
  private resetState(): void {
    resetSessionState(this.st);
    releaseStmts(this.prepared.values(), null);
    this.prepared.clear();
    // The server rebuilds sql_mode from the global value on a reset, without the IGNORE_SPACE that
    // the client's CLIENT_IGNORE_SPACE added at login: so does the session's state.
    const pool = this.pool;
    const mode = pool && pool.profileCaps & Cap.IGNORE_SPACE ? pool.defaults?.get('sql_mode') : undefined;
    if (pool && mode !== undefined) {
      recordVar(this.st.vars, pool.defaults, 'sql_mode', mode.split(',').filter((m) => m !== 'IGNORE_SPACE').join(','));
    }
  }

  onResetConnection(): void {
    const r = this.runner;
    const conn = r.conn;
    const wasPinned = this.st.pins !== 0;
    this.resetState();
    if (conn && wasPinned) {
      this.state = S.BUSY;
      r.cleanRelease(conn).then(() => this.guard('reset_connection', () => {
        this.sendPacket(this.okPacket(), 1);
        this.toIdle();
      }));
      return;
    }
    if (conn) r.releaseConn(conn);
    this.sendPacket(this.okPacket(), 1);
  }

  onChangeUser(f: Frame): void {
    const req = this.login.parseChangeUser(f.payload);
    const r = this.runner;
    const conn = r.conn;
    if (conn) {
      this.state = S.BUSY;
      const pinned = this.st.pins !== 0;
      (pinned ? r.cleanRelease(conn) : Promise.resolve(r.releaseConn(conn))).then(() => this.guard('change_user', () => this.continueChangeUser(req)));
      return;
    }
    this.continueChangeUser(req);
  }

  private continueChangeUser(req: ChangeUserRequest): void {
    this.resetState();
    this.state = S.AUTH;
    this.loginStartedAt = Date.now();
    this.login.changeUserTo(req);
  }

  /** Seconds in the current command (running statement or idle), as a server's process list shows. */
  secondsInState(now: number): number {
    const since = this.state === S.BUSY || this.state === S.INFILE ? this.busySince : this.idleSince;
    return since > 0 ? Math.max(0, Math.floor((now - since) / 1000)) : 0;
  }

  /** Interrupts the statement this session is running on its backend, if any. */
  killQuery(): Promise<void> {
    const conn = this.runnerObj ? this.runnerObj.conn : null;
    if (!conn || (this.state !== S.BUSY && this.state !== S.INFILE)) return Promise.resolve();
    return this.ctx.killBackendThread(conn);
  }

  /**
   * The pinned backend connection died while the session was idle: like a server's connection, the
   * session is over. An idle-in-transaction timeout closes it now; otherwise the client's next
   * command gets ERR 2013 and then the connection closes.
   */
  backendStateLost(err: Error | null): void {
    if (this.state === S.CLOSED) return;
    this.st.pins = 0;
    this.ctx.metrics.errors.inc({ kind: 'backend_lost' });
    this.log.warn({ err: err?.message }, 'backend connection holding session state lost while idle');
    if (err instanceof BackendTimeoutError) {
      this.close('idle in transaction timeout');
      return;
    }
    this.stateLost = true;
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
    if (this.curT0 !== 0) {
      // During a command: an ERR the proxy answers itself counts as that statement's error (metrics).
      const b = w.finish(seq);
      const err = b.length > 4 && b[4] === 0xff;
      if (err && b.length > 12 && b[7] === 0x23) this.proxyErrClass = b.toString('latin1', 8, 10);
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
