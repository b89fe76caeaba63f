/** analyzeRoutines: which stored functions, triggers and views may change session state. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { analyzeRoutines } from '../../../src/classify/routines';

test('functions: stateful bodies, calls of stateful functions (fixed point), unreadable bodies', () => {
  const r = analyzeRoutines(
    [
      { name: 'twice', body: 'RETURN x * 2' },
      { name: 'local_vars', body: 'BEGIN DECLARE y INT; SET y = x + 1; SELECT COUNT(*) INTO y FROM t; RETURN y; END' },
      { name: 'setvar', body: "BEGIN SET @fv = 'x'; RETURN 1; END" },
      { name: 'locker', body: "RETURN GET_LOCK('a', 0)" },
      { name: 'outer2', body: 'RETURN outer1() + 1' },
      { name: 'outer1', body: 'RETURN SetVar() + twice(1)' },
      { name: 'caller', body: 'BEGIN CALL p(); RETURN 1; END' },
      { name: 'dynamic', body: "BEGIN PREPARE s FROM 'SELECT 1'; RETURN 1; END" },
      { name: 'hidden', body: null },
      { name: 'strings_only', body: "RETURN '@x := 1; GET_LOCK('" },
    ],
    [],
    [],
  );
  assert.equal([...r.functions].sort(), ['CALLER', 'DYNAMIC', 'HIDDEN', 'LOCKER', 'OUTER1', 'OUTER2', 'SETVAR']);
  assert.equal([...r.tables], []);
});

test('triggers and views: their tables are listed when the body is stateful', () => {
  const r = analyzeRoutines(
    [{ name: 'setvar', body: 'BEGIN SET @a = 1; RETURN 1; END' }, { name: 'pure', body: 'RETURN 1' }],
    [
      { table: 'audit_me', body: 'INSERT INTO audit VALUES (NEW.id, NOW())' },
      { table: 'orders', body: 'SET @last_order = NEW.id' },
      { table: 'items', body: 'BEGIN IF setvar() THEN SET NEW.x = 1; END IF; END' },
    ],
    [
      { name: 'v_plain', body: 'select `t`.`a` AS `a` from `t`' },
      { name: 'v_fn', body: 'select `setvar`() AS `x`' },
      { name: 'v_pure', body: 'select `pure`() AS `x`' },
    ],
  );
  assert.equal([...r.tables].sort(), ['ITEMS', 'ORDERS', 'V_FN']);
});

test('procedures: stateless ones are listed; LOCK, HANDLER OPEN, SET TRANSACTION, user variables, temp tables make one stateful', () => {
  const r = analyzeRoutines([{ name: 'setvar', body: 'BEGIN SET @a = 1; RETURN 1; END' }], [], [], [
    { name: 'report', body: 'BEGIN DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1; SELECT * FROM t WHERE id = p; END' },
    { name: 'tx', body: 'BEGIN START TRANSACTION; UPDATE t SET a = 1; COMMIT; END' },
    { name: 'locks', body: 'BEGIN LOCK TABLES t WRITE; END' },
    { name: 'handler', body: 'BEGIN HANDLER t OPEN; END' },
    { name: 'next_tx', body: 'BEGIN SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; END' },
    { name: 'vars', body: 'BEGIN SELECT COUNT(*) INTO @n FROM t; END' },
    { name: 'temp', body: 'BEGIN CREATE TEMPORARY TABLE x (a INT); END' },
    { name: 'via_fn', body: 'BEGIN SELECT setvar(); END' },
    { name: 'nested', body: 'BEGIN CALL report(); END' },
    { name: 'dup', body: 'BEGIN SELECT 1; END' },
    { name: 'dup', body: 'BEGIN SET @x = 1; END' },
  ]);
  assert.equal([...r.statelessProcedures].sort(), ['REPORT', 'TX']);
});

test.run();
