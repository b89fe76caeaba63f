import * as genericPool from 'generic-pool';
import type { BackendConfig } from '../config/types';
import { BackendConnection, BackendConnectError } from './backend-connection';
import { analyzeRoutines, NO_ROUTINES, RoutineInfo } from '../classify/routines';
import { ROUTINE_DDL_SQL } from './routine-watch';
import type { ErrPacket } from '../protocol/ok-err';
import { LeaseShare, mayLease, shareLimitError } from './lease-share';

/** Where a backend reports what metrics count (set by the proxy; none in unit tests). */
export interface BackendObserver {
  connectFailed(backend: string): void;
  /** An acquire that had to queue (no idle connection) got one, or gave up, after `seconds`. */
  acquireWaited(backend: string, seconds: number): void;
}

/** Collation id → names, as the backend knows them. */
export interface CollationInfo {
  name: string;
  charset: string;
}

/** How long a released connection stays on the fast LIFO list before it goes back to generic-pool. */
const HOT_MS = 1000;

/** How long a pool whose connection settings the server refused answers with that refusal before trying again. */
const REFUSED_MS = 5000;

/**
 * Login errors that refuse this pool's connection settings (the client's character set or collation),
 * not the backend: ER_WRONG_VALUE_FOR_VAR (e.g. character_set_client = ucs2), ER_UNKNOWN_CHARACTER_SET,
 * ER_UNKNOWN_COLLATION.
 */
const PROFILE_ERRNOS = new Set([1231, 1115, 1273]);

/**
 * One backend server: its configuration, the cap on connections across all of its pools,
 * the backoff after failures, and what the proxy learned from it (version, collations).
 */
export class Backend {
  open = 0;
  failures = 0;
  nextAttemptAt = 0;
  lastError: Error | null = null;
  collations: Map<number, CollationInfo> | null = null;
  /** Stored functions, triggers and views on this server that may change session state (see routines.ts). */
  routines: RoutineInfo = NO_ROUTINES;
  lastRoutinesError: Error | null = null;
  /** When routines were last loaded (0: never). */
  routinesLoadedAt = 0;
  /** The server's DDL counter sum read just before they were (see routine-watch.ts; null: unknown). */
  routinesDdlSum: string | null = null;
  serverVersion: string | null = null;
  serverCaps = 0;
  serverMariaCaps = 0;
  serverCollation = 0;
  /** Drained by an operator (admin API): no new statements get a connection here; pinned ones continue. */
  drained = false;
  observer: BackendObserver | null = null;
  /** Global wait_timeout / interactive_timeout in seconds (-1 until a connection learned them). */
  waitTimeout = -1;
  interactiveTimeout = -1;
  readonly pools = new Map<string, BackendPool>();
  /** Per user (tenant) connections held, across this backend's pools; keys come from the config, so bounded. */
  readonly shares = new Map<string, LeaseShare>();
  /**
   * Asks the proxy's fast lanes for a connection of `pool` they hold (any, or one of `share`): true
   * when one was given back to the pool now (see server/lane-manager.ts reclaim).
   */
  reclaim: ((pool: BackendPool, share: LeaseShare | null) => boolean) | null = null;

  constructor(readonly cfg: BackendConfig) {}

  /** The share of `key` (see lease-share.ts); sessions keep it, so one object per key for the backend's life. */
  share(key: string): LeaseShare {
    let s = this.shares.get(key);
    if (s === undefined) {
      s = new LeaseShare(key);
      this.shares.set(key, s);
    }
    return s;
  }

  /** The pool for connections negotiated with this capability profile and collation. */
  pool(profileCaps: number, collation: number, extMeta: boolean): BackendPool {
    const key = `${profileCaps}:${collation}:${extMeta ? 1 : 0}`;
    let p = this.pools.get(key);
    if (!p) {
      p = new BackendPool(this, profileCaps, collation, extMeta, this.pools.size === 0);
      this.pools.set(key, p);
    }
    return p;
  }

