import type { Logger } from 'pino';
import type { BackendConfig, Config, UserConfig } from '../config/types';
import type { ConfigSnapshot } from '../config/store';
import { type ConfigDiff, planPools } from '../config/diff';
import type { Backend } from '../backend/pool';
import { monitorSettings, Topology } from '../backend/topology';
import { DigestStats } from '../metrics/digest-stats';
import { buildRoutingSnapshot, type RoutingSnapshot } from '../routing/snapshot';

/** What applying a reloaded config needs of the proxy. */
export interface ReloadHost {
  readonly log: Logger;
  readonly users: Map<string, UserConfig>;
  readonly backends: Map<string, Backend>;
  routing: RoutingSnapshot;
  topology: Topology | null;
  digestStats: DigestStats;
  readonly listening: boolean;
  readonly monitorIntervalMs: number | undefined;
  newBackend(cfg: BackendConfig): Backend;
  /** Closes a dropped or replaced backend's pool once its connections come back. */
  retire(b: Backend): void;
  indexTenants(cfg: Config): void;
  /** The fast lanes, whose approvals a new config voids (null: off). */
  readonly lanes: { onConfig(): void } | null;
}

/**
 * Runs synchronously inside the store's swap: users are replaced at once; backend pools are kept
 * where the backend's settings hash is unchanged, else new pools are made and the old ones drain
 * (their borrowed connections, in-flight statements and pinned sessions, return to them and are
 * then closed). Sessions move to the new pools at their next statement outside pinned state.
 */
export function applySnapshot(host: ReloadHost, next: ConfigSnapshot, diff: ConfigDiff): void {
  const cfg = next.config;
  // Lanes skip the per-command config check: every session is JS's again, approvals are void.
  host.lanes?.onConfig();
  host.users.clear();
  for (const u of cfg.users) host.users.set(u.name, u);
  const plan = planPools([...host.backends.values()].map((b) => b.cfg), cfg.backends);
  const byName = new Map(cfg.backends.map((b) => [b.name, b]));
  const replaced = new Map<string, Backend>();
  for (const name of [...plan.replace, ...plan.remove]) {
    const old = host.backends.get(name) as Backend;
    host.backends.delete(name);
    replaced.set(name, old);
    host.retire(old);
  }
  for (const name of plan.add) host.backends.set(name, host.newBackend(byName.get(name)!));
  for (const name of plan.replace) {
    const b = host.newBackend(byName.get(name)!);
    const old = replaced.get(name);
    // Same server, other pool settings: what was learned about the server still holds, so the new
    // pool's first connections skip the collation and routine scans (costly on a busy server).
    if (old && old.cfg.host === b.cfg.host && old.cfg.port === b.cfg.port) b.inheritServerFacts(old);
    host.backends.set(name, b);
  }
  host.indexTenants(cfg);
  host.routing = buildRoutingSnapshot(cfg, next.version);
  reconfigureTopology(host, cfg);
  if (cfg.digests.maxEntries !== host.digestStats.capacity) {
    host.digestStats.reset(); // its entries go stale, so keys pointing at them are re-resolved
    host.digestStats = new DigestStats(Math.max(1, cfg.digests.maxEntries));
  }
  if (diff.restartRequired.length > 0) host.log.warn({ sections: diff.restartRequired }, 'config reload: these sections change only at restart');
  host.log.info({ version: next.version, pools: plan }, 'config applied');
}

function reconfigureTopology(host: ReloadHost, cfg: Config): void {
  if (cfg.clusters.length === 0) {
    host.topology?.stop();
    host.topology = null;
    return;
  }
  if (host.topology) {
    host.topology.configure(cfg.clusters, cfg.backends);
    return;
  }
  const t = newTopology(cfg, host.monitorIntervalMs, host.log);
  host.topology = t;
  if (host.listening) t.start();
}

/** The health monitor of the config's clusters (not started), logging its events. */
export function newTopology(cfg: Config, monitorIntervalMs: number | undefined, log: Logger): Topology {
  const t = new Topology(cfg.clusters, cfg.backends, monitorSettings(monitorIntervalMs ? { intervalMs: monitorIntervalMs } : {}));
  t.onEvent((e) => log.info({ cluster: e.cluster, backend: e.backend, role: e.role, from: e.from, to: e.to, reason: e.reason, lagS: e.lagS }, 'backend health changed'));
  return t;
}
