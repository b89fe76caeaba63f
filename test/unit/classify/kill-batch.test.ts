/** splitKillBatch: a multi-statement batch led by KILL <id> is split into the KILL and the rest. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { firstStatementEnd, splitKillBatch } from '../../../src/classify/kill-batch';

function split(sql: string): { killId: number; killQuery: boolean; rest: string | null } | null {
  const b = Buffer.from(sql, 'latin1');
  const r = splitKillBatch(b, 0, b.length);
  return r && { killId: r.killId, killQuery: r.killQuery, rest: r.rest && r.rest.toString('latin1') };
}

const CASES: [string, ReturnType<typeof split>][] = [
  // what mysql2's pool tests send
  ['kill 42; select sleep(0.05)', { killId: 42, killQuery: false, rest: ' select sleep(0.05)' }],
  ['KILL CONNECTION 7;SELECT 1;SELECT 2', { killId: 7, killQuery: false, rest: 'SELECT 1;SELECT 2' }],
  ['KILL QUERY 9 ; DO 1', { killId: 9, killQuery: true, rest: ' DO 1' }],
  ['/* c; */ KILL 3; SELECT 1', { killId: 3, killQuery: false, rest: ' SELECT 1' }],
  // only comments or space after the KILL: nothing to forward
  ['KILL 5;  -- done\n', { killId: 5, killQuery: false, rest: null }],
  ['KILL 5; /* x */ ;', { killId: 5, killQuery: false, rest: null }],
  // ';' inside strings, identifiers and comments does not split
  ["KILL 5; SELECT 'a;b', `c;d`, \"e;f\" # g;h\n", { killId: 5, killQuery: false, rest: " SELECT 'a;b', `c;d`, \"e;f\" # g;h\n" }],
  // not split (refused by the caller as before)
  ['SELECT 1; KILL 5', null],
  ['KILL 5; KILL 6', null],
  ['KILL 5; select 1; kill query 6', null],
  ['KILL USER app; SELECT 1', null],
  ['KILL QUERY ID 12; SELECT 1', null],
  ['KILL 5', null],
  ['SELECT 1; SELECT 2', null],
];

for (const [sql, want] of CASES) {
  test(`splitKillBatch ${JSON.stringify(sql)}`, () => {
    assert.equal(split(sql), want);
  });
}

test('firstStatementEnd: quotes with escapes and doubled quotes, comments, none', () => {
  const at = (s: string) => firstStatementEnd(Buffer.from(s, 'latin1'), 0, s.length);
  assert.is(at("SELECT 'it''s;' ;"), 16);
  assert.is(at("SELECT 'a\\';' ;x"), 14);
  assert.is(at('SELECT 1 -- ;\n;'), 14);
  assert.is(at('SELECT 1 --;'), 11); // "--" without a space is not a comment
  assert.is(at('SELECT /* ; */ 1'), -1);
  assert.is(at('SELECT 1'), -1);
});

test.run();
