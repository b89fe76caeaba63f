import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import pino, { Logger } from 'pino';
import type { Config, UserConfig } from '../config/types';
import { Cap, MariaCap, PROXY_CAPABILITIES, PROXY_MARIADB_CAPABILITIES, DEFAULT_COLLATION_ID } from '../protocol/constants';
import { buildErr } from '../protocol/ok-err';
import { BackendConnection } from '../backend/backend-connection';
import type { InternalResult } from '../backend/internal-exchange';
import { Backend, BackendPool, setConnectionInit } from '../backend/pool';
import { ClientSession } from './client-session';
import { BufferBudget, resumeWithinBudget } from './client-conn';
import type { ProxyContext } from './proxy-context';
import { TRACKING_INIT_SQL } from './session-vars';
import { Err } from '../errors';
import * as http from 'node:http';
import { Metrics } from '../metrics/metrics';
import { startAdminServer } from '../admin/admin-server';
import { installSafetyNet, NetOwner, removeSafetyNet } from './safety-net';
import { LoginThrottle } from './login-throttle';
import { nativeHash, sha2CryptHash } from '../protocol/auth';
import { PlanCache } from '../classify/plan-cache';
import { LiteralFreeIndex } from '../classify/literal-free-key';
import type { CachedDecision } from '../routing/route';
import { buildRoutingSnapshot, type RoutingSnapshot } from '../routing/snapshot';
import { resolveLoginUser } from '../routing/tenant';
import { monitorSettings, Topology } from '../backend/topology';
import { MemoryRywStore, type RywStore } from '../backend/ryw-store';
import type { IdentityStats } from './proxy-context';

/** Options for {@link Proxy}. */
export interface ProxyOptions {
  logger?: Logger;
  /** Health-monitor probe interval (tests use a short one). */
  monitorIntervalMs?: number;
  /** Test-only: see ProxyContext.unsafeSkipProxyIsolation. */
  unsafeSkipProxyIsolation?: boolean;
}

/** Counters for tests and the admin endpoint. */
export interface ProxyStats {
  clientSessions: number;
  /** Identity switches (COM_CHANGE_USER to a tenant's account) vs borrowed connections already logged in as it. */
  identity: IdentityStats;
  backends: { name: string; open: number; idle: number; inUse: number; pending: number }[];
}

/** How often session timeouts are checked: a timeout fires up to this much late. */
const SWEEP_MS = 250;

/** Announced when no backend could be asked for its version at start. */
const FALLBACK_VERSION = '5.5.5-10.11.0-MariaDB-tenantgate';

/**
 * The proxy: listens for MySQL clients, authenticates them against the configured users, and
 * serves their statements over pooled backend connections.
 */
export class Proxy implements ProxyContext, NetOwner {
  readonly log: Logger;
  readonly users = new Map<string, UserConfig>();
  readonly backends = new Map<string, Backend>();
  readonly sessions = new Map<number, ClientSession>();
  readonly handshaking = new Set<ClientSession>();
  readonly clientBuffer: BufferBudget;
  readonly loginThrottle: LoginThrottle;
  readonly dummyUser: UserConfig;
  private sweeper: NodeJS.Timeout | null = null;
  serverVersion = FALLBACK_VERSION;
  serverCaps = PROXY_CAPABILITIES;
  serverMariaCaps = 0;
  serverCollation = DEFAULT_COLLATION_ID;
  tlsContext: tls.SecureContext | null = null;
  rsa: { publicPem: string; privateKey: crypto.KeyObject } | null = null;
  readonly metrics: Metrics;
  readonly routing: RoutingSnapshot;
  readonly planCache: PlanCache<CachedDecision>;
  readonly fastPlans: LiteralFreeIndex;
  readonly topology: Topology | null;
  readonly ryw: RywStore = new MemoryRywStore();
  readonly inFlight = new Map<string, number>();
  readonly identity: IdentityStats = { hits: 0, switches: 0, switchMs: 0 };
  readonly unsafeSkipProxyIsolation: boolean;
  private admin: http.Server | null = null;
  private server: net.Server | null = null;
  private nextId = 1;
  private boundPort = 0;

