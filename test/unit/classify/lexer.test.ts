/**
 * scanQuery golden cases (test/fixtures/lexer-cases.json): SQL → kind, flags (Q names), assigned
 * user variables, KILL target, lock delta. Every case is also scanned inside a larger buffer (the
 * way the session scans a COM_QUERY payload in place) and must give the same answer.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Q, scanQuery, type QueryInfo } from '../../../src/classify/lexer';

interface Case {
  note?: string;
  sql: string;
  kind: string;
  flags: string[];
  userVars: string[] | null;
  killId: number;
  killQuery: boolean;
  lockDelta: number;
}

/** dist/test/unit/classify → repo root; the fixtures are read from the source tree. */
function fixture(name: string): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const p = path.join(dir, 'test', 'fixtures', name);
    if (fs.existsSync(p)) return p;
    if (path.dirname(dir) === dir) throw new Error(`fixture ${name} not found above ${__dirname}`);
  }
}

const cases = JSON.parse(fs.readFileSync(fixture('lexer-cases.json'), 'utf8')) as Case[];
const FLAG_NAMES = Object.keys(Q) as (keyof typeof Q)[];

function flagNames(flags: number): string[] {
  const out: string[] = [];
  for (const n of FLAG_NAMES) if (flags & Q[n]) out.push(n);
  const known = FLAG_NAMES.reduce((a, n) => a | Q[n], 0);
  if (flags & ~known) out.push(`UNKNOWN_0x${(flags & ~known).toString(16)}`);
  return out.sort();
}

function view(info: QueryInfo) {
  return {
    kind: info.kind,
    flags: flagNames(info.flags),
    userVars: info.userVars,
    killId: info.killId,
    killQuery: info.killQuery,
    lockDelta: info.lockDelta,
  };
}

test('fixture is well formed', () => {
  assert.ok(cases.length >= 100, `${cases.length} cases`);
  const seen = new Set<string>();
  for (const c of cases) {
    assert.type(c.sql, 'string');
    assert.ok(!seen.has(c.sql), `duplicate case ${c.sql}`);
    seen.add(c.sql);
    for (const f of c.flags) assert.ok(f in Q, `unknown flag name ${f} in ${c.sql}`);
  }
  // every flag the classifier has is exercised by at least one case
  const used = new Set(cases.flatMap((c) => c.flags));
  for (const n of FLAG_NAMES) assert.ok(used.has(n), `no golden case for ${n}`);
});

for (const c of cases) {
  test(`scanQuery: ${JSON.stringify(c.sql)}`, () => {
    const expected = {
      kind: c.kind,
      flags: [...c.flags].sort(),
      userVars: c.userVars,
      killId: c.killId,
      killQuery: c.killQuery,
      lockDelta: c.lockDelta,
    };
    const sql = Buffer.from(c.sql, 'utf8');
    assert.equal(view(scanQuery(sql, 0, sql.length)), expected, c.note);
    // In place inside a COM_QUERY packet, with bytes after `end` that must not be looked at.
    for (const tail of ['!', '-', ' ; SELECT 2', "'", '*/', '\n']) {
      const pkt = Buffer.concat([Buffer.from([0x25, 0, 0, 0, 0x03]), sql, Buffer.from(tail)]);
      assert.equal(view(scanQuery(pkt, 5, 5 + sql.length)), expected, `inside a packet, tail ${JSON.stringify(tail)}`);
    }
  });
}

test('never throws on arbitrary bytes; kind is always a string', () => {
  let x = 0x12345678;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const alphabet = Buffer.from("SELECT @a:=1;'\"`#-/*!M\\ \n()KILL 42,=INTO GET_LOCK\xff\x00");
  for (let i = 0; i < 20000; i++) {
    const n = rnd() % 64;
    const b = Buffer.allocUnsafe(n);
    for (let j = 0; j < n; j++) b[j] = i & 1 ? rnd() & 0xff : alphabet[rnd() % alphabet.length];
    const info = scanQuery(b, 0, n);
    assert.type(info.kind, 'string');
  }
});

test('every prefix of every case scans without throwing', () => {
  for (const c of cases) {
    const sql = Buffer.from(c.sql, 'utf8');
    for (let n = 0; n <= sql.length; n++) scanQuery(sql, 0, n);
  }
});

test.run();
