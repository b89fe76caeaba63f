import type { Config } from '../config/types';
import type { ConfigStore } from '../config/store';
import type { Backend } from '../backend/pool';
import type { Topology } from '../backend/topology';
import { clusterReadiness } from '../admin/readiness';
import { scanStatement } from '../classify/digest';
import { pinNames } from '../session/pins';
import type { ClientSession } from './client-session';
import type { ProxyStats } from './proxy';

/** What the admin API's readiness and status views read of the proxy. */
export interface AdminViewHost {
  readonly config: Config;
  readonly store: ConfigStore;
  readonly topology: Topology | null;
  readonly backends: Map<string, Backend>;
  readonly sessions: Map<number, ClientSession>;
  readonly retired: Set<Backend>;
  readonly listening: boolean;
  readonly isStopping: boolean;
  readonly serverVersion: string;
  readonly startedAt: number;
  stats(): ProxyStats;
}

export function readiness(host: AdminViewHost): { ready: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (!host.listening || host.isStopping) reasons.push('not listening');
  // Clusters: their primaries as the health monitor judges them. Users mapped straight to a
  // backend (passthrough, or a cluster-less config): that pool's last connect attempt.
  const topo = host.topology;
  if (topo) reasons.push(...clusterReadiness(topo.snapshot(), host.config.tenants.map((t) => t.cluster)));
  const judged = new Set<string>(topo ? host.config.clusters.map((c) => c.primary) : []);
  const used = new Set<string>([...(topo ? [] : host.config.clusters.map((c) => c.primary)), ...host.config.users.map((u) => u.backend)]);
  for (const name of used) {
    if (judged.has(name)) continue;
    const b = host.backends.get(name);
    if (!b) continue;
    // The pool's last connection attempt failed and none has succeeded since.
    if (b.failures > 0) reasons.push(`backend ${name} unreachable: ${b.lastError?.message ?? 'connect failed'}`);
  }
  return { ready: reasons.length === 0, reasons };
}

export function statusView(host: AdminViewHost): object {
  const snap = host.store.current;
  return {
    version: host.serverVersion,
    uptimeSeconds: Math.round((Date.now() - host.startedAt) / 1000),
    config: { version: snap.version, appliedAt: snap.appliedAt, source: snap.source, file: host.store.file },
    sessions: host.sessions.size,
    backends: host.stats().backends,
    drainingPools: host.retired.size,
    stopping: host.isStopping,
  };
}

export function listSessions(sessions: Iterable<ClientSession>, config: Config): object[] {
  const now = Date.now();
  const tenantOf = new Map<string, string>();
  for (const t of config.tenants) for (const u of t.users) tenantOf.set(u, t.id);
  const out: object[] = [];
  for (const s of sessions) {
    const cur = s.current;
    let digest: string | null = null;
    if (cur && cur.sql) {
      try {
        digest = scanStatement(cur.sql, 1, cur.sql.length).digest;
      } catch {
        digest = null;
      }
    }
    out.push({
      id: s.id,
      user: s.user?.name ?? null,
      tenant: s.tenant ? s.tenant.tenant : s.user ? (tenantOf.get(s.user.name) ?? null) : null,
      client: s.remoteHost,
      state: s.state,
      pinned: s.st.pins !== 0,
      pins: pinNames(s.st.pins),
      backend: s.backend?.cfg.name ?? null,
      command: cur ? cur.command : null,
      digest,
      durationMs: cur ? now - cur.startedAt : null,
    });
  }
  return out;
}
