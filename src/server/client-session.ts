import type * as net from 'node:net';
import type { Logger } from 'pino';
import type { UserConfig } from '../config/types';
import { Cap, Com, MAX_PACKET_PAYLOAD, Status } from '../protocol/constants';
import type { Frame } from '../protocol/framer';
import { PacketTooLargeError } from '../protocol/framer';
import { buildEof, buildErr, buildOk } from '../protocol/ok-err';
import { PacketReader, ProtocolError } from '../protocol/packet-reader';
import { PacketWriter } from '../protocol/packet-writer';
import { BackendTimeoutError, PROFILE_CAPS } from '../backend/backend-connection';
import type { Backend, BackendPool } from '../backend/pool';
import { Err, errPacket, ProxyError } from '../errors';
import type { RoutineInfo } from '../classify/routines';
import { newSessionState, okStatus, resetSessionState, SessionState } from '../session/session-state';
import { PreparedMap } from '../session/prepared-map';
import { ClientConn, ClientConnHost } from './client-conn';
import { dispatch } from './dispatcher';
import { ChangeUserRequest, Identity, Login, LoginHost } from './login';
import { ClientStmt, noteParamTypes } from './prepared';
import { recordVar } from './session-vars';
import type { ProxyContext } from './proxy-context';
import { Resp } from './result-relay';
import { StatementRunner } from './statement';

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
  private runnerObj: StatementRunner | null = null;
  /** The backend connection holding this session's state died between statements (answered at the next command). */
  private stateLost = false;
  private logger: Logger | null = null;
  private loginTimer: NodeJS.Timeout | null = null;

  constructor(readonly ctx: ProxyContext, socket: net.Socket, id: number) {
    this.id = id;
    this.remoteHost = normalizeHost(socket.remoteAddress);
    this.st = newSessionState(id, false);
    // Until login completes only small packets are legitimate; garbage (an HTTP request, say) is refused at its header.
    this.client = new ClientConn(socket, LOGIN_MAX_PACKET, this);
    this.login = new Login(this);
    this.loginTimer = setTimeout(() => this.loginTimeout(), LOGIN_TIMEOUT_MS);
    this.loginTimer.unref();
    this.client.write(this.login.greeting(id));
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
  }

  toInfile(): void {
    this.state = S.INFILE;
  }

  toIdle(): void {
    if (this.state === S.CLOSED) return;
    this.state = S.IDLE;
    this.client.resumeInput();
    this.pump();
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
            dispatch(this, f);
            break;
          case S.INFILE:
            this.runner.onInfileData(f);
            break;
        }
        if (this.state === S.HANDSHAKE && this.login.authenticating) this.state = S.AUTH;
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
    const seq = (this.login.seq + 1) & 0xff;
    if (this.state === S.HANDSHAKE || this.state === S.AUTH) {
      this.sendPacket(buildErr(1043, '08S01', `Bad handshake: ${e.message}`), seq);
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
    const user = id.user;
    this.user = user;
    this.clientCaps = id.clientCaps;
    const backend = this.ctx.backends.get(user.backend) as Backend;
    this.backend = backend;
    const ext = this.ctx.config.server.mariadbExtendedCapabilities && (id.mariaCaps & this.ctx.serverMariaCaps) !== 0;
    this.pool = backend.pool(this.clientCaps & PROFILE_CAPS, id.collation, ext);
    const st = this.st;
    st.multi = (this.clientCaps & Cap.MULTI_STATEMENTS) !== 0;
    const schema = id.database ?? user.defaultSchema ?? null;
    st.loginSchema = schema;
    this.state = S.BUSY;
    const okSeq = id.okSeq;
    const done = () => {
      this.ctx.metrics.logins.inc({ result: 'ok' });
      this.client.framer.maxPayload = this.ctx.config.server.maxAllowedPacket;
      if (this.loginTimer) clearTimeout(this.loginTimer);
      this.loginTimer = null;
      this.sendPacket(this.okPacket(), okSeq);
      if (this.ctx.log.isLevelEnabled('debug')) {
        this.log.debug({ user: user.name, schema, changeUser: id.changeUser, caps: this.clientCaps.toString(16), collation: id.collation }, 'login ok');
      }
      this.toIdle();
    };
    if (schema === null) return done();
    const r = this.runner;
    r.withConn((err, conn) => {
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
      conn.initDb(schema).then(finish, (e: Error) => {
        r.dropConn(conn);
        this.sendErr(e, okSeq);
        this.close('backend failed at login');
      });
    });
  }

  // ---- commands answered (or prepared) by the session ------------------------------------------

  okStatus(): number {
    return okStatus(this.st, this.runnerObj !== null && this.runnerObj.conn !== null);
  }

  okPacket(affected = 0, header = 0x00): PacketWriter {
    return buildOk({ affectedRows: affected, lastInsertId: 0, status: this.okStatus(), warnings: 0, info: EMPTY, sessionState: null }, this.clientCaps, header);
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

  onExecute(f: Frame): void {
    const st = this.stmtFor(f.payload, 'mysqld_stmt_execute');
    if (!st) return;
    if (!noteParamTypes(st, f.payload)) {
      return this.sendPacket(buildErr(1210, 'HY000', 'Incorrect arguments to mysqld_stmt_execute'), 1);
    }
    this.runner.forward(Resp.EXECUTE, f, st.info, st);
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
    const param = p.readUInt16LE(5);
    const data = Buffer.from(p.subarray(7));
    st.longDataBytes += data.length;
    if (st.longDataBytes > this.ctx.config.server.maxAllowedPacket) return;
    (st.longData ??= []).push({ param, data });
  }

  onStmtClose(p: Buffer): void {
    const st = this.stmtFor(p, '');
    if (!st) return;
    const hadCursor = st.cursorOpen;
    this.prepared.delete(st);
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
    st.longData = null;
    st.longDataBytes = 0;
    const r = this.runner;
    const conn = r.conn;
    const bs = conn ? conn.stmts.get(st.key) : undefined;
    if (st.cursorOpen && conn && bs) {
      this.state = S.BUSY;
      conn.command(new PacketWriter(8).u8(Com.STMT_RESET).u32(bs.id), 'ok').then(
        (res) => {
          this.prepared.setCursor(st, false);
          r.updateCursorPin();
          this.sendPacket(res.err ? buildErr(res.err.errno, res.err.sqlState, res.err.message) : this.okPacket(), 1);
          r.toIdleMaybeRelease();
        },
        (e: Error) => r.onRelayFailed(e),
      );
      return;
    }
    this.sendPacket(this.okPacket(), 1);
  }

  // ---- connection-level commands ------------------------------------------------------------------

  /** Forgets all session state, as COM_RESET_CONNECTION / COM_CHANGE_USER do on a server. */
  private resetState(): void {
    resetSessionState(this.st);
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
      r.cleanRelease(conn).then(() => {
        this.sendPacket(this.okPacket(), 1);
        this.toIdle();
      });
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
      (pinned ? r.cleanRelease(conn) : Promise.resolve(r.releaseConn(conn))).then(() => this.continueChangeUser(req));
      return;
    }
    this.continueChangeUser(req);
  }

  private continueChangeUser(req: ChangeUserRequest): void {
    this.resetState();
    this.state = S.AUTH;
    this.login.changeUserTo(req);
  }

  /** KILL [QUERY|CONNECTION] id and COM_PROCESS_KILL, with the proxy's own connection ids. */
  kill(id: number, queryOnly: boolean): void {
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
    const after = queryOnly
      ? done
      : () => {
          target.close('killed');
          done();
        };
    target.killQuery().then(after, after);
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

  sendPacket(w: PacketWriter, seq: number): void {
    if (this.state === S.CLOSED) return;
    this.client.sendPacket(w, seq);
  }

  sendErr(e: Error, seq: number): void {
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
    if (this.runnerObj) this.runnerObj.detachOnClose(busy, this.st.pins !== 0);
    this.client.end();
  }
}

function normalizeHost(addr: string | undefined): string {
  if (!addr) return 'unknown';
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}

export { MAX_PACKET_PAYLOAD };
