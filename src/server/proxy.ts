import { IdleGc } from './idle-gc';
import { memoryReport } from './memory-report';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import pino, { Logger } from 'pino';
import type { BackendConfig, Config, UserConfig } from '../config/types';
import { PROXY_CAPABILITIES, DEFAULT_COLLATION_ID } from '../protocol/constants';
import { BackendConnection } from '../backend/backend-connection';
import type { InternalResult } from '../backend/internal-exchange';
import { Backend, setConnectionInit } from '../backend/pool';
import { ClientSession } from './client-session';
import type { BufferBudget } from './client-conn';
import { announcedCaps, zstdOffer } from './announced-caps';
import { installRawAccept, rawIoOff } from '../io/raw-io';
import { loadLaneNative } from '../io/lane-native';
import { LaneManager } from './lane-manager';
import type { ProxyContext } from './proxy-context';
import { initConnection } from './backend-init';
import type { RoutineWatch } from '../backend/routine-watch';
import * as http from 'node:http';
import { Metrics } from '../metrics/metrics';
import { AdminHost, startAdminServer } from '../admin/admin-server';
import { DigestStats } from '../metrics/digest-stats';
import { DigestKeys } from '../metrics/digest-keys';
import { redactConfig } from '../config/diff';
import type { AdminConfig } from '../config/types';
import type { ReloadResult } from '../config/store';
import { ConfigStore } from '../config/store';
import { installSafetyNet, NetOwner, removeSafetyNet } from './safety-net';
import { LoginThrottle } from './login-throttle';
import { nativeHash, sha2CryptHash } from '../protocol/auth';
import { PlanCache } from '../classify/plan-cache';
import { RouteCounts } from '../metrics/ops-collectors';
import { LiteralFreeIndex } from '../classify/literal-free-key';
import type { CachedDecision } from '../routing/route';
import { buildRoutingSnapshot, type RoutingSnapshot } from '../routing/snapshot';
import { resolveLoginUser } from '../routing/tenant';
import type { Topology } from '../backend/topology';
import { MemoryRywStore, type RywStore } from '../backend/ryw-store';
import type { IdentityStats } from './proxy-context';
import { killQuery } from './kill';
import { acceptClient } from './client-accept';
import { killBackendThread, queryBeside } from './beside-connection';
import { drainSessions } from './shutdown-drain';
import { proxyMetrics } from './proxy-metrics';
import { ProxyTimers } from './proxy-timers';
import { FALLBACK_VERSION, loadRsa, probeBackend } from './proxy-startup';
import { listSessions, readiness, statusView } from './admin-view';
import { applySnapshot, newTopology } from './reload-apply';
import { noteCommand } from './statement-stats';

/** Options for {@link Proxy}. */
export interface ProxyOptions {
  logger?: Logger;
  /** The config store to follow (reloads swap its snapshot); default: one holding `config`, without a file. */
  store?: ConfigStore;
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
  backends: { name: string; open: number; idle: number; inUse: number; pending: number; drained: boolean; failures: number; lastError: string | null }[];
}

/**
 * The proxy: listens for MySQL clients, authenticates them against the configured users, and
 * serves their statements over pooled backend connections.
 */
