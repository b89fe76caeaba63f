import { Com } from '../protocol/constants';
import { scanStatement } from '../classify/digest';
import { literalFreeKey } from '../classify/literal-free-key';
import type { Config } from '../config/types';
import type { Metrics } from '../metrics/metrics';
import type { DigestEntry, DigestStats } from '../metrics/digest-stats';
import type { DigestKeys } from '../metrics/digest-keys';
import type { ClientSession } from './client-session';

/** What statement statistics need of the proxy. */
export interface StatsHost {
  readonly metrics: Metrics;
  readonly config: Config;
  readonly digestStats: DigestStats;
  readonly digestKeys: DigestKeys;
  tenantOf(user: string): string | null;
}

/**
 * A finished command's metrics, per-digest statistics and slow-query log (ProxyContext.noteCommand).
 */
export function noteCommand(host: StatsHost, s: ClientSession, payload: Buffer | null, ms: number, bytesIn: number, bytesOut: number, errClass: string, rows: number, now: number): void {
  const cmd = payload && payload.length > 0 ? payload[0]! : -1;
  const command = cmd === Com.QUERY ? 'query' : cmd === Com.STMT_EXECUTE ? 'stmt_execute' : 'other';
  const tenant = s.tenant ? s.tenant.tenant : s.user ? host.tenantOf(s.user.name) : null;
  host.metrics.recordStatement(command, tenant, ms / 1000, bytesIn, bytesOut, errClass);
  if (command === 'other') return;
  const cfg = host.config.digests;
  const slow = cfg.slowQueryMs > 0 && ms >= cfg.slowQueryMs;
  if (cfg.maxEntries === 0 && !slow) return;
  const key = tenant ?? s.cmd.userKey(s.user);
  const e = digestEntry(host, s, payload as Buffer, cmd, key, now);
  s.cmd.lastEntry = e;
  if (cfg.maxEntries > 0) host.digestStats.add(e, Math.round(ms * 1000), rows, errClass !== '', now);
  if (slow) {
    host.metrics.slowQueries.inc();
    s.log.warn({ tenant, user: s.user?.name, backend: s.backend?.cfg.name, durationMs: Math.round(ms), rows, error: errClass || undefined, digest: e.digest }, 'slow query');
  }
}

/**
 * The statistics entry of the statement just finished. Known shapes are found by their
 * literal-free key (the one the routing path resolved, or computed here once); the digest text is
 * built only for a shape not seen before, from the routing path's scan when there was one.
 */
function digestEntry(host: StatsHost, s: ClientSession, payload: Buffer, cmd: number, key: string, now: number): DigestEntry {
  if (cmd === Com.QUERY) {
    const known = s.cmd.statsEntry;
    if (known !== null && known.live && known.tenant === key) return known;
    let h = s.cmd.statsKeyHash;
    let keyBytes = s.cmd.statsKeyBytes;
    if (keyBytes === null) {
      h = literalFreeKey(payload, 1, payload.length, false, false, 0);
      if (h >= 0) {
        const e = host.digestKeys.get(h, key);
        if (e !== null) return e;
      }
    }
    const e = host.digestStats.entry(key, s.cmd.statsDigest ?? sqlDigest(payload, 1), now);
    if (keyBytes !== null) host.digestKeys.set(h, key, e, keyBytes);
    else if (h >= 0) host.digestKeys.set(h, key, e);
    return e;
  }
  // Not the id in the payload: by now it is the backend statement's id (prepared.ts executePacket).
  const st = s.cmd.statsStmt;
  if (!st) return host.digestStats.entry(key, '(unknown prepared statement)', now);
  const known = st.statsEntry;
  if (known !== undefined && known.live && known.tenant === key) return known;
  return (st.statsEntry = host.digestStats.entry(key, (st.digest ??= sqlDigest(st.sql, 0)), now));
}

/** The statement's digest (literals as ?): COM_QUERY scanned now, a prepared statement's once. */
/** The digest of the SQL in `b` from `start` (a COM_QUERY payload from 1, a prepared statement's text from 0). */
function sqlDigest(b: Buffer, start: number): string {
  try {
    return scanStatement(b, start, b.length).digest;
  } catch {
    return '(unscannable)';
  }
}
