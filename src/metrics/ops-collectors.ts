import * as client from 'prom-client';
import type { TopologySnapshot } from '../backend/topology';

/**
 * Where tenant statements were sent: plain fields bumped once per routed statement (no prom-client
 * call on the statement path), exported at scrape time. `pinned`: the session's pinned connection
 * (inside a transaction or with session state), not a fresh routing choice.
 */
export class RouteCounts {
  primary = 0;
  replica = 0;
  pinned = 0;
}

/** Plan-cache counts as the cache keeps them (see `PlanCache`). */
export interface PlanCacheCounts {
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
  readonly size: number;
}

/** What the collectors read at scrape time. */
export interface OpsSources {
  routes: RouteCounts;
  /** The live topology snapshot, or null without clusters. */
  topology: () => TopologySnapshot | null;
  planCache: () => PlanCacheCounts;
  /** node-sql-parser failures (the scanner's answer stood). */
  parseFailures: () => number;
}

/** Health states of a backend as the topology names them (one series each, value 1 for the current one). */
const STATES = ['unknown', 'up', 'lagging', 'stopped', 'down', 'read_only_primary'] as const;

/**
 * Registers the routing, backend health and plan-cache metrics in `registry`. Everything is computed
 * at scrape time from existing state, so the statement path pays at most a field increment.
 */
export function registerOpsCollectors(registry: client.Registry, src: OpsSources): void {
  const registers = [registry];
  new client.Counter({
    name: 'tenantgate_routed_statements_total',
    help: 'Tenant statements by route: primary or replica as chosen by the router, pinned when run on the session\'s pinned connection',
    labelNames: ['route'], registers,
    collect() {
      this.reset();
      this.inc({ route: 'primary' }, src.routes.primary);
      this.inc({ route: 'replica' }, src.routes.replica);
      this.inc({ route: 'pinned' }, src.routes.pinned);
    },
  });
  // One series per (cluster, backend, role): a backend may serve several clusters.
  const members = (snap: TopologySnapshot | null) =>
    snap ? [...snap.clusters.values()].flatMap((c) => [c.primary, ...c.replicas].map((m) => ({ cluster: c.name, m }))) : [];
  new client.Gauge({
    name: 'tenantgate_backend_up',
    help: '1 while the backend is in rotation for its role (primary: reachable and writable; replica: replicating within the lag limit)',
    labelNames: ['cluster', 'backend', 'role'], registers,
    collect() {
      this.reset();
      for (const { cluster, m } of members(src.topology())) this.set({ cluster, backend: m.backend, role: m.role }, m.inRotation ? 1 : 0);
    },
  });
  new client.Gauge({
    name: 'tenantgate_backend_health_state',
    help: 'Health state of each cluster member (1 for the current state, 0 for the others)',
    labelNames: ['cluster', 'backend', 'role', 'state'], registers,
    collect() {
      this.reset();
      for (const { cluster, m } of members(src.topology())) {
        for (const state of STATES) this.set({ cluster, backend: m.backend, role: m.role, state }, m.state === state ? 1 : 0);
      }
    },
  });
  new client.Gauge({
    name: 'tenantgate_backend_replication_lag_seconds',
    help: 'Replication lag of each replica at its last probe (absent while unknown)',
    labelNames: ['backend'], registers,
    collect() {
      this.reset();
      const seen = new Set<string>();
      for (const { m } of members(src.topology())) {
        if (m.role !== 'replica' || m.lagS === null || seen.has(m.backend)) continue;
        seen.add(m.backend);
        this.set({ backend: m.backend }, m.lagS);
      }
    },
  });
  const cacheCounter = (name: string, help: string, pick: (c: PlanCacheCounts) => number) =>
    new client.Counter({
      name, help, registers,
      collect() {
        this.reset();
        this.inc(pick(src.planCache()));
      },
    });
  cacheCounter('tenantgate_plan_cache_hits_total', 'Plan-cache lookups that found a decision', (c) => c.hits);
  cacheCounter('tenantgate_plan_cache_misses_total', 'Plan-cache lookups that did not (the statement was decided in full)', (c) => c.misses);
  cacheCounter('tenantgate_plan_cache_evictions_total', 'Decisions dropped from the full plan cache (least recently used first)', (c) => c.evictions);
  new client.Gauge({
    name: 'tenantgate_plan_cache_entries', help: 'Decisions in the plan cache', registers,
    collect() {
      this.set(src.planCache().size);
    },
  });
  new client.Counter({
    name: 'tenantgate_parse_failures_total', help: 'Statements the SQL parser (second opinion on a plan-cache miss) could not parse; the scanner\'s answer stood', registers,
    collect() {
      this.reset();
      this.inc(src.parseFailures());
    },
  });
}
