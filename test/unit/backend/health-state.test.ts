/**
 * nextHealth golden cases (test/fixtures/health-cases.json): sequences of probe samples for one
 * backend in one role, each step with the expected state, rotation, reason, probe delay and
 * flapping flag. On a mismatch the actual sequences are written to health-cases.actual.json.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Health, type HealthPolicy, type HealthSample, initialHealth, judgeSample, nextHealth } from '../../../src/backend/health-state';
import { checkKeys, readFixture, writeActual } from './golden';

interface Channel {
  name?: string;
  io: 'yes' | 'no' | 'connecting';
  sql: boolean;
  sbm: number | null;
  ioErr?: string;
  sqlErr?: string;
}
interface Step {
  at: number;
  error?: string;
  readOnly?: boolean;
  sbm?: number;
  channels?: Channel[] | null;
  replicationError?: string;
  gtidLagS?: number;
  expect?: Expect;
}
interface Expect {
  state: string;
  inRotation: boolean;
  reason: string;
  nextProbeInMs: number;
  flapping: boolean;
  since: number;
}
interface Case {
  comment: string;
  role: 'primary' | 'replica';
  policy?: Partial<HealthPolicy>;
  initial?: Pick<Expect, 'state' | 'inRotation'>;
  steps: Step[];
}

const FILE = 'health-cases.json';
const cases = readFixture<Case[]>(FILE);

const BASE: Omit<HealthPolicy, 'role'> = {
  maxReplicationLagS: 5,
  riseCount: 3,
  intervalMs: 1000,
  maxBackoffMs: 8000,
  flapWindowMs: 60_000,
  flapCount: 3,
  flapRiseFactor: 2,
};

function policyOf(c: Case): HealthPolicy {
  const p = { ...BASE, role: c.role, ...(c.policy ?? {}) };
  // A primary returns on its first good sample (as the topology configures it).
  if (c.role === 'primary' && c.policy?.riseCount === undefined) p.riseCount = 1;
  return p;
}

function sampleOf(s: Step, role: Case['role']): HealthSample {
  checkKeys(`step at ${s.at}`, s, ['at', 'error', 'readOnly', 'sbm', 'channels', 'replicationError', 'gtidLagS', 'expect']);
  const reachable = s.error === undefined;
  const channels =
    s.channels === undefined
      ? [{ name: '', io: 'yes' as const, sqlRunning: true, secondsBehindMaster: s.sbm ?? 0, lastIoError: '', lastSqlError: '' }]
      : s.channels === null
        ? null
        : s.channels.map((c) => ({ name: c.name ?? '', io: c.io, sqlRunning: c.sql, secondsBehindMaster: c.sbm, lastIoError: c.ioErr ?? '', lastSqlError: c.sqlErr ?? '' }));
  return {
    backend: 'b1',
    at: s.at,
    trigger: 'interval',
    reachable,
    error: s.error ?? null,
    pingMs: reachable ? 0.2 : null,
    readOnly: reachable ? (s.readOnly ?? role === 'replica') : null,
    gtidCurrentPos: reachable ? '0-1-10' : null,
    gtidBinlogPos: reachable ? '0-1-10' : null,
    gtidSlavePos: reachable ? '0-1-10' : null,
    replication: reachable ? channels : null,
    replicationError: reachable ? (s.replicationError ?? null) : null,
    gtidLagS: reachable ? (s.gtidLagS ?? null) : null,
  };
}

function view(h: Health): Expect {
  return { state: h.state, inRotation: h.inRotation, reason: h.reason, nextProbeInMs: h.nextProbeInMs, flapping: h.flapping, since: h.since };
}

test('fixture is well formed', () => {
  assert.ok(cases.length >= 15, `${cases.length} cases`);
  for (const c of cases) {
    checkKeys(c.comment, c, ['comment', 'role', 'policy', 'initial', 'steps']);
    assert.ok(c.steps.length > 0, c.comment);
    for (const s of c.steps) assert.ok(s.expect, `${c.comment}: step at ${s.at} has no expect`);
  }
});

test('golden sequences', () => {
  let failed = 0;
  const actual = cases.map((c) => {
    const policy = policyOf(c);
    let h = initialHealth(policy, 0);
    const initial = { state: h.state, inRotation: h.inRotation };
    if (c.initial && (c.initial.state !== initial.state || c.initial.inRotation !== initial.inRotation)) failed++;
    const steps = c.steps.map((s) => {
      h = nextHealth(h, sampleOf(s, c.role), policy);
      const got = view(h);
      const { expect, ...input } = s;
      if (JSON.stringify(got) !== JSON.stringify(expect)) failed++;
      return { ...input, expect: got };
    });
    return { comment: c.comment, role: c.role, ...(c.policy ? { policy: c.policy } : {}), initial, steps };
  });
  if (failed > 0) {
    const p = writeActual(FILE, actual);
    assert.unreachable(`${failed} step(s) differ from ${FILE}; actual written to ${p}`);
  }
});

test('judgeSample: unreachable wins over everything else', () => {
  const p: HealthPolicy = { ...BASE, role: 'replica' };
  const v = judgeSample(sampleOf({ at: 1, error: 'boom' }, 'replica'), p);
  assert.equal(v, { state: 'down', reason: 'unreachable: boom', lagS: null });
});

test('nextHealth does not mutate its input', () => {
  const p: HealthPolicy = { ...BASE, role: 'replica' };
  const h0 = initialHealth(p, 0);
  const frozen = JSON.stringify(h0);
  nextHealth(h0, sampleOf({ at: 1000, sbm: 99 }, 'replica'), p);
  assert.is(JSON.stringify(h0), frozen);
});

test.run();
