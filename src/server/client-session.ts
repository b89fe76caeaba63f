import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Logger } from 'pino';
import type { UserConfig } from '../config/types';
import { Cap, Com, MAX_PACKET_PAYLOAD, SessionTrack, Status } from '../protocol/constants';
import { Frame, Framer, PacketTooLargeError } from '../protocol/framer';
import { COMPRESS_CHUNK, CompressedTransport } from './compressed-transport';
import { buildAuthMoreData, buildAuthSwitch, buildServerHandshake, HandshakeResponse, parseHandshakeResponse } from '../protocol/handshake';
import { buildEof, buildErr, buildOk, OkPacket, parseSessionState } from '../protocol/ok-err';
import { PacketReader, ProtocolError } from '../protocol/packet-reader';
import { framePayload, PacketWriter } from '../protocol/packet-writer';
import { BackendConnection, BackendSink, PROFILE_CAPS } from '../backend/backend-connection';
import type { Backend, BackendPool } from '../backend/pool';
import { Q, QueryInfo, scanQuery } from '../classify/lexer';
import { Authenticator, AuthStep, makeNonce } from './authenticator';
import { RelayHost, Resp, ResultRelay } from './result-relay';
import { ClientStmt, ensureBackendStmt, executePacket, rememberBackendStmt } from './prepared';
import { quote, recordVar, TRACKING_INIT_SQL, UNMANAGED_VARS, userVarLiterals, userVarRef, varAssignments } from './session-vars';
import type { ProxyContext } from './proxy-context';
import { Err, errPacket, ProxyError } from '../errors';
import { substituteRowCount } from './row-count';
import { captureDiagnostics, CLEAR_DIAGNOSTICS_SQL, Diagnostics, diagForm, diagnosticsResult, diagVarName } from './diagnostics';

/** Named states of a client session. */
export const enum S {
  HANDSHAKE = 'handshake',
  AUTH = 'auth',
  IDLE = 'idle',
  BUSY = 'busy',
  INFILE = 'infile',
  CLOSED = 'closed',
}

/** Why a session keeps its backend connection between statements. */
const P_TX = 1;
const P_LOCK_TABLES = 2;
const P_USER_LOCK = 4;
const P_TEMP = 8;
const P_ONE_SHOT = 16;
const P_CURSOR = 32;
const P_SQL_PS = 64;
const P_HANDLER = 128;

/** Largest packet accepted before login completes (a handshake response with attributes fits easily). */
const LOGIN_MAX_PACKET = 1 << 16;
/** Like the server's connect_timeout: a client that has not logged in by then is disconnected. */
const LOGIN_TIMEOUT_MS = 10_000;

/** Bytes of pipelined client input buffered while a statement runs before the socket is paused. */
const CLIENT_HIGH_WATER = 1 << 20;

/** The statement in flight. */
interface Current {
  kind: Resp;
  frame: Frame;
  info: QueryInfo | null;
  stmt: ClientStmt | null;
  /** What to write to the backend (built in prep for EXECUTE). */
  out: Buffer[] | null;
  /** A diagnostics statement that must not see another session's warnings. */
  clearDiag: boolean;
  /** The backend connection's previous statement was not this session's (ROW_COUNT() must be substituted). */
  foreign: boolean;
}

/**
 * One client connection: the only code doing I/O on a client socket. An explicit state machine
 * (handshake → auth → idle ⇄ busy/infile → closed). Between statements it holds no backend
 * connection unless session state requires it (transactions, locks, temporary tables, ...).
 */
export class ClientSession implements RelayHost, BackendSink {
  readonly id: number;
  state: S = S.HANDSHAKE;
  socket: net.Socket;
  private tls = false;
  private framer: Framer;
  /** The compressed transport, once a client that asked for CLIENT_COMPRESS has logged in. */
  private z: CompressedTransport | null = null;
  private nonce = makeNonce();
  private seq = 0;
  private hs: HandshakeResponse | null = null;
  private auth: Authenticator | null = null;
  private changeUser = false;
  /** Whether the client's last auth data carried a password ("using password: YES/NO"). */
  private usedPassword = false;
  clientCaps = 0;
  user: UserConfig | null = null;
  readonly remoteHost: string;
  private collation = 0;
  private backend: Backend | null = null;
  private pool: BackendPool | null = null;
  /** Backend connection attached right now (during a statement, or pinned). */
  conn: BackendConnection | null = null;
  private lastConn: BackendConnection | null = null;
  private relayObj: ResultRelay | null = null;
  private cur: Current | null = null;
  private pins = 0;
  /** User locks (GET_LOCK) this session holds, by name, as the backend confirmed. */
  private userLocks = new Set<string>();
  /** GET_LOCK calls with names the lexer could not read (counted conservatively). */
  private lockCount = 0;
  /** This session's warnings/errors from its last statement (see diagnostics.ts). */
  private diag: Diagnostics | null = null;
  // Session state, re-applied on whichever backend connection runs the next statement.
  private vars = new Map<string, string>();
  private schema: string | null = null;
  private loginSchema: string | null = null;
  private multi = false;
  private userVars = new Map<string, string>();
  /** Marks backend connections holding this session's user variables; replaced when the session resets. */
  private userVarToken: object = {};
  private version = 0;
  private lastInsertId = 0;
  private foundRows = 0;
  /** What ROW_COUNT() returns after this session's last statement. */
  private rowCount = -1;
  private lastStatus: number = Status.AUTOCOMMIT;
  private lastWarnings = 0;
  /** The client's own session_track_* settings (null until it sets one). */
  private trackPrefs: Map<string, string> | null = null;
  private stmts = new Map<number, ClientStmt>();
  /** Statements with an open cursor (kept as a count so no statement loop runs per statement). */
  private openCursors = 0;
  private nextStmtId = 1;
  private pausedBackend: net.Socket | null = null;
  /** Sequence id of the next LOCAL INFILE packet forwarded to the backend. */
  private infileSeq = 0;
  private logger: Logger | null = null;
  private loginTimer: NodeJS.Timeout | null = null;

  constructor(private readonly ctx: ProxyContext, socket: net.Socket, id: number) {
    this.id = id;
    this.socket = socket;
    this.remoteHost = normalizeHost(socket.remoteAddress);
    // Until login completes only small packets are legitimate; garbage (an HTTP request, say) is refused at its header.
    this.framer = new Framer(LOGIN_MAX_PACKET);
    this.loginTimer = setTimeout(() => this.loginTimeout(), LOGIN_TIMEOUT_MS);
    this.loginTimer.unref();
    socket.setNoDelay(true);
    this.attachSocket(socket);
    const w = buildServerHandshake({
      serverVersion: ctx.serverVersion,
      connectionId: id,
      nonce: this.nonce,
      capabilities: ctx.serverCaps,
      mariaCaps: ctx.serverMariaCaps,
      collation: ctx.serverCollation,
      status: Status.AUTOCOMMIT,
      authPlugin: ctx.config.server.defaultAuthPlugin,
    });
    this.out(w.finish(0));
  }

