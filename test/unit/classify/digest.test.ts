/**
 * Digest scanner golden cases (test/fixtures/digest-cases.json): statements as Laravel, Doctrine,
 * Sequelize, TypeORM and Prisma emit them, and adversarial ones. Each case is also scanned inside a
 * larger buffer at an offset (as the session scans a COM_QUERY payload in place): the same answer,
 * with offsets shifted. On any difference the actual values are written to digest-cases.actual.json.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_LITERALS, S, scanStatement } from '../../../src/classify/digest';
import { literalValue } from '../../../src/classify/literal-value';
import type { ScanOptions, StatementScan } from '../../../src/classify/scan-types';
import { jsonEqual, readCases, removeActual, writeActual } from '../../helpers/golden';

interface Case {
  comment: string;
  sql?: string;
  sqlHex?: string;
  options?: ScanOptions;
  digest: string;
  kinds: string[];
  tables?: string[];
  schemas?: string[];
  unresolved?: string[];
  literals?: string[];
  hint?: string;
  flags?: string[];
  sideEffects?: string[];
  definers?: string[];
  dynamicSql?: string[];
}

const FILE = 'digest-cases.json';
const KEYS = ['comment', 'sql', 'sqlHex', 'options', 'digest', 'kinds', 'tables', 'schemas', 'unresolved', 'literals', 'hint', 'flags', 'sideEffects', 'definers', 'dynamicSql'];
const cases = readCases<Case>(FILE, KEYS, ['comment', 'digest', 'kinds']);
const FLAG_NAMES = Object.keys(S) as (keyof typeof S)[];

function bytesOf(c: Case): Buffer {
  if (c.sqlHex !== undefined) return Buffer.from(c.sqlHex, 'hex');
  return Buffer.from(c.sql ?? '', 'utf8');
}

/** The golden view of a scan (empty parts left out so the file stays readable). */
function view(scan: StatementScan, buf: Buffer, opts: ScanOptions): Omit<Case, 'comment' | 'sql' | 'sqlHex' | 'options'> {
  const v: Omit<Case, 'comment' | 'sql' | 'sqlHex' | 'options'> = { digest: scan.digest, kinds: scan.statements.map((s) => s.kind) };
  const tables = scan.tables.map((t) => (t.schema ? `${t.schema.name}.` : '') + t.table.name);
  if (tables.length) v.tables = tables;
  const schemas = scan.schemaRefs.map((r) => `${r.name}@${r.via}`);
  if (schemas.length) v.schemas = schemas;
  if (scan.unresolvedQualifiers.length) v.unresolved = scan.unresolvedQualifiers.map((q) => q.name);
  if (scan.literals.length) v.literals = scan.literals.map((l) => `${l.type}:${literalValue(buf, l, opts)}`);
  if (scan.hint) v.hint = scan.hint;
  const flags = FLAG_NAMES.filter((n) => scan.flags & S[n]);
  if (flags.length) v.flags = flags;
  if (scan.sideEffects) v.sideEffects = [...scan.sideEffects];
  if (scan.definers) v.definers = [...scan.definers];
  if (scan.dynamicSql) v.dynamicSql = scan.dynamicSql.map((l) => literalValue(buf, l, opts));
  return v;
}

function expected(c: Case): unknown {
  const { comment: _c, sql: _s, sqlHex: _h, options: _o, ...rest } = c;
  return rest;
}

test('fixture has hundreds of distinct cases', () => {
  assert.ok(cases.length >= 300, `${cases.length} cases`);
  const seen = new Set<string>();
  for (const c of cases) {
    assert.ok((c.sql === undefined) !== (c.sqlHex === undefined), `${c.comment}: exactly one of sql / sqlHex`);
    const k = (c.sql ?? c.sqlHex!) + JSON.stringify(c.options ?? {});
    assert.ok(!seen.has(k), `duplicate case ${c.comment}`);
    seen.add(k);
  }
});

