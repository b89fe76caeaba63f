/**
 * Clusters from config plus live health → an immutable {@link TopologySnapshot} the selector reads,
 * and {@link TopologyEvent}s when a member changes state or rotation (for logs and metrics).
 *
 * The statement path only reads `topology.snapshot()` (a field); every sample replaces the snapshot
 * with a new value, so a statement that took one sees a consistent picture.
 *
 * Wiring, in outline:
 * ```ts
 * const topo = new Topology(cfg.clusters, cfg.backends, monitorSettings(cfg.monitor));
 * topo.onEvent((e) => log.info(e, 'backend health changed'));
 * topo.start();                                  // on reload: topo.configure(...); on exit: topo.stop()
 * // per statement (plan.target from the planner, inFlight kept by the statement lifecycle):
 * const sel = selectBackend(plan.target, topo.snapshot().clusters.get(plan.cluster)!, inFlight, Math.random);
 * // sel.ok === false → send ERR sel.errno / sel.sqlState / sel.message
 * // sel.waitGtid     → on the leased replica connection run masterGtidWaitSql(sel.waitGtid, ms);
 * //                    interpretGtidWait(cell): 'reached' → run the read there; otherwise release
 * //                    and re-select with { kind: 'primary' }
 * // after a write    → rywStore.recordWrite(scopeKey, parseGtidPos(lastGtidFromSessionState(ok.sessionState)))
 * ```
 */
import { estimateLagSeconds, type GtidObservation, type GtidPos, tryParseGtidPos } from './gtid';
import { DEFAULT_MONITOR, type Health, type HealthPolicy, type HealthSample, type HealthStateName, initialHealth, nextHealth } from './health-state';
import { HealthMonitor, type MonitoredBackend } from './health-monitor';

/** A primary with weighted replicas, as the config engineer's loader produces it. */
export interface ClusterConfig {
  readonly name: string;
  /** Backend name of the primary. */
  readonly primary: string;
  readonly replicas: readonly { readonly backend: string; readonly weight: number }[];
  /** Replicas lagging more than this leave rotation. */
  readonly maxReplicationLagS: number;
  /** No replica in rotation: read from the primary, or fail the read. */
  readonly noHealthyReplica: 'primary' | 'fail';
}

/** `monitor.*` settings; every field has a default ({@link DEFAULT_MONITOR}). */
export interface MonitorSettings {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly riseCount: number;
  readonly maxBackoffMs: number;
  readonly flapWindowMs: number;
  readonly flapCount: number;
  readonly flapRiseFactor: number;
  readonly user?: string;
  readonly password?: string;
}

/** One backend in one cluster role, as the selector sees it. */
export interface MemberSnapshot {
  readonly backend: string;
  readonly role: 'primary' | 'replica';
  /** Config weight (replicas); 0 for the primary. */
  readonly weight: number;
  readonly state: HealthStateName;
  readonly inRotation: boolean;
  readonly reason: string;
  readonly lagS: number | null;
  /** What this replica has applied (`gtid_slave_pos`) at the last probe; null for a primary or unknown. */
  readonly appliedGtid: GtidPos | null;
  /** When state or rotation last changed (ms since the epoch). */
  readonly since: number;
}

/** One cluster's members and rules at one moment. */
export interface ClusterSnapshot {
  readonly name: string;
  readonly primary: MemberSnapshot;
  readonly replicas: readonly MemberSnapshot[];
  readonly maxReplicationLagS: number;
  readonly noHealthyReplica: 'primary' | 'fail';
}

/** Every cluster at one moment. `version` grows with every change. */
export interface TopologySnapshot {
  readonly version: number;
  readonly clusters: ReadonlyMap<string, ClusterSnapshot>;
}

/** A member changed state or rotation. */
export interface TopologyEvent {
  readonly type: 'member_changed';
  readonly cluster: string;
  readonly backend: string;
  readonly role: 'primary' | 'replica';
  readonly from: { readonly state: HealthStateName; readonly inRotation: boolean };
  readonly to: { readonly state: HealthStateName; readonly inRotation: boolean };
  readonly reason: string;
  readonly lagS: number | null;
  readonly at: number;
}

interface Member {
  readonly cluster: string;
  readonly backend: string;
  readonly role: 'primary' | 'replica';
  readonly weight: number;
  policy: HealthPolicy;
  health: Health;
  applied: GtidPos | null;
}

/** Primary positions kept for GTID lag estimates: only changes, at most this many, this recent. */
const HISTORY_MAX = 2000;
const HISTORY_MIN_WINDOW_MS = 60_000;

/** Fills `monitor.*` defaults. */
export function monitorSettings(partial: Partial<MonitorSettings> = {}): MonitorSettings {
  return { ...DEFAULT_MONITOR, ...partial };
}

