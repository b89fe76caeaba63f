/**
 * Calls of functions that are neither MariaDB built-ins nor stored functions known to be stateless
 * pin the session (Q.CALL, fail closed). A '(' after a table name, a keyword or a column type is no
 * call: a false positive pins a session needlessly.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Q, scanQuery, type RoutineNames } from '../../../src/classify/lexer';
import { BUILTIN_FUNCTIONS } from '../../../src/classify/builtin-functions';

const calls = (sql: string, routines?: RoutineNames) => {
  const b = Buffer.from(sql);
  return (scanQuery(b, 0, b.length, routines).flags & Q.CALL) !== 0;
};

const NOT_CALLS = [
  'INSERT INTO t (a, b) VALUES (1, 2)',
  'INSERT INTO db.t (a) VALUES (1), (2)',
  'INSERT t (a) VALUES (1)',
  'REPLACE INTO `t` (a) VALUES (1)',
  'INSERT INTO `db`.`t` (`a`) VALUES (1)',
  "CREATE TABLE t (a VARCHAR(10), b DECIMAL(10,2), c INT(11) UNSIGNED, d ENUM('x','y'), e DATETIME(6), PRIMARY KEY (a), KEY idx (b), UNIQUE KEY u (a, b), FOREIGN KEY (b) REFERENCES p (id), CHECK (a <> ''))",
  'CREATE TEMPORARY TABLE tmp (id INT)',
  'ALTER TABLE t ADD INDEX i (a), ADD COLUMN z CHAR(3)',
  'CREATE INDEX i ON t (a)',
  'SELECT * FROM t WHERE a IN (1, 2) AND b NOT IN (3)',
  'SELECT * FROM t1 JOIN (SELECT 1 AS a) x USING (a)',
  'SELECT * FROM t1 JOIN t2 ON (t1.a = t2.a) LEFT JOIN t3 USING (a)',
  'SELECT CAST(a AS DECIMAL(10,2)), CONVERT(a, CHAR(5)), CAST(b AS SIGNED INTEGER) FROM t',
  "SELECT COUNT(*), SUM(a), CONCAT(a, 'x'), NOW(), COALESCE(a, 1), IFNULL(a, 2), IF(a, 1, 2) FROM t",
  "SELECT JSON_EXTRACT(j, '$.a'), ST_AsText(g), MD5('x'), UUID(), GROUP_CONCAT(a SEPARATOR ','), DATE_FORMAT(NOW(), '%Y') FROM t",
  'SELECT a FROM t WHERE EXISTS (SELECT 1) AND (a = 1 OR (b = 2))',
  'UPDATE t SET c = (c + 1) WHERE id = (1)',
  'INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = VALUES(a)',
  'SELECT ROW_NUMBER() OVER (PARTITION BY a ORDER BY b), LAG(a) OVER w FROM t WINDOW w AS (ORDER BY a)',
  'WITH x (a) AS (SELECT 1) SELECT * FROM x',
  'WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r',
  'SELECT * FROM t FORCE INDEX (i) WHERE a BETWEEN (1) AND (2)',
  'SELECT 1 UNION (SELECT 2)',
  'SELECT a FROM t PARTITION (p0)',
  "SELECT GET_LOCK('a', 0), RELEASE_LOCK('a'), IS_FREE_LOCK('a'), LAST_INSERT_ID(), ROW_COUNT(), FOUND_ROWS()",
  'CREATE FUNCTION f(a INT) RETURNS INT RETURN g(a)',
  'CREATE VIEW v AS SELECT g(1) AS a',
  'DROP FUNCTION IF EXISTS f',
  "SELECT * FROM t WHERE MATCH (a) AGAINST ('x')",
  'SELECT a FROM t LIMIT 1 FOR UPDATE',
  // sysbench oltp statements
  'SELECT c FROM sbtest1 WHERE id=1',
  'SELECT c FROM sbtest1 WHERE id BETWEEN 1 AND 10',
  'SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 1 AND 10',
  'SELECT c FROM sbtest1 WHERE id BETWEEN 1 AND 10 ORDER BY c',
  'SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 1 AND 10 ORDER BY c',
  'UPDATE sbtest1 SET k=k+1 WHERE id=1',
  "UPDATE sbtest1 SET c='x' WHERE id=1",
  'DELETE FROM sbtest1 WHERE id=1',
  "INSERT INTO sbtest1 (id, k, c, pad) VALUES (1, 2, 'c', 'p')",
  'CREATE TABLE sbtest1(id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER DEFAULT 0 NOT NULL, c CHAR(120) DEFAULT \'\' NOT NULL, PRIMARY KEY (id))',
];

for (const sql of NOT_CALLS) test(`no call: ${sql}`, () => assert.not.ok(calls(sql)));

const CALLS = [
  'SELECT f()',
  'SELECT f (1)',
  'SELECT db.f(1)',
  'SELECT `f`(1)',
  'SELECT db.CONCAT(1)',
  'SET @a = f()',
  'DO f()',
  'INSERT INTO t (a) VALUES (f())',
  'INSERT INTO t SELECT f()',
  'UPDATE t SET a = f(a)',
  'DELETE FROM t WHERE a = f()',
  'CREATE TABLE t AS SELECT f() AS a',
  'SELECT a FROM t WHERE g(a) > 1',
  "SELECT REPLACE(a, 'x', f(1)) FROM t",
  "SELECT INSERT(a, 1, 2, f(1))",
  'SELECT * FROM t WHERE a IN (f(1))',
  'ANALYZE SELECT f()',
  'SELECT `a`, `b` FROM `t` WHERE `f` (`a`) > 1',
];

for (const sql of CALLS) test(`call: ${sql}`, () => assert.ok(calls(sql)));

test('a stored function known to be stateless does not pin; a known stateful one does', () => {
  const r: RoutineNames = { functions: new Set(['BAD']), tables: new Set(), statelessFunctions: new Set(['PURE']) };
  assert.not.ok(calls('SELECT pure(1)', r));
  assert.not.ok(calls('SELECT `pure`(1)', r));
  assert.ok(calls('SELECT bad(1)', r));
  assert.ok(calls('SELECT other(1)', r));
});

test('the generated built-in list has the everyday functions and no statement keywords', () => {
  for (const f of ['CONCAT', 'NOW', 'COUNT', 'SUM', 'JSON_EXTRACT', 'GET_LOCK', 'IS_USED_LOCK', 'CAST', 'DATE_FORMAT', 'REGEXP_REPLACE']) assert.ok(BUILTIN_FUNCTIONS.has(f), f);
  for (const w of ['SELECT', 'FROM', 'TABLE', 'JOIN', 'WHERE']) assert.not.ok(BUILTIN_FUNCTIONS.has(w), w);
  assert.ok(BUILTIN_FUNCTIONS.size > 350);
});

test.run();