  /**
   * Learns which stored functions, triggers and views may change session state (on every new
   * backend connection, and after CREATE/DROP/ALTER of a routine, trigger or view through the proxy).
   */
  async loadRoutines(conn: BackendConnection): Promise<void> {
    const text = (b: Buffer | null) => (b ? b.toString('utf8') : null);
    // first: DDL after this read moves the sum, and the routine watch reloads again
    const sum = await conn.query(ROUTINE_DDL_SQL);
    const routines = await conn.query('SELECT ROUTINE_TYPE, ROUTINE_NAME, ROUTINE_DEFINITION FROM information_schema.ROUTINES');
    const trg = await conn.query('SELECT EVENT_OBJECT_TABLE, ACTION_STATEMENT FROM information_schema.TRIGGERS');
    const views = await conn.query('SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS');
    const of = (type: string) => routines.rows.filter((r) => text(r[0]) === type).map((r) => ({ name: text(r[1]) ?? '', body: text(r[2]) }));
    this.routines = analyzeRoutines(
      of('FUNCTION'),
      trg.rows.map((r) => ({ table: text(r[0]) ?? '', body: text(r[1]) })),
      views.rows.map((r) => ({ name: text(r[0]) ?? '', body: text(r[1]) })),
      of('PROCEDURE'),
    );
    this.routinesLoadedAt = Date.now();
    this.routinesDdlSum = text(sum.rows[0] ? sum.rows[0][0] : null);
  }

  /** Takes over what `old` (the same server, replaced on reload) learned: collations, routines, handshake facts. */
  inheritServerFacts(old: Backend): void {
    this.collations = old.collations;
    this.routines = old.routines;
    this.routinesLoadedAt = old.routinesLoadedAt;
    this.routinesDdlSum = old.routinesDdlSum;
    this.serverVersion = old.serverVersion;
    this.serverCaps = old.serverCaps;
    this.serverMariaCaps = old.serverMariaCaps;
    this.serverCollation = old.serverCollation;
    this.waitTimeout = old.waitTimeout;
    this.interactiveTimeout = old.interactiveTimeout;
  }

  /** Loading routine definitions failed: keep the previous ones; the next new connection retries. */
  noteRoutinesLoadFailed(e: Error): void {
    this.lastRoutinesError = e;
  }

  noteFailure(e: Error): void {
    this.observer?.connectFailed(this.cfg.name);
    this.lastError = e;
    this.failures++;
    this.nextAttemptAt = Date.now() + Math.min(2000, 25 * 2 ** Math.min(this.failures, 7));
  }

  noteSuccess(): void {
    this.failures = 0;
    this.nextAttemptAt = 0;
    this.lastError = null;
  }

  /** Waits for the backoff to pass and for a free slot under max_connections; evicts idle connections of other pools to make room. */
  async reserveSlot(deadline: number): Promise<void> {
    for (;;) {
      const now = Date.now();
      if (now > deadline) throw new BackendConnectError(`no free connection slot on backend ${this.cfg.name} (max_connections ${this.cfg.maxConnections})`);
      if (now < this.nextAttemptAt) {
        await sleep(Math.min(this.nextAttemptAt - now, deadline - now + 1));
        continue;
      }
      if (this.open < this.cfg.maxConnections) {
        this.open++;
        return;
      }
      for (const p of this.pools.values()) if (p.evictOneIdle()) break;
      await sleep(10);
    }
  }

  stats(): { name: string; open: number; idle: number; inUse: number; pending: number; drained: boolean; failures: number; lastError: string | null } {
    let idle = 0;
    let inUse = 0;
    let pending = 0;
    for (const p of this.pools.values()) {
      idle += p.hot.length + p.gp.available;
      inUse += p.gp.borrowed - p.hot.length;
      pending += p.gp.pending;
    }
    return { name: this.cfg.name, open: this.open, idle, inUse, pending, drained: this.drained, failures: this.failures, lastError: this.lastError ? this.lastError.message : null };
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
  }
}

/** Runs on each new backend connection before it is handed out. */
export type ConnectionInit = (conn: BackendConnection, pool: BackendPool) => Promise<void>;

let initHook: ConnectionInit = async () => {};
/** Installs the per-connection initialiser (session tracking, defaults capture). */
export function setConnectionInit(fn: ConnectionInit): void {
  initHook = fn;
}