  /** The result relay, made on first use (idle sessions that never run a statement need none). */
  private get relay(): ResultRelay {
    return (this.relayObj ??= new ResultRelay(this));
  }

  /** Child logger, made on first use: 10,000 idle sessions should not each carry one. */
  private get log(): Logger {
    return (this.logger ??= this.ctx.log.child({ session: this.id, client: this.remoteHost }));
  }

  private attachSocket(s: net.Socket): void {
    s.on('data', this.onData);
    s.on('error', this.onSocketError);
    s.on('close', this.onSocketClose);
    s.on('drain', this.onClientDrain);
  }

  private onData = (chunk: Buffer): void => {
    if (this.z) {
      try {
        this.z.receive(chunk, this.pushPlain);
      } catch (e) {
        this.protocolFailure(e as Error);
        return;
      }
    } else this.framer.push(chunk);
    this.pump();
  };

  private pushPlain = (b: Buffer): void => this.framer.push(b);

  /** Every write to the client goes through here (compressed once the session is). */
  private out(b: Buffer): boolean {
    return this.z ? this.z.write(b) : this.socket.write(b);
  }

  /** Switches to the compressed protocol, as a server does right after the OK that ends login. */
  private startCompression(): void {
    const s = this.socket;
    const c = this.ctx.config.server;
    this.z = new CompressedTransport(s, c.maxAllowedPacket + 4, c.compressionLevel, COMPRESS_CHUNK, c.compressionMinLength);
    // libmariadb numbers the packets inside compressed ones 0: only the compressed sequence counts
    this.framer.checkSequence = false;
    const early = this.framer.drain();
    if (early.length > 0) this.z.receive(early, this.pushPlain);
  }

  private onSocketError = (e: Error): void => {
    if (this.ctx.log.isLevelEnabled('debug')) this.log.debug({ err: e.message, state: this.state }, 'client socket error');
  };

  private onSocketClose = (): void => {
    this.close('client closed the connection');
  };

  private onClientDrain = (): void => {
    const b = this.pausedBackend;
    if (b) {
      this.pausedBackend = null;
      b.resume();
    }
  };

  // ---- RelayHost / BackendSink ------------------------------------------------------------

  writeClient(b: Buffer): boolean {
    return this.out(b);
  }

  onBackendData(chunk: Buffer): void {
    const s = this.socket;
    const z = this.z;
    s.cork();
    if (z) z.cork();
    this.relay.onBackendData(chunk);
    if (z) z.uncork();
    s.uncork();
  }

  onBackendClose(err: Error | null): void {
    this.relay.onBackendClose(err);
  }

  onClientBackpressure(): void {
    const c = this.conn;
    if (c && !this.pausedBackend) {
      c.socket.pause();
      this.pausedBackend = c.socket;
    }
  }

  onTerminator(status: number, warnings: number, ok: OkPacket | null): void {
    this.lastStatus = status;
    this.lastWarnings = warnings;
    this.rowCount = ok ? ok.affectedRows : -1;
    if (!ok) return;
    const conn = this.conn;
    if (ok.lastInsertId !== 0) {
      this.lastInsertId = ok.lastInsertId;
      if (conn) conn.lastInsertId = ok.lastInsertId;
    }
    if (ok.sessionState && conn) this.applySessionState(conn, ok.sessionState);
  }

  private applySessionState(conn: BackendConnection, block: Buffer): void {
    const defaults = this.pool ? this.pool.defaults : null;
    for (const e of parseSessionState(block)) {
      if (e.type === SessionTrack.SYSTEM_VARIABLES) {
        if (UNMANAGED_VARS.has(e.name)) {
          if (e.name.startsWith('session_track_')) {
            (this.trackPrefs ??= new Map()).set(e.name, e.value);
            conn.needsReinit = true;
          }
          continue;
        }
        recordVar(conn.vars, defaults, e.name, e.value);
        if (recordVar(this.vars, defaults, e.name, e.value)) this.version++;
      } else if (e.type === SessionTrack.SCHEMA) {
        const s = e.name === '' ? null : e.name;
        conn.schema = s;
        if (this.schema !== s) {
          this.schema = s;
          this.version++;
        }
      }
    }
  }

  filterSessionState(block: Buffer): Buffer | null {
    const defaults = this.pool ? this.pool.defaults : null;
    const pref = (k: string, d: string) => this.trackPrefs?.get(k) ?? defaults?.get(k) ?? d;
    const list = pref('session_track_system_variables', 'autocommit,character_set_client,character_set_connection,character_set_results,time_zone');
    const all = list.trim() === '*';
    const names = new Set(list.toLowerCase().split(',').map((x) => x.trim()));
    const schemaOn = /^(on|1)$/i.test(pref('session_track_schema', 'ON'));
    const keep: Buffer[] = [];
    for (const e of parseSessionState(block)) {
      if (e.type === SessionTrack.SYSTEM_VARIABLES) {
        if (UNMANAGED_VARS.has(e.name) && !e.name.startsWith('session_track_')) continue;
        if (all || names.has(e.name)) keep.push(e.raw);
      } else if (e.type === SessionTrack.SCHEMA) {
        if (schemaOn) keep.push(e.raw);
      }
    }
    return keep.length === 0 ? null : Buffer.concat(keep);
  }

  onPrepareOk(backendId: number, numColumns: number, numParams: number): number {
    const cur = this.cur as Current;
    const conn = this.conn as BackendConnection;
    const sql = cur.frame.payload.subarray(1);
    const stmt: ClientStmt = {
      id: this.nextStmtId++,
      sql: Buffer.from(sql),
      key: `${this.schema ?? ''}\0${sql.toString('latin1')}`,
      schema: this.schema,
      numParams,
      numColumns,
      paramTypes: null,
      longData: null,
      longDataBytes: 0,
      cursorOpen: false,
    };
    if (this.nextStmtId > 0xfffffff0) this.nextStmtId = 1;
    this.stmts.set(stmt.id, stmt);
    rememberBackendStmt(conn, stmt.key, { id: backendId, numParams, numColumns, types: null }, this.ctx.maxPrepared(conn));
    return stmt.id;
  }

  onLocalInfile(backendSeq: number): void {
    this.state = S.INFILE;
    this.infileSeq = (backendSeq + 1) & 0xff;
    if (!(this.clientCaps & Cap.LOCAL_FILES)) {
      // The client cannot send files: answer the backend with an empty file; the relay turns its OK into ERR 1148.
      const conn = this.conn as BackendConnection;
      conn.socket.write(Buffer.from([0, 0, 0, (backendSeq + 1) & 0xff]));
      this.relay.infileSent();
      this.state = S.BUSY;
    }
  }

