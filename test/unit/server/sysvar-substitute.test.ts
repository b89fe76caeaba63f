/** sysvar-substitute: the session's @@warning_count / @@error_count / @@session_track_system_variables written into a statement. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { scanQuery } from '../../../src/classify/lexer';
import { substituteCalls } from '../../../src/server/row-count';
import { clientTrackList, DEFAULT_TRACK_LIST, sysVarEdits, sysVarValues, trackExpr, type SysVarValues } from '../../../src/server/sysvar-substitute';

const V: SysVarValues = { diag: { warnings: 3, errors: 1 }, track: 'autocommit' };
const W = 'IF(@@warning_count, @@warning_count, CAST(3 AS UNSIGNED))';
const E = 'IF(@@warning_count, @@error_count, CAST(1 AS UNSIGNED))';
const T = "IF(1, 'autocommit', @@session_track_system_variables)";

function sub(sql: string, v: SysVarValues = V): string {
  const b = Buffer.from(sql, 'latin1');
  const info = scanQuery(b, 0, b.length);
  return substituteCalls(b, sysVarEdits(b, info.sysVarAt ?? [], v)).toString('latin1');
}

test('the lexer records each @@warning_count / @@error_count / @@session_track_system_variables, not strings or comments', () => {
  const sql = "SELECT @@warning_count, '@@error_count', @@session.ERROR_COUNT /* @@warning_count */, @@session_track_schema, @@global.session_track_system_variables";
  const b = Buffer.from(sql);
  assert.equal(scanQuery(b, 0, b.length).sysVarAt, [7, 41, sql.indexOf('@@global')]);
});

test('select items keep their column name; expressions are parenthesized', () => {
  assert.is(sub('SELECT @@warning_count, 1'), `SELECT ${W} AS \`@@warning_count\`, 1`);
  assert.is(sub('SELECT @@session.error_count FROM DUAL'), `SELECT ${E} AS \`@@session.error_count\` FROM DUAL`);
  assert.is(sub('SELECT @@warning_count + 0 AS w'), `SELECT (${W}) + 0 AS w`);
  assert.is(sub('SET @w = @@LOCAL.warning_count'), `SET @w = (${W})`);
  assert.is(sub('SELECT @@session_track_system_variables'), `SELECT ${T} AS \`@@session_track_system_variables\``);
});

test('@@global. forms and assignment targets are left to the server', () => {
  assert.is(sub('SELECT @@global.warning_count'), 'SELECT @@global.warning_count');
  assert.is(sub('SET @@session_track_system_variables = DEFAULT'), 'SET @@session_track_system_variables = DEFAULT');
  assert.is(sub("SET @a = 1, @@session.session_track_system_variables := 'x'"), "SET @a = 1, @@session.session_track_system_variables := 'x'");
  // a comparison is a read
  assert.is(sub('SELECT 1 WHERE @@warning_count = 3'), `SELECT 1 WHERE (${W}) = 3`);
});

test('without diagnostics only the tracking list is substituted', () => {
  assert.is(sub('SELECT @@warning_count, @@session_track_system_variables', { diag: null, track: 'autocommit' }), `SELECT @@warning_count, ${T} AS \`@@session_track_system_variables\``);
});

test('trackExpr: an empty list keeps the variable\'s type (length 0, decimals 39)', () => {
  assert.is(trackExpr(''), 'LEFT(@@session_track_system_variables, 0)');
  assert.is(trackExpr("a'b"), "IF(1, 'a\\'b', @@session_track_system_variables)");
});

test('sysVarValues: diagnostics only when kept; nothing for a batch or a statement without the variables', () => {
  const b = Buffer.from('SELECT @@warning_count');
  const info = scanQuery(b, 0, b.length);
  assert.equal(sysVarValues(info, { warnings: 2, errors: 0 }, true, '*'), { diag: { warnings: 2, errors: 0 }, track: '*' });
  assert.equal(sysVarValues(info, { warnings: 2, errors: 0 }, false, '*'), { diag: null, track: '*' });
  const m = Buffer.from('SELECT @@warning_count; SELECT 1');
  assert.is(sysVarValues(scanQuery(m, 0, m.length), null, true, '*'), null);
  const n = Buffer.from('SELECT 1');
  assert.is(sysVarValues(scanQuery(n, 0, n.length), null, true, '*'), null);
});

test('clientTrackList: what the client set, else the backend default, else MariaDB\'s', () => {
  assert.is(clientTrackList(new Map([['session_track_system_variables', 'x']]), new Map([['session_track_system_variables', 'y']])), 'x');
  assert.is(clientTrackList(null, new Map([['session_track_system_variables', 'y']])), 'y');
  assert.is(clientTrackList(null, null), DEFAULT_TRACK_LIST);
});

test.run();
