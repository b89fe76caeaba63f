/** schemalessToPrepare: which statements prepared without a schema are prepared on a connection before the replay. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mayPin, schemalessToPrepare, SCHEMALESS_AHEAD_MAX } from '../../../src/server/schemaless-stmts';
import { scanQuery } from '../../../src/classify/lexer';
import { PreparedMap } from '../../../src/session/prepared-map';
import type { ClientStmt } from '../../../src/server/prepared';
import type { BackendConnection } from '../../../src/backend/backend-connection';

function stmt(id: number, schema: string | null): ClientStmt {
  const sql = `SELECT ${id}`;
  return { id, sql: Buffer.from(sql), key: `${schema ?? ''}\0${sql}`, schema, numParams: 0, numColumns: 1, paramTypes: null, longData: null, longDataBytes: 0, cursorOpen: false } as unknown as ClientStmt;
}

function conn(schema: string | null, cached: ClientStmt[] = []): BackendConnection {
  return { schema, stmts: new Map(cached.map((s) => [s.key, { id: 1, numParams: 0, numColumns: 1, types: null }])) } as unknown as BackendConnection;
}

const ids = (l: ClientStmt[]) => l.map((s) => s.id);

test('the statement about to run, prepared without a schema and not on the connection', () => {
  const m = new PreparedMap();
  const x = stmt(1, null);
  m.add(x);
  assert.equal(ids(schemalessToPrepare(conn('shop'), x, m, null, false, true)), [1]);
  assert.equal(ids(schemalessToPrepare(conn('shop', [x]), x, m, null, false, true)), []);
  assert.equal(ids(schemalessToPrepare(conn('shop'), stmt(2, 'shop'), m, 'shop', false, true)), [1], 'unpinned, with a schema now, before what may pin: the others too');
  assert.equal(ids(schemalessToPrepare(conn('shop'), stmt(2, 'shop'), m, 'shop', false, false)), [], 'not before what cannot pin');
});

test('pinned: only the statement about to run, and only where the connection has no schema (it cannot be reset)', () => {
  const m = new PreparedMap();
  const x = stmt(1, null);
  const y = stmt(2, null);
  m.add(x);
  m.add(y);
  assert.equal(ids(schemalessToPrepare(conn(null), x, m, null, true, true)), [1]);
  assert.equal(ids(schemalessToPrepare(conn('shop'), x, m, 'shop', true, true)), []);
  assert.equal(ids(schemalessToPrepare(conn('shop'), x, m, 'shop', false, true)), [1, 2]);
});

test('ahead of a pin only for a session that has a schema now, and not for more than SCHEMALESS_AHEAD_MAX statements', () => {
  const m = new PreparedMap();
  m.add(stmt(1, null));
  assert.equal(ids(schemalessToPrepare(conn(null), null, m, null, false, true)), [], 'no schema now: the replay leaves none either');
  assert.equal(ids(schemalessToPrepare(conn('shop'), null, m, 'shop', false, true)), [1]);
  for (let i = 2; i <= SCHEMALESS_AHEAD_MAX + 1; i++) m.add(stmt(i, null));
  assert.equal(ids(schemalessToPrepare(conn('shop'), null, m, 'shop', false, true)), []);
  assert.is(m.schemaless, SCHEMALESS_AHEAD_MAX + 1);
  m.delete(m.get(1) as ClientStmt);
  assert.is(m.schemaless, SCHEMALESS_AHEAD_MAX);
  m.add(stmt(100, 'shop'));
  assert.is(m.schemaless, SCHEMALESS_AHEAD_MAX);
});

test('mayPin: what may keep the connection (flags, kinds, cursors, autocommit off), not plain statements', () => {
  const p = (sql: string) => {
    const b = Buffer.from(sql);
    return scanQuery(b, 0, b.length);
  };
  for (const sql of ['BEGIN', 'START TRANSACTION', 'SET autocommit = 0', "SELECT GET_LOCK('x', 1)", 'LOCK TABLES t WRITE', 'CREATE TEMPORARY TABLE t (a INT)', 'CALL p()', 'HANDLER t OPEN', "PREPARE s FROM 'SELECT 1'", 'SELECT SQL_CALC_FOUND_ROWS 1']) {
    assert.ok(mayPin(p(sql), false, false), sql);
  }
  for (const sql of ['SELECT 1', 'INSERT INTO t VALUES (1)', 'USE shop']) assert.not.ok(mayPin(p(sql), false, false), sql);
  assert.ok(mayPin(p('SELECT 1'), true, false), 'a cursor');
  assert.ok(mayPin(p('INSERT INTO t VALUES (1)'), false, true), 'autocommit off');
});

test.run();
