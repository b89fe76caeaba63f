/**
 * Per (tenant, digest) statement statistics, like ProxySQL's stats_mysql_query_digest: bounded in
 * memory (least recently seen entries dropped first, counted in `evicted`), never literal values.
 */
export interface DigestEntry {
  readonly tenant: string;
  readonly digest: string;
  count: number;
  errors: number;
  sumTimeUs: number;
  minTimeUs: number;
  maxTimeUs: number;
  rowsSent: number;
  firstSeen: number;
  lastSeen: number;
}

const SORTS: Record<string, (e: DigestEntry) => number> = {
  count: (e) => e.count,
  sum_time: (e) => e.sumTimeUs,
  max_time: (e) => e.maxTimeUs,
  avg_time: (e) => e.sumTimeUs / e.count,
  errors: (e) => e.errors,
  rows: (e) => e.rowsSent,
  last_seen: (e) => e.lastSeen,
};

export class DigestStats {
  /** Insertion order is recency order: a hit re-inserts, so the first key is the least recent. */
  private readonly map = new Map<string, DigestEntry>();
  evicted = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.map.size;
  }

  record(tenant: string, digest: string, timeUs: number, rows: number, error: boolean, now = Date.now()): void {
    const key = tenant + '\u0000' + digest;
    let e = this.map.get(key);
    if (e) this.map.delete(key);
    else {
      e = { tenant, digest, count: 0, errors: 0, sumTimeUs: 0, minTimeUs: Infinity, maxTimeUs: 0, rowsSent: 0, firstSeen: now, lastSeen: now };
      if (this.map.size >= this.capacity) {
        this.map.delete(this.map.keys().next().value as string);
        this.evicted++;
      }
    }
    this.map.set(key, e);
    e.count++;
    if (error) e.errors++;
    e.sumTimeUs += timeUs;
    if (timeUs < e.minTimeUs) e.minTimeUs = timeUs;
    if (timeUs > e.maxTimeUs) e.maxTimeUs = timeUs;
    e.rowsSent += rows;
    e.lastSeen = now;
  }

  /** Entries (optionally of one tenant), sorted descending by `sort` (default sum_time), at most `limit`. */
  query(q: { tenant?: string; sort?: string; limit?: number } = {}): { digests: DigestEntry[]; total: number; evicted: number; sorts: string[] } {
    const by = SORTS[q.sort ?? 'sum_time'] ?? SORTS.sum_time!;
    let rows = [...this.map.values()];
    if (q.tenant !== undefined) rows = rows.filter((e) => e.tenant === q.tenant);
    rows.sort((a, b) => by(b) - by(a));
    const limit = q.limit !== undefined && Number.isFinite(q.limit) && q.limit >= 0 ? q.limit : 100;
    return { digests: rows.slice(0, limit).map((e) => ({ ...e })), total: rows.length, evicted: this.evicted, sorts: Object.keys(SORTS) };
  }

  reset(): void {
    this.map.clear();
    this.evicted = 0;
  }
}
