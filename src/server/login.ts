import type { UserConfig } from '../config/types';
import { chooseCompression, type NegotiatedCompression } from '../protocol/compression-negotiation';
import { Cap, Status } from '../protocol/constants';
import { buildAuthMoreData, buildAuthSwitch, buildServerHandshake, HandshakeResponse, parseHandshakeResponse } from '../protocol/handshake';
import { buildErr } from '../protocol/ok-err';
import { PacketReader, ProtocolError } from '../protocol/packet-reader';
import { Authenticator, AuthStep, makeNonce } from './authenticator';
import type { ClientConn } from './client-conn';
import type { ProxyContext } from './proxy-context';

/** Who a client proved to be, and what it negotiated. */
export interface Identity {
  user: UserConfig;
  /** The user name as the client sent it (`app@acme` with a user_pattern strategy). */
  login: string;
  /** Connect attributes of the handshake (kept for tenant identification; also across COM_CHANGE_USER). */
  attrs: ReadonlyMap<string, string>;
  clientCaps: number;
  collation: number;
  /** Schema the client named (null: none; the user's default_schema applies). */
  database: string | null;
  /** MariaDB extended capabilities the client asked for. */
  mariaCaps: number;
  /** Came from COM_CHANGE_USER rather than the initial handshake. */
  changeUser: boolean;
  /** Sequence id for the OK (or ERR) that ends the login. */
  okSeq: number;
  /** The compressed protocol the client negotiated in its handshake (kept across COM_CHANGE_USER). */
  compression: NegotiatedCompression;
}

/** A handshake response refused with a specific MySQL error rather than the generic Bad handshake. */
export class HandshakeRefusedError extends ProtocolError {
  constructor(readonly errno: number, readonly sqlState: string, message: string) {
    super(message);
  }
}

/** What the login needs from its session. */
export interface LoginHost {
  readonly ctx: ProxyContext;
  readonly client: ClientConn;
  readonly remoteHost: string;
  /** Authentication succeeded; the session answers OK (or ERR) with `id.okSeq`. */
  onLoginOk(id: Identity): void;
  /** Authentication failed; ERR 1045 was sent. */
  onLoginDenied(reason: string): void;
  /** Runs a callback outside the input pump (a timer); a throw ends the session. */
  guard(where: string, fn: () => void): void;
}

/** A parsed COM_CHANGE_USER. */
export interface ChangeUserRequest {
  user: string;
  token: Buffer;
  db: string;
  collation: number;
  plugin: string | null;
  /** Connect attributes the packet carries (CLIENT_CONNECT_ATTRS): they replace the handshake's; null when not negotiated. */
  attrs: Map<string, string> | null;
}

const EMPTY = Buffer.alloc(0);
const NO_ATTRS = new Map<string, string>();

/**
 * The handshake, authentication and COM_CHANGE_USER exchanges of one client connection, ending in
 * an {@link Identity}. Sends only login packets; what happens after login is the session's.
 */
const NO_TOKEN = Buffer.alloc(0);

export class Login {
  /** Sequence id of the last login packet received from or sent to the client. */
  seq = 0;
  private readonly nonce = makeNonce();
  private hs: HandshakeResponse | null = null;
  private auth: Authenticator | null = null;
  private changeUser = false;
  /** Whether the client's last auth data carried a password ("using password: YES/NO"). */
  private usedPassword = false;
  /** The user name does not exist: the exchange runs against the dummy user and always fails. */
  private unknownUser = false;
  /** The user requires TLS and this connection has none: refused once the password is checked. */
  private tlsMissing = false;
  clientCaps = 0;
  collation = 0;
  /** Connect attributes from the handshake response. */
  private attrs: ReadonlyMap<string, string> = NO_ATTRS;
  private compression: NegotiatedCompression = { algorithm: 'none' };

  constructor(private readonly host: LoginHost) {}

  /** The server's initial handshake packet (sequence id 0). */
  greeting(connectionId: number): Buffer {
    const ctx = this.host.ctx;
    return buildServerHandshake({
      serverVersion: ctx.serverVersion,
      connectionId,
      nonce: this.nonce,
      capabilities: ctx.serverCaps,
      mariaCaps: ctx.serverMariaCaps,
      collation: ctx.serverCollation,
      status: Status.AUTOCOMMIT,
      authPlugin: ctx.config.server.defaultAuthPlugin,
    }).finish(0);
  }

