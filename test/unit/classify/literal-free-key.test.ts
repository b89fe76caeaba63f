/**
 * The literal-free key must never be coarser than the digest: two statements with the same key
 * bytes must scan to the same digest and the same literal-dependent facts (dynamic SQL, DEFINER,
 * hints, flags), for every golden statement and for variants of them with other literal values and
 * with single bytes changed.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { scanStatement } from '../../../src/classify/digest';
import { LiteralFreeIndex, lastKeyBytes, literalFreeKey } from '../../../src/classify/literal-free-key';
import type { ScanOptions } from '../../../src/classify/scan-types';
import { classifyRoute } from '../../../src/routing/planner';
import { optionBits } from '../../../src/routing/route';

interface Fixture {
  sql?: string;
  sqlHex?: string;
  options?: ScanOptions;
}

const FIX = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures');
function load(name: string): Fixture[] {
  return JSON.parse(readFileSync(path.join(FIX, name), 'utf8')) as Fixture[];
}

function keyOf(sql: Buffer, o: ScanOptions): string | null {
  const b = Buffer.concat([Buffer.from([3]), sql]);
  const h = literalFreeKey(b, 1, b.length, o.noBackslashEscapes === true, o.ansiQuotes === true, optionBits(o));
  return h < 0 ? null : lastKeyBytes().toString('hex');
}

function facts(sql: Buffer, o: ScanOptions): string {
  const s = scanStatement(sql, 0, sql.length, o);
  return JSON.stringify([s.digest, s.flags, s.hint, s.definers === null, s.dynamicSql === null, s.kind, s.sideEffects]);
}

const SINGLE_BYTE = (o: ScanOptions): boolean => o.charset === undefined || o.charset.startsWith('utf8');

/** Other literal values for the same shape: digit runs and quoted bodies replaced. */
function variants(sql: string): string[] {
  return [
    sql.replace(/\d+/g, '7'),
    sql.replace(/\d+/g, '123456'),
    sql.replace(/'([^'\\]|\\.)*'/g, "'x'"),
    sql.replace(/'([^'\\]|\\.)*'/g, "'o''ther.t \\' x'"),
    sql.replace(/"([^"\\]|\\.)*"/g, '"other"'),
  ];
}

test('equal key bytes ⇒ equal digest and literal-dependent facts (golden statements, variants, byte mutations)', () => {
  const all: { sql: Buffer; o: ScanOptions }[] = [];
  for (const f of [...load('digest-cases.json'), ...load('isolation-cases.json'), ...load('route-cases.json'), ...load('lexer-cases.json')]) {
    const o = f.options ?? {};
    if (!SINGLE_BYTE(o)) continue;
    const sql = f.sqlHex !== undefined ? Buffer.from(f.sqlHex, 'hex') : Buffer.from(f.sql ?? '', 'utf8');
    all.push({ sql, o });
    for (const v of variants(sql.toString('utf8'))) all.push({ sql: Buffer.from(v, 'utf8'), o });
    // single-byte mutations: a digit, a quote, a backtick, an @ or a letter dropped in
    for (let i = 0; i < sql.length; i += 7) {
      for (const ch of ['1', "'", '`', '@', 'x', '.', '/*!']) all.push({ sql: Buffer.concat([sql.subarray(0, i), Buffer.from(ch), sql.subarray(i + 1)]), o });
    }
  }
  const byKey = new Map<string, { facts: string; sql: string }>();
  let keyed = 0;
  let shared = 0;
  for (const { sql, o } of all) {
    const k = keyOf(sql, o);
    if (k === null) continue;
    keyed++;
    const fa = facts(sql, o);
    const prev = byKey.get(k);
    if (prev === undefined) byKey.set(k, { facts: fa, sql: sql.toString('utf8') });
    else {
      shared++;
      if (prev.facts !== fa) assert.unreachable(`same key, different scan:\n  ${prev.sql}\n  ${sql.toString('utf8')}\n  ${prev.facts}\n  ${fa}`);
    }
  }
  assert.ok(keyed > 10_000, `keyed ${keyed}`);
  assert.ok(shared > 1_000, `shared ${shared}`); // the property was exercised, not vacuous
});

