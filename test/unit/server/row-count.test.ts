/** substituteCalls: ROW_COUNT() and DATABASE()/SCHEMA() replaced by values in one pass, select items keeping their names. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { substituteCalls } from '../../../src/server/row-count';
import { scanQuery } from '../../../src/classify/lexer';

function sub(sql: string, rowCount: number | null, schemaNull: boolean): string {
  const b = Buffer.from(sql, 'latin1');
  const info = scanQuery(b, 0, b.length);
  const calls: Array<{ at: number; value: string }> = [];
  if (rowCount !== null) for (const at of info.rowCountAt ?? []) calls.push({ at, value: String(rowCount) });
  if (schemaNull) for (const at of info.schemaFnAt ?? []) calls.push({ at, value: 'NULL' });
  calls.sort((x, y) => x.at - y.at);
  return substituteCalls(b, calls).toString('latin1');
}

test('DATABASE() and SCHEMA() calls are found by the lexer, not words or strings', () => {
  const sql = "SELECT DATABASE(), schema ( ), 'DATABASE()', `database`, t.database FROM d.t WHERE x = DATABASE()";
  const b = Buffer.from(sql);
  assert.equal(scanQuery(b, 0, b.length).schemaFnAt, [7, 19, sql.lastIndexOf('DATABASE()')]);
});

test('both substitutions in one pass, offsets of the original statement', () => {
  assert.is(
    sub('SELECT ROW_COUNT() AS rc, DATABASE() AS db, SCHEMA(), CONCAT(DATABASE(), ROW_COUNT())', 5, true),
    'SELECT (5) AS rc, (NULL) AS db, NULL AS `SCHEMA()`, CONCAT((NULL), (5))',
  );
  assert.is(sub('SELECT DATABASE() FROM d.t', null, true), 'SELECT NULL AS `DATABASE()` FROM d.t');
  assert.is(sub('SELECT ROW_COUNT(), DATABASE()', 2, false), 'SELECT 2 AS `ROW_COUNT()`, DATABASE()');
  assert.is(sub('SELECT 1', 2, true), 'SELECT 1');
});

test.run();