/** How many idle connections below the top of the hot list take() looks at for one without foreign user variables. */
const PREFER_SCAN = 8;

/** `c` holds no user variables of a session other than the one marked `owner` (no reset needed for it). */
function varClean(c: BackendConnection, owner: unknown): boolean {
  return c.userVars.size === 0 || c.userVarOwner === owner;
}

/**
 * Backend connections of one profile. generic-pool owns creation, validation, idle eviction and
 * the waiting queue; on top of it a LIFO "hot" list hands a just-released connection to the next
 * statement synchronously, without a promise, which is what the per-statement hot path needs.
 */
export class BackendPool {
  readonly gp: genericPool.Pool<BackendConnection>;
  readonly hot: BackendConnection[] = [];
  /** Session variable values of a fresh connection of this profile (lower-case name → value). */
  defaults: Map<string, string> | null = null;
  /** The server refused this profile's settings at login: acquires fail with its error until `until`. */
  private refused: { err: BackendRefusedError; until: number } | null = null;
  /** Callbacks waiting on generic-pool, so that a refusal can answer them at once. */
  private readonly waiters = new Set<(err: Error | null, conn: BackendConnection | null) => void>();
  private timer: NodeJS.Timeout;
  /** Set by close(): released connections go straight back to generic-pool, which is draining. */
  private closing = false;
  /** evictOneIdle is taking an idle connection out of generic-pool to close it. */
  private evicting = false;

  constructor(readonly backend: Backend, readonly profileCaps: number, readonly collation: number, readonly extMeta: boolean, primary: boolean) {
    const cfg = backend.cfg;
    this.gp = genericPool.createPool<BackendConnection>(
      {
        create: async () => {
          const r = this.refused;
          if (r && Date.now() < r.until) {
            // generic-pool retries a failed create at once while clients wait: wait out the refusal instead of spinning.
            await sleep(r.until - Date.now());
            throw r.err;
          }
          const deadline = Date.now() + cfg.acquireTimeoutMs;
          await backend.reserveSlot(deadline);
          const conn = new BackendConnection(cfg, profileCaps, collation, extMeta);
          conn.pool = this;
          let counted = true;
          const uncount = () => {
            if (counted) {
              counted = false;
              backend.open--;
            }
          };
          try {
            await conn.connect();
            await initHook(conn, this);
          } catch (e) {
            uncount();
            conn.destroy();
            const srv = e instanceof BackendConnectError ? e.server : undefined;
            if (srv && PROFILE_ERRNOS.has(srv.errno)) {
              // The server is fine; it refuses these settings. Other pools of the backend go on.
              this.refuse(new BackendRefusedError(srv));
              throw e;
            }
            backend.noteFailure(e as Error);
            throw e;
          }
          backend.noteSuccess();
          conn.onClose(() => {
            uncount();
            unshare(conn);
            const i = this.hot.indexOf(conn);
            if (i >= 0) {
              this.hot.splice(i, 1);
              this.gp.destroy(conn).catch(() => {});
            }
          });
          return conn;
        },
        destroy: async (conn) => {
          conn.quit();
        },
        // A connection idle for a while is pinged first: a backend that stopped answering (SIGSTOP,
        // a dead network path) is found here, within connect_timeout_ms, not under a statement.
        validate: async (conn) => !conn.closed && (Date.now() - conn.lastUsed < cfg.validateAfterIdleMs || (await conn.ping(cfg.connectTimeoutMs))),
      },
      {
        max: cfg.maxConnections,
        min: primary ? cfg.minConnections : 0,
        acquireTimeoutMillis: cfg.acquireTimeoutMs,
        idleTimeoutMillis: cfg.idleTimeoutMs,
        evictionRunIntervalMillis: Math.min(cfg.idleTimeoutMs, 5000),
        testOnBorrow: true,
        maxWaitingClients: 100000,
        autostart: true,
      },
    );
    this.gp.on('factoryCreateError', () => {});
    this.gp.on('factoryDestroyError', () => {});
    this.timer = setInterval(() => this.cool(), HOT_MS);
    this.timer.unref();
  }