const SHARE: [string, string][] = [
  ['SELECT c FROM sbtest1 WHERE id=5012', 'SELECT c FROM sbtest1 WHERE id=7'],
  ["select * from users where email = 'a@b.c' limit 1", "select * from users where email = 'it''s \\' here' limit 20"],
  ['SELECT * FROM t WHERE a IN (1,2,3)', 'SELECT * FROM t WHERE a IN (4,5,6)'],
  ["SELECT /* tenantgate:primary */ c, 1", "SELECT /* tenantgate:primary */ c, 2"],
];
const DIFFER: [string, string][] = [
  ['SELECT * FROM 1db.t', 'SELECT * FROM 2db.t'], // identifiers may start with digits
  ['SELECT * FROM d.1', 'SELECT * FROM d.2'],
  ['SELECT * FROM d . 1', 'SELECT * FROM d . 2'], // whitespace around the dot of a name
  ['SELECT * FROM d./**/1', 'SELECT * FROM d./**/2'],
  ['SELECT * FROM t WHERE a IN (1,2,3)', 'SELECT * FROM t WHERE a IN (1,2)'],
  ['select 1', 'SELECT 1'],
  ["SELECT /* tenantgate:primary */ 1", "SELECT /* tenantgate:replica */ 1"],
  ['SELECT `a` FROM t', 'SELECT `b` FROM t'],
];
const NO_KEY = [
  "SET @'a' = 1", // @'var' is a name
  "CREATE DEFINER='root'@'%' VIEW v AS SELECT 1", // an account
  'SELECT /*! 1 FROM other.t */', // executable comment
  'SELECT /*M! 1 */',
  "SELECT 'unterminated",
  'SELECT `unterminated',
  'SELECT /* unterminated',
];

test('shapes that share a key, shapes that do not, statements with no key', () => {
  for (const [a, b] of SHARE) assert.is(keyOf(Buffer.from(a), {}), keyOf(Buffer.from(b), {}), `${a} / ${b}`);
  for (const [a, b] of DIFFER) {
    const ka = keyOf(Buffer.from(a), {});
    assert.ok(ka !== null);
    assert.is.not(ka, keyOf(Buffer.from(b), {}), `${a} / ${b}`);
  }
  for (const s of NO_KEY) assert.is(keyOf(Buffer.from(s), {}), null, s);
  // "x" is a string by default, an identifier under ANSI_QUOTES; the mode is part of the key too
  assert.is(keyOf(Buffer.from('SELECT "a"'), {}), keyOf(Buffer.from('SELECT "b"'), {}));
  assert.is.not(keyOf(Buffer.from('SELECT "a"'), { ansiQuotes: true }), keyOf(Buffer.from('SELECT "b"'), { ansiQuotes: true }));
  assert.is.not(keyOf(Buffer.from("SELECT 'a'"), {}), keyOf(Buffer.from("SELECT 'a'"), { noBackslashEscapes: true }));
  // X'..' takes no escapes: X'\' ends at the second quote
  const x1 = keyOf(Buffer.from("SELECT X'\\' , other.t, '1'"), {});
  assert.ok(x1 !== null);
  assert.is.not(x1, keyOf(Buffer.from("SELECT X'\\' , 1 , '1'"), {}));
});

test('the index: a hit needs the same key bytes, tenant and config version; bounded', () => {
  const idx = new LiteralFreeIndex(2);
  const route = classifyRoute(scanStatement(Buffer.from('SELECT 1'), 0, 8));
  const b = Buffer.from('\x03SELECT c FROM t WHERE id=1');
  const h = literalFreeKey(b, 1, b.length, false, false, 0);
  idx.set(h, 'acme', 1, route);
  const b2 = Buffer.from('\x03SELECT c FROM t WHERE id=99');
  assert.is(literalFreeKey(b2, 1, b2.length, false, false, 0), h);
  assert.is(idx.get(h, 'acme', 1), route);
  assert.is(idx.get(h, 'globex', 1), undefined);
  assert.is(idx.get(h, 'acme', 2), undefined);
  const b3 = Buffer.from('\x03SELECT d FROM t WHERE id=1');
  const h3 = literalFreeKey(b3, 1, b3.length, false, false, 0);
  assert.is(idx.get(h, 'acme', 1), undefined); // the key last computed is b3's: bytes compared, not the hash alone
  idx.set(h3, 'acme', 1, route);
  idx.set(h3 + 1, 'acme', 1, route);
  assert.is(idx.size, 2);
  assert.is(idx.hits, 1);
});

test('kept keys own their memory: no slice of Node\'s shared buffer pool (one kept slice pins an 8 KiB slab)', () => {
  const b = Buffer.from('\x03SELECT * FROM t WHERE id = 42');
  assert.ok(literalFreeKey(b, 1, b.length, false, false, 0) >= 0);
  const k = lastKeyBytes();
  assert.ok(k.length > 0 && k.length < 4096);
  assert.is(k.buffer.byteLength, k.length, 'a copy in its own ArrayBuffer');
  assert.is(k.byteOffset, 0);
});

test.run();
