/**
 * splitBatch + planBatch golden cases (test/fixtures/batch-split-cases.json): a COM_QUERY → what
 * the proxy runs (backend SQL segments as text, KILLs it answers, the 4166 refusal of LOAD DATA
 * LOCAL), or `none` (sent as it is) / `refuse` (a KILL it cannot map). On a difference the actual
 * results are written to batch-split-cases.actual.json next to the fixture.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { planBatch, splitBatch } from '../../../src/classify/batch-split';

interface Case {
  note?: string;
  sql: string;
  /** Client without CLIENT_LOCAL_FILES (LOAD ... LOCAL refused). Default false. */
  refuseLocal?: boolean;
  noBackslashEscapes?: boolean;
  want: unknown;
}

const FIXTURE = join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'batch-split-cases.json');
const ACTUAL = FIXTURE.replace(/\.json$/, '.actual.json');
const cases = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Case[];

function run(c: Case): unknown {
  // inside a COM_QUERY payload (command byte first), with bytes after it that must not be read
  const payload = Buffer.concat([Buffer.from([3]), Buffer.from(c.sql, 'utf8')]);
  const end = payload.length;
  const buf = Buffer.concat([payload, Buffer.from("';KILL 1")]);
  const sp = splitBatch(buf, 1, end, c.noBackslashEscapes === true);
  if (sp.t !== 'split') return sp.t;
  const segs = planBatch(sp.parts, c.refuseLocal === true);
  if (segs === null) return 'whole';
  return segs.map((s) => (s.t === 'sql' ? { sql: buf.toString('utf8', s.start, s.end) } : s.t === 'kill' ? { kill: s.id, query: s.query } : { err: s.errno }));
}

const actual = cases.map((c) => ({ ...c, want: run(c) }));
if (actual.some((a, i) => JSON.stringify(a.want) !== JSON.stringify(cases[i]!.want))) writeFileSync(ACTUAL, JSON.stringify(actual, null, 2) + '\n');
else rmSync(ACTUAL, { force: true });

for (const [i, c] of cases.entries()) {
  test(`batch split ${JSON.stringify(c.sql)}${c.refuseLocal ? ' (no CLIENT_LOCAL_FILES)' : ''}`, () => {
    assert.equal(actual[i]!.want, c.want, c.note);
  });
}

test('never throws on arbitrary bytes', () => {
  let x = 0x2468ace1;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const alphabet = Buffer.from("KILL QUERY 42;'\"`#-/*!M\\ \n()LOAD DATA LOCAL INFILE BEGIN NOT ATOMIC END:\xff\x00");
  for (let i = 0; i < 20000; i++) {
    const n = rnd() % 64;
    const b = Buffer.allocUnsafe(n);
    for (let j = 0; j < n; j++) b[j] = i & 1 ? rnd() & 0xff : alphabet[rnd() % alphabet.length]!;
    const sp = splitBatch(b, 0, n);
    if (sp.t === 'split') planBatch(sp.parts, (i & 2) !== 0);
  }
});

test.run();
