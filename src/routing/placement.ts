/**
 * Placement: where a tenant's statements go, from the tenant and the config snapshot.
 */
import type { TenantTier } from '../config/types';
import { accessDenied, type Refusal } from './refusal';
import type { RoutingSnapshot } from './snapshot';

export interface Placement {
  readonly tenant: string;
  readonly tier: TenantTier;
  readonly cluster: string;
  /** Physical schema. */
  readonly schema: string;
  /** The name the app uses for it, or null. */
  readonly logicalSchema: string | null;
  /** The tenant's own backend account. */
  readonly backendUser: string;
  readonly reads: 'replica' | 'primary';
  /** Replicas configured in the cluster (health is the selector's business). */
  readonly replicaCount: number;
  /** The tenant shares its server with other tenants (the statement checks are strictest there). */
  readonly sharedServer: boolean;
}

/** The placement of `tenant`, or a refusal if the snapshot no longer has it (e.g. removed on reload). */
export function placementFor(tenant: string, snap: RoutingSnapshot): Placement | Refusal {
  const t = snap.tenantsById.get(tenant);
  const c = t ? snap.clustersByName.get(t.cluster) : undefined;
  if (!t || !c) return accessDenied(tenant, `tenant '${tenant}' is no longer configured`);
  return {
    tenant: t.id,
    tier: t.tier,
    cluster: c.name,
    schema: t.schema,
    logicalSchema: t.logicalSchema ?? null,
    backendUser: t.backendUser,
    reads: t.reads,
    replicaCount: c.replicas.length,
    sharedServer: t.tier === 'separate_schema',
  };
}
