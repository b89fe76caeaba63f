/** replaySteps / needsReplay: what a borrowed backend connection needs to run a session's statement. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Q } from '../../../src/classify/lexer';
import { newSessionState, type SessionState } from '../../../src/session/session-state';
import { needsReplay, noSchemaStmtDropped, replaySteps, type BackendConnState, type ReplayNeeds } from '../../../src/session/replay';

const owner = { name: 'session' };
const other = { name: 'other session' };

function session(p: Partial<SessionState> = {}): { st: SessionState; owner: unknown } {
  return { st: { ...newSessionState(42, false), ...p }, owner };
}

function conn(p: Partial<BackendConnState> = {}): BackendConnState {
  return {
    schema: null,
    multiStatements: false,
    vars: new Map(),
    userVars: new Set(),
    userVarOwner: null,
    lastInsertId: 0,
    pseudoThreadId: 0,
    lastSession: null,
    appliedVersion: -1,
    diagOwner: null,
    foundRowsOwner: null,
    ...p,
  };
}

const plain: ReplayNeeds = { flags: 0, clearDiag: false };
const defaults = new Map([['autocommit', 'ON'], ['sql_mode', 'STRICT_TRANS_TABLES']]);

test('same session, same version, nothing asked: no steps', () => {
  const s = session({ schema: 'shop', version: 3 });
  const c = conn({ schema: 'shop', lastSession: owner, appliedVersion: 3 });
  assert.is(needsReplay(s, c, plain), false);
  assert.equal(replaySteps(s, c, plain, defaults), []);
});

test('fresh connection for a session with schema, variables and multi-statements', () => {
  const s = session({ schema: 'shop', multi: true, vars: new Map([['sql_mode', 'ANSI']]) });
  const c = conn();
  assert.is(needsReplay(s, c, plain), true);
  assert.equal(replaySteps(s, c, plain, defaults), [
    { t: 'init_db', schema: 'shop' },
    { t: 'set_option', multi: true },
    { t: 'set', sql: "SET SESSION sql_mode='ANSI'", userVars: [], pseudoThreadId: 0 },
  ]);
});

test("session without schema on a connection that has one: reset first, then the session's state", () => {
  const s = session({ schema: null, vars: new Map([['sql_mode', 'ANSI']]) });
  const c = conn({ schema: 'tenant_b', vars: new Map([['sql_mode', 'ANSI']]), lastSession: other, multiStatements: true });
  const steps = replaySteps(s, c, plain, defaults);
  assert.equal(steps, [
    { t: 'reset' },
    { t: 'set_option', multi: false },
    { t: 'set', sql: "SET SESSION sql_mode='ANSI'", userVars: [], pseudoThreadId: 0 },
  ]);
});

test("another session's variables are put back to their defaults", () => {
  const s = session({ schema: 'shop' });
  const c = conn({ schema: 'shop', vars: new Map([['sql_mode', 'ANSI'], ['time_zone', '+01:00']]), lastSession: other });
  assert.equal(replaySteps(s, c, plain, defaults), [
    { t: 'set', sql: "SET SESSION sql_mode='STRICT_TRANS_TABLES', SESSION time_zone=DEFAULT", userVars: [], pseudoThreadId: 0 },
  ]);
});

test("another session's user variables: the connection is reset (SET @v = NULL would keep @v and its type), then the session's state", () => {
  const s = session({ schema: 'shop', vars: new Map([['time_zone', '+02:00']]), userVars: new Map([['mine', '1']]) });
  const c = conn({ schema: 'shop', vars: new Map([['sql_mode', 'ANSI']]), userVars: new Set(['secret']), userVarOwner: other, lastSession: other, lastInsertId: 9, pseudoThreadId: 7, diagOwner: other, multiStatements: true });
  const need: ReplayNeeds = { flags: Q.LAST_INSERT_ID | Q.CONNECTION_ID, clearDiag: true };
  assert.is(needsReplay(s, c, need), true);
  // The reset keeps the schema and the multi-statement option, and leaves LAST_INSERT_ID 0, no pseudo_thread_id, clean diagnostics.
  assert.equal(replaySteps(s, c, need, defaults), [
    { t: 'reset_session' },
    { t: 'set_option', multi: false },
    { t: 'set', sql: "SET SESSION time_zone='+02:00', @`mine`=1, SESSION pseudo_thread_id=42", userVars: ['mine'], pseudoThreadId: 42 },
  ]);
  // Never a NULL assignment to another session's variable.
  for (const st of replaySteps(s, c, need, defaults)) if (st.t === 'set') assert.not.match(st.sql, /secret/);
});

test("another session's user variables on a connection without a schema, for a session without one: reset_session", () => {
  const s = session();
  const c = conn({ userVars: new Set(['a']), userVarOwner: other, lastSession: other });
  assert.is(needsReplay(s, c, plain), true);
  assert.equal(replaySteps(s, c, plain, defaults), [{ t: 'reset_session' }]);
});

test("another session's user variables and a schema the session has not: one reset (COM_CHANGE_USER) drops both", () => {
  const s = session();
  const c = conn({ schema: 'tenant_b', userVars: new Set(['a']), userVarOwner: other, lastSession: other });
  assert.equal(replaySteps(s, c, plain, defaults), [{ t: 'reset' }]);
});

test("the session's own user variables on the connection: no reset", () => {
  const s = session({ schema: 'shop', version: 4, userVars: new Map([['a', '1']]) });
  const mineConn = conn({ schema: 'shop', userVars: new Set(['a']), userVarOwner: s.st.userVarToken, lastSession: owner, appliedVersion: 4 });
  assert.is(needsReplay(s, mineConn, plain), false);
  assert.equal(replaySteps(s, mineConn, plain, defaults), []);
  // Back on a connection it used earlier: its variables are set again, no reset.
  const earlier = conn({ schema: 'shop', userVars: new Set(['a']), userVarOwner: s.st.userVarToken, lastSession: other, appliedVersion: 1 });
  assert.equal(replaySteps(s, earlier, plain, defaults), [
    { t: 'set', sql: 'SET @`a`=1', userVars: ['a'], pseudoThreadId: 0 },
  ]);
  // After the session's own reset (a new token) its old variables are foreign to it.
  const reset = session({ schema: 'shop' });
  assert.equal(replaySteps(reset, conn({ schema: 'shop', userVars: new Set(['a']), userVarOwner: s.st.userVarToken, lastSession: owner }), plain, defaults), [{ t: 'reset_session' }]);
});

test("the session's own user variables are re-created on a connection it did not use last", () => {
  const s = session({ schema: 'shop', userVars: new Map([['a', "_utf8mb4 X'61' COLLATE utf8mb4_general_ci"], ['n', '5']]) });
  const c = conn({ schema: 'shop', lastSession: other });
  assert.equal(replaySteps(s, c, plain, defaults), [
    { t: 'set', sql: "SET @`a`=_utf8mb4 X'61' COLLATE utf8mb4_general_ci, @`n`=5", userVars: ['a', 'n'], pseudoThreadId: 0 },
  ]);
});

test("the same session's connection with another schema (selected by someone else's login) is switched back", () => {
  const s = session({ schema: 'shop', version: 2 });
  const c = conn({ schema: 'tenant_b', lastSession: owner, appliedVersion: 2 });
  assert.is(needsReplay(s, c, plain), true);
  assert.equal(replaySteps(s, c, plain, defaults), [{ t: 'init_db', schema: 'shop' }]);
});

test('CONNECTION_ID, LAST_INSERT_ID, FOUND_ROWS and a clean diagnostics area when the statement needs them', () => {
  const s = session({ schema: 'shop', version: 1, lastInsertId: 7, foundRows: 12 });
  const c = conn({ schema: 'shop', lastSession: other, appliedVersion: 1, diagOwner: other, lastInsertId: 3 });
  const need: ReplayNeeds = { flags: Q.CONNECTION_ID | Q.LAST_INSERT_ID | Q.FOUND_ROWS, clearDiag: true };
  assert.is(needsReplay(s, c, need), true);
  assert.equal(replaySteps(s, c, need, defaults), [
    { t: 'set', sql: 'SET SESSION pseudo_thread_id=42', userVars: [], pseudoThreadId: 42 },
    { t: 'last_insert_id', value: 7 },
    { t: 'clear_diag' },
    { t: 'found_rows', n: 12 },
  ]);
  // Clearing runs a query: FOUND_ROWS() is replayed after it even where the connection held the session's own.
  const mine = conn({ schema: 'shop', lastSession: owner, appliedVersion: 1, diagOwner: other, foundRowsOwner: owner });
  assert.equal(replaySteps(s, mine, { flags: Q.FOUND_ROWS, clearDiag: true }, defaults), [{ t: 'clear_diag' }, { t: 'found_rows', n: 12 }]);
});

test("CREATE TEMPORARY TABLE runs under the session's pseudo_thread_id (the server keys temporary tables by it)", () => {
  const s = session({ schema: 'shop', version: 1 });
  const c = conn({ schema: 'shop', lastSession: owner, appliedVersion: 1, pseudoThreadId: 7 });
  const need: ReplayNeeds = { flags: Q.CREATE_TEMPORARY, clearDiag: false };
  assert.is(needsReplay(s, c, need), true);
  assert.equal(replaySteps(s, c, need, defaults), [
    { t: 'set', sql: 'SET SESSION pseudo_thread_id=42', userVars: [], pseudoThreadId: 42 },
  ]);
  assert.is(needsReplay(s, conn({ schema: 'shop', lastSession: owner, appliedVersion: 1, pseudoThreadId: 42 }), need), false);
});

test("SQL EXECUTE / EXECUTE IMMEDIATE run under the session's pseudo_thread_id (the SQL they run may create a temporary table)", () => {
  const s = session({ schema: 'shop', version: 1 });
  const c = conn({ schema: 'shop', lastSession: owner, appliedVersion: 1, pseudoThreadId: 7 });
  const need: ReplayNeeds = { flags: Q.SQL_PREPARE, clearDiag: false };
  assert.is(needsReplay(s, c, need), true);
  assert.equal(replaySteps(s, c, need, defaults), [
    { t: 'set', sql: 'SET SESSION pseudo_thread_id=42', userVars: [], pseudoThreadId: 42 },
  ]);
});

test("FOUND_ROWS is replayed unless the connection holds the session's own value (its last result set there, or its replay)", () => {
  const s = session({ schema: 'shop', version: 1, foundRows: 2 });
  const need: ReplayNeeds = { flags: Q.FOUND_ROWS, clearDiag: false };
  // The proxy ran its own queries there (foundRowsOwner cleared), though the session ran last.
  const c = conn({ schema: 'shop', lastSession: owner, appliedVersion: 1, internalSinceClient: true });
  assert.is(needsReplay(s, c, need), true);
  assert.equal(replaySteps(s, c, need, defaults), [{ t: 'found_rows', n: 2 }]);
  assert.is(needsReplay(s, { ...c, foundRowsOwner: owner }, need), false);
  // multiplex-random seed 2 #183: the session's SET ran last on a connection where another session's
  // SELECT left FOUND_ROWS() (lastSession is the session, the value is not).
  assert.is(needsReplay(s, conn({ schema: 'shop', lastSession: owner, appliedVersion: 1, foundRowsOwner: other }), need), true);
});

test('LAST_INSERT_ID above 2^53 (a bigint) is restored exactly, and an equal bigint on the connection needs no step', () => {
  const big = 18446744073709551614n;
  const s = session({ schema: 'shop', version: 1, lastInsertId: big });
  const need: ReplayNeeds = { flags: Q.LAST_INSERT_ID, clearDiag: false };
  const c = conn({ schema: 'shop', lastSession: owner, appliedVersion: 1, lastInsertId: 9007199254740991 });
  assert.is(needsReplay(s, c, need), true);
  assert.equal(replaySteps(s, c, need, defaults), [{ t: 'last_insert_id', value: big }]);
  const same = conn({ schema: 'shop', lastSession: owner, appliedVersion: 1, lastInsertId: 18446744073709551614n });
  assert.is(needsReplay(s, same, need), false);
  assert.equal(replaySteps(s, same, need, defaults), []);
});

test("the session's own variable set to NULL on another connection is set to NULL where its old value stayed", () => {
  const s = session({ schema: 'shop', version: 6, userVars: new Map([['a', '1']]) });
  // This connection has the session's @b from before; the session has since set @b = NULL elsewhere.
  const c = conn({ schema: 'shop', userVars: new Set(['a', 'b']), userVarOwner: s.st.userVarToken, lastSession: owner, appliedVersion: 4 });
  assert.is(needsReplay(s, c, plain), true);
  assert.equal(replaySteps(s, c, plain, defaults), [
    { t: 'set', sql: 'SET @`b`=NULL, @`a`=1', userVars: ['a'], pseudoThreadId: 0 },
  ]);
  // No variable left at all: still cleared.
  const none = session({ schema: 'shop', version: 6 });
  const c2 = conn({ schema: 'shop', userVars: new Set(['b']), userVarOwner: none.st.userVarToken, lastSession: owner, appliedVersion: 4 });
  assert.equal(replaySteps(none, c2, plain, defaults), [
    { t: 'set', sql: 'SET @`b`=NULL', userVars: [], pseudoThreadId: 0 },
  ]);
});

test("after the client's COM_RESET_CONNECTION: the server's database character set, on any connection; the schema's again once the session selects one", () => {
  const s = session({ schema: 'l1', version: 2, dbCharsetDefault: true });
  // the connection the session used last, its schema selected by someone else's login meanwhile? no: same schema, charset of the schema
  const same = conn({ schema: 'l1', lastSession: owner, appliedVersion: 2 });
  assert.is(needsReplay(s, same, plain), true);
  assert.equal(replaySteps(s, same, plain, defaults), [{ t: 'db_charset_default' }]);
  // another schema there: selected, then the server's character set
  assert.equal(replaySteps(s, conn({ schema: 'shop', lastSession: owner, appliedVersion: 2 }), plain, defaults), [{ t: 'init_db', schema: 'l1' }, { t: 'db_charset_default' }]);
  // already so: nothing
  const done = conn({ schema: 'l1', lastSession: owner, appliedVersion: 2, dbCharsetDefault: true });
  assert.is(needsReplay(s, done, plain), false);
  assert.equal(replaySteps(s, done, plain, defaults), []);
  // a session with the schema's character set on a connection left with the server's: the schema selected again
  const t = session({ schema: 'l1', version: 2 });
  assert.is(needsReplay(t, done, plain), true);
  assert.equal(replaySteps(t, done, plain, defaults), [{ t: 'init_db', schema: 'l1' }]);
});

test("a reset among the steps drops the connection's prepared statements (one prepared without a schema is prepared after it)", () => {
  const s = session({ schema: 'shop' });
  assert.is(noSchemaStmtDropped(replaySteps(s, conn({ schema: 'shop', userVars: new Set(['y']), userVarOwner: other }), plain, defaults)), true);
  assert.is(noSchemaStmtDropped(replaySteps(session({ schema: null }), conn({ schema: 'shop' }), plain, defaults)), true);
  assert.is(noSchemaStmtDropped(replaySteps(s, conn(), plain, defaults)), false);
});

test('needsReplay agrees with replaySteps on a grid of states', () => {
  const sessions = [session(), session({ schema: 'shop' }), session({ schema: 'shop', version: 2, multi: true }), session({ userVars: new Map([['x', '1']]) }), session({ schema: 'shop', version: 2, dbCharsetDefault: true })];
  const conns = [conn(), conn({ schema: 'shop' }), conn({ schema: 'shop', lastSession: owner, appliedVersion: 2, multiStatements: true }), conn({ userVars: new Set(['y']), userVarOwner: other }), conn({ schema: 'other', lastSession: owner, appliedVersion: 0 }), conn({ schema: 'other', lastSession: owner, appliedVersion: 2, multiStatements: true }), conn({ schema: 'shop', lastSession: owner, appliedVersion: 2, dbCharsetDefault: true })];
  const needs: ReplayNeeds[] = [plain, { flags: Q.CONNECTION_ID, clearDiag: false }, { flags: Q.LAST_INSERT_ID, clearDiag: true }];
  for (const s of sessions) for (const c of conns) for (const n of needs) {
    const steps = replaySteps(s, c, n, defaults);
    if (steps.length > 0) assert.ok(needsReplay(s, c, n), `needsReplay missed ${JSON.stringify(steps)}`);
  }
});

test.run();
