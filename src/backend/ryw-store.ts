/**
 * Read-your-writes state: per scope, the GTID position a read must see. A write records the
 * `last_gtid` its OK packet reported; a later read in the same scope asks for the position and, on a
 * replica, waits for it (`MASTER_GTID_WAIT`) or goes to the primary.
 */
import { type GtidPos, mergeGtidPos } from './gtid';

/** Whose writes a read must see: the session's own, or those of every connection of its tenant. */
export type RywScope = 'session' | 'tenant';

/**
 * The store behind read-your-writes. Calls are synchronous because they run on the statement path
 * (one per write, one per replica read) where the proxy avoids promise chains.
 *
 * A shared implementation (several proxy processes, one tenant) fits behind the same interface:
 * keep this in-memory store as a local mirror and make the Redis implementation
 * - write through on `recordWrite`: a Lua script doing a per-domain max into a hash
 *   `tg:ryw:<scopeKey>` (field = domain, value = `server-seq`) with `PEXPIRE` = the TTL, then
 *   `PUBLISH tg:ryw <scopeKey> <pos>`; the local mirror is updated synchronously first, so the
 *   writing process never waits for Redis;
 * - keep the mirror current from a `SUBSCRIBE tg:ryw` (merge each message with `mergeGtidPos`), and
 *   load a scope with `HGETALL` the first time this process sees it;
 * - answer `requiredGtid` from the mirror, synchronously.
 * A read on process B then sees a write made through process A once the publish has arrived (one
 * Redis round trip, typically well under a millisecond on a LAN); a read that must not race that
 * window can be routed to the primary. Merging is a per-domain maximum, so messages may arrive
 * late, twice or out of order without harm.
 */
export interface RywStore {
  /** Records that a write in this scope produced `gtid` (merged per domain with what is there). */
  recordWrite(scopeKey: string, gtid: GtidPos): void;
  /** The position a read in this scope must see, or null when the scope has no recent write. */
  requiredGtid(scopeKey: string): GtidPos | null;
  /** Drops a scope (a session that ended; per-tenant scopes simply expire). */
  forget(scopeKey: string): void;
}

/**
 * The key of a scope. The cluster is part of it: a GTID is a position in one cluster's binlog and
 * means nothing on another cluster's replicas.
 */
export function rywScopeKey(scope: RywScope, cluster: string, tenant: string, sessionId: number): string {
  return scope === 'tenant' ? `t\0${cluster}\0${tenant}` : `s\0${cluster}\0${sessionId}`;
}

/** Bounds of {@link MemoryRywStore}. */
export interface MemoryRywStoreOptions {
  /**
   * How long a recorded write is remembered (default 60 000 ms). After that, reads rely on the
   * replicas' lag bound alone; keep it well above `max_replication_lag`.
   */
  readonly ttlMs?: number;
  /** Most scopes remembered (default 100 000); the least recently written is dropped first. */
  readonly maxScopes?: number;
  /** Clock, injectable for tests. */
  readonly now?: () => number;
}

interface Entry {
  pos: GtidPos;
  expiresAt: number;
}

/** In-process {@link RywStore}: a Map in write order, so the oldest entry is the first one. */
export class MemoryRywStore implements RywStore {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly maxScopes: number;
  private readonly now: () => number;

  constructor(opts: MemoryRywStoreOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 60_000;
    this.maxScopes = opts.maxScopes ?? 100_000;
    this.now = opts.now ?? Date.now;
  }

  recordWrite(scopeKey: string, gtid: GtidPos): void {
    if (gtid.size === 0) return;
    const now = this.now();
    const prev = this.entries.get(scopeKey);
    const pos = prev && prev.expiresAt > now ? mergeGtidPos(prev.pos, gtid) : gtid;
    // Delete first so the re-insert moves the scope to the young end of the Map.
    if (prev) this.entries.delete(scopeKey);
    this.entries.set(scopeKey, { pos, expiresAt: now + this.ttlMs });
    this.evict(now);
  }

  requiredGtid(scopeKey: string): GtidPos | null {
    const e = this.entries.get(scopeKey);
    if (!e) return null;
    if (e.expiresAt <= this.now()) {
      this.entries.delete(scopeKey);
      return null;
    }
    return e.pos;
  }

  forget(scopeKey: string): void {
    this.entries.delete(scopeKey);
  }

  /** Scopes held (expired ones included until they are touched or evicted). */
  get size(): number {
    return this.entries.size;
  }

  private evict(now: number): void {
    // Oldest first: entries are in write order and all share one TTL, so expiry order is Map order.
    for (const [k, e] of this.entries) {
      if (this.entries.size <= this.maxScopes && e.expiresAt > now) break;
      this.entries.delete(k);
    }
  }
}
