/**
 * Golden route cases (test/fixtures/route-cases.json), Vitess planbuilder style:
 * `{comment, snapshot, session, sql, plan}`; unknown fields are rejected and, when any plan differs,
 * the actual plans are written to route-cases.actual.json. Each case is decided through the plan
 * cache (shared by all cases, as in a running proxy) and without it: both must agree.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { scanStatement } from '../../../src/classify/digest';
import { PlanCache } from '../../../src/classify/plan-cache';
import { placementFor } from '../../../src/routing/placement';
import { decideStatement, type CachedDecision, type StatementDecision } from '../../../src/routing/route';
import { applyRewrites } from '../../../src/routing/rewrite';
import { jsonEqual, readCases, removeActual, writeActual } from '../../helpers/golden';
import { snapshotNamed } from '../../helpers/routing-fixtures';

interface Session {
  tenant: string;
  inTransaction?: boolean;
  pinned?: boolean;
  lastWriteGtid?: string;
  tenantLastWriteGtid?: string;
  hint?: 'primary' | 'replica';
}
interface Case {
  comment: string;
  snapshot: string;
  session: Session;
  sql: string;
  plan: unknown;
}

const FILE = 'route-cases.json';
const cases = readCases<Case>(FILE, ['comment', 'snapshot', 'session', 'sql', 'plan'], ['comment', 'snapshot', 'session', 'sql', 'plan']);
const SESSION_KEYS = ['tenant', 'inTransaction', 'pinned', 'lastWriteGtid', 'tenantLastWriteGtid', 'hint'];

function view(d: StatementDecision, buf: Buffer): unknown {
  if (d.action === 'refuse') return { refuse: `${d.errno} ${d.sqlState} ${d.message}` };
  if (d.action === 'answer') return { answer: d.answer };
  const p = d.plan;
  return {
    target: p.target,
    cluster: p.cluster,
    schema: p.schema,
    identity: `${p.identity.tenant}/${p.identity.backendUser}`,
    ...(p.waitGtid ? { waitGtid: p.waitGtid } : {}),
    reason: p.reason,
    ...(d.rewrites.length ? { sql: applyRewrites(buf, 0, buf.length, d.rewrites).toString('utf8') } : {}),
  };
}

function decide(c: Case, cache: PlanCache<CachedDecision> | null): { d: StatementDecision; buf: Buffer } {
  const snap = snapshotNamed(c.snapshot);
  const placement = placementFor(c.session.tenant, snap);
  if ('errno' in placement) throw new Error(`${c.comment}: ${placement.message}`);
  const buf = Buffer.from(c.sql, 'utf8');
  const scan = scanStatement(buf, 0, buf.length, {});
  const s = c.session;
  const session = {
    inTransaction: s.inTransaction === true,
    pinned: s.pinned === true,
    lastWriteGtid: s.lastWriteGtid ?? null,
    tenantLastWriteGtid: s.tenantLastWriteGtid ?? null,
    hint: s.hint ?? null,
  };
  const user = snap.tenantsById.get(s.tenant)!.users[0] ?? s.tenant;
  return { d: decideStatement(scan, buf, 0, buf.length, placement, session, { user, scanOptions: {} }, snap, cache), buf };
}

test('route cases: at least a few hundred, sessions well formed', () => {
  assert.ok(cases.length >= 300, `${cases.length} cases`);
  const comments = new Set<string>();
  for (const c of cases) {
    assert.ok(!comments.has(c.comment), `duplicate comment ${c.comment}`);
    comments.add(c.comment);
    for (const k of Object.keys(c.session)) assert.ok(SESSION_KEYS.includes(k), `${c.comment}: unknown session field ${k}`);
  }
});

test('golden plans (actual written to route-cases.actual.json on failure)', () => {
  const cache = new PlanCache<CachedDecision>(64); // small: evictions happen during the run
  const failures: string[] = [];
  const actual = cases.map((c) => {
    const uncached = decide(c, null);
    const got = view(uncached.d, uncached.buf);
    const cached = decide(c, cache);
    assert.equal(view(cached.d, cached.buf), got, `${c.comment}: plan-cache decision differs from an uncached one`);
    const again = decide(c, cache);
    assert.equal(view(again.d, again.buf), got, `${c.comment}: plan-cache hit differs`);
    if (!jsonEqual(got, c.plan)) failures.push(c.comment);
    return { ...c, plan: got };
  });
  if (failures.length > 0) {
    const p = writeActual(FILE, actual);
    assert.unreachable(`${failures.length} plan(s) differ, e.g. ${failures.slice(0, 5).join(' | ')}; actual written to ${p}`);
  }
  removeActual(FILE);
  assert.ok(cache.hits > 0 && cache.misses > 0);
});

test('a cached decision never decides for a statement that differs only in literals (digest-equal pairs)', () => {
  // Prime one cache with every case, then decide every case again through it: each must equal its
  // uncached decision, whichever digest-equal statement was cached first.
  const cache = new PlanCache<CachedDecision>(100_000);
  for (const c of cases) decide(c, cache);
  for (const c of cases) {
    const a = decide(c, null);
    const b = decide(c, cache);
    assert.equal(view(b.d, b.buf), view(a.d, a.buf), `${c.comment}: cached decision differs`);
  }
  const pairs: [string, string][] = [
    ["PREPARE s FROM 'SELECT 1'", "PREPARE s FROM 'SELECT * FROM t_globex.users'"],
    ["EXECUTE IMMEDIATE 'SELECT 1'", "EXECUTE IMMEDIATE 'SELECT * FROM mysql.user'"],
    ["select * from information_schema.tables where table_schema = 't_acme'", "select * from information_schema.tables where table_schema = 'app'"],
  ];
  for (const [first, second] of pairs) {
    const c1: Case = { comment: first, snapshot: 'two-clusters', session: { tenant: 'acme' }, sql: first, plan: null };
    const c2: Case = { ...c1, comment: second, sql: second };
    const shared = new PlanCache<CachedDecision>(16);
    decide(c1, shared);
    const want = decide(c2, null);
    const got = decide(c2, shared);
    assert.equal(view(got.d, got.buf), view(want.d, want.buf), `${second} after ${first}`);
  }
  const refused = decide({ comment: 'x', snapshot: 'two-clusters', session: { tenant: 'acme' }, sql: "PREPARE s FROM 'SELECT * FROM t_globex.users'", plan: null }, null);
  assert.is(refused.d.action, 'refuse');
});

test.run();