export class Proxy implements ProxyContext, NetOwner, AdminHost {
  readonly log: Logger;
  readonly users = new Map<string, UserConfig>();
  readonly backends = new Map<string, Backend>();
  /** Routine/trigger/view DDL watches of the backends in use (see backend/routine-watch.ts). */
  readonly routineWatches = new Map<Backend, RoutineWatch>();
  readonly sessions = new Map<number, ClientSession>();
  readonly handshaking = new Set<ClientSession>();
  readonly clientBuffer: BufferBudget;
  readonly loginThrottle: LoginThrottle;
  readonly dummyUser: UserConfig;
  /** Session timeout sweep, routine watch poll, idle GC (see proxy-timers.ts). */
  private readonly timers = new ProxyTimers();
  /** Gives memory back once load goes away (server.idle_gc_after_ms, see idle-gc.ts). */
  readonly idleGc = new IdleGc(() => this.config.server.idleGcAfterMs, (before, after, ms) =>
    this.log.debug({ heapTotalBefore: before.heapTotal, heapTotalAfter: after.heapTotal, heapUsedAfter: after.heapUsed, ms: Math.round(ms) }, 'idle gc'));
  serverVersion = FALLBACK_VERSION;
  serverCaps = PROXY_CAPABILITIES;
  serverMariaCaps = 0;
  serverCollation = DEFAULT_COLLATION_ID;
  tlsContext: tls.SecureContext | null = null;
  rawIo = false;
  lanes: LaneManager | null = null;
  rsa: { publicPem: string; privateKey: crypto.KeyObject } | null = null;
  readonly metrics: Metrics;
  /** Rebuilt on reload with the new config version (plans are cached per version). */
  routing: RoutingSnapshot;
  readonly planCache: PlanCache<CachedDecision>;
  readonly routes = new RouteCounts();
  readonly fastPlans: LiteralFreeIndex;
  /** Reconfigured on reload (monitors of unchanged backends keep running). */
  topology: Topology | null;
  readonly monitorIntervalMs: number | undefined;
  readonly ryw: RywStore = new MemoryRywStore();
  readonly inFlight = new Map<string, number>();
  readonly identity: IdentityStats = { hits: 0, switches: 0, switchMs: 0, userVarResets: 0, userVarResetMs: 0 };
  readonly unsafeSkipProxyIsolation: boolean;
  private admin: http.Server | null = null;
  private server: net.Server | null = null;
  /** The next client connection id to try (see client-accept.ts). */
  nextId = 1;
  private boundPort = 0;
  readonly store: ConfigStore;
  /** Backends dropped or replaced by a reload whose pools are still draining. */
  readonly retired = new Set<Backend>();
  private stopping = false;
  readonly startedAt = Date.now();
  /** Per (tenant, digest) statistics for GET /digests. */
  digestStats: DigestStats;
  /** Literal-free statement keys → their digest-statistics entries (no digest scan for a known shape). */
  readonly digestKeys = new DigestKeys(4096);
  /** Proxy user → tenant id, from the tenants' `users` lists (rebuilt on reload). */
  tenantByUser = new Map<string, string>();

  constructor(config: Config, opts: ProxyOptions = {}) {
    this.log = opts.logger ?? pino({ level: config.log.level });
    this.store = opts.store ?? new ConfigStore(null, { config }, this.log);
    config = this.store.current.config;
    for (const u of config.users) this.users.set(u.name, u);
    for (const b of config.backends) this.backends.set(b.name, this.newBackend(b));
    this.indexTenants(config);
    this.digestStats = new DigestStats(Math.max(1, config.digests.maxEntries));
    this.store.onSwap((next, _prev, diff) => applySnapshot(this, next, diff));
    this.store.onResult((r) => this.metrics.reloads.inc({ result: r }));
    setConnectionInit(initConnection);
    this.clientBuffer = { bytes: 0, max: config.server.maxClientBufferBytes, paused: new Set() };
    this.loginThrottle = new LoginThrottle(config.server.loginThrottle);
    const secret = crypto.randomBytes(24).toString('base64');
    this.dummyUser = { name: '', nativeHash: nativeHash(secret), sha2Hash: sha2CryptHash(secret), backend: '', requireTls: false };
    this.routing = buildRoutingSnapshot(config, this.store.current.version);
    this.monitorIntervalMs = opts.monitorIntervalMs;
    this.planCache = new PlanCache(config.planCache.size);
    this.fastPlans = new LiteralFreeIndex(config.planCache.size);
    this.topology = config.clusters.length > 0 ? newTopology(config, opts.monitorIntervalMs, this.log) : null;
    this.unsafeSkipProxyIsolation = opts.unsafeSkipProxyIsolation === true;
    this.metrics = proxyMetrics(this, config);
  }