  onRelayDone(err: boolean): void {
    const cur = this.cur;
    const conn = this.conn;
    if (!cur || !conn) return;
    if (cur.kind === Resp.QUERY || cur.kind === Resp.EXECUTE) this.foundRows = this.relay.rows;
    if (err) this.rowCount = -1;
    const flags = cur.info ? cur.info.flags : 0;
    if (cur.kind === Resp.EXECUTE && cur.stmt && this.lastStatus & Status.CURSOR_EXISTS) this.setCursor(cur.stmt, true);
    if (cur.kind === Resp.FETCH && cur.stmt && (this.lastStatus & Status.LAST_ROW_SENT || err)) this.setCursor(cur.stmt, false);
    this.updatePins(flags, cur.info);
    const leftDiag = err || this.lastWarnings > 0;
    if (leftDiag) conn.diagOwner = this;
    const reads = (flags & Q.READS_DIAGNOSTICS) !== 0;
    if (!reads && cur.kind !== Resp.FETCH) this.diag = null;
    const capture = leftDiag && !reads && (cur.kind === Resp.QUERY || cur.kind === Resp.EXECUTE || cur.kind === Resp.PREPARE);
    const needVars = cur.info !== null && cur.info.userVars !== null;
    const locks = cur.info !== null && cur.info.lockNames !== null && !cur.info.lockNameUnknown && !(flags & Q.RELEASE_ALL_LOCKS);
    if (needVars || conn.needsReinit || capture || locks) {
      this.afterStatementAsync(conn, cur.info, capture ? err : null).then(
        () => this.finishStatement(),
        (e: Error) => {
          this.log.warn({ err: e.message }, 'post-statement bookkeeping failed; dropping backend connection');
          this.dropConn(conn);
          this.finishStatement();
        },
      );
      return;
    }
    this.finishStatement();
  }

  onRelayFailed(e: Error): void {
    const conn = this.conn;
    this.ctx.metrics.errors.inc({ kind: 'backend_lost' });
    this.log.warn({ err: e.message, backend: conn?.cfg.name }, 'backend connection lost during a statement');
    const seq = (this.relay.lastSeq + 1) & 0xff;
    if (this.state !== S.CLOSED) {
      this.sendPacket(buildErr(2013, 'HY000', `Lost connection to backend '${conn?.cfg.name ?? '?'}' during query: ${e.message}`), seq);
    }
    if (conn) this.dropConn(conn);
    this.pins = 0;
    this.lockCount = 0;
    this.userLocks.clear();
    for (const s of this.stmts.values()) s.cursorOpen = false;
    this.openCursors = 0;
    this.cur = null;
    this.toIdle();
  }

  // ---- input pump ---------------------------------------------------------------------------

  private pump(): void {
    while (this.state !== S.CLOSED) {
      if (this.state === S.BUSY) {
        if (this.framer.buffered + (this.z ? this.z.buffered : 0) > CLIENT_HIGH_WATER && !this.socket.isPaused()) this.socket.pause();
        return;
      }
      let f: Frame | null;
      try {
        f = this.framer.next();
      } catch (e) {
        this.protocolFailure(e as Error);
        return;
      }
      if (!f) return;
      if (this.z) this.z.frameRead(this.framer.buffered > 0);
      try {
        switch (this.state) {
          case S.HANDSHAKE:
            this.onHandshakeResponse(f);
            break;
          case S.AUTH:
            this.onAuthData(f);
            break;
          case S.IDLE:
            this.onCommand(f);
            break;
          case S.INFILE:
            this.onInfileData(f);
            break;
        }
      } catch (e) {
        if (e instanceof ProtocolError) this.protocolFailure(e);
        else {
          this.log.error({ err: (e as Error).stack }, 'internal error handling a client packet');
          this.sendErr(new ProxyError(Err.INTERNAL, `tenantgate internal error: ${(e as Error).message}`), (f.seq + 1) & 0xff);
          this.close('internal error');
        }
      }
    }
  }

  private protocolFailure(e: Error): void {
    this.log.info({ err: e.message, state: this.state }, 'malformed client packet; closing session');
    if (this.state === S.HANDSHAKE || this.state === S.AUTH) {
      this.sendPacket(buildErr(1043, '08S01', `Bad handshake: ${e.message}`), (this.seq + 1) & 0xff);
    } else if (e instanceof PacketTooLargeError) {
      this.sendPacket(buildErr(1153, '08S01', e.message), (e.seq + 1) & 0xff);
    } else {
      this.sendPacket(buildErr(1156, '08S01', `Got packets out of order or malformed: ${e.message}`), (this.seq + 1) & 0xff);
    }
    this.close('protocol error');
  }

  // ---- handshake and authentication ------------------------------------------------------------

  private onHandshakeResponse(f: Frame): void {
    this.seq = f.seq;
    const hs = parseHandshakeResponse(f.payload);
    if (hs.sslRequest) {
      this.upgradeTls();
      return;
    }
    this.hs = hs;
    this.clientCaps = hs.capabilities & this.ctx.serverCaps;
    this.collation = hs.collation;
    const user = this.ctx.users.get(hs.user);
    if (!user) return this.denyLogin(hs.user, hs.authResponse.length > 0, 'unknown user');
    if (user.requireTls && !this.tls) return this.denyLogin(hs.user, hs.authResponse.length > 0, 'user requires TLS');
    this.auth = new Authenticator(user, this.nonce, this.tls, this.ctx.rsa, hs.authPlugin);
    this.state = S.AUTH;
    this.usedPassword = hs.authResponse.length > 0;
    this.onAuthStep(this.auth.begin(hs.authPlugin, hs.authResponse));
  }

  private upgradeTls(): void {
    const ctx = this.ctx.tlsContext;
    if (!ctx) throw new ProtocolError('client requested TLS but no certificate is configured');
    const raw = this.socket;
    raw.removeListener('data', this.onData);
    raw.removeListener('error', this.onSocketError);
    raw.removeListener('close', this.onSocketClose);
    raw.removeListener('drain', this.onClientDrain);
    const leftover = this.framer.drain();
    const t = new tls.TLSSocket(raw, { isServer: true, secureContext: ctx });
    this.socket = t;
    this.tls = true;
    this.attachSocket(t);
    t.on('secureConnect', () => {});
    raw.on('close', this.onSocketClose);
    if (leftover.length > 0) raw.unshift(leftover);
  }