  /**
   * A connection now (from the hot list) or via callback. The callback may run synchronously.
   * `share`: the session's user (tenant) share; a lease beyond its cap waits for one of that key's
   * connections to come back (see lease-share.ts), and the connection is counted in it until released.
   * `userVarOwner`: the borrowing session's user-variable token; an idle connection holding no
   * other session's user variables is preferred (one that does must be reset before use).
   */
  acquire(cb: (err: Error | null, conn: BackendConnection | null) => void, share: LeaseShare | null = null, userVarOwner?: unknown): void {
    const down = this.unavailable();
    if (down !== null) return cb(down, null);
    if (share !== null && !this.reserve(share, cb, null)) return;
    this.take(cb, share, userVarOwner);
  }

  /** Why no connection can be had from this pool now (drained, or its settings refused), else null. */
  private unavailable(): Error | null {
    if (this.backend.drained) {
      const b = this.backend.cfg;
      return new BackendUnavailableError('backend unavailable: it is drained by an operator; no new statements are sent there', `backend '${b.name}' (${b.host}:${b.port}) drained through the admin API`);
    }
    const r = this.refused;
    if (r !== null) {
      if (Date.now() < r.until) return r.err;
      this.refused = null;
    }
    return null;
  }

  /** A lease that waited at its share's cap was handed a returned connection's slot (already counted). */
  private afterShareWait(cb: (err: Error | null, conn: BackendConnection | null) => void, share: LeaseShare, account: string | null): void {
    const down = this.unavailable();
    if (down !== null) {
      share.returned();
      return cb(down, null);
    }
    if (account !== null && this.takeHotAs(account, cb, share)) return;
    this.take(cb, share);
  }

  /**
   * Counts a lease in `share`, or (at its cap) queues a retry (as `account`, see afterShareWait) for when one of its connections comes
   * back (which hands that slot over) and returns false; after acquire_timeout_ms the waiting lease
   * fails with ERR 1226.
   */
  private reserve(share: LeaseShare, cb: (err: Error | null, conn: BackendConnection | null) => void, account: string | null): boolean {
    const cfg = this.backend.cfg;
    const cap = cfg.maxConnectionsPerUser;
    if (mayLease(share.held, cap)) {
      share.held++;
      return true;
    }
    // The retry closure only here, on the waiting path (not one per lease).
    const retry = (): void => this.afterShareWait(cb, share, account);
    const t0 = Date.now();
    share.wait(cfg.acquireTimeoutMs, retry, () => cb(shareLimitError(share.key, cfg.name, cap as number, cfg.maxConnections, Date.now() - t0), null));
    // A fast lane of the same share parks a connection: given back, its slot goes to this wait.
    const r = this.backend.reclaim;
    if (r !== null) r(this, share);
    return false;
  }

  /** Hands out a connection for a lease already counted in `share` (given back there if none comes). */
  private take(cb: (err: Error | null, conn: BackendConnection | null) => void, share: LeaseShare | null, userVarOwner?: unknown): void {
    const hot = this.hot;
    if (userVarOwner !== undefined && hot.length > 1 && !varClean(hot[hot.length - 1], userVarOwner)) this.preferVarClean(userVarOwner);
    while (hot.length > 0) {
      const c = hot.pop() as BackendConnection;
      if (c.closed) continue;
      const cfg = this.backend.cfg;
      if (Date.now() - c.lastUsed >= cfg.validateAfterIdleMs) {
        c.ping(cfg.connectTimeoutMs).then((ok) => {
          if (ok) {
            c.share = share;
            return cb(null, c);
          }
          this.discard(c);
          this.take(cb, share);
        });
        return;
      }
      c.share = share;
      cb(null, c);
      return;
    }
    // At the cap, a connection parked in an idle fast lane is given back rather than waited for.
    const r = this.backend.reclaim;
    if (r !== null && this.gp.size >= this.gp.max && r(this, null) && hot.length > 0) return this.take(cb, share, userVarOwner);
    // The queued path only: the hot-list path above never waits, and is not timed.
    const obs = this.backend.observer;
    const t0 = obs ? performance.now() : 0;
    let settled = false;
    const w = (err: Error | null, conn: BackendConnection | null): void => {
      if (settled) {
        if (conn) this.release(conn);
        return;
      }
      settled = true;
      this.waiters.delete(w);
      if (obs) obs.acquireWaited(this.backend.cfg.name, (performance.now() - t0) / 1000);
      if (conn !== null) conn.share = share;
      else if (share !== null) share.returned();
      cb(err, conn);
    };
    this.waiters.add(w);
    this.gp.acquire().then(
      (c) => w(null, c),
      (e: Error) => w(this.acquireError(e), null),
    );
  }

