/**
 * A backend statement with an open cursor is never evicted: neither by the per-connection LRU cap
 * (max_prepared_per_connection) nor by the free-and-retry after a 1461 (max_prepared_stmt_count),
 * so COM_STMT_FETCH keeps working after many other prepares. When every cached statement holds a
 * cursor, a prepare over the server's limit gets the server's own 1461 (as directly), not a hang.
 * Raw protocol (CURSOR_TYPE_READ_ONLY in COM_STMT_EXECUTE), against a server started with
 * max_prepared_stmt_count=6, compared with the same steps directly.
 */
import * as assert from 'uvu/assert';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { Conn, ProxyHandle } from '../helpers/proxy';
import { connectDirect, sleep, startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';
import { RawClient } from '../helpers/raw-client';
import { Status } from '../../src/protocol/constants';

const test = integrationSuite('proxy-cursor-evict');

let server: MariaDbServer;
let h: ProxyHandle;
let root: Conn;

test.before(async () => {
  server = await startServer({ extraArgs: ['--max-prepared-stmt-count=6'] });
  root = await connectDirect(server.port);
  await root.query('CREATE TABLE test.nums (id INT PRIMARY KEY)');
  await root.query('INSERT INTO test.nums VALUES (1),(2),(3),(4),(5),(6),(7),(8)');
  h = await startProxy({
    backends: [
      { name: 'small', port: server.port, maxConnections: 1, maxPreparedPerConnection: 3 },
      { name: 'big', port: server.port, maxConnections: 1 },
    ],
    users: [
      { name: 'app', password: 'app', backend: 'small' },
      { name: 'app2', password: 'app', backend: 'big' },
      { name: 'nodb', password: 'app', backend: 'small', defaultSchema: null },
    ],
  });
});

test.after(async () => {
  root?.destroy();
  await h?.stop();
  await server?.destroy();
});

/** Prepared_stmt_count once it is 0 (closes have no answer): polls up to 10 s. */
async function settledZero(): Promise<number> {
  let n = -1;
  for (let i = 0; i < 200 && n !== 0; i++) {
    if (i > 0) await sleep(50);
    const [rows] = (await root.query("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'")) as unknown as [{ Value: string }[]];
    n = Number(rows[0].Value);
  }
  return n;
}

const CURSOR_READ_ONLY = 1;

/** Opens a read-only cursor on `SELECT id FROM nums WHERE id >= k` and fetches its first row. */
async function openCursor(c: RawClient, k: number) {
  const st = await c.prepare(`SELECT id FROM nums WHERE id >= ${k} ORDER BY id`);
  const opened = await c.execute(st.id, [], CURSOR_READ_ONLY);
  assert.is(opened.err, null);
  assert.ok(opened.status & Status.CURSOR_EXISTS, 'cursor opened');
  const first = await c.fetch(st.id, 1, opened.columns);
  assert.is(first.err, null);
  return { id: st.id, columns: opened.columns, first: first.rows };
}

test('LRU cap 3: a statement with an open cursor survives 5 other prepares; FETCH still works', timed(async () => {
  const c = await RawClient.connect(h.port, 'app', 'app', 'test');
  const cur = await openCursor(c, 1);
  assert.equal(cur.first, [['1']]);
  for (let i = 0; i < 5; i++) {
    const st = await c.prepare(`SELECT ${i} + 1000 AS n`);
    const r = await c.execute(st.id, []);
    assert.equal(r.rows, [[String(i + 1000)]]);
  }
  const next = await c.fetch(cur.id, 2, cur.columns);
  assert.is(next.err, null, `FETCH after the other prepares: ${next.err?.errno} ${next.err?.message}`);
  assert.equal(next.rows, [['2'], ['3']]);
  c.close();
  assert.is(await settledZero(), 0);
}));

test('1461 free-and-retry: the least recently used statement holds a cursor; the retry frees others, FETCH still works', timed(async () => {
  const c = await RawClient.connect(h.port, 'app2', 'app', 'test');
  const cur = await openCursor(c, 3);
  assert.equal(cur.first, [['3']]);
  // 5 more fill max_prepared_stmt_count=6; the 7th gets 1461 from the server, the proxy frees and retries
  const ids: number[] = [];
  for (let i = 0; i < 6; i++) ids.push((await c.prepare(`SELECT ${i} + 2000 AS n`)).id);
  const next = await c.fetch(cur.id, 2, cur.columns);
  assert.is(next.err, null, `FETCH after the 1461 retry: ${next.err?.errno} ${next.err?.message}`);
  assert.equal(next.rows, [['4'], ['5']]);
  // the evicted ones are prepared again on demand
  for (let i = 0; i < 6; i++) {
    const r = await c.execute(ids[i] as number, []);
    assert.equal(r.rows, [[String(i + 2000)]]);
  }
  c.close();
  assert.is(await settledZero(), 0);
}));

/** Six cursors fill max_prepared_stmt_count=6, then one more prepare: what the client gets, and the cursors after. */
async function allProtected(port: number, user: string, pw: string) {
  const c = await RawClient.connect(port, user, pw, 'test');
  const curs = [];
  for (let k = 1; k <= 6; k++) curs.push(await openCursor(c, k));
  let refused: unknown = null;
  try {
    await c.prepare('SELECT 42 AS x');
  } catch (e) {
    refused = (e as Error).message;
  }
  const fetched = [];
  for (const cur of curs) {
    const r = await c.fetch(cur.id, 1, cur.columns);
    fetched.push(r.err ? r.err.errno : r.rows);
  }
  const after = await c.query('SELECT 7 AS seven');
  c.close();
  return { refused, fetched, after: after.rows };
}

test('every statement holds a cursor: the prepare over the limit gets 1461 as directly, cursors intact', timed(async () => {
  const d = await allProtected(server.port, 'root', '');
  assert.is(await settledZero(), 0);
  const p = await allProtected(h.port, 'app2', 'app');
  assert.equal(p, d);
  assert.match(String(d.refused), /max_prepared_stmt_count/);
  assert.is(await settledZero(), 0);
}));

test('a statement prepared without a schema, executed with a cursor on a pinned connection that has one: refused (1235), never run in that schema; without a cursor it reads DATABASE() NULL as directly', timed(async () => {
  const run = async (port: number, user: string, pw: string) => {
    const c = await RawClient.connect(port, user, pw, null);
    try {
      // Prepared before USE: the server runs them in the schema they were prepared in (none).
      const st = await c.prepare('SELECT DATABASE() AS db');
      const st2 = await c.prepare('SELECT DATABASE() AS db2');
      assert.is((await c.query('USE test')).err, null);
      assert.is((await c.query('BEGIN')).err, null);
      assert.is((await c.query('SELECT id FROM nums WHERE id = 1 FOR UPDATE')).err, null); // pinned (transaction)
      // Three more prepares: through the proxy (max_prepared_per_connection 3) st and st2 leave the
      // connection's cache, so executing them prepares them again on the pinned connection.
      for (let i = 0; i < 3; i++) await c.prepare(`SELECT ${i} AS other`);
      const plain = await c.execute(st.id, []);
      const cursor = await c.execute(st2.id, [], CURSOR_READ_ONLY);
      const fetched = cursor.err === null ? await c.fetch(st2.id, 1, cursor.columns) : null;
      await c.query('ROLLBACK');
      return { plain: plain.rows, cursorErr: cursor.err?.errno ?? null, fetched: fetched?.rows ?? null };
    } finally {
      c.close();
    }
  };
  const d = await run(server.port, 'root', '');
  assert.equal(d, { plain: [[null]], cursorErr: null, fetched: [[null]] }, 'directly (test sanity)');
  const p = await run(h.port, 'nodb', 'app');
  assert.equal(p.plain, d.plain, 'without a cursor: as directly');
  assert.is(p.cursorErr, 1235, 'with a cursor: refused, not run under the connection\'s schema');
}));

test('a prepared SHOW WARNINGS executed with a cursor while the session has warnings is refused (1235), never answered with the connection\'s diagnostics; with none, it runs (empty, as directly)', timed(async () => {
  const c = await RawClient.connect(h.port, 'app2', 'app', 'test');
  try {
    const st = await c.prepare('SHOW WARNINGS');
    const empty = await c.execute(st.id, [], CURSOR_READ_ONLY);
    assert.is(empty.err, null, 'no diagnostics in the session yet: runs on a cleared backend');
    const warned = await c.query("SELECT CAST('x1' AS INT) AS w");
    assert.is(warned.err, null);
    const refused = await c.execute(st.id, [], CURSOR_READ_ONLY);
    assert.is(refused.err?.errno, 1235);
    assert.is(refused.err?.sqlState, '42000');
    const plain = await c.execute(st.id, []);
    assert.is(plain.err, null, 'without a cursor: answered from the session\'s diagnostics');
    assert.is(plain.rows.length, 1);
  } finally {
    c.close();
  }
}));

test.run();