  private loginTimeout(): void {
    if (this.state !== S.HANDSHAKE && this.state !== S.AUTH) return;
    this.sendPacket(buildErr(1043, '08S01', 'Bad handshake: login not completed within the connect timeout'), (this.seq + 1) & 0xff);
    this.close('login timeout');
  }

  private onAuthData(f: Frame): void {
    this.seq = f.seq;
    const p = f.payload;
    if (!(p.length === 1 && p[0] === 0x02)) this.usedPassword = p.length > 0 && !(p.length === 1 && p[0] === 0);
    this.onAuthStep((this.auth as Authenticator).next(f.payload));
  }

  private onAuthStep(step: AuthStep): void {
    const hs = this.hs as HandshakeResponse;
    switch (step.t) {
      case 'fail':
        this.log.info({ user: hs.user, reason: step.reason }, 'login refused');
        return this.denyLogin(hs.user, this.usedPassword, step.reason);
      case 'switch':
        this.seq = (this.seq + 1) & 0xff;
        this.out(buildAuthSwitch(step.plugin, step.nonce).finish(this.seq));
        return;
      case 'more':
        this.seq = (this.seq + 1) & 0xff;
        this.out(buildAuthMoreData(step.data).finish(this.seq));
        if (step.then === 'ok') this.finishLogin();
        return;
      case 'ok':
        return this.finishLogin();
    }
  }

  private denyLogin(user: string, usingPassword: boolean, reason: string): void {
    this.ctx.metrics.logins.inc({ result: 'denied' });
    const extra = /TLS|cleartext|RSA/.test(reason) ? ` (${reason})` : '';
    this.sendPacket(buildErr(1045, '28000', `Access denied for user '${user}'@'${this.remoteHost}' (using password: ${usingPassword ? 'YES' : 'NO'})${extra}`), (this.seq + 1) & 0xff);
    this.close('access denied');
  }

  private finishLogin(): void {
    const hs = this.hs as HandshakeResponse;
    const user = (this.auth as Authenticator).user;
    this.auth = null;
    const wasChange = this.changeUser;
    this.changeUser = false;
    this.user = user;
    const backend = this.ctx.backends.get(user.backend) as Backend;
    this.backend = backend;
    const ext = this.ctx.config.server.mariadbExtendedCapabilities && (hs.mariaCaps & this.ctx.serverMariaCaps) !== 0;
    this.pool = backend.pool(this.clientCaps & PROFILE_CAPS, this.collation, ext);
    this.multi = (this.clientCaps & Cap.MULTI_STATEMENTS) !== 0;
    const schema = hs.database ?? user.defaultSchema ?? null;
    this.loginSchema = schema;
    this.state = S.BUSY;
    const okSeq = (this.seq + 1) & 0xff;
    // Keep only what COM_CHANGE_USER needs from the handshake response.
    hs.attrs = NO_ATTRS;
    hs.authResponse = EMPTY;
    const done = () => {
      this.ctx.metrics.logins.inc({ result: 'ok' });
      this.framer.maxPayload = this.ctx.config.server.maxAllowedPacket;
      if (this.loginTimer) clearTimeout(this.loginTimer);
      this.loginTimer = null;
      this.sendPacket(this.okPacket(), okSeq);
      if (this.clientCaps & Cap.COMPRESS && !this.z) this.startCompression();
      if (this.ctx.log.isLevelEnabled('debug')) this.log.debug({ user: user.name, schema, changeUser: wasChange, caps: this.clientCaps.toString(16), collation: this.collation }, 'login ok');
      this.toIdle();
    };
    if (schema === null) return done();
    this.withConn((err, conn) => {
      if (err || !conn) {
        this.sendErr(err ?? new Error('no backend connection'), okSeq);
        this.close('backend unavailable at login');
        return;
      }
      const finish = (e: { errno: number; sqlState: string; message: string } | null) => {
        this.releaseConn(conn);
        if (e) {
          this.sendPacket(buildErr(e.errno, e.sqlState, e.message), okSeq);
          this.close('schema refused at login');
          return;
        }
        this.schema = schema;
        this.version++;
        done();
      };
      if (conn.schema === schema) return finish(null);
      conn.command(new PacketWriter(schema.length + 1).u8(Com.INIT_DB).string(schema), 'ok').then(
        (r) => {
          if (!r.err) conn.schema = schema;
          finish(r.err);
        },
        (e: Error) => {
          this.dropConn(conn);
          this.sendErr(e, okSeq);
          this.close('backend failed at login');
        },
      );
    });
  }

  // ---- commands ---------------------------------------------------------------------------------

  private onCommand(f: Frame): void {
    const p = f.payload;
    if (f.seq !== 0) throw new ProtocolError(`command packet with sequence id ${f.seq} (expected 0)`);
    this.seq = 0;
    if (p.length === 0) throw new ProtocolError('empty command packet');
    const cmd = p[0];
    const m = this.ctx.metrics;
    if (cmd === Com.QUERY) m.cmdQuery.inc();
    else if (cmd === Com.STMT_EXECUTE) m.cmdExecute.inc();
    else m.cmdOther.inc();
    switch (cmd) {
      case Com.QUERY: {
        const info = scanQuery(p, 1, p.length);
        if (info.flags & Q.KILL) {
          if (info.killId >= 0 && !(info.flags & Q.MULTI)) return this.kill(info.killId, info.killQuery);
          // Passing it through would let a client kill backend threads that serve other sessions.
          return this.sendPacket(buildErr(1235, '42000', "This version of tenantgate doesn't yet support 'KILL USER, KILL QUERY ID or KILL inside a multi-statement query'; use KILL [QUERY] <connection id>"), 1);
        }
        if (info.flags & Q.READS_DIAGNOSTICS && !(info.flags & Q.MULTI)) {
          const form = diagForm(p, 1);
          if (form && this.diag) {
            const status = this.okStatus();
            for (const b of diagnosticsResult(form, this.diag, this.clientCaps, status, diagVarName(form, p, 1))) this.out(b);
            return;
          }
          return this.forward(Resp.QUERY, f, info, null, this.diag === null);
        }
        return this.forward(Resp.QUERY, f, info, null);
      }
      case Com.STMT_EXECUTE:
        return this.onExecute(f);
      case Com.STMT_PREPARE:
        return this.forward(Resp.PREPARE, f, null, null);
      case Com.STMT_SEND_LONG_DATA:
        return this.onLongData(p);
      case Com.STMT_CLOSE:
        return this.onStmtClose(p);
      case Com.STMT_RESET:
        return this.onStmtReset(p);
      case Com.STMT_FETCH:
        return this.onFetch(f);
      case Com.PING:
        return this.sendPacket(this.okPacket(), 1);
      case Com.QUIT:
        return this.close('COM_QUIT');
      case Com.INIT_DB:
        return this.forward(Resp.SIMPLE, f, null, null);
      case Com.FIELD_LIST:
        return this.forward(Resp.FIELD_LIST, f, null, null);
      case Com.STATISTICS:
        return this.forward(Resp.STATISTICS, f, null, null);
      case Com.SET_OPTION:
        return this.onSetOption(p);
      case Com.RESET_CONNECTION:
        return this.onResetConnection();
      case Com.CHANGE_USER:
        return this.onChangeUser(f);
      case Com.PROCESS_KILL: {
        const r = new PacketReader(p, 1, p.length);
        return this.kill(r.u32(), false);
      }
      default:
        return this.sendPacket(buildErr(1047, '08S01', `Unknown command 0x${cmd.toString(16).padStart(2, '0')}`), 1);
    }
  }

