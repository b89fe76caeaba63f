/** keepsDiagnostics: which statements leave the previous statement's warnings in place (as a server does). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { commandKeepsDiagnostics, keepsDiagnostics } from '../../../src/server/diagnostics';
import { scanQuery } from '../../../src/classify/lexer';
import { Com } from '../../../src/protocol/constants';

function keeps(sql: string): boolean {
  const p = Buffer.concat([Buffer.from([Com.QUERY]), Buffer.from(sql, 'latin1')]);
  return keepsDiagnostics(Com.QUERY, p, scanQuery(p, 1, p.length));
}

// Each verified against MariaDB 10.11: `SELECT 1/0; <stmt>; SELECT @@warning_count` gives 1 (kept) or 0.
const CASES: [string, boolean][] = [
  ['SELECT DATABASE(), USER() LIMIT 1', true], // the mariadb CLI's \s
  ['SELECT 1 FROM DUAL', true],
  ['SET @a = 1', true],
  ['DO 1', true],
  ['SELECT NOW(), @@version', true],
  ["SELECT 'FROM'", true],
  ['SET autocommit=1', true],
  ['BEGIN', true],
  ['COMMIT', true],
  ['USE test', true],
  ['SELECT SLEEP(0)', true],
  ['SELECT (SELECT 1)', true],
  ['SELECT 1 FROM information_schema.CHARACTER_SETS LIMIT 0', false],
  ['SELECT COUNT(*) FROM mysql.user', false],
  ['SHOW VARIABLES LIKE "x"', false],
  // conservative: anything that may read a table clears
  ['SELECT my_stored_func(1)', false],
  ['SET @a = (SELECT x FROM t)', false],
  ['SELECT 1 INTO @x', false],
  ['SELECT 1; SELECT 2', false],
  ['INSERT INTO t VALUES (1)', false],
  ['UPDATE t SET a = 1', false],
  ['CALL p()', false],
  ['SELECT `from`', true],
  ['SELECT 1 FROM dual_table', false],
];

for (const [sql, want] of CASES) {
  test(`keepsDiagnostics ${JSON.stringify(sql)} → ${want}`, () => {
    assert.is(keeps(sql), want);
  });
}

test('keepsDiagnostics: COM_PING / COM_INIT_DB / COM_STATISTICS keep, field lists clear', () => {
  const b = Buffer.from([0]);
  assert.ok(keepsDiagnostics(Com.INIT_DB, b, null));
  assert.ok(keepsDiagnostics(Com.STATISTICS, b, null));
  assert.ok(keepsDiagnostics(Com.PING, b, null));
  assert.not.ok(keepsDiagnostics(Com.STMT_EXECUTE, b, null));
  assert.not.ok(keepsDiagnostics(Com.FIELD_LIST, b, null));
});

// Verified against MariaDB 10.11 (mysqltest --ps-protocol: `SELECT 1 FROM DUAL` kept the warning).
test('commandKeepsDiagnostics: PREPARE and EXECUTE of a statement that reads no table keep, of one that names a table clear', () => {
  const sql = (t: string) => Buffer.from(t, 'latin1');
  const prepare = (t: string) => Buffer.concat([Buffer.from([Com.STMT_PREPARE]), sql(t)]);
  const execute = Buffer.from([Com.STMT_EXECUTE, 1, 0, 0, 0, 0, 1, 0, 0, 0]);
  const scan = (t: string) => scanQuery(sql(t), 0, t.length);
  assert.ok(commandKeepsDiagnostics(prepare('SELECT 1 FROM DUAL'), null, null));
  assert.not.ok(commandKeepsDiagnostics(prepare('SELECT a FROM t'), null, null));
  assert.ok(commandKeepsDiagnostics(execute, scan('SELECT 1 FROM DUAL'), sql('SELECT 1 FROM DUAL')));
  assert.ok(commandKeepsDiagnostics(execute, scan("SET @a = 'x'"), sql("SET @a = 'x'")));
  assert.not.ok(commandKeepsDiagnostics(execute, scan('SELECT a FROM t'), sql('SELECT a FROM t')));
  assert.not.ok(commandKeepsDiagnostics(execute, null, null));
});

test.run();
