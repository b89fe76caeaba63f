/**
 * Multi-cluster topologies for routing tests: N clusters, each a GTID primary with real replicas
 * (`startReplicaSet`), named so they drop into a config: backends `<cluster>-primary`,
 * `<cluster>-replica1`, ... and a `ClusterConfig` per cluster.
 */
import type { BackendConfig } from '../../src/config/types';
import type { ClusterConfig } from '../../src/backend/topology';
import { startReplicaSet, type MariaDbServer, type ReplicaSet } from './mariadb';
import type { ProxyBackendOpts } from './proxy';

/** One started cluster. */
export interface TestCluster {
  readonly name: string;
  readonly set: ReplicaSet;
  readonly primary: MariaDbServer;
  readonly replicas: readonly MariaDbServer[];
  /** Backend names: `[primary, replica1, replica2, ...]`. */
  readonly backendNames: readonly string[];
  /** The cluster as the config engineer's loader would produce it (defaults: weight 1, lag 5 s, fall back to primary). */
  clusterConfig(over?: Partial<Omit<ClusterConfig, 'name' | 'primary'>>): ClusterConfig;
  /** Full `BackendConfig`s (root, no password, defaults as `src/config/load.ts` fills them). */
  backendConfigs(over?: Partial<BackendConfig>): BackendConfig[];
  /** The same backends for `startProxy({ backends })`. */
  proxyBackends(): ProxyBackendOpts[];
}

/** Started clusters and one teardown for all. */
export interface TestClusters {
  readonly clusters: readonly TestCluster[];
  /** Every cluster's backends, flattened. */
  backendConfigs(over?: Partial<BackendConfig>): BackendConfig[];
  destroy(): Promise<void>;
}

const DEFAULT_BACKEND: Omit<BackendConfig, 'name' | 'host' | 'port'> = {
  user: 'root',
  password: '',
  minConnections: 0,
  maxConnections: 20,
  idleTimeoutMs: 60_000,
  acquireTimeoutMs: 2000,
  connectTimeoutMs: 2000,
  maxPreparedPerConnection: 256,
  readTimeoutMs: 0,
  idleInTransactionTimeoutMs: 300_000,
  validateAfterIdleMs: 1000,
};

/**
 * Starts `count` clusters (default 2: "two clusters, each a primary + two replicas"), each with
 * `replicas` replicas, in parallel; names default to `c1`, `c2`, .... Server ids are unique across
 * all of them. If one cluster fails to start, the others are destroyed before the error is thrown.
 */
export async function startClusters(count = 2, replicas = 2, names?: readonly string[]): Promise<TestClusters> {
  const clusterNames = names ?? Array.from({ length: count }, (_, i) => `c${i + 1}`);
  if (clusterNames.length !== count) throw new Error(`startClusters: ${count} clusters but ${clusterNames.length} names`);
  const results = await Promise.allSettled(clusterNames.map(() => startReplicaSet(replicas)));
  const sets = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(sets.map((s) => s.destroy().catch(() => undefined)));
    throw failed.reason;
  }
  const clusters = sets.map((set, i) => makeCluster(clusterNames[i], set));
  return {
    clusters,
    backendConfigs: (over) => clusters.flatMap((c) => c.backendConfigs(over)),
    destroy: async () => {
      await Promise.all(sets.map((s) => s.destroy()));
    },
  };
}

/** "Two clusters, each a primary + two replicas." */
export function startTwoClusters(): Promise<TestClusters> {
  return startClusters(2, 2);
}

function makeCluster(name: string, set: ReplicaSet): TestCluster {
  const servers = [set.primary, ...set.replicas];
  const backendNames = [`${name}-primary`, ...set.replicas.map((_, i) => `${name}-replica${i + 1}`)];
  return {
    name,
    set,
    primary: set.primary,
    replicas: set.replicas,
    backendNames,
    clusterConfig: (over = {}) => ({
      name,
      primary: backendNames[0],
      replicas: backendNames.slice(1).map((backend) => ({ backend, weight: 1 })),
      maxReplicationLagS: 5,
      noHealthyReplica: 'primary',
      ...over,
    }),
    backendConfigs: (over = {}) => servers.map((s, i) => ({ ...DEFAULT_BACKEND, name: backendNames[i], host: s.host, port: s.port, ...over })),
    proxyBackends: () => servers.map((s, i) => ({ name: backendNames[i], host: s.host, port: s.port })),
  };
}