  private okStatus(): number {
    let status = this.lastStatus & (Status.IN_TRANS | Status.AUTOCOMMIT | Status.IN_TRANS_READONLY);
    if (!this.conn) status = (status & ~Status.IN_TRANS) | (this.vars.get('autocommit') === 'OFF' ? 0 : Status.AUTOCOMMIT);
    return status;
  }

  private okPacket(affected = 0, header = 0x00): PacketWriter {
    return buildOk({ affectedRows: affected, lastInsertId: 0, status: this.okStatus(), warnings: 0, info: EMPTY, sessionState: null }, this.clientCaps, header);
  }

  private onSetOption(p: Buffer): void {
    const r = new PacketReader(p, 1, p.length);
    const opt = r.u16();
    if (opt !== 0 && opt !== 1) return this.sendPacket(buildErr(1047, '08S01', 'Unknown COM_SET_OPTION value'), 1);
    this.multi = opt === 0;
    this.version++;
    const status = this.lastStatus & (Status.IN_TRANS | Status.AUTOCOMMIT);
    if (this.clientCaps & Cap.DEPRECATE_EOF) this.sendPacket(this.okPacket(0, 0xfe), 1);
    else this.sendPacket(buildEof(0, status), 1);
  }

  /** Routes a command to a backend connection and relays the answer. */
  private forward(kind: Resp, frame: Frame, info: QueryInfo | null, stmt: ClientStmt | null, clearDiag = false): void {
    this.cur = { kind, frame, info, stmt, out: null, clearDiag, foreign: false };
    this.state = S.BUSY;
    if (this.pins & P_ONE_SHOT) this.pins &= ~P_ONE_SHOT; // held for this one statement; re-evaluated after it
    const sticky = info !== null && (info.flags & (Q.FOUND_ROWS | Q.ROW_COUNT | Q.READS_DIAGNOSTICS)) !== 0;
    this.withConn(this.onConn, sticky);
  }

  /** Calls back with the pinned connection, the session's last one if asked and still idle, or a pooled one. */
  private withConn(cb: (err: Error | null, conn: BackendConnection | null) => void, sticky = false): void {
    if (this.conn) return cb(null, this.conn);
    const pool = this.pool as BackendPool;
    const last = this.lastConn;
    if (sticky && last && last.lastSession === this && last.pool === pool && pool.takeIfIdle(last)) {
      this.conn = last;
      return cb(null, last);
    }
    pool.acquire((err, conn) => {
      if (this.state === S.CLOSED) {
        if (conn) pool.release(conn);
        return;
      }
      if (conn) this.conn = conn;
      cb(err, conn);
    });
  }

  private onConn = (err: Error | null, conn: BackendConnection | null): void => {
    const cur = this.cur as Current;
    if (err || !conn) {
      this.sendErr(err ?? new Error('no backend connection'), 1);
      this.cur = null;
      this.toIdle();
      return;
    }
    cur.foreign = conn.lastSession !== this;
    if (this.needsPrep(conn, cur)) {
      this.prepare(conn, cur).then(
        (errPkt) => {
          if (this.state === S.CLOSED) return;
          if (errPkt) {
            this.sendPacket(errPkt, 1);
            this.finishStatement();
            return;
          }
          this.send(conn, cur);
        },
        (e: Error) => this.prepFailed(conn, e),
      );
      return;
    }
    if (cur.kind === Resp.EXECUTE) cur.out = executePacket(conn, cur.stmt as ClientStmt, cur.frame);
    this.send(conn, cur);
  };

  private needsPrep(conn: BackendConnection, cur: Current): boolean {
    if (conn.lastSession !== this || conn.appliedVersion !== this.version) {
      if (this.vars.size !== 0 || conn.vars.size !== 0 || conn.schema !== this.schema || conn.multiStatements !== this.multi) return true;
      if (conn.userVars.size !== 0 || this.userVars.size !== 0) return true;
    }
    const f = cur.info ? cur.info.flags : 0;
    if (cur.clearDiag && conn.diagOwner !== null) return true;
    if (f & Q.LAST_INSERT_ID && conn.lastInsertId !== this.lastInsertId) return true;
    if (f & Q.CONNECTION_ID && conn.pseudoThreadId !== this.id) return true;
    if (f & Q.FOUND_ROWS && conn.lastSession !== this) return true;
    if (cur.kind === Resp.EXECUTE) {
      const st = cur.stmt as ClientStmt;
      if (st.longData !== null || !conn.stmts.has(st.key)) return true;
    }
    return false;
  }

