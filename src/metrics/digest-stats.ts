/**
 * Per (tenant, digest) statement statistics, like ProxySQL's stats_mysql_query_digest: bounded in
 * memory (least recently seen entries dropped first, counted in `evicted`), never literal values.
 */
export interface DigestEntry {
  readonly tenant: string;
  readonly digest: string;
  /** `tenant \0 digest`, this entry's key in the stats map (kept so a hit builds no string). */
  readonly key: string;
  /** False once evicted or reset: statement-key shortcuts to it are then stale. */
  live: boolean;
  count: number;
  errors: number;
  sumTimeUs: number;
  minTimeUs: number;
  maxTimeUs: number;
  rowsSent: number;
  firstSeen: number;
  lastSeen: number;
  /** Recency list links (DigestStats only): the entry used just before / after this one. */
  older?: DigestEntry | null;
  newer?: DigestEntry | null;
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

/**
 * Longest digest text kept (characters; like performance_schema_max_digest_length and ProxySQL's
 * query_digests_max_digest_length): entries are bounded in number, and this bounds their size, or
 * 10000 distinct megabyte statements with nothing to fold would be kept whole. Longer digests are
 * cut there and end with "..." (statements alike up to the cut share an entry, as on a server).
 */
export const MAX_DIGEST_TEXT = 2048;

/** `digest` cut to MAX_DIGEST_TEXT, as a flat string (a slice would keep the whole original alive). */
export function boundedDigest(digest: string): string {
  if (digest.length <= MAX_DIGEST_TEXT) return digest;
  return Buffer.from(`${digest.slice(0, MAX_DIGEST_TEXT - 3)}...`, 'utf8').toString('utf8');
}

export class DigestStats {
  /**
   * Lookup only. Recency is a list through the entries' `older`/`newer` links, from `oldest` (evicted
   * first) to `newest`: a hit relinks the entry, where re-inserting it into the map (delete + set)
   * left a hole each time and made V8 rehash the table every few statements — with sysbench's four
   * point-select shapes (one per table) in turn, the most recent entry was rarely the one hit.
   */
  private readonly map = new Map<string, DigestEntry>();
  private oldest: DigestEntry | null = null;
  private newest: DigestEntry | null = null;
  evicted = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.map.size;
  }

  record(tenant: string, digest: string, timeUs: number, rows: number, error: boolean, now = Date.now()): void {
    this.add(this.entry(tenant, digest, now), timeUs, rows, error, now);
  }

  /**
   * The live entry of (tenant, digest), created if new (may evict the least recent). Callers that see
   * the same statement again keep it (see StatementKeys) and pass it to `add`, building no string.
   */
  entry(tenant: string, digest: string, now = Date.now()): DigestEntry {
    if (digest.length > MAX_DIGEST_TEXT) digest = boundedDigest(digest);
    const key = tenant + '\u0000' + digest;
    let e = this.map.get(key);
    if (e) return e;
    e = { tenant, digest, key, live: true, count: 0, errors: 0, sumTimeUs: 0, minTimeUs: Infinity, maxTimeUs: 0, rowsSent: 0, firstSeen: now, lastSeen: now, older: null, newer: null };
    if (this.map.size >= this.capacity) {
      const old = this.oldest as DigestEntry;
      old.live = false;
      this.unlink(old);
      this.map.delete(old.key);
      this.evicted++;
    }
    this.map.set(key, e);
    this.linkNewest(e);
    return e;
  }

  /** Adds one statement to a live entry (from `entry`) and makes it the most recent. */
  add(e: DigestEntry, timeUs: number, rows: number, error: boolean, now: number): void {
    if (e !== this.newest && e.live) {
      this.unlink(e);
      this.linkNewest(e);
    }
    e.count++;
    if (error) e.errors++;
    e.sumTimeUs += timeUs;
    if (timeUs < e.minTimeUs) e.minTimeUs = timeUs;
    if (timeUs > e.maxTimeUs) e.maxTimeUs = timeUs;
    e.rowsSent += rows;
    e.lastSeen = now;
  }

  /** Adds `n` statements (a fast lane's counts: total/min/max µs, rows) to a live entry, as `add` does one. */
  addMany(e: DigestEntry, n: number, sumUs: number, minUs: number, maxUs: number, rows: number, now: number): void {
    if (e !== this.newest && e.live) {
      this.unlink(e);
      this.linkNewest(e);
    }
    e.count += n;
    e.sumTimeUs += sumUs;
    if (minUs < e.minTimeUs) e.minTimeUs = minUs;
    if (maxUs > e.maxTimeUs) e.maxTimeUs = maxUs;
    e.rowsSent += rows;
    e.lastSeen = now;
  }

  /** Keys from the least to the most recently used (tests). */
  recencyOrder(): string[] {
    const out: string[] = [];
    for (let e = this.oldest; e !== null; e = e.newer ?? null) out.push(e.key);
    return out;
  }

  private unlink(e: DigestEntry): void {
    const o = e.older ?? null;
    const n = e.newer ?? null;
    if (o !== null) o.newer = n;
    else this.oldest = n;
    if (n !== null) n.older = o;
    else this.newest = o;
    e.older = null;
    e.newer = null;
  }

  private linkNewest(e: DigestEntry): void {
    const n = this.newest;
    e.older = n;
    e.newer = null;
    if (n !== null) n.newer = e;
    else this.oldest = e;
    this.newest = e;
  }

  /** Entries (optionally of one tenant), sorted descending by `sort` (default sum_time), at most `limit`. */
  query(q: { tenant?: string; sort?: string; limit?: number } = {}): { digests: DigestEntry[]; total: number; evicted: number; sorts: string[] } {
    const by = SORTS[q.sort ?? 'sum_time'] ?? SORTS.sum_time!;
    let rows = [...this.map.values()];
    if (q.tenant !== undefined) rows = rows.filter((e) => e.tenant === q.tenant);
    rows.sort((a, b) => by(b) - by(a));
    const limit = q.limit !== undefined && Number.isFinite(q.limit) && q.limit >= 0 ? q.limit : 100;
    return { digests: rows.slice(0, limit).map(({ tenant, digest, count, errors, sumTimeUs, minTimeUs, maxTimeUs, rowsSent, firstSeen, lastSeen }) => ({ tenant, digest, count, errors, sumTimeUs, minTimeUs, maxTimeUs, rowsSent, firstSeen, lastSeen }) as DigestEntry), total: rows.length, evicted: this.evicted, sorts: Object.keys(SORTS) };
  }

  reset(): void {
    for (const e of this.map.values()) {
      e.live = false;
      e.older = null; // entries kept by statement shortcuts must not keep the whole list alive
      e.newer = null;
    }
    this.map.clear();
    this.oldest = null;
    this.newest = null;
    this.evicted = 0;
  }
}
