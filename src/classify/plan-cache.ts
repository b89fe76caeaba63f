/**
 * A bounded LRU of per-digest decisions, keyed by (config version, placement key, scan options,
 * digest). What is cached is what the statement alone decides (isolation verdict and routing class);
 * offsets of rewrites and the session's part of a plan are recomputed per statement, cheaply.
 */

/** Map-based LRU: a hit moves the entry to the young end; inserting past `capacity` drops the oldest. */
export class PlanCache<V> {
  private readonly map = new Map<string, V>();
  hits = 0;
  misses = 0;
  /** Entries dropped because the cache was full. */
  evictions = 0;

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError('plan cache capacity must be at least 1');
  }

  /** The key for one statement; `placementKey` is the tenant id (placement follows from it and the version). */
  static key(configVersion: number, placementKey: string, optionBits: number, digest: string): string {
    return `${configVersion}\u0000${placementKey}\u0000${optionBits}\u0000${digest}`;
  }

  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // re-insert: Map iteration order is insertion order, so the oldest entry is first
    this.map.delete(key);
    this.map.set(key, v);
    return v;
  }

  set(key: string, value: V): void {
    if (this.map.has(key)) this.map.delete(key);
    else if (this.map.size >= this.capacity) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
      this.evictions++;
    }
    this.map.set(key, value);
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
}
