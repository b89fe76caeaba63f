/** stateChangeExplained / clientTracksStateChange: when SERVER_SESSION_STATE_CHANGED pins a session. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { scanQuery } from '../../../src/classify/lexer';
import { clientTracksStateChange, stateChangeExplained } from '../../../src/session/state-change';

const explained = (sql: string) => {
  const b = Buffer.from(sql);
  return stateChangeExplained(scanQuery(b, 0, b.length), sql);
};

// statements whose state change the proxy tracks itself (the server flags every SET, USE, ...)
for (const sql of [
  'SET @a = 1', 'SET @a = 1, @b = CONCAT(@a, 2)', 'SET NAMES utf8mb4', "SET time_zone = '+01:00'", 'SET autocommit = 0',
  'SET SESSION sql_mode = DEFAULT', 'SET @@session.wait_timeout = 100', 'USE test', 'DROP TEMPORARY TABLE t', 'DROP TABLE t',
  'ALTER TABLE tmp ADD COLUMN b INT', 'TRUNCATE tmp', 'PREPARE s FROM \'SELECT 1\'', 'DEALLOCATE PREPARE s',
  'CREATE TEMPORARY TABLE t (a INT)', 'SET @a = 1; SET @b = 2', 'LOCK TABLES t WRITE',
]) {
  test(`explained: ${sql}`, () => assert.ok(explained(sql)));
}

// statements that may run stored code the proxy does not know: the flag pins
for (const sql of [
  'SELECT * FROM v', 'INSERT INTO t VALUES (1)', 'UPDATE t SET a = 1', 'DELETE FROM t', 'REPLACE INTO t VALUES (1)',
  'DO RELEASE_LOCK(\'x\')', 'SET @a = (SELECT a FROM v)', 'SET STATEMENT max_statement_time = 1 FOR SELECT 1', 'SET ROLE r', 'SET PASSWORD = PASSWORD(\'x\')',
  'SET @a = 1; SELECT 2', 'CREATE TABLE t AS SELECT a FROM v', 'TABLE v', 'WITH x AS (SELECT 1) SELECT * FROM x', 'LOAD DATA INFILE \'f\' INTO TABLE t',
  'BEGIN', 'COMMIT', 'SHOW TABLES', '',
]) {
  test(`not explained: ${JSON.stringify(sql)}`, () => assert.not.ok(explained(sql)));
}

test('a statement with a sticky pin of its own (CALL or a call of a function that is not built-in, prepared statement, temporary table) explains the flag', () => {
  assert.ok(explained('CALL p()'));
  assert.ok(explained('SELECT f()'));
  assert.ok(explained('DO f()'));
  assert.ok(explained('SET @a = f()'));
  assert.ok(explained('EXECUTE s'));
  assert.ok(explained('CREATE TEMPORARY TABLE t AS SELECT f() AS a'));
});

test('no statement (COM_INIT_DB, ...): the tracker names the change', () => {
  assert.ok(stateChangeExplained(null, null));
});

test('clientTracksStateChange: the client\'s own setting, else the server default, else OFF', () => {
  assert.is(clientTracksStateChange(null, null), false);
  assert.is(clientTracksStateChange(null, new Map([['session_track_state_change', 'OFF']])), false);
  assert.is(clientTracksStateChange(null, new Map([['session_track_state_change', 'ON']])), true);
  assert.is(clientTracksStateChange(new Map([['session_track_state_change', 'ON']]), new Map([['session_track_state_change', 'OFF']])), true);
  assert.is(clientTracksStateChange(new Map([['session_track_state_change', 'OFF']]), new Map([['session_track_state_change', 'ON']])), false);
  assert.is(clientTracksStateChange(new Map([['session_track_state_change', '1']]), null), true);
});


test('blockReportsStateChange: only a STATE_CHANGE entry counts (last_gtid alone, as after every write with a binary log, does not)', async () => {
  const { blockReportsStateChange } = await import('../../../src/session/state-change');
  assert.not.ok(blockReportsStateChange(null));
  assert.not.ok(blockReportsStateChange(Buffer.from('0010096c6173745f6774696405302d312d32', 'hex')));
  assert.ok(blockReportsStateChange(Buffer.from('0010096c6173745f6774696405302d312d35020131', 'hex')));
  assert.ok(blockReportsStateChange(Buffer.from('020131', 'hex')));
  assert.not.ok(blockReportsStateChange(Buffer.from('01050474657374', 'hex')));
});

test.run();
