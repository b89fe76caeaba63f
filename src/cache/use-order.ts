/**
 * Least-recently-used order for small maps whose hits are frequent and whose evictions are rare
 * (a backend connection's prepared statements): a hit stamps the value instead of re-inserting it
 * (`delete` + `set` on every hit leaves a hole in the map each time, and V8 rehashes the table
 * every few hits — with sysbench's four alternating statements that was every execute), and the
 * map is put back into use order only before something iterates it as an LRU list.
 */

/** A map value that records when it was last used. */
export interface UseStamped {
  used?: number;
}

let clock = 0;

/** Marks `v` as used now (the most recent of every stamped value). */
export function touch(v: UseStamped): void {
  v.used = ++clock;
}

/**
 * Re-inserts the entries of `m` least recently used first (never-stamped values count as oldest,
 * in their current order), so that iterating it visits them in LRU order. Nothing is re-inserted
 * when the order is already right.
 */
export function settleUseOrder<K, V extends UseStamped>(m: Map<K, V>): void {
  let prev = -1;
  let sorted = true;
  for (const v of m.values()) {
    const u = v.used ?? 0;
    if (u < prev) {
      sorted = false;
      break;
    }
    prev = u;
  }
  if (sorted) return;
  const entries = [...m];
  // Array.prototype.sort is stable: equal stamps (never used) keep their relative order.
  entries.sort((a, b) => (a[1].used ?? 0) - (b[1].used ?? 0));
  m.clear();
  for (const [k, v] of entries) m.set(k, v);
}