/** The health policy of one member. Pure. A primary returns on its first good sample: it has no stand-in. */
export function memberPolicy(cluster: ClusterConfig, role: 'primary' | 'replica', m: MonitorSettings): HealthPolicy {
  return {
    role,
    maxReplicationLagS: cluster.maxReplicationLagS,
    riseCount: role === 'primary' ? 1 : m.riseCount,
    intervalMs: m.intervalMs,
    maxBackoffMs: Math.max(m.intervalMs, m.maxBackoffMs),
    flapWindowMs: m.flapWindowMs,
    flapCount: m.flapCount,
    flapRiseFactor: m.flapRiseFactor,
  };
}

function memberKey(cluster: string, backend: string, role: string): string {
  return `${cluster}\0${role}\0${backend}`;
}

function snapshotOf(m: Member): MemberSnapshot {
  const h = m.health;
  return {
    backend: m.backend,
    role: m.role,
    weight: m.weight,
    state: h.state,
    inRotation: h.inRotation,
    reason: h.reason,
    lagS: h.lagS,
    appliedGtid: m.applied,
    since: h.since,
  };
}

/**
 * Live topology: one {@link HealthMonitor} per backend named by any cluster, health per cluster
 * member, the current snapshot, and change events. `ingest` is the seam between probing and
 * judging; tests can drive it with hand-made samples.
 */
export class Topology {
  private clusters: readonly ClusterConfig[] = [];
  private readonly monitors = new Map<string, { monitor: HealthMonitor; key: string }>();
  private members = new Map<string, Member>();
  /** Per cluster: the primary's binlog positions as first seen, oldest first. */
  private history = new Map<string, GtidObservation[]>();
  private current: TopologySnapshot = { version: 0, clusters: new Map() };
  private listeners: ((e: TopologyEvent) => void)[] = [];
  private sampleListeners: ((s: HealthSample) => void)[] = [];
  private started = false;

  constructor(
    clusters: readonly ClusterConfig[],
    backends: readonly MonitoredBackend[],
    private settings: MonitorSettings = monitorSettings(),
  ) {
    this.configure(clusters, backends, settings);
  }

  /** The current snapshot. Cheap: a field read. */
  snapshot(): TopologySnapshot {
    return this.current;
  }

  /** Subscribes to member changes; returns the unsubscribe function. */
  onEvent(fn: (e: TopologyEvent) => void): () => void {
    this.listeners.push(fn);
    return () => {
      this.listeners = this.listeners.filter((f) => f !== fn);
    };
  }

  /** Subscribes to every sample (for metrics such as ping time and lag); returns the unsubscribe function. */
  onSample(fn: (s: HealthSample) => void): () => void {
    this.sampleListeners.push(fn);
    return () => {
      this.sampleListeners = this.sampleListeners.filter((f) => f !== fn);
    };
  }

  /** Starts the monitors. */
  start(): void {
    this.started = true;
    for (const { monitor } of this.monitors.values()) monitor.start();
  }

  /** Stops the monitors and closes their connections. */
  stop(): void {
    this.started = false;
    for (const { monitor } of this.monitors.values()) monitor.stop();
  }

  /**
   * Applies a new config (reload): monitors of unchanged backends keep running and members keep
   * their health; new members start from {@link initialHealth}; removed ones are dropped.
   */
  configure(clusters: readonly ClusterConfig[], backends: readonly MonitoredBackend[], settings: MonitorSettings = this.settings): void {
    const byName = new Map(backends.map((b) => [b.name, b] as const));
    for (const c of clusters) {
      for (const name of [c.primary, ...c.replicas.map((r) => r.backend)]) {
        if (!byName.has(name)) throw new Error(`cluster '${c.name}' names unknown backend '${name}'`);
      }
    }
    const now = Date.now();
    const members = new Map<string, Member>();
    for (const c of clusters) {
      const add = (backend: string, role: 'primary' | 'replica', weight: number) => {
        const key = memberKey(c.name, backend, role);
        const policy = memberPolicy(c, role, settings);
        const old = this.members.get(key);
        members.set(key, old ? { ...old, weight, policy } : { cluster: c.name, backend, role, weight, policy, health: initialHealth(policy, now), applied: null });
      };
      add(c.primary, 'primary', 0);
      for (const r of c.replicas) add(r.backend, 'replica', r.weight);
    }
    const settingsKey = `${settings.timeoutMs}\0${settings.user ?? ''}\0${settings.password ?? ''}`;
    const wanted = new Set([...members.values()].map((m) => m.backend));
    for (const [name, entry] of this.monitors) {
      const b = byName.get(name);
      if (!wanted.has(name) || !b || entry.key !== monitorKey(b, settingsKey)) {
        entry.monitor.stop();
        this.monitors.delete(name);
      }
    }
    for (const name of wanted) {
      if (this.monitors.has(name)) continue;
      const b = byName.get(name) as MonitoredBackend;
      const monitor = new HealthMonitor(b, { timeoutMs: settings.timeoutMs, user: settings.user, password: settings.password }, (s) => this.ingest(s));
      this.monitors.set(name, { monitor, key: monitorKey(b, settingsKey) });
      if (this.started) monitor.start();
    }
    for (const name of this.history.keys()) if (!clusters.some((c) => c.name === name)) this.history.delete(name);
    this.clusters = clusters;
    this.settings = settings;
    this.members = members;
    this.rebuild();
  }

