import type { LeaseShare } from './lease-share';
import * as net from 'node:net';
import * as crypto from 'node:crypto';
import { Cap, Com, MariaCap } from '../protocol/constants';
import { Framer } from '../protocol/framer';
import { buildHandshakeResponse, parseAuthSwitch, parseServerHandshake, ServerHandshake } from '../protocol/handshake';
import { ErrPacket, parseErrPayload } from '../protocol/ok-err';
import { ProtocolError } from '../protocol/packet-reader';
import { PacketWriter } from '../protocol/packet-writer';
import { nativeToken, sha2Token, xorPassword } from '../protocol/auth';
import { InternalResponseParser, InternalResult, ResponseKind } from './internal-exchange';
import type { BackendConfig } from '../config/types';

/**
 * Capability bits a client may differ in that a backend connection cannot change after connecting.
 * MULTI_RESULTS / PS_MULTI_RESULTS are among them: without them a server refuses a CALL that
 * returns result sets (1312) instead of sending several, which a client without them cannot read.
 */
export const PROFILE_CAPS = Cap.FOUND_ROWS | Cap.IGNORE_SPACE | Cap.MULTI_RESULTS | Cap.PS_MULTI_RESULTS;

/**
 * Who is reading a backend connection's bytes right now: the relay of a client statement,
 * or an internal exchange. Exactly one at a time.
 */
export interface BackendSink {
  /**
   * Bytes read from the backend. `chunk` is a view of the connection's reusable read buffer, valid
   * only during the call: a sink that keeps bytes copies them. Return true when something still
   * refers to the chunk's memory after the call (a client write not yet completed): the connection
   * then reads into a fresh buffer instead of overwriting it.
   */
  onBackendData(chunk: Buffer): boolean | void;
  onBackendClose(err: Error | null): void;
}

/** Size of a backend connection's reusable read buffer (what libuv suggests for one read). */
const READ_BUFFER_SIZE = 64 * 1024;

/** A server-side prepared statement cached on one backend connection. */
export interface BackendStmt {
  id: number;
  numParams: number;
  numColumns: number;
  /** Parameter type bytes last sent for it (needed when a client re-executes without rebinding). */
  types: Buffer | null;
  /** A cursor is open on it (COM_STMT_FETCH still needs it): never evicted to make room. */
  cursor?: boolean;
  /** Last use (cache/use-order.ts): `stmts` is in this order only after settleUseOrder. */
  used?: number;
  /** The connection's schema when it was prepared (the server runs it in that schema: see state-change-pin.ts). */
  schema?: string | null;
}

/** Failure to connect or log in to a backend. */
export class BackendConnectError extends Error {
  readonly code = 'BACKEND_CONNECT';
  /** `server`: the ERR the backend answered the login with, when it did. */
  constructor(message: string, readonly errno?: number, readonly server?: ErrPacket) {
    super(message);
  }
}

let nextConnSerial = 1;

/**
 * One connection to a backend server. Knows its negotiated capabilities and the session state the
 * proxy has put on it (non-default variables, schema, options, prepared statements).
 */