  /** The current config snapshot; statements read it once, so a reload never splits one. */
  get config(): Config {
    return this.store.current.config;
  }

  get configVersion(): number {
    return this.store.current.version;
  }

  // ---- reload (tenantgate ops; keep this block together) -------------------------------------

  newBackend(cfg: BackendConfig): Backend {
    const b = new Backend(cfg);
    b.observer = this.backendObserver;
    b.reclaim = (pool, share) => this.lanes !== null && this.lanes.reclaim(pool, share);
    b.drained = this.drained?.has(cfg.name) ?? false;
    return b;
  }

  private readonly backendObserver = {
    connectFailed: (name: string) => this.metrics.connectFailures.inc({ backend: name }),
    acquireWaited: (name: string, seconds: number) => this.metrics.acquireWait.observe({ backend: name }, seconds),
  };

  indexTenants(cfg: Config): void {
    const m = new Map<string, string>();
    for (const t of cfg.tenants) for (const u of t.users) m.set(u, t.id);
    this.tenantByUser = m;
  }

  /** The tenant of a proxy user (user_map), or null. */
  tenantOf(user: string): string | null {
    return this.tenantByUser.get(user) ?? null;
  }

  noteCommand(s: ClientSession, payload: Buffer | null, ms: number, bytesIn: number, bytesOut: number, errClass: string, rows: number, now: number): void {
    noteCommand(this, s, payload, ms, bytesIn, bytesOut, errClass, rows, now);
  }

  retire(b: Backend): void {
    this.retired.add(b);
    b.close().then(
      () => this.retired.delete(b),
      () => this.retired.delete(b),
    );
  }

  // ---- admin API (AdminHost) ------------------------------------------------------------------

  adminConfig(): AdminConfig | undefined {
    return this.config.admin;
  }

  health(): object {
    return { status: 'ok', ...this.stats() };
  }

  ready(): { ready: boolean; reasons: string[] } {
    return readiness(this);
  }

  status(): object {
    return statusView(this);
  }

  listSessions(): object[] {
    return listSessions(this.sessions.values(), this.config);
  }

  killSession(id: number): boolean {
    const s = this.sessions.get(id);
    if (!s) return false;
    const close = () => s.close('killed through the admin API');
    killQuery(s).then(close, close);
    return true;
  }

  /** Names of drained backends (kept across reloads: a replaced backend stays drained). */
  readonly drained = new Set<string>();

  drainBackend(name: string, drained: boolean): boolean {
    const b = this.backends.get(name);
    if (!b) return false;
    b.drained = drained;
    if (drained) this.drained.add(name);
    else this.drained.delete(name);
    return true;
  }

  redactedConfig(): object {
    const snap = this.store.current;
    return { version: snap.version, appliedAt: snap.appliedAt, source: snap.source, config: redactConfig(snap.config) };
  }

  reload(source: string): ReloadResult {
    return this.store.reload(source);
  }

  rollback(version: number, source: string): ReloadResult {
    return this.store.rollback(version, source);
  }

  digests(q: { tenant?: string; sort?: string; limit?: number }): object {
    this.lanes?.fold();
    return this.digestStats.query(q);
  }

  resetDigests(): void {
    this.digestStats.reset();
  }

  // ---- end reload --------------------------------------------------------------------------------

