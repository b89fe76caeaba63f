/**
 * Backend health as values: what one probe saw ({@link HealthSample}), the policy it is judged by,
 * and the pure fold {@link nextHealth} that turns the previous health and a new sample into the
 * next health, with hysteresis on the way back into rotation and probe backoff while a host is down.
 */

/** One replication channel as `SHOW ALL SLAVES STATUS` reports it. */
export interface ReplicationChannel {
  /** `Connection_name`; '' for the default channel. */
  readonly name: string;
  /** `Slave_IO_Running`: Yes / No / Connecting. */
  readonly io: 'yes' | 'no' | 'connecting';
  /** `Slave_SQL_Running` = Yes. */
  readonly sqlRunning: boolean;
  /** `Seconds_Behind_Master`; null while a thread is not running. */
  readonly secondsBehindMaster: number | null;
  readonly lastIoError: string;
  readonly lastSqlError: string;
}

/** What one probe of one backend saw. Plain data; the monitor produces it, nothing else does I/O. */
export interface HealthSample {
  readonly backend: string;
  /** When the probe started (ms since the epoch). */
  readonly at: number;
  /** Why it ran: the regular interval, or at once because the monitor's connection dropped. */
  readonly trigger: 'interval' | 'connection_lost';
  /** Connected (or the kept connection answered) and the probe queries completed in time. */
  readonly reachable: boolean;
  /** Why not reachable (connect/ping/timeout failure), else null. */
  readonly error: string | null;
  /** Round trip of the ping, ms; null when unreachable. */
  readonly pingMs: number | null;
  readonly readOnly: boolean | null;
  readonly gtidCurrentPos: string | null;
  readonly gtidBinlogPos: string | null;
  /** `@@gtid_slave_pos`: what this server has applied as a replica (what MASTER_GTID_WAIT checks). */
  readonly gtidSlavePos: string | null;
  /** Replication channels; null when they could not be read (see replicationError). */
  readonly replication: readonly ReplicationChannel[] | null;
  readonly replicationError: string | null;
  /**
   * Lag estimated from GTIDs against the cluster primary's recent positions (see
   * `estimateLagSeconds`); filled in by the topology for replicas, null when unknown.
   */
  readonly gtidLagS: number | null;
}

/** Named health states. `unknown` only before the first sample. */
export type HealthStateName = 'unknown' | 'up' | 'lagging' | 'stopped' | 'down' | 'read_only_primary';

/** How a backend's samples are judged; one per role in a cluster. */
export interface HealthPolicy {
  readonly role: 'primary' | 'replica';
  /** A replica lagging more than this leaves rotation (cluster `max_replication_lag`). */
  readonly maxReplicationLagS: number;
  /** Consecutive good samples a backend needs to return to rotation after leaving it. */
  readonly riseCount: number;
  /** Regular probe interval (`monitor.interval_ms`). */
  readonly intervalMs: number;
  /** Longest probe interval while a backend stays down (the backoff doubles up to this). */
  readonly maxBackoffMs: number;
  /** Leaving rotation `flapCount` times within `flapWindowMs` marks a backend as flapping... */
  readonly flapWindowMs: number;
  readonly flapCount: number;
  /** ...and multiplies the good samples it needs to return by this. */
  readonly flapRiseFactor: number;
}

/** Defaults for `monitor.*` (config keys in parentheses). */
export const DEFAULT_MONITOR = {
  /** (`monitor.interval_ms`) */
  intervalMs: 1000,
  /** (`monitor.timeout_ms`) bound of one whole probe: connect, ping, queries. */
  timeoutMs: 1000,
  /** (`monitor.rise_count`) for replicas; a primary returns on its first good sample. */
  riseCount: 3,
  /** (`monitor.max_backoff_ms`) */
  maxBackoffMs: 10_000,
  /** (`monitor.flap_window_ms`, `monitor.flap_count`, `monitor.flap_rise_factor`) */
  flapWindowMs: 60_000,
  flapCount: 3,
  flapRiseFactor: 3,
} as const;

/** The health of one backend in one role, after the samples so far. */
export interface Health {
  readonly state: HealthStateName;
  /** Replica: may take reads. Primary: may take writes. */
  readonly inRotation: boolean;
  /** Why, for people: logs, events, the admin /health page, error messages. */
  readonly reason: string;
  /** Lag used for the decision (max of Seconds_Behind_Master and the GTID estimate), s. */
  readonly lagS: number | null;
  /** When `state` or `inRotation` last changed (ms since the epoch). */
  readonly since: number;
  readonly goodStreak: number;
  readonly downStreak: number;
  /** When it left rotation within the flap window, oldest first. */
  readonly exits: readonly number[];
  readonly flapping: boolean;
  /** Delay before the next probe. */
  readonly nextProbeInMs: number;
}

/** Health before any sample: a replica stays out of rotation, a primary is presumed writable. */
export function initialHealth(policy: HealthPolicy, now: number): Health {
  const primary = policy.role === 'primary';
  return {
    state: 'unknown',
    inRotation: primary,
    reason: 'not probed yet',
    lagS: null,
    since: now,
    goodStreak: 0,
    downStreak: 0,
    exits: [],
    flapping: false,
    nextProbeInMs: 0,
  };
}