  /** The client's handshake response (or SSLRequest, which upgrades the connection to TLS). */
  onHandshakeResponse(payload: Buffer, seq: number): void {
    this.seq = seq;
    const hs = parseHandshakeResponse(payload);
    const ctx = this.host.ctx;
    if (hs.sslRequest) {
      if (!ctx.tlsContext) throw new ProtocolError('client requested TLS but no certificate is configured');
      if (this.host.client.tls) throw new ProtocolError('TLS requested twice');
      this.host.client.upgradeTls(ctx.tlsContext);
      return;
    }
    this.hs = hs;
    this.attrs = hs.attrs;
    this.clientCaps = hs.capabilities & ctx.serverCaps;
    const comp = chooseCompression(this.clientCaps, hs.zstdLevel, ctx.config.server.compressionZstdMaxLevel);
    if (comp.algorithm === 'refuse') throw new HandshakeRefusedError(comp.errno, comp.sqlState, comp.message);
    // the session's capabilities name the one algorithm in use (zlib wins when a client sets both)
    if (comp.algorithm !== 'zstd') this.clientCaps &= ~Cap.ZSTD_COMPRESSION_ALGORITHM;
    this.compression = comp;
    this.collation = hs.collation;
    this.begin(hs.user, hs.authResponse, hs.authPlugin);
  }

  /** A packet of the auth exchange (after a switch or more-data). */
  onAuthData(payload: Buffer, seq: number): void {
    this.seq = seq;
    if (!this.auth) throw new ProtocolError('unexpected packet during authentication');
    const p = payload;
    if (!(p.length === 1 && p[0] === 0x02)) this.usedPassword = p.length > 0 && !(p.length === 1 && p[0] === 0);
    this.onAuthStep((this.auth as Authenticator).next(p));
  }

  /** Parses a COM_CHANGE_USER payload (throws ProtocolError when malformed). */
  parseChangeUser(p: Buffer): ChangeUserRequest {
    const r = new PacketReader(p, 1, p.length);
    const user = r.nulString();
    const token = this.clientCaps & Cap.SECURE_CONNECTION ? r.bytes(r.u8()) : r.nulBytes();
    const db = r.remaining() > 0 ? r.nulOrRestString() : '';
    let collation = this.collation;
    if (r.remaining() >= 2) collation = r.u16() & 0xff;
    const plugin = this.clientCaps & Cap.PLUGIN_AUTH && r.remaining() > 0 ? r.nulOrRestString() : null;
    let attrs: Map<string, string> | null = null;
    if (this.clientCaps & Cap.CONNECT_ATTRS) {
      // as the server does: the attributes of this packet (none sent: none) replace the handshake's
      attrs = new Map();
      if (r.remaining() > 0) {
        const end = r.pos + r.lenenc();
        if (end > r.end) throw new ProtocolError('connection attributes run past the packet');
        while (r.pos < end) attrs.set(r.lenencString(), r.lenencString());
      }
    }
    return { user, token: Buffer.from(token), db, collation, plugin, attrs };
  }

  /** Starts authenticating a COM_CHANGE_USER (the session has already reset its state). */
  changeUserTo(req: ChangeUserRequest): void {
    this.seq = 0;
    this.changeUser = true;
    this.collation = req.collation;
    if (req.attrs !== null) this.attrs = req.attrs;
    const hs = this.hs as HandshakeResponse;
    this.hs = { ...hs, user: req.user, authResponse: req.token, database: req.db === '' ? null : req.db, authPlugin: req.plugin, collation: req.collation };
    this.begin(req.user, req.token, req.plugin);
  }

  /** Whether an authentication exchange is in progress. */
  get authenticating(): boolean {
    return this.auth !== null;
  }

