import type { Config } from '../config/types';
import { Metrics } from '../metrics/metrics';
import { RouteCounts, registerOpsCollectors } from '../metrics/ops-collectors';
import type { Topology } from '../backend/topology';
import type { PlanCache } from '../classify/plan-cache';
import type { LiteralFreeIndex } from '../classify/literal-free-key';
import { parseStats } from '../classify/sql-parser';
import type { CachedDecision } from '../routing/route';
import type { ClientSession } from './client-session';
import type { IdentityStats } from './proxy-context';
import type { ProxyStats } from './proxy';
import { packageVersion } from './proxy-startup';

/** What the proxy's metrics read when scraped. */
export interface MetricsHost {
  readonly sessions: Map<number, ClientSession>;
  readonly identity: IdentityStats;
  readonly tenantByUser: Map<string, string>;
  readonly configVersion: number;
  readonly routes: RouteCounts;
  readonly topology: Topology | null;
  readonly planCache: PlanCache<CachedDecision>;
  readonly fastPlans: LiteralFreeIndex;
  stats(): ProxyStats;
}

/** The proxy's Prometheus metrics with their collectors (sessions, backends, routes, plan cache, ...). */
export function proxyMetrics(host: MetricsHost, config: Config): Metrics {
  const metrics = new Metrics({
    sessions: () => host.sessions.size,
    backends: () => host.stats().backends,
    identity: () => host.identity,
    tenantSessions: () => {
      const m = new Map<string, number>();
      for (const s of host.sessions.values()) {
        const t = s.tenant ? s.tenant.tenant : s.user ? (host.tenantByUser.get(s.user.name) ?? '') : '';
        m.set(t, (m.get(t) ?? 0) + 1);
      }
      return m;
    },
    configVersion: () => host.configVersion,
    version: packageVersion(),
    tenantLabelCap: config.metrics.tenantLabelCap,
  });
  registerOpsCollectors(metrics.registry, {
    routes: host.routes,
    topology: () => host.topology?.snapshot() ?? null,
    // A literal-free index hit is a plan-cache hit that also skipped the digest scan.
    planCache: () => ({ hits: host.planCache.hits + host.fastPlans.hits, misses: host.planCache.misses, evictions: host.planCache.evictions, size: host.planCache.size }),
    parseFailures: () => parseStats.failures,
  });
  return metrics;
}