/** The verdict on one sample alone, before hysteresis. */
export interface SampleVerdict {
  readonly state: Exclude<HealthStateName, 'unknown'>;
  readonly reason: string;
  readonly lagS: number | null;
}

/** Judges one sample by itself. Pure. */
export function judgeSample(sample: HealthSample, policy: HealthPolicy): SampleVerdict {
  if (!sample.reachable) return { state: 'down', reason: `unreachable: ${sample.error ?? 'no answer'}`, lagS: null };
  if (policy.role === 'primary') {
    if (sample.readOnly === true) return { state: 'read_only_primary', reason: 'primary has read_only=ON', lagS: null };
    return { state: 'up', reason: 'writable', lagS: null };
  }
  const chans = sample.replication;
  if (chans === null) return { state: 'stopped', reason: `replication status unreadable: ${sample.replicationError ?? 'unknown error'}`, lagS: null };
  if (chans.length === 0) return { state: 'stopped', reason: 'not replicating (SHOW ALL SLAVES STATUS is empty)', lagS: null };
  let sbm: number | null = null;
  for (const c of chans) {
    const ch = c.name === '' ? '' : ` on channel '${c.name}'`;
    if (!c.sqlRunning) return { state: 'stopped', reason: `SQL thread stopped${ch}${c.lastSqlError ? `: ${c.lastSqlError}` : ''}`, lagS: sample.gtidLagS };
    if (c.io === 'no') return { state: 'stopped', reason: `IO thread stopped${ch}${c.lastIoError ? `: ${c.lastIoError}` : ''}`, lagS: sample.gtidLagS };
    if (c.io === 'connecting') return { state: 'stopped', reason: `IO thread still connecting to its primary${ch}${c.lastIoError ? `: ${c.lastIoError}` : ''}`, lagS: sample.gtidLagS };
    if (c.secondsBehindMaster !== null && (sbm === null || c.secondsBehindMaster > sbm)) sbm = c.secondsBehindMaster;
  }
  const lagS = maxOrNull(sbm, sample.gtidLagS);
  if (lagS !== null && lagS > policy.maxReplicationLagS) {
    const from = sample.gtidLagS !== null && (sbm === null || sample.gtidLagS > sbm) ? 'by GTID' : 'Seconds_Behind_Master';
    return { state: 'lagging', reason: `lag ${fmtS(lagS)} s (${from}) > max ${policy.maxReplicationLagS} s`, lagS };
  }
  return { state: 'up', reason: `replicating, lag ${lagS === null ? 'unknown' : `${fmtS(lagS)} s`}`, lagS };
}

/**
 * Next health of a backend after `sample`. Pure.
 * - A bad sample takes it out of rotation at once (a replica that is down, stopped or lagging must
 *   not serve one more read than necessary).
 * - Back in rotation only after `riseCount` consecutive good samples (× `flapRiseFactor` while
 *   flapping). The first sample ever is trusted at once, so a fresh proxy does not send every
 *   read to the primary for `riseCount` intervals.
 * - While down, probes back off exponentially (interval, 2×, 4×, ... up to `maxBackoffMs`), so a dead
 *   host is not hammered with connection attempts.
 */
export function nextHealth(prev: Health, sample: HealthSample, policy: HealthPolicy): Health {
  const v = judgeSample(sample, policy);
  const now = sample.at;
  const good = v.state === 'up';
  const goodStreak = good ? prev.goodStreak + 1 : 0;
  const downStreak = v.state === 'down' ? prev.downStreak + 1 : 0;
  const exitsInWindow = prev.exits.filter((t) => now - t < policy.flapWindowMs);
  const flappingBefore = exitsInWindow.length >= policy.flapCount;
  const need = Math.max(1, policy.riseCount) * (flappingBefore ? Math.max(1, policy.flapRiseFactor) : 1);

  let inRotation: boolean;
  let reason = v.reason;
  if (!good) inRotation = false;
  else if (prev.inRotation || prev.state === 'unknown') inRotation = true;
  else if (goodStreak >= need) inRotation = true;
  else {
    inRotation = false;
    reason = `${v.reason}; returning after ${goodStreak} of ${need} good samples${flappingBefore ? ' (flapping)' : ''}`;
  }
  // A primary "in rotation" before its first sample has not really been admitted; it cannot exit.
  const exits = prev.inRotation && !inRotation && prev.state !== 'unknown' ? [...exitsInWindow, now] : exitsInWindow;
  const flapping = exits.length >= policy.flapCount;
  const nextProbeInMs =
    downStreak > 0 ? Math.min(policy.maxBackoffMs, policy.intervalMs * 2 ** Math.min(downStreak - 1, 20)) : policy.intervalMs;
  const changed = v.state !== prev.state || inRotation !== prev.inRotation;
  return {
    state: v.state,
    inRotation,
    reason,
    lagS: v.lagS,
    since: changed ? now : prev.since,
    goodStreak,
    downStreak,
    exits,
    flapping,
    nextProbeInMs,
  };
}

function maxOrNull(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return a > b ? a : b;
}

/** Seconds with at most millisecond precision and no trailing zeros (5.001, 12.5, 6). */
function fmtS(s: number): string {
  return String(Math.round(s * 1000) / 1000);
}