export class BackendConnection {
  readonly serial = nextConnSerial++;
  socket!: net.Socket;
  handshake!: ServerHandshake;
  /** Capabilities negotiated with the server. */
  caps = 0;
  mariaCaps = 0;
  threadId = 0;
  closed = false;
  sink: BackendSink | null = null;
  /** Session variables this connection holds at a non-default value (name → value as the tracker reports). */
  vars = new Map<string, string>();
  schema: string | null = null;
  multiStatements = false;
  /** User variables set on this connection, by name, and whose they are. */
  userVars = new Set<string>();
  userVarOwner: unknown = null;
  /** LAST_INSERT_ID() value as last seen on this connection. */
  lastInsertId: number | bigint = 0;
  /** Value of pseudo_thread_id (what CONNECTION_ID() returns) when the proxy set it, else 0. */
  pseudoThreadId = 0;
  /** The session that ran the last statement here, and the state version it applied. */
  lastSession: unknown = null;
  /**
   * The proxy ran a command of its own since the last client statement: ROW_COUNT() (and the like)
   * now describe that command, not the client's statement.
   */
  internalSinceClient = false;
  /**
   * The session whose FOUND_ROWS() value this connection's server session holds: set by a client
   * statement that returned a result set (or the proxy's replay of the value), kept by one that did
   * not (SET, DML: they leave FOUND_ROWS() alone), cleared by the proxy's own commands. Not the same
   * as lastSession: a session whose SET runs on a connection another session's SELECT used last
   * becomes its lastSession, while FOUND_ROWS() there is still the other session's.
   */
  foundRowsOwner: unknown = null;
  appliedVersion = -1;
  /** The session whose statement left warnings/errors in this connection's diagnostics area, if any. */
  diagOwner: unknown = null;
  /** @@character_set_database / @@collation_database are the server's defaults, not the schema's (only with a schema). */
  dbCharsetDefault = false;
  /** Set when a client statement may have changed tracking settings; re-initialised before reuse. */
  needsReinit = false;
  stmts = new Map<string, BackendStmt>();
  /** Backend statement ids to close once the connection is back in the pool (it was busy when they were orphaned). */
  pendingStmtCloses: number[] | null = null;
  lastUsed = Date.now();
  /** The user's (tenant's) share of the backend this connection is leased under (null: in the pool). */
  share: LeaseShare | null = null;
  /** Inactivity timeout armed on the socket now (0: none). */
  private timeoutMs = 0;
  /** Opaque owner pool (set by the pool). */
  pool: unknown = null;
  /** The backend account this connection is logged in as right now (changes with {@link changeUser}). */
  account: string;
  private closeListeners: ((err: Error | null) => void)[] = [];
  /** Scramble of the initial handshake and the auth plugin last used (for COM_CHANGE_USER). */
  private nonce: Buffer = Buffer.alloc(0);
  private authPlugin = 'mysql_native_password';

  constructor(readonly cfg: BackendConfig, readonly profileCaps: number, readonly collation: number, readonly extMeta: boolean) {
    this.account = cfg.user;
  }

  private authToken(plugin: string, nonce: Buffer): Buffer {
    if (plugin === 'mysql_native_password') return nativeToken(this.cfg.password, nonce);
    if (plugin === 'caching_sha2_password') return this.cfg.password === '' ? Buffer.alloc(0) : sha2Token(this.cfg.password, nonce);
    if (plugin === 'mysql_clear_password') return Buffer.from(this.cfg.password + '\0');
    throw new BackendConnectError(`backend asks for unsupported auth plugin '${plugin}'`);
  }

