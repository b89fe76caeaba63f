/**
 * Which backend of a cluster runs a statement: a pure decision over the plan's target, the
 * cluster's snapshot, the in-flight statement counts and a random source.
 *
 * Replicas: those in rotation with weight > 0; the lowest in-flight count per unit of weight wins
 * (so under load each replica carries work in proportion to its weight), ties are broken at random
 * in proportion to weight (so an idle cluster still spreads reads by weight). When a read must see
 * a GTID, replicas whose last probe already showed it applied are preferred (no wait needed);
 * otherwise a replica is chosen anyway and the decision carries the GTID to wait for.
 */
import { gtidCovers, type GtidPos } from './gtid';
import type { ClusterSnapshot, MemberSnapshot } from './topology';

/** What the plan asks for. (A statement pinned to a connection never reaches the selector.) */
export type SelectTarget =
  /** Writes, transactions, side effects, unclassifiable statements. */
  | { readonly kind: 'primary' }
  /** A read that may go to a replica; `requiredGtid` is the read-your-writes position, if any. */
  | { readonly kind: 'replica'; readonly requiredGtid: GtidPos | null };

/** A backend to run the statement on. */
export interface Chosen {
  readonly ok: true;
  readonly backend: string;
  readonly role: 'primary' | 'replica';
  /**
   * Run `MASTER_GTID_WAIT` for this position on the replica first (and on timeout re-select with
   * `kind: 'primary'`); null when no wait is needed.
   */
  readonly waitGtid: GtidPos | null;
  /** Why this backend, for debug logs and golden tests. */
  readonly reason: string;
}

/** Stable codes of selection failures. */
export type SelectionErrorCode = 'PRIMARY_READ_ONLY' | 'PRIMARY_DOWN' | 'NO_HEALTHY_REPLICA';

/** No backend may run the statement: the client gets this as an ERR packet. */
export interface Refused {
  readonly ok: false;
  readonly code: SelectionErrorCode;
  readonly errno: number;
  readonly sqlState: string;
  readonly message: string;
}

export type Selection = Chosen | Refused;

/**
 * ER_OPTION_PREVENTS_STATEMENT, with the server's own wording. Chosen over a proxy-range code
 * because it is exactly what the client would get from the server itself, so drivers, ORMs and
 * failover-aware apps that already recognise a read-only primary (a failover in progress) react
 * as they are built to: reconnect and retry, or surface it. The proxy refuses before sending,
 * rather than letting the server do it, because a SUPER/READ_ONLY ADMIN backend account would
 * otherwise write to a server that was demoted on purpose.
 */
export const ER_OPTION_PREVENTS_STATEMENT = 1290;
/** The proxy's "backend unavailable" (as in `errors.ts`, ProxySQL's 9001). */
export const ER_PROXY_BACKEND_UNAVAILABLE = 9001;

/** The server's message for 1290 under read_only (MariaDB 10.11), which clients may match on. */
export const READ_ONLY_SERVER_MESSAGE = 'The MariaDB server is running with the --read-only option so it cannot execute this statement';

/**
 * Chooses a backend. Pure: same inputs, same answer. `rng` returns [0, 1) (Math.random in the
 * proxy, a seeded one in tests); `inFlight` counts statements running per backend name.
 */
export function selectBackend(target: SelectTarget, cluster: ClusterSnapshot, inFlight: ReadonlyMap<string, number>, rng: () => number): Selection {
  if (target.kind === 'primary') return writeTarget(cluster);
  const need = target.requiredGtid && target.requiredGtid.size > 0 ? target.requiredGtid : null;
  if (need) {
    const r = pick(cluster.replicas, inFlight, rng, need);
    if (r) return chosen(r.backend, 'replica', null, `replica ${r.backend}: has applied the required GTID`);
  }
  const r = pick(cluster.replicas, inFlight, rng, null);
  if (r) return chosen(r.backend, 'replica', need, need ? `replica ${r.backend}: wait for the required GTID` : `replica ${r.backend}`);
  return noReplica(cluster);
}

