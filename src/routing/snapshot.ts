/**
 * The routing view of one config snapshot: lookups the pure routing functions need, built once per
 * config version (never per statement).
 */
import type { ClusterConfig, Config, TenantConfig } from '../config/types';

export interface RoutingSnapshot {
  /** Increases with every config reload; part of the plan-cache key. */
  readonly version: number;
  readonly config: Config;
  readonly tenantsById: ReadonlyMap<string, TenantConfig>;
  readonly clustersByName: ReadonlyMap<string, ClusterConfig>;
  /** Proxy user → the tenant it is bound to (tenants[].users). */
  readonly tenantByUser: ReadonlyMap<string, TenantConfig>;
  /** Physical schema → tenants using that name (on any cluster). */
  readonly tenantsBySchema: ReadonlyMap<string, readonly TenantConfig[]>;
  /** Logical schema → tenants using it. */
  readonly tenantsByLogicalSchema: ReadonlyMap<string, readonly TenantConfig[]>;
  readonly userNames: ReadonlySet<string>;
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}

/** Builds the lookups for `config` (already validated by the loader). */
export function buildRoutingSnapshot(config: Config, version: number): RoutingSnapshot {
  const tenantsById = new Map<string, TenantConfig>();
  const tenantByUser = new Map<string, TenantConfig>();
  const bySchema = new Map<string, TenantConfig[]>();
  const byLogical = new Map<string, TenantConfig[]>();
  for (const t of config.tenants) {
    tenantsById.set(t.id, t);
    for (const u of t.users) tenantByUser.set(u, t);
    push(bySchema, t.schema, t);
    if (t.logicalSchema !== undefined) push(byLogical, t.logicalSchema, t);
  }
  return {
    version,
    config,
    tenantsById,
    clustersByName: new Map(config.clusters.map((c) => [c.name, c])),
    tenantByUser,
    tenantsBySchema: bySchema,
    tenantsByLogicalSchema: byLogical,
    userNames: new Set(config.users.map((u) => u.name)),
  };
}
