/** substituteRowCount keeps the type of ROW_COUNT() (BIGINT(21) NOT NULL), not only its value and column name. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { substituteRowCount } from '../../../src/server/row-count';

const sub = (sql: string, value: number | bigint) => {
  const at: number[] = [];
  for (let i = sql.indexOf('ROW_COUNT'); i >= 0; i = sql.indexOf('ROW_COUNT', i + 1)) at.push(i);
  return substituteRowCount(Buffer.from(sql, 'latin1'), at, value).toString('latin1');
};

test('a select item keeps its column name and the call type (COALESCE with the call after the value)', () => {
  assert.is(sub('SELECT ROW_COUNT()', -1), 'SELECT COALESCE(-1, ROW_COUNT()) AS `ROW_COUNT()`');
  assert.is(sub('SELECT ROW_COUNT ( ) AS n', 2), 'SELECT (COALESCE(2, ROW_COUNT())) AS n');
});

test('inside an expression, and a bigint value', () => {
  assert.is(sub('SELECT ROW_COUNT() + 1 AS n', 9223372036854775807n), 'SELECT (COALESCE(9223372036854775807, ROW_COUNT())) + 1 AS n');
});

test.run();