  /** The server refused this profile's settings: answer everyone waiting, and new acquires for a while, with its error. */
  private refuse(err: BackendRefusedError): void {
    this.refused = { err, until: Date.now() + REFUSED_MS };
    for (const w of [...this.waiters]) w(err, null);
  }

  /**
   * Like {@link acquire}, preferring an idle connection already logged in as `account` (no
   * COM_CHANGE_USER needed); the caller switches the identity of any other connection it gets.
   */
  acquireAs(account: string, cb: (err: Error | null, conn: BackendConnection | null) => void, share: LeaseShare | null = null, userVarOwner?: unknown): void {
    const down = this.unavailable();
    if (down !== null) return cb(down, null);
    if (share !== null && !this.reserve(share, cb, account)) return;
    // Any connection of another account needs COM_CHANGE_USER, which drops user variables too: no preference among them.
    if (!this.takeHotAs(account, cb, share, userVarOwner)) this.take(cb, share);
  }

  /**
   * Hands out an idle hot connection logged in as `account`, if there is one (the lease is already
   * counted): one without another session's user variables (see acquire) if there is one.
   */
  private takeHotAs(account: string, cb: (err: Error | null, conn: BackendConnection | null) => void, share: LeaseShare | null, userVarOwner?: unknown): boolean {
    const hot = this.hot;
    const fresh = Date.now() - this.backend.cfg.validateAfterIdleMs;
    let pick = -1;
    for (let i = hot.length - 1; i >= 0; i--) {
      const c = hot[i];
      // An idle one past validate_after_idle_ms goes through take(), which pings it first.
      if (c.account === account && !c.closed && c.lastUsed > fresh) {
        if (pick < 0) pick = i;
        if (userVarOwner === undefined || varClean(c, userVarOwner)) {
          pick = i;
          break;
        }
      }
    }
    if (pick < 0) return false;
    const c = hot[pick];
    hot.splice(pick, 1);
    c.share = share;
    cb(null, c);
    return true;
  }

  /**
   * Moves the most recently released idle connection without another session's user variables
   * (among the last PREFER_SCAN) to the top of the hot list, so that take() hands it out.
   */
  private preferVarClean(owner: unknown): void {
    const hot = this.hot;
    const stop = Math.max(0, hot.length - 1 - PREFER_SCAN);
    for (let i = hot.length - 2; i >= stop; i--) {
      const c = hot[i];
      if (!c.closed && varClean(c, owner)) {
        hot.splice(i, 1);
        hot.push(c);
        return;
      }
    }
  }

  /**
   * Whether a lease now would be served at once and nobody waits: an idle connection, or room to
   * open one (a fast lane parks a connection only then; see server/lane-manager.ts).
   */
  hasSlack(): boolean {
    return this.waiters.size === 0 && this.gp.pending === 0 && !this.closing && (this.hot.length > 1 || this.gp.size < this.gp.max);
  }

  /** Takes this particular connection off the hot list if it is idle there (and `share` is under its cap). */
  takeIfIdle(conn: BackendConnection, share: LeaseShare | null = null): boolean {
    const i = this.hot.lastIndexOf(conn);
    if (i < 0 || conn.closed) return false;
    if (share !== null && !mayLease(share.held, this.backend.cfg.maxConnectionsPerUser)) return false;
    this.hot.splice(i, 1);
    if (share !== null) share.held++;
    conn.share = share;
    return true;
  }

