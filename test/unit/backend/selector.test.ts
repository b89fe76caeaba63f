/**
 * selectBackend golden cases (test/fixtures/select-cases.json): a cluster in shorthand
 * (`"r1 up 3 0-1-10"` = backend, state (`/out` = not in rotation), weight, applied GTID), the
 * target, in-flight counts and the rng value, and the expected decision. On a mismatch the
 * actual decisions are written to select-cases.actual.json. Plus properties over many rng values.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatGtidPos, parseGtidPos } from '../../../src/backend/gtid';
import type { HealthStateName } from '../../../src/backend/health-state';
import { selectBackend, withoutDrained, type Selection, type SelectTarget } from '../../../src/backend/selector';
import type { ClusterSnapshot, MemberSnapshot } from '../../../src/backend/topology';
import { checkKeys, readFixture, writeActual } from './golden';

interface Case {
  comment: string;
  primary: string;
  replicas: string[];
  noHealthyReplica?: 'primary' | 'fail';
  target: 'primary' | 'replica';
  requiredGtid?: string;
  inFlight?: Record<string, number>;
  rng?: number;
  expect?: unknown;
}

const FILE = 'select-cases.json';
const cases = readFixture<Case[]>(FILE);

function member(spec: string, role: 'primary' | 'replica'): MemberSnapshot {
  const [backend, st, weight, gtid] = spec.split(' ');
  const out = st.endsWith('/out');
  const state = (out ? st.slice(0, -4) : st) as HealthStateName;
  const inRotation = !out && (state === 'up' || (role === 'primary' && state === 'unknown'));
  return {
    backend,
    role,
    weight: role === 'primary' ? 0 : Number(weight),
    state,
    inRotation,
    reason: `${state} (test)`,
    lagS: null,
    appliedGtid: gtid ? parseGtidPos(gtid) : null,
    since: 0,
  };
}

function clusterOf(c: Case): ClusterSnapshot {
  return {
    name: 'c1',
    primary: member(c.primary, 'primary'),
    replicas: c.replicas.map((r) => member(r, 'replica')),
    maxReplicationLagS: 5,
    noHealthyReplica: c.noHealthyReplica ?? 'primary',
  };
}

function targetOf(c: Case): SelectTarget {
  return c.target === 'primary' ? { kind: 'primary' } : { kind: 'replica', requiredGtid: c.requiredGtid === undefined ? null : parseGtidPos(c.requiredGtid) };
}

function view(s: Selection): unknown {
  return s.ok ? { ...s, waitGtid: s.waitGtid ? formatGtidPos(s.waitGtid) : null } : s;
}

test('fixture is well formed', () => {
  assert.ok(cases.length >= 30, `${cases.length} cases`);
  const seen = new Set<string>();
  for (const c of cases) {
    checkKeys(c.comment, c, ['comment', 'primary', 'replicas', 'noHealthyReplica', 'target', 'requiredGtid', 'inFlight', 'rng', 'expect']);
    assert.ok(!seen.has(c.comment), `duplicate comment ${c.comment}`);
    seen.add(c.comment);
    assert.ok(c.expect !== undefined, `${c.comment}: no expect`);
  }
});

test('golden decisions', () => {
  let failed = 0;
  const actual = cases.map((c) => {
    const got = view(selectBackend(targetOf(c), clusterOf(c), new Map(Object.entries(c.inFlight ?? {})), () => c.rng ?? 0));
    if (JSON.stringify(got) !== JSON.stringify(c.expect)) failed++;
    return { ...c, expect: got };
  });
  if (failed > 0) {
    const p = writeActual(FILE, actual);
    assert.unreachable(`${failed} case(s) differ from ${FILE}; actual written to ${p}`);
  }
});

/** Evenly spread rng values, so counts are exact rather than statistical. */
function sweep(n: number, f: (rng: () => number) => Selection): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const s = f(() => i / n);
    const k = s.ok ? s.backend : s.code;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

test('idle cluster: reads spread exactly in proportion to weight, never to a replica out of rotation', () => {
  const c = clusterOf({ comment: '', primary: 'p1 up', replicas: ['r1 up 1', 'r2 up 3', 'r3 lagging 5', 'r4 up/out 5'], target: 'replica' });
  const counts = sweep(1000, (rng) => selectBackend({ kind: 'replica', requiredGtid: null }, c, new Map(), rng));
  assert.equal(Object.fromEntries(counts), { r1: 250, r2: 750 });
});

test('loaded cluster: the least loaded per weight always wins, whatever the rng', () => {
  const c = clusterOf({ comment: '', primary: 'p1 up', replicas: ['r1 up 1', 'r2 up 2'], target: 'replica' });
  const counts = sweep(100, (rng) => selectBackend({ kind: 'replica', requiredGtid: null }, c, new Map([['r1', 3], ['r2', 5]]), rng));
  assert.equal(Object.fromEntries(counts), { r2: 100 });
});

test('rng values at the edges stay in range (1 - epsilon picks the last tied replica)', () => {
  const c = clusterOf({ comment: '', primary: 'p1 up', replicas: ['r1 up 1', 'r2 up 1'], target: 'replica' });
  const s = selectBackend({ kind: 'replica', requiredGtid: null }, c, new Map(), () => 1 - Number.EPSILON);
  assert.ok(s.ok && s.backend === 'r2');
});

test('withoutDrained: drained replicas leave rotation (reads go elsewhere); a drained primary stays', () => {
  const c = clusterOf({ comment: '', primary: 'p up', replicas: ['r1 up 1', 'r2 up 1'], target: 'replica' });
  for (const rng of [0, 0.5, 1 - Number.EPSILON]) {
    const s = selectBackend({ kind: 'replica', requiredGtid: null }, withoutDrained(c, new Set(['r1'])), new Map(), () => rng);
    assert.ok(s.ok && s.backend === 'r2');
  }
  const none = selectBackend({ kind: 'replica', requiredGtid: null }, withoutDrained(c, new Set(['r1', 'r2'])), new Map(), () => 0);
  assert.ok(none.ok && none.backend === 'p', 'no_healthy_replica: primary');
  assert.is(withoutDrained(c, new Set(['p'])), c);
  const w = selectBackend({ kind: 'primary' }, withoutDrained(c, new Set(['p'])), new Map(), () => 0);
  assert.ok(w.ok && w.backend === 'p');
});

test.run();
