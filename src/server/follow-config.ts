import type { UserConfig } from '../config/types';
import { placementFor, type Placement } from '../routing/placement';
import type { RoutingSnapshot } from '../routing/snapshot';

/**
 * What a session does at a statement boundary after a config reload:
 * - `wait`: not now (it holds a pinned connection, or has no user yet): asked again next command;
 * - `refuse`: its tenant is no longer configured: fails closed, the session ends;
 * - `follow`: its user (and tenant placement) as the new config has them, and the backend its
 *   statements now go to — null when that backend is gone (the old one is kept until the user is
 *   reconfigured, and the question is asked again).
 */
export type ConfigFollow<B> = { action: 'wait' } | { action: 'refuse' } | { action: 'follow'; user: UserConfig; tenant: Placement | null; backend: B | null };

/** The session's user, tenant and pinned state as {@link followConfig} needs them. */
export interface FollowFacts {
  pinned: boolean;
  user: UserConfig | null;
  tenant: Placement | null;
}

/**
 * Taken only when nothing is pinned, so in-flight and pinned work finishes on the old pool (which
 * drains) and nothing is dropped. A tenant follows its placement to its cluster's primary; a
 * passthrough user its (possibly changed) backend.
 */
export function followConfig<B>(f: FollowFacts, users: ReadonlyMap<string, UserConfig>, routing: RoutingSnapshot, backends: ReadonlyMap<string, B>): ConfigFollow<B> {
  if (f.pinned || !f.user) return { action: 'wait' };
  const user = users.get(f.user.name) ?? f.user;
  let name = user.backend;
  let tenant: Placement | null = null;
  if (f.tenant) {
    const pl = placementFor(f.tenant.tenant, routing);
    if ('action' in pl) return { action: 'refuse' };
    tenant = pl;
    const cluster = routing.clustersByName.get(pl.cluster);
    if (cluster) name = cluster.primary;
  }
  return { action: 'follow', user, tenant, backend: backends.get(name) ?? null };
}
