import type { TopologySnapshot } from '../backend/topology';

/** Primary states in which the primary answers (read_only still answers reads; its writes fail with the server's error). */
const REACHABLE = new Set(['up', 'read_only_primary']);

/**
 * Why the clusters in use are not ready (empty: ready). A cluster is in use when a tenant lives on
 * it; with no tenants, every configured cluster counts. Each needs a reachable primary as the health
 * monitor last judged it: a primary not probed yet (`unknown`) is not ready either, so a proxy that
 * just started is not sent traffic before its first probe.
 */
export function clusterReadiness(snap: TopologySnapshot, tenantClusters: readonly string[]): string[] {
  const used = tenantClusters.length > 0 ? [...new Set(tenantClusters)] : [...snap.clusters.keys()];
  const reasons: string[] = [];
  for (const name of used.sort()) {
    const c = snap.clusters.get(name);
    if (!c) {
      reasons.push(`cluster ${name} is not configured`);
      continue;
    }
    const p = c.primary;
    if (!REACHABLE.has(p.state)) reasons.push(`cluster ${name}: primary ${p.backend} is ${p.state} (${p.reason})`);
  }
  return reasons;
}