  /**
   * Brings a borrowed connection to this session's state (schema, options, variables, user
   * variables, LAST_INSERT_ID, CONNECTION_ID) and makes sure a statement being executed is
   * prepared there. Resolves with an ERR packet to send instead of running the statement, if any.
   */
  private async prepare(conn: BackendConnection, cur: Current): Promise<PacketWriter | null> {
    const pool = this.pool as BackendPool;
    const f = cur.info ? cur.info.flags : 0;
    if (this.schema === null && conn.schema !== null) await this.resetBackend(conn);
    if (this.schema !== null && conn.schema !== this.schema) {
      const r = await conn.command(new PacketWriter(64).u8(Com.INIT_DB).string(this.schema), 'ok');
      if (r.err) return buildErr(r.err.errno, r.err.sqlState, r.err.message);
      conn.schema = this.schema;
    }
    if (conn.multiStatements !== this.multi) {
      await conn.command(new PacketWriter(4).u8(Com.SET_OPTION).u16(this.multi ? 0 : 1), 'ok');
      conn.multiStatements = this.multi;
    }
    const sets = varAssignments(this.vars, conn.vars, pool.defaults);
    const foreignVars = conn.userVars.size > 0 && conn.userVarOwner !== this.userVarToken;
    if (foreignVars) for (const n of conn.userVars) sets.push(`${userVarRef(n)}=NULL`);
    const mine = this.userVars.size > 0 && (foreignVars || conn.userVarOwner !== this.userVarToken || conn.lastSession !== this || conn.appliedVersion !== this.version);
    if (mine) for (const [n, v] of this.userVars) sets.push(`${userVarRef(n)}=${v}`);
    if (f & Q.CONNECTION_ID && conn.pseudoThreadId !== this.id) sets.push(`SESSION pseudo_thread_id=${this.id}`);
    if (sets.length > 0) {
      await conn.query(`SET ${sets.join(', ')}`);
      conn.vars = new Map(this.vars);
      if (foreignVars) conn.userVars.clear();
      if (this.userVars.size > 0) {
        for (const n of this.userVars.keys()) conn.userVars.add(n);
        conn.userVarOwner = this.userVarToken;
      }
      if (f & Q.CONNECTION_ID) conn.pseudoThreadId = this.id;
    }
    if (f & Q.LAST_INSERT_ID && conn.lastInsertId !== this.lastInsertId) {
      await conn.query(`DO LAST_INSERT_ID(${this.lastInsertId})`);
      conn.lastInsertId = this.lastInsertId;
    }
    if (f & Q.FOUND_ROWS && conn.lastSession !== this) {
      const n = this.foundRows;
      await conn.query(n > 0 ? `SELECT SQL_CALC_FOUND_ROWS 1 FROM seq_1_to_${n} LIMIT 0` : 'SELECT SQL_CALC_FOUND_ROWS 1 FROM DUAL WHERE 0 LIMIT 0');
    }
    if (cur.clearDiag && conn.diagOwner !== null) {
      await conn.query(CLEAR_DIAGNOSTICS_SQL);
      conn.diagOwner = null;
    }
    conn.lastSession = this;
    conn.appliedVersion = this.version;
    if (cur.kind === Resp.EXECUTE) {
      const st = cur.stmt as ClientStmt;
      const e = await ensureBackendStmt(conn, st, this.ctx.maxPrepared(conn));
      if (e) return buildErr(e.errno, e.sqlState, e.message);
      cur.out = executePacket(conn, st, cur.frame);
    }
    return null;
  }

  private prepFailed(conn: BackendConnection, e: Error): void {
    if (this.state === S.CLOSED) return;
    this.log.warn({ err: e.message }, 'could not prepare backend connection for the session');
    const code = (e as { errno?: number }).errno;
    if (typeof code === 'number') {
      const q = e as unknown as { errno: number; sqlState: string; message: string };
      this.sendPacket(buildErr(q.errno, q.sqlState, q.message), 1);
      this.finishStatement();
      return;
    }
    this.sendErr(new ProxyError(Err.STATE_RESTORE, `tenantgate could not restore this session's state on backend '${conn.cfg.name}': ${e.message}`), 1);
    this.dropConn(conn);
    this.cur = null;
    this.pins = 0;
    this.toIdle();
  }

  private send(conn: BackendConnection, cur: Current): void {
    if (conn.closed) {
      this.onRelayFailed(new Error('backend connection closed'));
      return;
    }
    conn.sink = this;
    this.relay.start(cur.kind);
    this.relay.refuseInfile = !(this.clientCaps & Cap.LOCAL_FILES);
    const s = conn.socket;
    if (cur.out) {
      if (cur.out.length === 1) s.write(cur.out[0]);
      else {
        s.cork();
        for (const b of cur.out) s.write(b);
        s.uncork();
      }
    } else {
      const f = cur.frame;
      const at = cur.info ? cur.info.rowCountAt : null;
      if (at !== null && cur.foreign) s.write(framePayload(substituteRowCount(f.payload, at, this.rowCount), 0));
      else s.write(f.raw ?? framePayload(f.payload, 0));
    }
  }

  private onInfileData(f: Frame): void {
    const conn = this.conn;
    if (!conn) return;
    // under compression inner sequence ids are not checked, and older clients number them all 0
    // (my_net_write in libmysqlclient): the backend, uncompressed, gets its own numbering
    const seq = this.z ? this.infileSeq : (f.seq - this.relay.seqDelta) & 0xff;
    this.infileSeq = (seq + Math.floor(f.payload.length / MAX_PACKET_PAYLOAD) + 1) & 0xff;
    let ok: boolean;
    if (f.raw) {
      f.raw[3] = seq;
      ok = conn.socket.write(f.raw);
    } else ok = conn.socket.write(framePayload(f.payload, seq));
    if (f.payload.length === 0) {
      this.relay.infileSent();
      this.state = S.BUSY;
    }
    if (!ok && !this.socket.isPaused()) {
      this.socket.pause();
      conn.socket.once('drain', () => this.socket.resume());
    }
  }

  private updatePins(flags: number, info: QueryInfo | null): void {
    let pins = this.pins & ~(P_TX | P_ONE_SHOT | P_CURSOR | P_USER_LOCK);
    const st = this.lastStatus;
    if (st & Status.IN_TRANS || !(st & Status.AUTOCOMMIT)) pins |= P_TX;
    if (flags) {
      if (flags & Q.LOCK_TABLES) pins |= P_LOCK_TABLES;
      if (flags & Q.UNLOCK_TABLES) pins &= ~P_LOCK_TABLES;
      if (flags & Q.RELEASE_ALL_LOCKS) {
        this.lockCount = 0;
        this.userLocks.clear();
      } else if (info && info.lockNameUnknown && info.lockDelta !== 0) this.lockCount = Math.max(0, this.lockCount + info.lockDelta);
      if (flags & Q.CREATE_TEMPORARY) pins |= P_TEMP;
      if (flags & Q.SQL_PREPARE) pins |= P_SQL_PS;
      if (flags & Q.HANDLER) pins |= P_HANDLER;
      if (flags & (Q.CALC_FOUND_ROWS | Q.SET_TRANSACTION)) pins |= P_ONE_SHOT;
    }
    if (this.lockCount > 0 || this.userLocks.size > 0) pins |= P_USER_LOCK;
    if (this.openCursors > 0) pins |= P_CURSOR;
    this.pins = pins;
  }