  /** Connects and authenticates. Rejects with BackendConnectError. */
  connect(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // Reads go into one reused buffer (onread) instead of a new Buffer and a stream 'data' event
      // per read: a point select is two reads and two writes, so per-read overhead is a large share.
      const sock = net.connect({ host: this.cfg.host, port: this.cfg.port, onread: { buffer: this.nextReadBuffer, callback: this.onRead } });
      this.socket = sock;
      sock.setNoDelay(true);
      const framer = new Framer(1 << 24);
      let step: 'handshake' | 'auth' = 'handshake';
      let plugin = '';
      let nonce: Buffer = Buffer.alloc(0);
      let seq = 0;
      let settled = false;
      const timer = setTimeout(() => fail(new BackendConnectError(`timed out after ${this.cfg.connectTimeoutMs} ms connecting to ${this.cfg.host}:${this.cfg.port}`)), this.cfg.connectTimeoutMs);
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.destroy();
        this.closed = true;
        reject(e instanceof BackendConnectError ? e : new BackendConnectError(e.message));
      };
      const send = (w: PacketWriter) => {
        seq = (seq + 1) & 0xff;
        sock.write(w.finish(seq));
      };
      const authResponse = (p: string, n: Buffer): Buffer => this.authToken(p, n);
      const onData = (chunk: Buffer) => {
        try {
          framer.push(Buffer.from(chunk)); // the framer keeps views across reads
          for (let f = framer.next(); f; f = framer.next()) {
            seq = f.seq;
            const p = f.payload;
            if (step === 'handshake') {
              this.handshake = parseServerHandshake(p);
              const h = this.handshake;
              this.threadId = h.connectionId;
              nonce = h.nonce;
              plugin = h.authPlugin || 'mysql_native_password';
              const want = Cap.PROTOCOL_41 | Cap.SECURE_CONNECTION | Cap.PLUGIN_AUTH | Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA |
                Cap.LONG_FLAG | Cap.TRANSACTIONS | Cap.SESSION_TRACK |
                Cap.LOCAL_FILES | Cap.CONNECT_ATTRS | Cap.INTERACTIVE | this.profileCaps;
              this.caps = (want & h.capabilities) >>> 0;
              this.mariaCaps = this.extMeta ? h.mariaCaps & MariaCap.EXTENDED_METADATA : 0;
              if (!(h.capabilities & Cap.LONG_PASSWORD) && this.mariaCaps === 0) this.caps |= Cap.LONG_PASSWORD;
              if (h.capabilities & Cap.LONG_PASSWORD) this.caps |= Cap.LONG_PASSWORD;
              step = 'auth';
              this.nonce = nonce;
              this.authPlugin = plugin;
              send(buildHandshakeResponse({
                capabilities: this.caps, mariaCaps: this.mariaCaps, collation: this.collation, user: this.cfg.user,
                authResponse: authResponse(plugin, nonce), database: null, authPlugin: plugin,
                attrs: { _client_name: 'tenantgate', program_name: 'tenantgate' },
              }));
              continue;
            }
            const t = p[0];
            if (t === 0x00) {
              settled = true;
              clearTimeout(timer);
              this.readHandler = null;
              sock.removeListener('error', fail);
              sock.removeListener('close', onEarlyClose);
              this.attach();
              resolve();
              return;
            }
            if (t === 0xff) {
              const e = parseErrPayload(p);
              fail(new BackendConnectError(`backend ${this.cfg.name} refused login: ${e.errno} (${e.sqlState}) ${e.message}`, e.errno, e));
              return;
            }
            if (t === 0xfe) {
              const sw = parseAuthSwitch(p);
              plugin = sw.plugin;
              nonce = sw.data;
              this.authPlugin = plugin;
              send(new PacketWriter(32).bytes(authResponse(plugin, nonce)));
              continue;
            }
            if (t === 0x01 && plugin === 'caching_sha2_password') {
              if (p[1] === 0x03) continue; // fast auth ok; OK follows
              if (p[1] === 0x04) {
                send(new PacketWriter(4).u8(0x02)); // request the server's public key
                continue;
              }
              const pem = p.subarray(1).toString('latin1');
              const enc = crypto.publicEncrypt({ key: pem, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING }, xorPassword(this.cfg.password, nonce));
              send(new PacketWriter(enc.length).bytes(enc));
              continue;
            }
            fail(new BackendConnectError(`unexpected packet 0x${t.toString(16)} during backend login`));
            return;
          }
        } catch (e) {
          fail(e as Error);
        }
      };
      const onEarlyClose = () => fail(new BackendConnectError(`connection to ${this.cfg.host}:${this.cfg.port} closed during login`));
      this.readHandler = onData;
      sock.on('error', fail);
      sock.on('close', onEarlyClose);
    });
  }

  private readBuf: Buffer | null = null;
  /** Reads during login (copied: login keeps bytes across reads); null once logged in. */
  private readHandler: ((chunk: Buffer) => void) | null = null;
  private attached = false;

  /** The buffer for the next read: the same one unless a sink kept a reference to the last read. */
  private nextReadBuffer = (): Buffer => (this.readBuf ??= Buffer.allocUnsafe(READ_BUFFER_SIZE));

  /** onread callback; returns true (false would pause the socket, which only backpressure does). */
  private onRead = (n: number, buf: Uint8Array): boolean => {
    const chunk = (buf as Buffer).subarray(0, n);
    const h = this.readHandler;
    if (h !== null) {
      h(chunk);
      return true;
    }
    if (!this.attached || this.closed) return true;
    const s = this.sink;
    if (s) {
      if (s.onBackendData(chunk) === true) this.readBuf = null;
    } else this.destroy(new Error('unsolicited data from backend'));
    return true;
  };

  private attach(): void {
    this.socket.on('timeout', () => this.destroy(new BackendTimeoutError(`backend ${this.cfg.name} sent nothing for ${this.timeoutMs} ms`)));
    this.attached = true;
    this.socket.on('error', (e) => this.destroy(e));
    this.socket.on('close', () => this.destroy(null));
  }

  onClose(fn: (err: Error | null) => void): void {
    this.closeListeners.push(fn);
  }

  /** Closes the socket; the current sink and close listeners are told once. */
  destroy(err: Error | null = null): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    const s = this.sink;
    this.sink = null;
    if (s) s.onBackendClose(err);
    for (const fn of this.closeListeners) fn(err);
  }

  /** Graceful COM_QUIT. */
  quit(): void {
    if (this.closed) return;
    try {
      this.socket.end(Buffer.from([1, 0, 0, 0, Com.QUIT]));
    } catch {
      /* already gone */
    }
    this.destroy(null);
  }

  /**
   * Writes COM_STMT_CLOSE for the statements queued while the connection was busy. COM_STMT_CLOSE
   * has no response, so this is safe at any command boundary (the pool calls it on release).
   */
  flushStmtCloses(): void {
    const ids = this.pendingStmtCloses;
    if (ids === null) return;
    this.pendingStmtCloses = null;
    if (this.closed) return;
    for (const id of ids) this.socket.write(Buffer.from([5, 0, 0, 0, Com.STMT_CLOSE, id & 0xff, (id >>> 8) & 0xff, (id >>> 16) & 0xff, (id >>> 24) & 0xff]));
  }

  /** Sends a command the proxy issues on its own account and decodes the whole response. */
  command(payload: Buffer | PacketWriter, kind: ResponseKind): Promise<InternalResult> {
    return new Promise<InternalResult>((resolve, reject) => {
      if (this.closed) {
        reject(new Error('backend connection closed'));
        return;
      }
      const bytes = payload instanceof PacketWriter ? payload.finish(0) : new PacketWriter(payload.length).bytes(payload).finish(0);
      this.internalSinceClient = true;
      // A prepare or an OK-only command (INIT_DB, SET_OPTION, PING, ...) leaves FOUND_ROWS() alone.
      if (kind === 'query') this.foundRowsOwner = null;
      if (kind === 'none') {
        this.socket.write(bytes);
        resolve({ ok: null, err: null, columns: [], rows: [], rawColumns: [], rawRows: [], status: 0, warnings: 0, prepare: null });
        return;
      }
      const parser = new InternalResponseParser(kind, this.caps, this.mariaCaps !== 0);
      this.sink = {
        onBackendData: (chunk) => {
          let res: InternalResult | null;
          try {
            res = parser.push(Buffer.from(chunk)); // the parser's framer keeps views across reads
          } catch (e) {
            this.sink = null;
            this.destroy(e as Error);
            reject(e);
            return;
          }
          if (res) {
            this.sink = null;
            resolve(res);
          }
        },
        onBackendClose: (err) => reject(err ?? new Error('backend connection closed')),
      };
      this.socket.write(bytes);
    });
  }

  /**
   * Arms (or, with 0, disarms) an inactivity timeout: when the backend sends nothing for `ms`
   * while it is armed, the connection is destroyed with a BackendTimeoutError and its sink told.
   */
  armTimeout(ms: number): void {
    if (ms === this.timeoutMs) return;
    this.timeoutMs = ms;
    this.socket.setTimeout(ms);
  }

  /** COM_PING answered within `timeoutMs`; a connection that does not answer is destroyed. */
  ping(timeoutMs: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    this.armTimeout(timeoutMs);
    return this.command(Buffer.from([Com.PING]), 'ok').then(
      (r) => {
        this.armTimeout(0);
        return r.err === null;
      },
      () => false,
    );
  }

  // ---- session state this connection carries. Only these methods change it. ----------------

  /** The server reported (or the proxy selected) `schema` as this connection's current schema. */
  noteSchema(schema: string | null): void {
    this.schema = schema;
    this.dbCharsetDefault = false;
  }

  /** The proxy set @@character_set_database / @@collation_database to the server's defaults (see SessionState.dbCharsetDefault). */
  noteDbCharsetDefault(): void {
    this.dbCharsetDefault = true;
  }

  /** The server reported a session variable's new value; kept only while it differs from `defaults`. */
  noteVar(name: string, value: string, defaults: Map<string, string> | null): void {
    const def = defaults ? defaults.get(name) : undefined;
    if (def !== undefined && def === value) this.vars.delete(name);
    else this.vars.set(name, value);
  }

  noteLastInsertId(id: number | bigint): void {
    this.lastInsertId = id;
  }

  /** A client statement may have changed session tracking: re-initialise before the next use. */
  markNeedsReinit(): void {
    this.needsReinit = true;
  }

  /** `owner` ran a statement here with its state at `version`. */
  noteApplied(owner: unknown, version: number): void {
    this.lastSession = owner;
    this.appliedVersion = version;
  }

  /** Whose warnings/errors the diagnostics area holds (null: clean). */
  noteDiagOwner(owner: unknown): void {
    this.diagOwner = owner;
  }

  /** User variables `names` were set here by the session marked `owner`. */
  noteUserVars(names: Iterable<string>, owner: unknown): void {
    for (const n of names) this.userVars.add(n);
    this.userVarOwner = owner;
  }

  /**
   * A replay SET ran: the connection now has exactly `vars`; the owner's user variables `userVars`
   * are here (another session's were dropped by a reset before); pseudo_thread_id set if non-zero.
   */
  noteReplaySet(vars: Map<string, string>, userVars: Iterable<string> | null, owner: unknown, pseudoThreadId: number): void {
    this.vars = new Map(vars);
    if (userVars) this.noteUserVars(userVars, owner);
    if (pseudoThreadId !== 0) this.pseudoThreadId = pseudoThreadId;
  }

  /** Closes the server-side statement cached under `key` (COM_STMT_CLOSE has no response). */
  closeStatement(key: string): void {
    const bs = this.stmts.get(key);
    if (!bs) return;
    this.stmts.delete(key);
    if (!this.closed) this.socket.write(new PacketWriter(8).u8(Com.STMT_CLOSE).u32(bs.id).finish(0));
  }

  /** COM_INIT_DB; resolves with the server's ERR, if any. */
  async initDb(schema: string): Promise<ErrPacket | null> {
    const r = await this.command(new PacketWriter(schema.length + 8).u8(Com.INIT_DB).string(schema), 'ok');
    if (!r.err) {
      this.schema = schema;
      this.dbCharsetDefault = false;
    }
    return r.err;
  }

  /** COM_SET_OPTION for multi-statements on or off. */
  async setMultiStatements(multi: boolean): Promise<void> {
    await this.command(new PacketWriter(4).u8(Com.SET_OPTION).u16(multi ? 0 : 1), 'ok');
    this.multiStatements = multi;
  }

  /** Runs the proxy's initialisation SQL again (after a client changed tracking settings). */
  async reinit(initSql: string): Promise<void> {
    await this.query(initSql);
    this.needsReinit = false;
  }

  /**
   * The server reset this connection's session (COM_RESET_CONNECTION or COM_CHANGE_USER): variables,
   * user variables, prepared statements (so no close is still owed), LAST_INSERT_ID, pseudo_thread_id,
   * diagnostics; the schema too unless `keepSchema`. Nothing of any session is left on it.
   */
  private forgetServerSession(keepSchema: boolean): void {
    this.vars.clear();
    this.userVars.clear();
    this.userVarOwner = null;
    this.stmts.clear();
    this.pendingStmtCloses = null;
    if (!keepSchema) this.schema = null;
    // the server's database character set now (resetSession selects the schema again)
    this.dbCharsetDefault = keepSchema && this.schema !== null;
    this.lastInsertId = 0;
    this.pseudoThreadId = 0;
    this.needsReinit = false;
    this.lastSession = null;
    this.appliedVersion = -1;
    this.diagOwner = null;
    this.foundRowsOwner = null;
  }

  /**
   * COM_RESET_CONNECTION, then the proxy's initialisation: no variables, statements or owner remain
   * (the schema does). Rejects with BackendResetError when the server refuses the reset or the
   * schema cannot be selected again.
   */
  async resetSession(initSql: string): Promise<void> {
    const r = await this.command(Buffer.from([Com.RESET_CONNECTION]), 'ok');
    if (r.err) throw new BackendResetError(`COM_RESET_CONNECTION failed: ${r.err.errno} ${r.err.message}`);
    // MariaDB keeps the current schema across COM_RESET_CONNECTION: so does the record of it (a
    // session without a schema that borrows this connection next must see it and reset it).
    this.forgetServerSession(true);
    await this.query(this.profileInitSql(initSql));
    // ... but not the schema's character set: @@character_set_database / @@collation_database fall
    // back to the server's (what CREATE TABLE, LOAD DATA and the CLI's status then use). Selecting the
    // schema again restores them.
    const schema = this.schema;
    if (schema !== null) {
      const e = await this.initDb(schema);
      if (e) throw new BackendResetError(`COM_INIT_DB after COM_RESET_CONNECTION failed: ${e.errno} ${e.message}`);
    }
  }

  /**
   * COM_CHANGE_USER to the same account without a database, then the proxy's initialisation: like
   * resetSession, and the connection has no current schema afterwards (COM_RESET_CONNECTION keeps
   * the schema on MariaDB). Rejects with BackendResetError when the server refuses.
   */
  async resetToNoSchema(initSql: string): Promise<void> {
    const w = new PacketWriter(64).u8(Com.CHANGE_USER).nulString(this.cfg.user);
    const token = this.authToken(this.authPlugin, this.nonce);
    if (this.caps & Cap.SECURE_CONNECTION) w.u8(token.length).bytes(token);
    else w.bytes(token).u8(0);
    w.nulString('').u16(this.collation);
    if (this.caps & Cap.PLUGIN_AUTH) w.nulString(this.authPlugin);
    if (this.caps & Cap.CONNECT_ATTRS) {
      const a = new PacketWriter(64).lenencString('_client_name').lenencString('tenantgate').lenencString('program_name').lenencString('tenantgate');
      const attrs = a.finish(0).subarray(4);
      w.lenencBytes(attrs);
    }
    await new Promise<void>((resolve, reject) => {
      if (this.closed) return reject(new BackendResetError('backend connection closed'));
      const framer = new Framer(1 << 24);
      let seq = 0;
      const done = (e: Error | null) => {
        this.sink = null;
        if (e) {
          this.destroy(e);
          reject(e);
        } else resolve();
      };
      this.sink = {
        onBackendData: (chunk) => {
          try {
            framer.push(chunk);
            for (let f = framer.next(); f; f = framer.next()) {
              seq = f.seq;
              const p = f.payload;
              if (p[0] === 0x00) return done(null);
              if (p[0] === 0xff) {
                const e = parseErrPayload(p);
                return done(new BackendResetError(`COM_CHANGE_USER failed: ${e.errno} ${e.message}`));
              }
              if (p[0] === 0xfe) {
                const sw = parseAuthSwitch(p);
                this.authPlugin = sw.plugin;
                this.nonce = sw.data;
                seq = (seq + 1) & 0xff;
                this.socket.write(new PacketWriter(32).bytes(this.authToken(sw.plugin, sw.data)).finish(seq));
                continue;
              }
              if (p[0] === 0x01 && p[1] === 0x03) continue; // caching_sha2 fast auth ok; OK follows
              return done(new BackendResetError(`unexpected packet 0x${p[0].toString(16)} answering COM_CHANGE_USER`));
            }
          } catch (e) {
            done(e as Error);
          }
        },
        onBackendClose: (err) => reject(err ?? new BackendResetError('backend connection closed')),
      };
      this.socket.write(w.finish(0));
    });
    this.forgetServerSession(false);
    this.account = this.cfg.user;
    await this.query(this.profileInitSql(initSql));
  }

  /**
   * COM_CHANGE_USER to `user`: the server re-authenticates and resets the session (schema,
   * variables, temporary tables, prepared statements, user variables, locks), so the proxy's record
   * of this connection's state is cleared and its initialisation SQL runs again. Rejects with
   * BackendQueryError when the server refuses the account; the connection is then unusable.
   */
  async changeUser(user: string, password: string, initSql: string): Promise<void> {
    const token = nativeToken(password, this.nonce);
    const w = new PacketWriter(64 + user.length).u8(Com.CHANGE_USER).string(user).u8(0);
    if (this.caps & Cap.SECURE_CONNECTION) w.u8(token.length).bytes(token);
    else w.bytes(token).u8(0);
    w.u8(0).u16(this.collation);
    if (this.caps & Cap.PLUGIN_AUTH) w.string('mysql_native_password').u8(0);
    if (this.caps & Cap.CONNECT_ATTRS) {
      const a = new PacketWriter(64).lenencString('_client_name').lenencString('tenantgate').lenencString('program_name').lenencString('tenantgate');
      const attrs = a.finish(0).subarray(4);
      w.lenenc(attrs.length).bytes(attrs);
    }
    this.account = user;
    await new Promise<void>((resolve, reject) => {
      const framer = new Framer(1 << 24);
      const fail = (e: Error) => {
        this.sink = null;
        this.destroy(e);
        reject(e);
      };
      this.sink = {
        onBackendData: (chunk) => {
          try {
            framer.push(chunk);
            for (let f = framer.next(); f; f = framer.next()) {
              const p = f.payload;
              if (p[0] === 0x00) {
                this.sink = null;
                return resolve();
              }
              if (p[0] === 0xff) {
                const e = parseErrPayload(p);
                return fail(new BackendQueryError(e.errno, e.sqlState, `backend ${this.cfg.name} refused COM_CHANGE_USER to '${user}': ${e.message}`));
              }
              if (p[0] === 0xfe) {
                const sw = parseAuthSwitch(p);
                this.nonce = sw.data;
                let data: Buffer;
                if (sw.plugin === 'mysql_native_password') data = nativeToken(password, sw.data);
                else if (sw.plugin === 'mysql_clear_password') data = Buffer.from(password + '\0');
                else return fail(new BackendConnectError(`backend asks for unsupported auth plugin '${sw.plugin}' on COM_CHANGE_USER`));
                this.socket.write(new PacketWriter(32).bytes(data).finish((f.seq + 1) & 0xff));
                continue;
              }
              return fail(new BackendConnectError(`unexpected packet 0x${p[0].toString(16)} answering COM_CHANGE_USER`));
            }
          } catch (e) {
            fail(e as Error);
          }
        },
        onBackendClose: (err) => reject(err ?? new Error('backend connection closed during COM_CHANGE_USER')),
      };
      this.socket.write(w.finish(0));
    });
    this.forgetServerSession(false);
    // multiStatements is a client capability flag on the server side, which COM_CHANGE_USER keeps.
    await this.query(this.profileInitSql(initSql));
  }

  /**
   * The initialisation after a reset (COM_RESET_CONNECTION, COM_CHANGE_USER): the server rebuilds
   * the session variables from the global values and so drops the IGNORE_SPACE that the login's
   * CLIENT_IGNORE_SPACE added to sql_mode; re-add it, or the connection no longer matches its pool's
   * profile (and every session borrowing it would parse `COUNT (*)` differently).
   */
  private profileInitSql(initSql: string): string {
    if (!(this.profileCaps & Cap.IGNORE_SPACE)) return initSql;
    return `${initSql}, sql_mode=CONCAT_WS(',', NULLIF(@@session.sql_mode, ''), 'IGNORE_SPACE')`;
  }

  /** Runs an internal text query (a Buffer is sent byte for byte); rejects on ERR with the server's message. */
  async query(sql: string | Buffer): Promise<InternalResult> {
    const w = new PacketWriter(sql.length + 8).u8(Com.QUERY);
    if (typeof sql === 'string') w.string(sql);
    else w.bytes(sql);
    const r = await this.command(w, 'query');
    if (r.err) throw new BackendQueryError(r.err.errno, r.err.sqlState, r.err.message);
    return r;
  }
}

/** An internal query the backend answered with ERR. */
export class BackendQueryError extends Error {
  readonly code = 'BACKEND_QUERY';
  constructor(readonly errno: number, readonly sqlState: string, message: string) {
    super(message);
  }
}

/** The backend sent nothing for longer than an armed timeout. */
export class BackendTimeoutError extends Error {
  readonly code = 'BACKEND_TIMEOUT';
}

/** COM_RESET_CONNECTION failed: the connection's state is unknown and it must be dropped. */
export class BackendResetError extends Error {
  readonly code = 'BACKEND_RESET';
}

export { ProtocolError };
