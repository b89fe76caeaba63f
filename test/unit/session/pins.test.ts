/** nextPins: the pin set after a statement, table-driven from real SQL through the lexer. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { scanQuery } from '../../../src/classify/lexer';
import { Status } from '../../../src/protocol/constants';
import { nextPins, Pin, pinNames, type PinInput } from '../../../src/session/pins';

const AC = Status.AUTOCOMMIT;
const q = (sql: string) => {
  const b = Buffer.from(sql);
  return scanQuery(b, 0, b.length);
};
const none: PinInput = { pins: 0, lockCount: 0, userLocks: 0, openCursors: 0 };

interface Case {
  name: string;
  before?: Partial<PinInput>;
  sql: string | null;
  status: number;
  pins: string[];
  lockCount?: number;
  releasedAll?: boolean;
}

const cases: Case[] = [
  { name: 'plain select, autocommit', sql: 'SELECT 1', status: AC, pins: [] },
  { name: 'open transaction', sql: 'BEGIN', status: AC | Status.IN_TRANS, pins: ['TX'] },
  { name: 'autocommit off pins even outside a transaction', sql: 'SET autocommit=0', status: 0, pins: ['TX'] },
  { name: 'commit drops the transaction pin', before: { pins: Pin.TX }, sql: 'COMMIT', status: AC, pins: [] },
  { name: 'LOCK TABLES', sql: 'LOCK TABLES t WRITE', status: AC, pins: ['LOCK_TABLES'] },
  { name: 'UNLOCK TABLES', before: { pins: Pin.LOCK_TABLES }, sql: 'UNLOCK TABLES', status: AC, pins: [] },
  { name: 'temporary table is sticky', before: { pins: Pin.TEMP }, sql: 'SELECT 1', status: AC, pins: ['TEMP'] },
  { name: 'CREATE TEMPORARY TABLE', sql: 'CREATE TEMPORARY TABLE tt (a int)', status: AC, pins: ['TEMP'] },
  { name: 'SQL PREPARE', sql: "PREPARE s FROM 'SELECT 1'", status: AC, pins: ['SQL_PS'] },
  { name: 'HANDLER', sql: 'HANDLER t OPEN', status: AC, pins: ['HANDLER'] },
  { name: 'SQL_CALC_FOUND_ROWS holds for one statement', sql: 'SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 1', status: AC, pins: ['ONE_SHOT'] },
  { name: 'one-shot pin is re-derived', before: { pins: Pin.ONE_SHOT }, sql: 'SELECT FOUND_ROWS()', status: AC, pins: [] },
  { name: 'SET TRANSACTION holds for one statement', sql: 'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', status: AC, pins: ['ONE_SHOT'] },
  { name: 'GET_LOCK with an unreadable name counts', sql: 'SELECT GET_LOCK(@n, 0)', status: AC, pins: ['USER_LOCK'], lockCount: 1 },
  { name: 'RELEASE_LOCK with an unreadable name uncounts', before: { lockCount: 1, pins: Pin.USER_LOCK }, sql: 'SELECT RELEASE_LOCK(@n)', status: AC, pins: [], lockCount: 0 },
  { name: 'confirmed user locks keep the pin', before: { userLocks: 2 }, sql: 'SELECT 1', status: AC, pins: ['USER_LOCK'] },
  { name: 'RELEASE_ALL_LOCKS', before: { userLocks: 2, lockCount: 1, pins: Pin.USER_LOCK }, sql: 'SELECT RELEASE_ALL_LOCKS()', status: AC, pins: [], lockCount: 0, releasedAll: true },
  { name: 'multi-statement: the last of UNLOCK/LOCK TABLES wins (locked)', sql: 'UNLOCK TABLES; LOCK TABLES t WRITE', status: AC, pins: ['LOCK_TABLES'] },
  { name: 'multi-statement: the last of LOCK/UNLOCK TABLES wins (unlocked)', before: { pins: Pin.LOCK_TABLES }, sql: 'LOCK TABLES t WRITE; UNLOCK TABLES', status: AC, pins: [] },
  { name: 'multi-statement: LOCK TABLES after another statement', sql: 'SELECT 1; LOCK TABLES t READ', status: AC, pins: ['LOCK_TABLES'] },
  { name: 'CALL pins until reset (a procedure may leave state the proxy cannot see)', sql: 'CALL p(1)', status: AC, pins: ['ROUTINE'] },
  { name: 'CALL inside a multi-statement', sql: 'SELECT 1; CALL p()', status: AC, pins: ['ROUTINE'] },
  { name: 'ROUTINE is sticky', before: { pins: Pin.ROUTINE }, sql: 'SELECT 1', status: AC, pins: ['ROUTINE'] },
  { name: 'open cursor', before: { openCursors: 1 }, sql: null, status: AC | Status.CURSOR_EXISTS, pins: ['CURSOR'] },
  { name: 'no statement info (COM_STMT_EXECUTE) keeps sticky pins', before: { pins: Pin.TEMP | Pin.TX }, sql: null, status: AC, pins: ['TEMP'] },
];

for (const c of cases) {
  test(`nextPins: ${c.name}`, () => {
    const d = nextPins({ ...none, ...c.before }, c.sql === null ? null : q(c.sql), c.status);
    assert.equal(pinNames(d.pins), c.pins);
    assert.is(d.lockCount, c.lockCount ?? c.before?.lockCount ?? 0);
    assert.is(d.releasedAll, c.releasedAll ?? false);
  });
}

test('a call of a known stored function pins like CALL (names from the backend, any quoting or schema)', () => {
  const fns = { functions: new Set(['SETVAR', 'A_VERY_LONG_STORED_FUNCTION_NAME_OF_FORTY_FOUR']), tables: new Set<string>() };
  const scan = (sql: string) => {
    const b = Buffer.from(sql);
    return scanQuery(b, 0, b.length, fns);
  };
  for (const sql of ['SELECT setvar()', 'SELECT shop.SetVar(1)', 'SELECT `setvar`()', 'DO 1 + a_very_long_stored_function_name_of_forty_four()']) {
    assert.equal(pinNames(nextPins(none, scan(sql), AC).pins), ['ROUTINE'], sql);
  }
  for (const sql of ['SELECT concat(1)', "SELECT 'setvar()'", 'CREATE FUNCTION setvar() RETURNS INT RETURN 1']) {
    assert.equal(pinNames(nextPins(none, scan(sql), AC).pins), [], sql);
  }
});

test('CALL of a procedure proven stateless does not pin; any other CALL does', () => {
  const r = { functions: new Set<string>(), tables: new Set<string>(), statelessProcedures: new Set(['HARMLESS']) };
  const scan = (sql: string) => {
    const b = Buffer.from(sql);
    return scanQuery(b, 0, b.length, r);
  };
  for (const sql of ['CALL harmless()', 'CALL shop.Harmless(1, 2)', 'CALL `harmless`()', 'call harmless(); SELECT 1']) {
    assert.equal(pinNames(nextPins(none, scan(sql), AC).pins), [], sql);
  }
  for (const sql of ['CALL other()', 'CALL harmless', 'CALL harmless(); CALL other()', 'CALL other(); CALL harmless()', 'SELECT 1; CALL x.other(@a)']) {
    assert.equal(pinNames(nextPins(none, scan(sql), AC).pins), ['ROUTINE'], sql);
  }
});

test('a single statement that failed adds no sticky pin (a failed multi-statement or CALL still does; existing pins stay)', () => {
  for (const sql of ['HANDLER h READ FIRST', 'CREATE TEMPORARY TABLE t (a INT)', "PREPARE s FROM 'SELECT 1'", 'LOCK TABLES t WRITE']) {
    assert.equal(pinNames(nextPins(none, q(sql), AC, true).pins), [], sql);
  }
  assert.equal(pinNames(nextPins(none, q('CREATE TEMPORARY TABLE t (a INT); SELECT nope'), AC, true).pins), ['TEMP']);
  assert.equal(pinNames(nextPins(none, q('CALL p()'), AC, true).pins), ['ROUTINE']);
  assert.equal(pinNames(nextPins({ ...none, pins: Pin.HANDLER }, q('HANDLER h READ NEXT'), AC, true).pins), ['HANDLER']);
});

test('nextPins is pure: the input is not changed', () => {
  const input: PinInput = { pins: Pin.TX | Pin.ONE_SHOT, lockCount: 1, userLocks: 0, openCursors: 0 };
  const copy = { ...input };
  nextPins(input, q('SELECT RELEASE_ALL_LOCKS()'), AC);
  assert.equal(input, copy);
});

test.run();