function writeTarget(cluster: ClusterSnapshot): Selection {
  const p = cluster.primary;
  if (p.state === 'read_only_primary') {
    return refused(
      'PRIMARY_READ_ONLY',
      ER_OPTION_PREVENTS_STATEMENT,
      'HY000',
      `${READ_ONLY_SERVER_MESSAGE} (tenantgate: primary '${p.backend}' of cluster '${cluster.name}' has read_only=ON; writes are refused until it is writable again or the config names another primary)`,
    );
  }
  if (p.state === 'down') return refused('PRIMARY_DOWN', ER_PROXY_BACKEND_UNAVAILABLE, 'HY000', `tenantgate: backend '${p.backend}' (primary of cluster '${cluster.name}') unavailable: ${p.reason}`);
  return chosen(p.backend, 'primary', null, 'primary');
}

function noReplica(cluster: ClusterSnapshot): Selection {
  const why =
    cluster.replicas.length === 0
      ? 'no replicas configured'
      : `no usable replica (${cluster.replicas.map((r) => `${r.backend}: ${r.inRotation ? 'weight 0' : `${r.state}, ${r.reason}`}`).join('; ')})`;
  if (cluster.replicas.length > 0 && cluster.noHealthyReplica === 'fail') {
    return refused('NO_HEALTHY_REPLICA', ER_PROXY_BACKEND_UNAVAILABLE, 'HY000', `tenantgate: cluster '${cluster.name}' has ${why}, and no_healthy_replica is 'fail'`);
  }
  const p = cluster.primary;
  // A read-only primary still serves reads.
  if (p.state === 'down') return refused('PRIMARY_DOWN', ER_PROXY_BACKEND_UNAVAILABLE, 'HY000', `tenantgate: cluster '${cluster.name}' has ${why}, and its primary '${p.backend}' is unavailable: ${p.reason}`);
  return chosen(p.backend, 'primary', null, `primary: ${why}`);
}

/**
 * Least in-flight per weight among eligible replicas, ties at random by weight. No allocation:
 * three passes over a handful of replicas.
 */
function pick(replicas: readonly MemberSnapshot[], inFlight: ReadonlyMap<string, number>, rng: () => number, need: GtidPos | null): MemberSnapshot | null {
  let bestLoad = -1;
  let bestWeight = 1;
  for (const r of replicas) {
    if (!eligible(r, need)) continue;
    const load = inFlight.get(r.backend) ?? 0;
    // load/weight < bestLoad/bestWeight, without floating point.
    if (bestLoad < 0 || load * bestWeight < bestLoad * r.weight) {
      bestLoad = load;
      bestWeight = r.weight;
    }
  }
  if (bestLoad < 0) return null;
  let total = 0;
  for (const r of replicas) if (eligible(r, need) && (inFlight.get(r.backend) ?? 0) * bestWeight === bestLoad * r.weight) total += r.weight;
  let x = rng() * total;
  let last: MemberSnapshot | null = null;
  for (const r of replicas) {
    if (!eligible(r, need) || (inFlight.get(r.backend) ?? 0) * bestWeight !== bestLoad * r.weight) continue;
    last = r;
    x -= r.weight;
    if (x < 0) return r;
  }
  return last;
}

function eligible(r: MemberSnapshot, need: GtidPos | null): boolean {
  return r.inRotation && r.weight > 0 && (need === null || (r.appliedGtid !== null && gtidCovers(r.appliedGtid, need)));
}

function chosen(backend: string, role: 'primary' | 'replica', waitGtid: GtidPos | null, reason: string): Chosen {
  return { ok: true, backend, role, waitGtid, reason };
}

function refused(code: SelectionErrorCode, errno: number, sqlState: string, message: string): Refused {
  return { ok: false, code, errno, sqlState, message };
}

/**
 * The cluster as the selector should see it while an operator has drained some backends (admin
 * API): drained replicas leave rotation, so reads go to the other replicas (or, per
 * no_healthy_replica, the primary) instead of failing there. A drained primary stays: writes to it
 * fail with the pool's "drained" error, which is what draining the primary means.
 */
export function withoutDrained(cluster: ClusterSnapshot, drained: ReadonlySet<string>): ClusterSnapshot {
  if (!cluster.replicas.some((r) => drained.has(r.backend))) return cluster;
  return {
    ...cluster,
    replicas: cluster.replicas.map((r) => (drained.has(r.backend) ? { ...r, inRotation: false, reason: 'drained by an operator' } : r)),
  };
}