  constructor(readonly config: Config, opts: ProxyOptions = {}) {
    this.log = opts.logger ?? pino({ level: config.log.level });
    for (const u of config.users) this.users.set(u.name, u);
    for (const b of config.backends) this.backends.set(b.name, new Backend(b));
    setConnectionInit(initConnection);
    this.clientBuffer = { bytes: 0, max: config.server.maxClientBufferBytes, paused: new Set() };
    this.loginThrottle = new LoginThrottle(config.server.loginThrottle);
    const secret = crypto.randomBytes(24).toString('base64');
    this.dummyUser = { name: '', nativeHash: nativeHash(secret), sha2Hash: sha2CryptHash(secret), backend: '', requireTls: false };
    this.metrics = new Metrics({ sessions: () => this.sessions.size, backends: () => this.stats().backends });
    this.routing = buildRoutingSnapshot(config, 1);
    this.planCache = new PlanCache(config.planCache.size);
    this.fastPlans = new LiteralFreeIndex(config.planCache.size);
    this.topology = config.clusters.length > 0 ? new Topology(config.clusters, config.backends, monitorSettings(opts.monitorIntervalMs ? { intervalMs: opts.monitorIntervalMs } : {})) : null;
    if (this.topology) {
      this.topology.onEvent((e) => this.log.info({ cluster: e.cluster, backend: e.backend, role: e.role, from: e.from, to: e.to, reason: e.reason, lagS: e.lagS }, 'backend health changed'));
    }
    this.unsafeSkipProxyIsolation = opts.unsafeSkipProxyIsolation === true;
    this.metrics = new Metrics({ sessions: () => this.sessions.size, backends: () => this.stats().backends, identity: () => this.identity });
  }

  /** Port of the admin (metrics/health) listener, 0 when none is configured. */
  get adminPort(): number {
    const a = this.admin?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  get port(): number {
    return this.boundPort;
  }

  get host(): string {
    return this.config.listen.host;
  }

  resolveUser(login: string): UserConfig | undefined {
    const direct = this.users.get(login);
    if (direct || this.config.tenants.length === 0) return direct;
    const name = resolveLoginUser(login, this.routing);
    return name === null ? undefined : this.users.get(name);
  }

  maxPrepared(conn: BackendConnection): number {
    return conn.cfg.maxPreparedPerConnection;
  }

  /** An error escaped every session's handling and no session could be named: a bug, kept visible. */
  onStrayError(e: unknown, origin: string): void {
    this.metrics.internalErrors.inc({ where: origin === 'unhandledRejection' ? 'unhandled_rejection' : 'uncaught_exception' });
    this.log.error({ err: e instanceof Error ? e.stack : String(e), origin }, 'uncaught error caught by the safety net; the process keeps running');
  }

  /** Probes the first backend for the handshake to mirror, loads TLS and RSA keys, and listens. */
  async start(): Promise<void> {
    installSafetyNet(this);
    await this.probeBackend();
    const t = this.config.tls;
    if (t) {
      this.tlsContext = tls.createSecureContext({
        cert: fs.readFileSync(t.certFile),
        key: fs.readFileSync(t.keyFile),
        ca: t.caFile ? fs.readFileSync(t.caFile) : undefined,
      });
      this.serverCaps |= Cap.SSL;
    } else {
      this.serverCaps &= ~Cap.SSL;
    }
    if (!this.config.server.compression) this.serverCaps &= ~Cap.COMPRESS;
    if (this.config.server.rsaKeyExchange) this.rsa = loadRsa(this.config.server.rsaPrivateKeyFile);
    const server = net.createServer({ noDelay: true }, (s) => this.accept(s));
    this.server = server;
    server.maxConnections = this.config.server.maxClientConnections + this.config.server.maxHandshakeConnections + 100;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.listen.port, this.config.listen.host, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.log.error({ err: e.message }, 'listener error'));
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
    this.topology?.start();
    this.boundPort = (server.address() as net.AddressInfo).port;
    const adm = this.config.admin;
    if (adm) {
      this.admin = await startAdminServer(adm.host, adm.port, this.metrics, () => ({ status: 'ok', ...this.stats() }), this.log);
    }
    this.log.info({ host: this.host, port: this.boundPort, version: this.serverVersion }, 'tenantgate listening');
  }

