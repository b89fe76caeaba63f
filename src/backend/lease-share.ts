/**
 * Fair share of one backend's pool per user (per tenant for tenant sessions): the connections one
 * key's sessions hold at once — during a statement or pinned between statements (transactions,
 * locks, temporary tables, cursors, ...) — are capped at `backends[].max_connections_per_user`, so
 * one user pinning connections cannot starve every other user of the pool. A lease beyond the cap
 * waits for one of that key's own connections to come back, up to `acquire_timeout_ms`, then fails
 * with the server's resource-limit error (1226 ER_USER_LIMIT_REACHED, SQLSTATE 42000).
 *
 * The decisions are pure functions; {@link LeaseShare} is the per (backend, key) counter the pool
 * updates, with no allocation on the path where the cap is not reached.
 */
import { Err, ProxyError } from '../errors';
import type { BackendConfig } from '../config/types';

/**
 * The cap when the config does not set one: with two or more users or tenants on the backend,
 * `max(1, maxConnections - 1)` (one connection is always left for the others); with one, the
 * whole pool (nobody to leave one for).
 */
export function defaultShareCap(maxConnections: number, keysOnBackend: number): number {
  return keysOnBackend <= 1 ? maxConnections : Math.max(1, maxConnections - 1);
}

/** The key sessions are counted under: their tenant when tenant-aware, else their proxy user. */
export function shareKey(user: string, tenant: string | null): string {
  return tenant !== null ? `tenant:${tenant}` : `user:${user}`;
}

/** Whether a key holding `held` connections may lease one more under `cap` (undefined: no cap). */
export function mayLease(held: number, cap: number | undefined): boolean {
  return cap === undefined || held < cap;
}

/** The client's error when a lease waited `waitedMs` at the cap without one of the key's connections coming back. */
export function shareLimitError(key: string, backend: string, cap: number, maxConnections: number, waitedMs: number): ProxyError {
  const tenant = key.startsWith('tenant:');
  const who = tenant ? `Tenant '${key.slice(7)}'` : `User '${key.slice(5)}'`;
  const msg =
    `${who} has exceeded the 'max_connections_per_user' resource (current value: ${cap}): ` +
    `its sessions hold ${cap} of backend '${backend}''s ${maxConnections} connections (open transactions, locks, ` +
    `temporary tables, cursors, ...) and none came back within ${waitedMs} ms; commit or close those sessions, ` +
    `or raise backends[].max_connections_per_user`;
  return new ProxyError(Err.USER_LIMIT, msg, tenant ? { tenant: key.slice(7), backend } : { backend });
}

interface ShareWaiter {
  retry: () => void;
  timer: NodeJS.Timeout;
}

/** Connections of one backend held by one key's sessions, and the leases waiting at its cap. */
export class LeaseShare {
  /** Leased now (reserved at the start of an acquire, returned when the connection goes back to the pool). */
  held = 0;
  /** Leases waiting for one of this key's connections (made on first wait only). */
  private waiters: ShareWaiter[] | null = null;
  /** Leases refused at the cap since start (for metrics and tests). */
  refused = 0;

  constructor(readonly key: string) {}

  /** Queues a lease at the cap: `retry` runs when a connection of this key comes back, `fail` after `timeoutMs`. */
  wait(timeoutMs: number, retry: () => void, fail: () => void): void {
    const list = (this.waiters ??= []);
    const w: ShareWaiter = {
      retry,
      timer: setTimeout(() => {
        const i = list.indexOf(w);
        if (i >= 0) list.splice(i, 1);
        this.refused++;
        fail();
      }, timeoutMs),
    };
    list.push(w);
  }

  /**
   * One of this key's connections came back (or a reservation was given up). With leases waiting,
   * its slot goes to the first of them (`held` unchanged; its retry runs on the next tick, outside
   * the releasing session's call stack), so a lease arriving meanwhile cannot jump the queue.
   */
  returned(): void {
    const list = this.waiters;
    if (list === null || list.length === 0) {
      this.held--;
      return;
    }
    const w = list.shift() as ShareWaiter;
    clearTimeout(w.timer);
    process.nextTick(w.retry);
  }

  /** Leases waiting at the cap now. */
  get waiting(): number {
    return this.waiters === null ? 0 : this.waiters.length;
  }
}

/** What SessionShare needs of a backend (pool.ts's Backend). */
interface ShareOwner {
  readonly cfg: BackendConfig;
  share(key: string): LeaseShare;
}

/**
 * A session's share, kept between statements for the backend, user and tenant (compared by
 * identity) it was found for, so a statement looks nothing up. Null when the cap is the whole pool:
 * that limits nothing the pool does not, so nothing is counted (single-user backends).
 */
export class SessionShare {
  private share: LeaseShare | null = null;
  private backend: ShareOwner | null = null;
  private user: { readonly name: string } | null = null;
  private tenant: { readonly tenant: string } | null = null;

  get(b: ShareOwner, user: { readonly name: string } | null, tenant: { readonly tenant: string } | null): LeaseShare | null {
    const cap = b.cfg.maxConnectionsPerUser;
    if (cap === undefined || cap >= b.cfg.maxConnections || user === null) return null;
    if (this.share !== null && this.backend === b && this.user === user && this.tenant === tenant) return this.share;
    this.backend = b;
    this.user = user;
    this.tenant = tenant;
    return (this.share = b.share(shareKey(user.name, tenant !== null ? tenant.tenant : null)));
  }
}
