/**
 * Golden isolation cases (test/fixtures/isolation-cases.json): adversarial ways to reach another
 * schema (qualified names in every clause, backticks, executable comments, ANSI_QUOTES,
 * NO_BACKSLASH_ESCAPES, multi-statements, PREPARE / EXECUTE IMMEDIATE, CALL, views, procedures,
 * triggers, gbk/big5/sjis quoting) and the statements refused or answered by the proxy. On any
 * difference the actual decisions are written to isolation-cases.actual.json.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { scanStatement } from '../../../src/classify/digest';
import type { ScanOptions } from '../../../src/classify/scan-types';
import { checkIsolation, checkSchemaSwitch, type IsolationDecision } from '../../../src/routing/isolation';
import { placementFor } from '../../../src/routing/placement';
import { applyRewrites } from '../../../src/routing/rewrite';
import { jsonEqual, readCases, removeActual, writeActual } from '../../helpers/golden';
import { snapshotNamed } from '../../helpers/routing-fixtures';

interface Case {
  comment: string;
  tenant: string;
  sql?: string;
  sqlHex?: string;
  options?: ScanOptions;
  decision: unknown;
}

const FILE = 'isolation-cases.json';
const cases = readCases<Case>(FILE, ['comment', 'tenant', 'sql', 'sqlHex', 'options', 'decision'], ['comment', 'tenant', 'decision']);
const snap = snapshotNamed('two-clusters');

function decide(c: Case): { d: IsolationDecision; buf: Buffer } {
  const placement = placementFor(c.tenant, snap);
  if ('errno' in placement) throw new Error(placement.message);
  const buf = c.sqlHex !== undefined ? Buffer.from(c.sqlHex, 'hex') : Buffer.from(c.sql ?? '', 'utf8');
  const opts = c.options ?? {};
  const scan = scanStatement(buf, 0, buf.length, opts);
  const user = snap.tenantsById.get(c.tenant)!.users[0]!;
  return { d: checkIsolation(scan, buf, placement, { user, scanOptions: opts }), buf };
}

function view(d: IsolationDecision, buf: Buffer): unknown {
  if (d.action === 'refuse') return { refuse: `${d.errno} ${d.sqlState} ${d.message}` };
  if (d.action === 'answer') return { answer: d.answer };
  return d.rewrites.length ? { allow: applyRewrites(buf, 0, buf.length, d.rewrites).toString('latin1') } : { allow: 'unchanged' };
}

test('isolation cases: hundreds, distinct', () => {
  assert.ok(cases.length >= 200, `${cases.length} cases`);
  const seen = new Set<string>();
  for (const c of cases) {
    assert.ok(!seen.has(c.comment), `duplicate ${c.comment}`);
    seen.add(c.comment);
  }
});

test('golden decisions (actual written to isolation-cases.actual.json on failure)', () => {
  const failures: string[] = [];
  const actual = cases.map((c) => {
    const { d, buf } = decide(c);
    const got = view(d, buf);
    if (!jsonEqual(got, c.decision)) failures.push(c.comment);
    return { ...c, decision: got };
  });
  if (failures.length > 0) {
    const p = writeActual(FILE, actual);
    assert.unreachable(`${failures.length} decision(s) differ, e.g. ${failures.slice(0, 5).join(' | ')}; actual written to ${p}`);
  }
  removeActual(FILE);
});

test('no existence oracle: another tenant\'s schema and a schema that does not exist get the same error', () => {
  let pairs = 0;
  for (const c of cases) {
    if (!c.comment.endsWith(' naming t_globex')) continue;
    const twin = cases.find((x) => x.comment === c.comment.replace(/ naming t_globex$/, ' naming nonexistent_db'));
    if (!twin) continue;
    const a = decide(c).d;
    const b = decide(twin).d;
    assert.is(a.action, 'refuse', c.comment);
    assert.is(b.action, 'refuse', twin.comment);
    if (a.action !== 'refuse' || b.action !== 'refuse') continue;
    assert.is(a.errno, b.errno, c.comment);
    assert.is(a.sqlState, b.sqlState, c.comment);
    assert.is(a.message.replace('t_globex', 'X'), b.message.replace('nonexistent_db', 'X'), c.comment);
    pairs++;
  }
  assert.ok(pairs >= 50, `${pairs} pairs compared`);
});

test('every form naming another schema is refused (none allowed)', () => {
  for (const c of cases) {
    if (!/ naming (other|t_globex|`t_globex`|nonexistent_db)$/.test(c.comment)) continue;
    assert.is(decide(c).d.action, 'refuse', c.comment);
  }
});

test('wrapping a refused statement never makes it allowed (multi-statement, executable comments, comments)', () => {
  let n = 0;
  for (const c of cases) {
    if (c.sql === undefined || c.options) continue;
    const d = decide(c).d;
    if (d.action !== 'refuse') continue;
    for (const wrapped of [`SELECT 1; ${c.sql}`, `/*!50000 ${c.sql} */`, `/*M!100100 ${c.sql} */`, `/* x */ ${c.sql} -- y`, `${c.sql};`]) {
      const w = decide({ ...c, sql: wrapped }).d;
      assert.is.not(w.action, 'allow', `${c.comment}: ${wrapped}`);
      n++;
    }
  }
  assert.ok(n > 1000, `${n} wrapped statements`);
});

test('database at connect / COM_INIT_DB: own physical or logical name selects the physical schema; anything else the USE refusal', () => {
  const p = placementFor('acme', snap);
  if ('errno' in p) throw new Error(p.message);
  assert.equal(checkSchemaSwitch('app', p, 'acme_app'), { action: 'allow', schema: 't_acme' });
  assert.equal(checkSchemaSwitch('t_acme', p, 'acme_app'), { action: 'allow', schema: 't_acme' });
  for (const db of ['t_globex', 'nonexistent_db', 'information_schema', 'mysql', 'APP']) {
    const d = checkSchemaSwitch(db, p, 'acme_app');
    const viaUse = decide({ comment: db, tenant: 'acme', sql: `USE \`${db}\``, decision: null }).d;
    assert.equal(d, viaUse, db);
  }
});

test.run();