  private async probeBackend(): Promise<void> {
    const first = this.config.backends[0];
    const conn = new BackendConnection(first, 0, DEFAULT_COLLATION_ID, false);
    try {
      await conn.connect();
      const h = conn.handshake;
      this.serverVersion = this.config.server.version ?? h.serverVersion;
      this.serverCollation = h.collation || DEFAULT_COLLATION_ID;
      this.serverCaps = (PROXY_CAPABILITIES & h.capabilities) | Cap.PLUGIN_AUTH | Cap.SECURE_CONNECTION | Cap.PROTOCOL_41;
      // Keep these even if the backend lacks them: the proxy implements them itself.
      this.serverCaps |= Cap.DEPRECATE_EOF | Cap.CONNECT_ATTRS | Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA | Cap.COMPRESS;
      const b = this.backends.get(first.name) as Backend;
      b.serverVersion = h.serverVersion;
      b.serverCaps = h.capabilities;
      b.serverMariaCaps = h.mariaCaps;
      b.serverCollation = h.collation;
      if (!(h.capabilities & Cap.LONG_PASSWORD)) {
        // A MariaDB server: mirror its way of announcing extended capabilities.
        this.serverCaps &= ~Cap.LONG_PASSWORD;
        this.serverMariaCaps = this.config.server.mariadbExtendedCapabilities ? h.mariaCaps & PROXY_MARIADB_CAPABILITIES : 0;
      }
      conn.quit();
    } catch (e) {
      this.serverVersion = this.config.server.version ?? FALLBACK_VERSION;
      this.serverCaps &= ~Cap.LONG_PASSWORD;
      this.serverMariaCaps = this.config.server.mariadbExtendedCapabilities ? MariaCap.EXTENDED_METADATA : 0;
      this.log.warn({ backend: first.name, err: (e as Error).message }, 'backend not reachable at start; announcing a default handshake');
    }
  }

  /**
   * Timeouts of all sessions in one pass instead of a timer per session (10,000 idle sessions should
   * not each carry one): login timeout, wait_timeout, read timeout of an unfinished packet. Also
   * resumes connections paused for the client buffer budget.
   */
  private sweep(): void {
    const now = Date.now();
    for (const s of this.sessions.values()) {
      try {
        s.checkTimeouts(now);
      } catch (e) {
        s.fault(e, 'timeouts');
      }
    }
    resumeWithinBudget(this.clientBuffer);
  }

  /** Logged-in sessions (what max_client_connections bounds). */
  get loggedIn(): number {
    return this.sessions.size - this.handshaking.size;
  }

  private accept(socket: net.Socket): void {
    socket.on('error', () => {});
    const srv = this.config.server;
    if (this.loggedIn >= srv.maxClientConnections) {
      socket.end(buildErr(Err.TOO_MANY_CONNECTIONS.errno, Err.TOO_MANY_CONNECTIONS.sqlState, 'Too many connections').finish(0));
      return;
    }
    // Unauthenticated connections have their own, smaller budget. When it is full the oldest one makes
    // room: a real client finishes its handshake in milliseconds, so idle or slow sockets cannot lock it out.
    if (this.handshaking.size >= srv.maxHandshakeConnections) {
      const oldest = this.handshaking.values().next().value as ClientSession;
      this.metrics.errors.inc({ kind: 'handshake_evicted' });
      oldest.evictUnauthenticated();
    }
    let id = this.nextId;
    while (this.sessions.has(id)) id = id >= 0x7fffffff ? 1 : id + 1;
    this.nextId = id >= 0x7fffffff ? 1 : id + 1;
    const s = new ClientSession(this, socket, id);
    this.sessions.set(id, s);
  }