  private async afterStatementAsync(conn: BackendConnection, info: QueryInfo | null, captureErr: boolean | null): Promise<void> {
    if (info && info.lockNames && !info.lockNameUnknown && !(info.flags & Q.RELEASE_ALL_LOCKS)) {
      // Ask the server which of the named locks this connection now holds (GET_LOCK may have timed out).
      const names = [...new Set([...this.userLocks, ...info.lockNames])];
      const r = await conn.query(`SELECT ${names.map((n) => `IS_USED_LOCK(${quote(n)})`).join(', ')}`);
      const row = r.rows[0] ?? [];
      this.userLocks.clear();
      names.forEach((n, i) => {
        const v = row[i];
        if (v && Number(v.toString()) === conn.threadId) this.userLocks.add(n);
      });
      if (this.userLocks.size > 0 || this.lockCount > 0) this.pins |= P_USER_LOCK;
      else this.pins &= ~P_USER_LOCK;
    }
    if (captureErr !== null) {
      const warnings = this.lastWarnings;
      const r = await conn.command(new PacketWriter(16).u8(Com.QUERY).string('SHOW WARNINGS'), 'query');
      if (!r.err) this.diag = captureDiagnostics(r, warnings, captureErr);
    }
    if (info && info.userVars) {
      const names = info.userVars;
      const r = await conn.query(`SELECT ${names.map(userVarRef).join(', ')}`);
      const lits = userVarLiterals(r, (this.backend as Backend).collations);
      names.forEach((n, i) => {
        if (lits[i] === 'NULL') this.userVars.delete(n);
        else this.userVars.set(n, lits[i]);
        conn.userVars.add(n);
      });
      conn.userVarOwner = this.userVarToken;
      this.version++;
    }
    if (conn.needsReinit) {
      await conn.query(TRACKING_INIT_SQL);
      conn.needsReinit = false;
    }
  }

  private finishStatement(): void {
    const conn = this.conn;
    this.cur = null;
    if (conn) {
      conn.lastSession = this;
      conn.appliedVersion = this.version;
      if (this.pins === 0) this.releaseConn(conn);
    }
    this.toIdle();
  }

  private releaseConn(conn: BackendConnection): void {
    if (this.conn === conn) this.conn = null;
    this.lastConn = conn;
    if (this.pausedBackend === conn.socket) {
      this.pausedBackend = null;
      conn.socket.resume();
    }
    (conn.pool as BackendPool).release(conn);
  }

  private dropConn(conn: BackendConnection): void {
    if (this.conn === conn) this.conn = null;
    if (this.lastConn === conn) this.lastConn = null;
    (conn.pool as BackendPool).discard(conn);
  }

  private toIdle(): void {
    if (this.state === S.CLOSED) return;
    this.state = S.IDLE;
    if (this.socket.isPaused()) this.socket.resume();
    this.pump();
  }

  // ---- prepared statements ------------------------------------------------------------------------

  private stmtFor(p: Buffer, cmd: string): ClientStmt | null {
    const id = p.length >= 5 ? p.readUInt32LE(1) : -1;
    const st = this.stmts.get(id) ?? null;
    if (!st && cmd !== '') this.sendPacket(buildErr(1243, 'HY000', `Unknown prepared statement handler (${id}) given to ${cmd}`), 1);
    return st;
  }

  private onExecute(f: Frame): void {
    const st = this.stmtFor(f.payload, 'mysqld_stmt_execute');
    if (!st) return;
    const p = f.payload;
    if (st.numParams > 0) {
      const nb = (st.numParams + 7) >> 3;
      const at = 10 + nb;
      if (p.length > at && p[at] === 1) {
        if (p.length < at + 1 + 2 * st.numParams) {
          return this.sendPacket(buildErr(1210, 'HY000', 'Incorrect arguments to mysqld_stmt_execute'), 1);
        }
        st.paramTypes = Buffer.from(p.subarray(at + 1, at + 1 + 2 * st.numParams));
      }
    }
    this.forward(Resp.EXECUTE, f, null, st);
  }

  private onFetch(f: Frame): void {
    const st = this.stmtFor(f.payload, 'mysqld_stmt_fetch');
    if (!st) return;
    const conn = this.conn;
    const bs = conn ? conn.stmts.get(st.key) : undefined;
    if (!st.cursorOpen || !conn || !bs) {
      return this.sendPacket(buildErr(1421, 'HY000', `The statement (${st.id}) has no open cursor.`), 1);
    }
    const out = Buffer.from(f.payload);
    out.writeUInt32LE(bs.id, 1);
    this.cur = { kind: Resp.FETCH, frame: f, info: null, stmt: st, out: [framePayload(out, 0)], clearDiag: false, foreign: false };
    this.state = S.BUSY;
    this.send(conn, this.cur);
  }

  private onLongData(p: Buffer): void {
    const st = this.stmtFor(p, '');
    if (!st || p.length < 7) return; // no response to this command, even on error
    const param = p.readUInt16LE(5);
    const data = Buffer.from(p.subarray(7));
    st.longDataBytes += data.length;
    if (st.longDataBytes > this.ctx.config.server.maxAllowedPacket) return;
    (st.longData ??= []).push({ param, data });
  }

  private onStmtClose(p: Buffer): void {
    const st = this.stmtFor(p, '');
    if (!st) return;
    this.stmts.delete(st.id);
    const conn = this.conn;
    if (st.cursorOpen) {
      const bs = conn ? conn.stmts.get(st.key) : undefined;
      if (conn && bs) {
        conn.socket.write(new PacketWriter(8).u8(Com.STMT_CLOSE).u32(bs.id).finish(0));
        conn.stmts.delete(st.key);
      }
      this.setCursor(st, false);
      this.updatePinsAfterLocalChange();
    }
  }

  private onStmtReset(p: Buffer): void {
    const st = this.stmtFor(p, 'mysqld_stmt_reset');
    if (!st) return;
    st.longData = null;
    st.longDataBytes = 0;
    const conn = this.conn;
    const bs = conn ? conn.stmts.get(st.key) : undefined;
    if (st.cursorOpen && conn && bs) {
      this.state = S.BUSY;
      conn.command(new PacketWriter(8).u8(Com.STMT_RESET).u32(bs.id), 'ok').then(
        (r) => {
          this.setCursor(st, false);
          this.updatePinsAfterLocalChange();
          this.sendPacket(r.err ? buildErr(r.err.errno, r.err.sqlState, r.err.message) : this.okPacket(), 1);
          this.toIdleMaybeRelease();
        },
        (e: Error) => this.onRelayFailed(e),
      );
      return;
    }
    this.sendPacket(this.okPacket(), 1);
  }

  private updatePinsAfterLocalChange(): void {
    this.pins &= ~P_CURSOR;
    if (this.openCursors > 0) this.pins |= P_CURSOR;
  }

  private setCursor(st: ClientStmt, open: boolean): void {
    if (st.cursorOpen === open) return;
    st.cursorOpen = open;
    this.openCursors += open ? 1 : -1;
  }

  private toIdleMaybeRelease(): void {
    const conn = this.conn;
    if (conn && this.pins === 0) this.releaseConn(conn);
    this.toIdle();
  }

  // ---- connection-level commands ------------------------------------------------------------------