  release(conn: BackendConnection): void {
    conn.lastUsed = Date.now();
    conn.sink = null;
    if (conn.pendingStmtCloses !== null) conn.flushStmtCloses();
    if (conn.closed) {
      this.gp.destroy(conn).catch(() => {});
    } else if (this.gp.pending > 0 || this.closing) this.gp.release(conn).catch(() => {});
    else this.hot.push(conn);
    // Last: a lease waiting at its share's cap may take this very connection from the hot list.
    if (conn.share !== null) unshare(conn);
  }

  /**
   * Puts back a connection taken from the front of the hot list for a moment (the routine watch's
   * counter read) as if it had not been used: at the front, with its idle time, so that it still
   * cools into generic-pool and idles out. Waiting leases get it as from release().
   */
  returnUntouched(conn: BackendConnection, lastUsed: number): void {
    if (conn.closed || this.closing || this.gp.pending > 0) {
      this.release(conn);
      return;
    }
    conn.sink = null;
    conn.lastUsed = lastUsed;
    this.hot.unshift(conn);
  }

  /** Drops a connection whose state cannot be trusted any more. */
  discard(conn: BackendConnection): void {
    conn.destroy();
    this.gp.destroy(conn).catch(() => {});
    if (conn.share !== null) unshare(conn);
  }

  /**
   * Closes one idle connection of this pool to make room under max_connections for another pool of
   * the backend: from the hot list, else one cooled into generic-pool's idle set (reachable only
   * through acquire; before this, such a connection kept its slot until idle_timeout_ms, so clients
   * of another capability profile or collation got ERR 9001 while the backend had idle connections).
   */
  evictOneIdle(): boolean {
    const c = this.hot.shift();
    if (c) {
      this.discard(c);
      return true;
    }
    if (this.evicting || this.closing || this.gp.available === 0) return false;
    this.evicting = true;
    this.gp.acquire().then(
      (idle) => {
        this.evicting = false;
        this.discard(idle);
      },
      () => {
        this.evicting = false;
      },
    );
    return true;
  }

  private cool(): void {
    const cutoff = Date.now() - HOT_MS;
    while (this.hot.length > 0 && this.hot[0].lastUsed < cutoff) {
      const c = this.hot.shift() as BackendConnection;
      this.gp.release(c).catch(() => {});
    }
  }

  /**
   * The error a client gets when no connection could be had. It names the backend by its config name
   * only: host, port, the backend account and the server's login errors are for the log (`detail`).
   */
  private acquireError(e: Error): Error {
    const b = this.backend;
    const last = b.lastError ? ` (last error: ${b.lastError.message})` : '';
    const detail = `backend '${b.cfg.name}' (${b.cfg.host}:${b.cfg.port}, user ${b.cfg.user}): ${e.message}${last}`;
    if (e.name === 'TimeoutError') {
      return new BackendUnavailableError(`backend '${b.cfg.name}' unavailable: no connection within ${b.cfg.acquireTimeoutMs} ms`, detail);
    }
    return new BackendUnavailableError(`backend '${b.cfg.name}' unavailable`, detail);
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.timer);
    for (const c of this.hot.splice(0)) {
      await this.gp.release(c).catch(() => {});
    }
    await this.gp.drain().catch(() => {});
    await this.gp.clear().catch(() => {});
  }
}

/** No backend connection could be had in time. */
export class BackendUnavailableError extends Error {
  readonly code = 'BACKEND_UNAVAILABLE';
  /** What went wrong, with addresses and account names: logged, never sent to a client. */
  constructor(message: string, readonly detail: string) {
    super(message);
  }
}

/** The backend refused this pool's connection settings at login; the client gets the server's own error. */
export class BackendRefusedError extends Error {
  readonly code = 'BACKEND_REFUSED';
  readonly errno: number;
  readonly sqlState: string;
  constructor(server: ErrPacket) {
    super(server.message);
    this.errno = server.errno;
    this.sqlState = server.sqlState;
  }
}

/** The connection is no longer leased: its share counts one less (idempotent). */
function unshare(conn: BackendConnection): void {
  const s = conn.share;
  if (s === null) return;
  conn.share = null;
  s.returned();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