  /**
   * KILL QUERY for a backend connection's thread, over a short-lived connection of its own so that
   * it works even when every pooled connection is busy.
   */
  async killBackendThread(conn: BackendConnection): Promise<void> {
    const other = new BackendConnection(conn.cfg, 0, DEFAULT_COLLATION_ID, false);
    try {
      await other.connect();
      await other.query(`KILL QUERY ${conn.threadId}`);
    } catch (e) {
      this.log.debug({ err: (e as Error).message, thread: conn.threadId }, 'KILL QUERY on backend failed');
    } finally {
      other.quit();
    }
  }

  async queryBeside(conn: BackendConnection, sql: string): Promise<InternalResult> {
    const other = new BackendConnection(conn.cfg, 0, DEFAULT_COLLATION_ID, false);
    try {
      await other.connect();
      return await other.query(sql);
    } finally {
      other.quit();
    }
  }

  stats(): ProxyStats {
    return { clientSessions: this.sessions.size, identity: { ...this.identity }, backends: [...this.backends.values()].map((b) => b.stats()) };
  }

  /** Stops listening, closes client sessions, and closes backend pools. */
  async stop(): Promise<void> {
    removeSafetyNet(this);
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    const server = this.server;
    this.server = null;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    const admin = this.admin;
    this.admin = null;
    if (admin) {
      admin.closeAllConnections();
      admin.close();
    }
    this.topology?.stop();
    for (const s of [...this.sessions.values()]) s.close('proxy stopping');
    await closed;
    await Promise.all([...this.backends.values()].map((b) => b.close()));
  }
}

/** Minimum interval between two loads of a backend's routine definitions at connection time. */
const ROUTINES_RELOAD_MS = 10_000;

/** Learns fresh-connection defaults and collations once, then turns on session tracking. */
async function initConnection(conn: BackendConnection, pool: BackendPool): Promise<void> {
  if (!pool.defaults) {
    const r = await conn.query('SELECT LOWER(VARIABLE_NAME), VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES');
    const m = new Map<string, string>();
    for (const row of r.rows) if (row[0]) m.set(row[0].toString('utf8'), row[1] ? row[1].toString('utf8') : '');
    pool.defaults = m;
  }
  const b = pool.backend;
  if (!b.collations) {
    const r = await conn.query('SELECT ID, COLLATION_NAME, CHARACTER_SET_NAME FROM information_schema.COLLATIONS');
    const m = new Map<number, { name: string; charset: string }>();
    for (const row of r.rows) {
      if (row[0] && row[1] && row[2]) m.set(Number(row[0].toString()), { name: row[1].toString(), charset: row[2].toString() });
    }
    b.collations = m;
  }
  // Reloaded when a connection is made, at most every few seconds: the information_schema scans are not free.
  if (Date.now() - b.routinesLoadedAt > ROUTINES_RELOAD_MS) {
    // A failed load keeps what was known (and is retried with the next connection) rather than failing the connection.
    await b.loadRoutines(conn).catch((e: Error) => pool.backend.noteRoutinesLoadFailed(e));
  }
  if (b.waitTimeout < 0) {
    // The client-side wait_timeout defaults (the proxy's own backend sessions are interactive, so their session value is no guide).
    const r = await conn.query('SELECT @@global.wait_timeout, @@global.interactive_timeout');
    const row = r.rows[0] ?? [];
    b.waitTimeout = row[0] ? Number(row[0].toString()) : 0;
    b.interactiveTimeout = row[1] ? Number(row[1].toString()) : 0;
  }
  await conn.query(TRACKING_INIT_SQL);
}

function loadRsa(file: string | undefined): { publicPem: string; privateKey: crypto.KeyObject } {
  const privateKey = file
    ? crypto.createPrivateKey(fs.readFileSync(file))
    : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const publicPem = crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  return { publicPem, privateKey };
}