  /**
   * Judges one sample for every member that backend is, publishes the new snapshot and events,
   * and answers the delay before that backend's next probe.
   */
  ingest(sample: HealthSample): number {
    const events: TopologyEvent[] = [];
    let delay = Infinity;
    // Usually one member; more when a backend belongs to several clusters (or roles).
    const mine = [...this.members.values()].filter((m) => m.backend === sample.backend);
    for (const m of mine) {
      let s = sample;
      if (m.role === 'primary') this.notePrimaryPosition(m.cluster, sample);
      else {
        m.applied = sample.reachable ? tryParseGtidPos(sample.gtidSlavePos) : m.applied;
        const hist = this.history.get(m.cluster);
        const gtidLagS = sample.reachable && m.applied && hist ? estimateLagSeconds(m.applied, hist, sample.at) : null;
        s = { ...sample, gtidLagS };
      }
      const prev = m.health;
      m.health = nextHealth(prev, s, m.policy);
      delay = Math.min(delay, m.health.nextProbeInMs);
      if (prev.state !== m.health.state || prev.inRotation !== m.health.inRotation) {
        events.push({
          type: 'member_changed',
          cluster: m.cluster,
          backend: m.backend,
          role: m.role,
          from: { state: prev.state, inRotation: prev.inRotation },
          to: { state: m.health.state, inRotation: m.health.inRotation },
          reason: m.health.reason,
          lagS: m.health.lagS,
          at: sample.at,
        });
      }
    }
    this.rebuild();
    for (const fn of this.sampleListeners) safely(fn, sample);
    for (const e of events) for (const fn of this.listeners) safely(fn, e);
    return delay === Infinity ? this.settings.intervalMs : delay;
  }

  private notePrimaryPosition(cluster: string, sample: HealthSample): void {
    const pos = sample.reachable ? tryParseGtidPos(sample.gtidBinlogPos) : null;
    if (!pos) return;
    let hist = this.history.get(cluster);
    if (!hist) this.history.set(cluster, (hist = []));
    const last = hist[hist.length - 1];
    if (!last || !samePos(last.pos, pos)) hist.push({ at: sample.at, pos });
    const c = this.clusters.find((x) => x.name === cluster);
    const windowMs = Math.max(HISTORY_MIN_WINDOW_MS, (c ? c.maxReplicationLagS : 0) * 10_000);
    // Keep the newest observation whatever its age: it is the primary's current position.
    while (hist.length > 1 && (hist.length > HISTORY_MAX || sample.at - hist[0].at > windowMs)) hist.shift();
  }

  private rebuild(): void {
    const clusters = new Map<string, ClusterSnapshot>();
    for (const c of this.clusters) {
      const get = (b: string, role: 'primary' | 'replica') => snapshotOf(this.members.get(memberKey(c.name, b, role)) as Member);
      clusters.set(c.name, {
        name: c.name,
        primary: get(c.primary, 'primary'),
        replicas: c.replicas.map((r) => get(r.backend, 'replica')),
        maxReplicationLagS: c.maxReplicationLagS,
        noHealthyReplica: c.noHealthyReplica,
      });
    }
    this.current = { version: this.current.version + 1, clusters };
  }
}

/** A listener (logs, metrics) that throws must not stop monitoring or the other listeners. */
function safely<T>(fn: (v: T) => void, v: T): void {
  try {
    fn(v);
  } catch {
    // Listeners report their own failures; the topology keeps going.
  }
}

function monitorKey(b: MonitoredBackend, settingsKey: string): string {
  return `${b.host}\0${b.port}\0${b.user}\0${b.password}\0${b.connectTimeoutMs}\0${settingsKey}`;
}

function samePos(a: GtidPos, b: GtidPos): boolean {
  if (a.size !== b.size) return false;
  for (const [d, g] of a) {
    const o = b.get(d);
    if (!o || o.seq !== g.seq || o.server !== g.server) return false;
  }
  return true;
}