  private begin(userName: string, token: Buffer, plugin: string | null): void {
    const ctx = this.host.ctx;
    this.usedPassword = token.length > 0;
    if (ctx.loginThrottle.blocked(this.host.remoteHost, userName, Date.now())) {
      return this.deny(userName, this.usedPassword, 'throttled', false);
    }
    // Neither an unknown user nor a missing TLS requirement is told before the password is checked:
    // both go through the same exchange and password check as any other login.
    const u = ctx.resolveUser(userName);
    this.unknownUser = u === undefined;
    this.tlsMissing = u !== undefined && u.requireTls && !this.host.client.tls;
    this.auth = new Authenticator(u ?? ctx.dummyUser, this.nonce, this.host.client.tls, ctx.rsa, plugin);
    this.onAuthStep(this.auth.begin(plugin, token));
  }

  private onAuthStep(step: AuthStep): void {
    const hs = this.hs as HandshakeResponse;
    const client = this.host.client;
    switch (step.t) {
      case 'fail':
        return this.deny(hs.user, this.usedPassword, this.unknownUser && step.reason === 'wrong password' ? 'unknown user' : step.reason, step.tell === true);
      case 'switch':
        this.seq = (this.seq + 1) & 0xff;
        client.write(buildAuthSwitch(step.plugin, step.nonce).finish(this.seq));
        return;
      case 'more':
        this.seq = (this.seq + 1) & 0xff;
        client.write(buildAuthMoreData(step.data).finish(this.seq));
        if (step.then === 'ok') this.passwordOk();
        return;
      case 'ok':
        return this.passwordOk();
    }
  }

  /** The password checked out: only now may the client learn that its connection lacks TLS. */
  private passwordOk(): void {
    const user = (this.hs as HandshakeResponse).user;
    if (this.unknownUser) return this.deny(user, this.usedPassword, 'unknown user', false);
    if (this.tlsMissing) return this.deny(user, this.usedPassword, 'require_tls', true, 'this user requires a TLS connection');
    this.host.ctx.loginThrottle.succeeded(this.host.remoteHost, user);
    this.succeed();
  }

  /**
   * Refuses the login with ERR 1045 (logged with the reason), after the throttle's delay for repeated
   * failures from this address or for this user. `tell`: the client may see `hint` (or the reason).
   */
  private deny(user: string, usingPassword: boolean, reason: string, tell: boolean, hint?: string): void {
    this.auth = null;
    const host = this.host;
    const ctx = host.ctx;
    const throttled = reason === 'throttled';
    ctx.metrics.logins.inc({ result: throttled ? 'throttled' : 'denied' });
    const delay = throttled ? ctx.config.server.loginThrottle.maxDelayMs : ctx.loginThrottle.failed(host.remoteHost, user, Date.now());
    ctx.log.info({ user, client: host.remoteHost, reason, changeUser: this.changeUser, delayMs: delay }, 'login refused');
    const extra = tell ? ` (${hint ?? reason})` : '';
    const err = buildErr(1045, '28000', `Access denied for user '${user}'@'${host.remoteHost}' (using password: ${usingPassword ? 'YES' : 'NO'})${extra}`);
    const seq = (this.seq + 1) & 0xff;
    const send = () => {
      if (!host.client.socket.writable) return; // closed meanwhile (login timeout, client gone)
      host.client.sendPacket(err, seq);
      host.onLoginDenied(reason);
    };
    if (delay <= 0) return send();
    host.client.pauseInput();
    setTimeout(() => host.guard('login_denied', send), delay).unref();
  }

  private succeed(): void {
    const hs = this.hs as HandshakeResponse;
    const user = (this.auth as Authenticator).user;
    this.auth = null;
    // The handshake response stays for COM_CHANGE_USER, but not its token: a view of the client read,
    // which (a slice of a shared pool under raw I/O) would keep its whole slab for the session's life.
    hs.authResponse = NO_TOKEN;
    const changeUser = this.changeUser;
    this.changeUser = false;
    const id: Identity = {
      user,
      login: hs.user,
      attrs: this.attrs,
      clientCaps: this.clientCaps,
      collation: this.collation,
      database: hs.database,
      mariaCaps: hs.mariaCaps,
      changeUser,
      okSeq: (this.seq + 1) & 0xff,
      compression: this.compression,
    };
    // Keep only what COM_CHANGE_USER needs from the handshake response.
    hs.attrs = NO_ATTRS;
    hs.authResponse = EMPTY;
    this.host.onLoginOk(id);
  }
}