test('golden cases (actual written to digest-cases.actual.json on failure)', () => {
  const failures: string[] = [];
  const actual = cases.map((c) => {
    const opts = c.options ?? {};
    const buf = bytesOf(c);
    const got = view(scanStatement(buf, 0, buf.length, opts), buf, opts);
    if (!jsonEqual(got, expected(c))) failures.push(c.comment);
    return { comment: c.comment, ...(c.sql !== undefined ? { sql: c.sql } : { sqlHex: c.sqlHex }), ...(c.options ? { options: c.options } : {}), ...got };
  });
  if (failures.length > 0) {
    const p = writeActual(FILE, actual);
    assert.unreachable(`${failures.length} case(s) differ, e.g. ${failures.slice(0, 5).join(' | ')}; actual written to ${p}`);
  }
  removeActual(FILE);
});

test('scanning inside a larger buffer gives the same result, offsets shifted', () => {
  for (const c of cases) {
    const opts = c.options ?? {};
    const inner = bytesOf(c);
    const pad = 7;
    const outer = Buffer.concat([Buffer.from('\x03xyzzy '), inner, Buffer.from(" 'tail")]);
    const a = scanStatement(inner, 0, inner.length, opts);
    const b = scanStatement(outer, pad, pad + inner.length, opts);
    assert.is(b.digest, a.digest, c.comment);
    assert.equal(
      b.schemaRefs.map((r) => [r.name, r.start - pad, r.end - pad]),
      a.schemaRefs.map((r) => [r.name, r.start, r.end]),
      c.comment,
    );
    assert.equal(b.literals.map((l) => [l.start - pad, l.end - pad]), a.literals.map((l) => [l.start, l.end]), c.comment);
  }
});

test('schema reference offsets span exactly the name as written', () => {
  for (const c of cases) {
    const opts = c.options ?? {};
    const buf = bytesOf(c);
    const scan = scanStatement(buf, 0, buf.length, opts);
    for (const r of scan.schemaRefs) {
      const raw = buf.toString('latin1', r.start, r.end);
      if (r.quoted) assert.ok(/^[`"].*[`"]$/s.test(raw), `${c.comment}: ${raw}`);
      else assert.is(Buffer.from(r.name, opts.charset && !opts.charset.startsWith('utf8') ? 'latin1' : 'utf8').toString('latin1'), raw, c.comment);
    }
  }
});

test('statements differing only in literals, spacing, comments and keyword case share a digest', () => {
  const by = (comment: string) => {
    const c = cases.find((x) => x.comment === comment);
    if (!c) throw new Error(`no case ${comment}`);
    return c.digest;
  };
  assert.is(by('fold A'), by('fold B'));
  assert.is(by('fold B'), by('fold C'));
  assert.is(by('fold C'), by('fold D'));
  assert.is(by('IN one'), by('IN many'));
  assert.is(by('Laravel find (native prepare)'), by('Laravel find (emulated prepare)'));
  assert.is.not(by('identifier case kept'), by('fold B'));
});

test('a bulk INSERT folds to one row and keeps a bounded number of literals', () => {
  const rows = Array.from({ length: 5000 }, (_, i) => `(${i}, 'n${i}', NULL)`).join(', ');
  const buf = Buffer.from(`INSERT INTO t (a, b, c) VALUES ${rows}`);
  const scan = scanStatement(buf, 0, buf.length);
  assert.is(scan.digest, 'INSERT INTO t (a, b, c) VALUES (...)');
  assert.is(scan.literals.length, MAX_LITERALS);
  assert.ok(scan.flags & S.LITERALS_TRUNCATED);
});

test('never throws on arbitrary bytes', () => {
  let x = 12345;
  for (let n = 0; n < 3000; n++) {
    const len = n % 64;
    const b = Buffer.alloc(len);
    for (let i = 0; i < len; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      b[i] = '\'"`\\/*!-#;().,@?= aZ0\x81\xbf\x5c'.charCodeAt((x >>> 8) % 24);
    }
    for (const charset of ['utf8mb4', 'gbk']) {
      const s = scanStatement(b, 0, len, { charset });
      assert.type(s.digest, 'string');
    }
  }
});

test.run();