  /** Port of the admin (metrics/health) listener, 0 when none is configured. */
  get adminPort(): number {
    const a = this.admin?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  /** True while the client listener is open. */
  get listening(): boolean {
    return this.server !== null;
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
    await probeBackend(this);
    const t = this.config.tls;
    if (t) {
      this.tlsContext = tls.createSecureContext({
        cert: fs.readFileSync(t.certFile),
        key: fs.readFileSync(t.keyFile),
        ca: t.caFile ? fs.readFileSync(t.caFile) : undefined,
      });
    }
    const z = zstdOffer(this.config.server);
    if (z.unavailable) this.log.warn({ reason: z.unavailable }, 'zstd compression is configured but not offered');
    this.serverCaps = announcedCaps(this.serverCaps, { tls: !!t, compression: this.config.server.compression, zstd: z.offer });
    if (this.config.server.rsaKeyExchange) this.rsa = loadRsa(this.config.server.rsaPrivateKeyFile);
    const off = await rawIoOff(this.config.server.rawIo);
    this.rawIo = off === null;
    if (off !== null) this.log[off.warn ? 'warn' : 'info']({ reason: off.reason }, 'raw socket I/O off; using stream sockets');
    const server = net.createServer({ noDelay: true }, (s) => acceptClient(this, s));
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
    if (this.rawIo && !installRawAccept(server)) this.rawIo = false; // (the self-test took the same path)
    this.startLanes();
    this.timers.start(this);
    this.topology?.start();
    this.boundPort = (server.address() as net.AddressInfo).port;
    const adm = this.config.admin;
    if (adm) {
      this.admin = await startAdminServer(adm.host, adm.port, this);
    }
    this.log.info({ host: this.host, port: this.boundPort, version: this.serverVersion }, 'tenantgate listening');
  }

  /** The native fast lane, when configured, built and raw I/O is on (README "Fast lane"). */
  private startLanes(): void {
    if (!this.config.server.fastLane) return;
    if (!this.rawIo) {
      this.log.info('fast lane off: it needs raw socket I/O');
      return;
    }
    const native = loadLaneNative();
    if (native === null) {
      this.log.info('fast lane off: the native module is not built or TENANTGATE_FAST_LANE=0');
      return;
    }
    const lanes = new LaneManager(native, this);
    this.lanes = lanes;
    this.metrics.beforeScrape = () => lanes.fold();
    this.metrics.laneStats = () => ({ attached: lanes.attachedCount, statements: lanes.statements, ejects: lanes.ejectCounts() });
  }

  /** Logged-in sessions (what max_client_connections bounds). */
  get loggedIn(): number {
    return this.sessions.size - this.handshaking.size;
  }

  /** See beside-connection.ts. */
  killBackendThread(conn: BackendConnection): Promise<void> {
    return killBackendThread(conn, this.log);
  }

  queryBeside(conn: BackendConnection, sql: string): Promise<InternalResult> {
    return queryBeside(conn, sql);
  }

  stats(): ProxyStats {
    return { clientSessions: this.sessions.size, identity: { ...this.identity }, backends: [...this.backends.values()].map((b) => b.stats()) };
  }

  /** See memory-report.ts (SIGUSR2). */
  memoryReport(): Record<string, number> {
    return { ...memoryReport(this, this.retired.size), idleGcs: this.idleGc.runs };
  }

  /**
   * Graceful stop (SIGTERM): stop accepting; close each session once it is between statements
   * with nothing pinned (so transactions, locks and statements in flight finish); after
   * `timeoutMs`, close whatever is left; then close the pools.
   */
  async shutdown(timeoutMs: number): Promise<void> {
    this.stopping = true;
    const server = this.server;
    if (server) server.close();
    this.lanes?.detachAll();
    await drainSessions(this.sessions, timeoutMs, this.log);
    await this.stop();
  }

  /** True once shutdown() began (readiness reports not ready). */
  get isStopping(): boolean {
    return this.stopping;
  }

  /** Stops listening, closes client sessions, and closes backend pools. */
  async stop(): Promise<void> {
    removeSafetyNet(this);
    this.timers.stop(this);
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
    this.lanes?.dispose();
    for (const s of [...this.sessions.values()]) s.close('proxy stopping');
    this.store.close();
    await closed;
    await Promise.all([...this.backends.values(), ...this.retired].map((b) => b.close()));
  }
}