  /** Forgets all session state, as COM_RESET_CONNECTION / COM_CHANGE_USER do on a server. */
  private resetSessionState(): void {
    this.vars.clear();
    this.userVars.clear();
    this.userVarToken = {};
    this.stmts.clear();
    this.openCursors = 0;
    this.trackPrefs = null;
    this.lastInsertId = 0;
    this.foundRows = 0;
    this.lockCount = 0;
    this.userLocks.clear();
    this.diag = null;
    this.pins = 0;
    this.lastStatus = Status.AUTOCOMMIT;
    this.lastWarnings = 0;
    this.schema = this.loginSchema;
    this.version++;
  }

  /** COM_RESET_CONNECTION on a backend connection, then the proxy's own initialisation again. */
  private async resetBackend(conn: BackendConnection): Promise<void> {
    const r = await conn.command(Buffer.from([Com.RESET_CONNECTION]), 'ok');
    if (r.err) throw new Error(`COM_RESET_CONNECTION failed: ${r.err.message}`);
    conn.vars.clear();
    conn.userVars.clear();
    conn.userVarOwner = null;
    conn.stmts.clear();
    conn.schema = null;
    conn.lastInsertId = 0;
    conn.pseudoThreadId = 0;
    conn.needsReinit = false;
    conn.lastSession = null;
    await conn.query(TRACKING_INIT_SQL);
  }

  /** Gives back a pinned connection after cleaning it (or drops it when cleaning fails). */
  private cleanRelease(conn: BackendConnection): Promise<void> {
    if (this.conn === conn) this.conn = null;
    return this.resetBackend(conn).then(
      () => (conn.pool as BackendPool).release(conn),
      () => (conn.pool as BackendPool).discard(conn),
    );
  }

  private onResetConnection(): void {
    const conn = this.conn;
    const wasPinned = this.pins !== 0;
    this.resetSessionState();
    if (conn && wasPinned) {
      this.state = S.BUSY;
      this.cleanRelease(conn).then(() => {
        this.sendPacket(this.okPacket(), 1);
        this.toIdle();
      });
      return;
    }
    if (conn) this.releaseConn(conn);
    this.sendPacket(this.okPacket(), 1);
  }

  private onChangeUser(f: Frame): void {
    const p = f.payload;
    const r = new PacketReader(p, 1, p.length);
    const user = r.nulString();
    const token = this.clientCaps & Cap.SECURE_CONNECTION ? r.bytes(r.u8()) : r.nulBytes();
    const db = r.remaining() > 0 ? r.nulOrRestString() : '';
    let collation = this.collation;
    if (r.remaining() >= 2) collation = r.u16() & 0xff;
    const plugin = this.clientCaps & Cap.PLUGIN_AUTH && r.remaining() > 0 ? r.nulOrRestString() : null;
    const conn = this.conn;
    if (conn) {
      this.state = S.BUSY;
      const pinned = this.pins !== 0;
      (pinned ? this.cleanRelease(conn) : Promise.resolve(this.releaseConn(conn))).then(() => this.continueChangeUser(user, token, db, collation, plugin));
      return;
    }
    this.continueChangeUser(user, token, db, collation, plugin);
  }

  private continueChangeUser(user: string, token: Buffer, db: string, collation: number, plugin: string | null): void {
    this.resetSessionState();
    this.changeUser = true;
    this.collation = collation;
    const hs = this.hs as HandshakeResponse;
    this.hs = { ...hs, user, authResponse: token, database: db === '' ? null : db, authPlugin: plugin, collation };
    const u = this.ctx.users.get(user);
    if (!u) return this.denyLogin(user, token.length > 0, 'unknown user');
    if (u.requireTls && !this.tls) return this.denyLogin(user, token.length > 0, 'user requires TLS');
    this.auth = new Authenticator(u, this.nonce, this.tls, this.ctx.rsa, plugin);
    this.state = S.AUTH;
    this.usedPassword = token.length > 0;
    this.onAuthStep(this.auth.begin(plugin, token));
  }

  /** KILL [QUERY|CONNECTION] id and COM_PROCESS_KILL, with the proxy's own connection ids. */
  private kill(id: number, queryOnly: boolean): void {
    const target = this.ctx.sessions.get(id);
    if (!target) return this.sendPacket(buildErr(1094, 'HY000', `Unknown thread id: ${id}`), 1);
    if (target.user?.name !== this.user?.name) return this.sendPacket(buildErr(1095, 'HY000', `You are not owner of thread ${id}`), 1);
    if (target === this && !queryOnly) {
      this.sendPacket(buildErr(1927, '70100', 'Connection was killed'), 1);
      this.close('killed itself');
      return;
    }
    this.state = S.BUSY;
    const done = () => {
      this.sendPacket(this.okPacket(), 1);
      this.toIdle();
    };
    if (queryOnly) {
      target.killQuery().then(done, done);
      return;
    }
    target.killQuery().then(
      () => {
        target.close('killed');
        done();
      },
      () => {
        target.close('killed');
        done();
      },
    );
  }

  /** Interrupts the statement this session is running on its backend, if any. */
  killQuery(): Promise<void> {
    const conn = this.conn;
    if (!conn || this.state !== S.BUSY && this.state !== S.INFILE) return Promise.resolve();
    return this.ctx.killBackendThread(conn);
  }

  // ---- output helpers and teardown -----------------------------------------------------------------

  private sendPacket(w: PacketWriter, seq: number): void {
    if (this.state === S.CLOSED || this.socket.destroyed) return;
    this.out(w.finish(seq));
  }

  private sendErr(e: Error, seq: number): void {
    this.ctx.metrics.errors.inc({ kind: (e as { code?: string }).code ?? 'other' });
    this.sendPacket(errPacket(e), seq);
  }

  /** Ends the session; a backend connection it holds is cleaned and returned, or dropped mid-statement. */
  close(reason: string): void {
    if (this.state === S.CLOSED) return;
    if (this.loginTimer) clearTimeout(this.loginTimer);
    const busy = this.state === S.BUSY || this.state === S.INFILE;
    this.state = S.CLOSED;
    if (this.ctx.log.isLevelEnabled('debug')) this.log.debug({ reason }, 'session closed');
    this.ctx.sessions.delete(this.id);
    const conn = this.conn;
    this.conn = null;
    if (conn) {
      if (this.pausedBackend === conn.socket) conn.socket.resume();
      if (busy) {
        conn.sink = null;
        this.ctx.killBackendThread(conn).finally(() => (conn.pool as BackendPool).discard(conn));
      } else if (this.pins !== 0) void this.cleanRelease(conn);
      else (conn.pool as BackendPool).release(conn);
    }
    if (this.z) this.z.flush();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }
}

const EMPTY = Buffer.alloc(0);
const NO_ATTRS = new Map<string, string>();

function normalizeHost(addr: string | undefined): string {
  if (!addr) return 'unknown';
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}

export { MAX_PACKET_PAYLOAD };
