/**
 * Section 1 of issue 5: state that crossed from one session to another through a shared backend
 * connection. Two backend connections at most, users with different default schemas (and one without
 * any). Each test reproduces one leak that existed before the fix, with mysql2 over the text
 * protocol (`query`) and the binary one (`execute`) where the leak was protocol-specific.
 */
import * as assert from 'uvu/assert';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { Conn, Mode, ProxyHandle } from '../helpers/proxy';
import { run, sleep, sqlError, startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('session-leaks');

let server: MariaDbServer;
let h: ProxyHandle;

const USERS = [
  { name: 'app', password: 'app', defaultSchema: 'shop' },
  { name: 'carol', password: 'carol', defaultSchema: 'tenant_b' },
  { name: 'nodb', password: 'nodb', defaultSchema: null },
];

test.before(async () => {
  server = await startServer();
  await server.query(`CREATE DATABASE shop; CREATE DATABASE tenant_b;
    CREATE TABLE shop.secret (v VARCHAR(20)); INSERT INTO shop.secret VALUES ('shop row');
    CREATE TABLE tenant_b.secret (v VARCHAR(20)); INSERT INTO tenant_b.secret VALUES ('tenant_b row');
    CREATE TABLE shop.lt (x INT); CREATE TABLE tenant_b.lt (x INT);`);
  await server.query(`CREATE PROCEDURE shop.stateful() BEGIN
      SET @pv = 'from procedure';
      CREATE TEMPORARY TABLE ptt (a INT);
      INSERT INTO ptt VALUES (7);
      DO GET_LOCK('proc_lock', 0);
    END`);
  await server.query('CREATE PROCEDURE shop.whoami() BEGIN SELECT CONNECTION_ID() AS id; END');
  await server.query("CREATE FUNCTION shop.setvar() RETURNS INT BEGIN SET @fv = 'from function'; RETURN GET_LOCK('fn_lock', 0); END");
  await server.query('CREATE FUNCTION shop.twice(x INT) RETURNS INT RETURN x * 2');
  await server.query('CREATE PROCEDURE shop.read_secret() BEGIN SELECT v FROM secret; END');
  await server.query('CREATE TABLE shop.trig_t (id INT)');
  await server.query('CREATE TRIGGER shop.trig_t_ai AFTER INSERT ON shop.trig_t FOR EACH ROW SET @tv = NEW.id');
  await server.query('CREATE TABLE shop.ai (id INT AUTO_INCREMENT PRIMARY KEY, v INT)');
  // Sessions of one user pin both connections here (CALL pins for the rest of the session): that
  // user gets the whole pool, not the default fair share of max_connections - 1.
  h = await startProxy({ backends: [{ name: 'b1', port: server.port, maxConnections: 2, maxConnectionsPerUser: 2, acquireTimeoutMs: 5000 }], users: USERS });
});

test.after(async () => {
  await h?.stop();
  await server?.destroy();
});

/** Connections of the running test, destroyed after it even when it fails (so pinned ones free the pool). */
const opened: Conn[] = [];
test.after.each(() => {
  for (const c of opened.splice(0)) c.destroy();
});

const as = async (user: string, extra: Record<string, unknown> = {}) => {
  const u = USERS.find((x) => x.name === user) as (typeof USERS)[number];
  const c = await h.connect({ user: u.name, password: u.password, database: undefined, ...extra });
  opened.push(c);
  return c;
};

async function val(c: Conn, mode: Mode, sql: string, params?: unknown[]): Promise<unknown> {
  const [rows] = (await run(c, mode, sql, params)) as [Record<string, unknown>[], unknown];
  return Object.values(rows[0])[0];
}

/**
 * Waits until no backend connection is in use: the pinned connections of sessions that just ended
 * have been reset and returned. A server frees a closed connection's locks asynchronously too; the
 * proxy resets after the client's COM_QUIT, so the next session must not race that reset.
 */
async function poolSettled(): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (h.proxy.stats().backends.every((b) => b.inUse === 0)) return;
    await sleep(5);
  }
  throw new Error(`backend connections of ended sessions not returned: ${JSON.stringify(h.proxy.stats().backends)}`);
}

/** Another session takes a backend connection and keeps it (open transaction), so the next borrow differs. */
async function holdOne(): Promise<Conn> {
  const c = await as('carol');
  await c.query('BEGIN');
  await c.query('SELECT 1');
  return c;
}

for (const mode of ['query', 'execute'] as Mode[]) {
  test(`[${mode}] another user's login does not switch a live session's schema`, timed(async () => {
    const app = await as('app');
    assert.is(await val(app, mode, 'SELECT DATABASE()'), 'shop');
    const carol = await as('carol');
    assert.is(await val(app, mode, 'SELECT DATABASE()'), 'shop');
    assert.is(await val(app, mode, 'SELECT v FROM secret'), 'shop row');
    assert.is(await val(carol, mode, 'SELECT v FROM secret'), 'tenant_b row');
    app.destroy();
    carol.destroy();
  }));

  test(`[${mode}] no default schema: DATABASE() is NULL and unqualified names fail with 1046`, timed(async () => {
    const app = await as('app');
    await app.query('SELECT 1');
    const nodb = await as('nodb');
    assert.is(await val(nodb, mode, 'SELECT DATABASE()'), null);
    assert.is((await sqlError(run(nodb, mode, 'SELECT v FROM secret'))).errno, 1046);
    // a login with a schema in between must not give this session that schema either
    const carol = await as('carol');
    await carol.query('SELECT 1');
    assert.is(await val(nodb, mode, 'SELECT DATABASE()'), null);
    assert.is((await sqlError(nodb.query('USE no_such_db'))).errno, 1049);
    assert.is(await val(nodb, mode, 'SELECT DATABASE()'), null);
    assert.is((await sqlError(run(nodb, mode, 'SELECT v FROM secret'))).errno, 1046);
    await nodb.query('USE tenant_b');
    assert.is(await val(nodb, mode, 'SELECT v FROM secret'), 'tenant_b row');
    for (const c of [app, nodb, carol]) c.destroy();
  }));
}

test('[execute] user variables and temporary tables made by prepared statements stay in their session', timed(async () => {
  const a = await as('app');
  await a.execute("SET @s = 'acme'");
  await a.execute('CREATE TEMPORARY TABLE tt (a INT)');
  await a.execute('INSERT INTO tt VALUES (1)');
  const hold = await holdOne();
  assert.is(await val(a, 'execute', 'SELECT @s'), 'acme');
  assert.is(Number(await val(a, 'execute', 'SELECT COUNT(*) FROM tt')), 1, 'temporary table follows its session');
  hold.destroy();
  await a.end();
  const b = await as('carol');
  assert.is(await val(b, 'query', 'SELECT @s'), null);
  assert.is(await val(b, 'execute', 'SELECT @s'), null);
  assert.is((await sqlError(b.query('SELECT * FROM shop.tt'))).errno, 1146);
  const c = await as('app');
  await c.execute('CREATE TEMPORARY TABLE tt (a INT)');
  b.destroy();
  c.destroy();
}));

test('[execute] GET_LOCK and transactions through prepared statements pin the session', timed(async () => {
  const a = await as('app');
  assert.is(Number(await val(a, 'execute', "SELECT GET_LOCK('ps_lock', 0)")), 1);
  const hold = await holdOne();
  assert.is(Number(await val(a, 'execute', "SELECT RELEASE_LOCK('ps_lock')")), 1, 'the lock is on the connection the session kept');
  await a.execute('START TRANSACTION');
  await a.execute('INSERT INTO lt VALUES (1)');
  assert.is(Number(await val(a, 'execute', 'SELECT COUNT(*) FROM lt')), 1);
  await a.execute('ROLLBACK');
  assert.is(Number(await val(a, 'execute', 'SELECT COUNT(*) FROM lt')), 0);
  hold.destroy();
  a.destroy();
}));

test('[execute] a prepared KILL is refused (it would name a backend thread) with the server\'s 1295 for unpreparable statements', timed(async () => {
  const a = await as('app');
  // 1295 (ER_UNSUPPORTED_PS) rather than 1235: on it clients fall back to text, where the proxy maps the id
  assert.is((await sqlError(a.execute('KILL 1'))).errno, 1295);
  assert.is((await sqlError(a.execute('KILL QUERY ?', [1]))).errno, 1295);
  assert.is(Number(await val(a, 'execute', 'SELECT 1')), 1);
}));

test('[execute] CONNECTION_ID() is the proxy connection id of each client', timed(async () => {
  const a = await as('app');
  const b = await as('carol');
  for (let i = 0; i < 3; i++) {
    assert.is(Number(await val(a, 'execute', 'SELECT CONNECTION_ID()')), a.threadId);
    assert.is(Number(await val(b, 'execute', 'SELECT CONNECTION_ID()')), b.threadId);
  }
  assert.is.not(a.threadId, b.threadId);
  a.destroy();
  b.destroy();
}));

test('[execute] CONNECTION_ID() inside a stored procedure is the proxy connection id', timed(async () => {
  const a = await as('app');
  const b = await as('app');
  for (const [c, mode] of [[a, 'execute'], [b, 'query'], [a, 'query'], [b, 'execute']] as [Conn, Mode][]) {
    const [sets] = (await run(c, mode, 'CALL whoami()')) as [Record<string, unknown>[][], unknown];
    assert.is(Number(sets[0][0].id), c.threadId, `${mode} CALL on ${c.threadId}`);
  }
}));

test('[execute] LAST_INSERT_ID() and FOUND_ROWS() of prepared statements are the session\'s own', timed(async () => {
  const a = await as('app');
  const b = await as('carol');
  await a.execute('INSERT INTO ai (v) VALUES (1)');
  const mine = Number(await val(a, 'execute', 'SELECT LAST_INSERT_ID()'));
  await b.query('INSERT INTO shop.ai (v) VALUES (2)'); // another session's insert on the shared connection
  assert.is(Number(await val(a, 'execute', 'SELECT LAST_INSERT_ID()')), mine);
  await a.execute('SELECT SQL_CALC_FOUND_ROWS v FROM ai LIMIT 1');
  await b.query('SELECT SQL_CALC_FOUND_ROWS 1 FROM shop.ai WHERE 0');
  assert.is(Number(await val(a, 'execute', 'SELECT FOUND_ROWS()')), 2);
}));

for (const mode of ['query', 'execute'] as Mode[]) {
  test(`[${mode}] LAST_INSERT_ID() above 2^53 stays the session's own, exactly, after another session's insert`, timed(async () => {
    const a = await as('app');
    const b = await as('carol');
    await a.query(`CREATE TABLE aibig_${mode} (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, v INT) AUTO_INCREMENT=18446744073709551000`);
    await run(a, mode, `INSERT INTO aibig_${mode} (v) VALUES (1)`);
    assert.is(await val(a, mode, 'SELECT CAST(LAST_INSERT_ID() AS CHAR)'), '18446744073709551000');
    await b.query('INSERT INTO shop.ai (v) VALUES (3)'); // another session's insert on a shared connection
    assert.is(await val(a, mode, 'SELECT CAST(LAST_INSERT_ID() AS CHAR)'), '18446744073709551000');
  }));
}

for (const mode of ['query', 'execute'] as Mode[]) {
  test(`[${mode}] state made inside a stored function stays in its session (existing and created through the proxy)`, timed(async () => {
    const a = await as('app');
    const fn = mode === 'query' ? 'setvar' : 'setvar2';
    if (mode === 'execute') {
      await a.query("CREATE FUNCTION setvar2() RETURNS INT BEGIN SET @fv = 'from function'; RETURN GET_LOCK('fn_lock', 0); END");
    }
    assert.is(Number(await val(a, mode, `SELECT ${fn}()`)), 1);
    const hold = await holdOne();
    assert.is(await val(a, mode, 'SELECT @fv'), 'from function');
    assert.is(Number(await val(a, mode, "SELECT RELEASE_LOCK('fn_lock')")), 1);
    assert.is(Number(await val(a, mode, `SELECT ${fn}()`)), 1);
    hold.destroy();
    await a.end();
    await poolSettled();
    const b = await as('carol');
    assert.is(await val(b, mode, 'SELECT @fv'), null);
    assert.is(Number(await val(b, mode, "SELECT IS_FREE_LOCK('fn_lock')")), 1);
  }));
}

test('a trigger that sets a user variable pins its session; a function without session effects does not', timed(async () => {
  const a = await as('app');
  assert.is(Number(await val(a, 'execute', 'SELECT twice(21)')), 42);
  assert.is(h.proxy.sessions.get(a.threadId as number)?.st.pins, 0, 'a pure function does not pin');
  await a.query('CALL read_secret()');
  assert.is(h.proxy.sessions.get(a.threadId as number)?.st.pins, 0, 'a procedure without session effects does not pin');
  await a.query('INSERT INTO trig_t VALUES (5)');
  const hold = await holdOne();
  assert.is(Number(await val(a, 'query', 'SELECT @tv')), 5);
  hold.destroy();
  await a.end();
  const b = await as('carol');
  assert.is(await val(b, 'query', 'SELECT @tv'), null);
}));

for (const sql of ['UNLOCK TABLES; LOCK TABLES lt WRITE', 'LOCK TABLES lt WRITE; SELECT 1', 'SELECT 1; LOCK TABLES lt READ']) {
  test(`[query] LOCK TABLES inside a multi-statement pins: ${sql}`, timed(async () => {
    const a = await as('app', { multipleStatements: true });
    await a.query(sql);
    await a.query('SELECT COUNT(*) FROM lt');
    // (no other session may take a connection in between: BEGIN would release the table locks)
    await a.end();
    const b = await as('carol');
    assert.is(await val(b, 'query', 'SELECT v FROM secret'), 'tenant_b row', 'no LOCK TABLES left on the connection');
    const c = await as('app');
    await c.query('INSERT INTO lt VALUES (2)'); // would wait for the lock (1205) if it were still held
    await c.query('DELETE FROM lt');
    b.destroy();
    c.destroy();
  }));
}

test('[query] multi-statement LOCK TABLES then UNLOCK TABLES leaves nothing pinned or locked', timed(async () => {
  const a = await as('app', { multipleStatements: true });
  await a.query('LOCK TABLES lt WRITE; UNLOCK TABLES');
  const b = await as('carol');
  assert.is(await val(b, 'query', 'SELECT v FROM secret'), 'tenant_b row');
  a.destroy();
  b.destroy();
}));

for (const mode of ['query', 'execute'] as Mode[]) {
  test(`[${mode}] state made inside a stored procedure stays in its session`, timed(async () => {
    const a = await as('app');
    await run(a, mode, 'CALL stateful()');
    const hold = await holdOne();
    assert.is(await val(a, mode, 'SELECT @pv'), 'from procedure');
    assert.is(Number(await val(a, mode, 'SELECT a FROM ptt')), 7);
    assert.is(Number(await val(a, mode, "SELECT IS_USED_LOCK('proc_lock') IS NOT NULL")), 1);
    hold.destroy();
    await a.end();
    await poolSettled();
    const b = await as('carol');
    assert.is(await val(b, mode, 'SELECT @pv'), null);
    assert.is(Number(await val(b, mode, "SELECT IS_FREE_LOCK('proc_lock')")), 1);
    const c = await as('app');
    await c.query('CREATE TEMPORARY TABLE ptt (a INT)');
    b.destroy();
    c.destroy();
  }));
}

/** A proxy over the same server whose pool has one backend connection: every session shares it. */
async function withPoolOfOne(fn: (open: (user: string) => Promise<Conn>) => Promise<void>): Promise<void> {
  const one = await startProxy({ backends: [{ name: 'b1', port: server.port, maxConnections: 1, acquireTimeoutMs: 5000 }], users: USERS });
  try {
    await fn(async (user) => {
      const u = USERS.find((x) => x.name === user) as (typeof USERS)[number];
      const c = await one.connect({ user: u.name, password: u.password, database: undefined });
      opened.push(c);
      return c;
    });
  } finally {
    for (const c of opened.splice(0)) c.destroy();
    await one.stop();
  }
}

for (const mode of ['query', 'execute'] as Mode[]) {
  test(`[${mode}] the same SQL text from two users in two schemas reads each one's own table (pool of 1: backend statements are keyed by schema)`, timed(async () => {
    await withPoolOfOne(async (open) => {
      const a = await open('app');
      const c = await open('carol');
      for (let i = 0; i < 2; i++) {
        assert.is(await val(a, mode, 'SELECT * FROM secret'), 'shop row');
        assert.is(await val(c, mode, 'SELECT * FROM secret'), 'tenant_b row');
      }
      await a.query('USE tenant_b');
      assert.is(await val(a, mode, 'SELECT * FROM secret'), mode === 'query' ? 'tenant_b row' : 'shop row', 'a prepared statement keeps the schema it was prepared in');
      assert.is(await val(a, mode, 'SELECT v FROM secret'), 'tenant_b row');
    });
  }));
}

test('[execute] a statement prepared without a schema runs without one, even once prepared again on a connection that has one (pool of 1)', timed(async () => {
  await withPoolOfOne(async (open) => {
    const n = await open('nodb');
    assert.is(await val(n, 'execute', 'SELECT DATABASE() AS db'), null);
    await n.query('USE shop');
    assert.is(await val(n, 'query', 'SELECT DATABASE() AS db'), 'shop');
    // Another session without a schema borrows the connection: it is reset (its backend statements are gone).
    const m = await open('nodb');
    await m.query('SELECT 1');
    // mysql2 executes its cached statement, prepared while n had no schema: the server ran it without
    // one. Prepared again here on a connection without a schema, before n's schema is selected on it.
    assert.is(await val(n, 'execute', 'SELECT DATABASE() AS db'), null);
    await m.query('SELECT 1');
    const a = await open('app');
    await a.query('SELECT 1');
    // ... and on a connection that has a schema (reset to none first).
    assert.is(await val(n, 'execute', 'SELECT DATABASE() AS db'), null);
    assert.is(await val(n, 'execute', 'SELECT DATABASE() AS db'), null);
    assert.is(await val(n, 'execute', 'SELECT v FROM secret'), 'shop row', 'prepared now: in the current schema');
    assert.is(await val(a, 'execute', 'SELECT DATABASE() AS db'), 'shop');
  });
}));

test('[execute] a statement prepared without a schema runs without one in a transaction begun after a USE (pool of 1)', timed(async () => {
  await withPoolOfOne(async (open) => {
    const n = await open('nodb');
    assert.is(await val(n, 'execute', 'SELECT DATABASE() AS db'), null);
    const rcSql = 'SELECT ROW_COUNT() AS rc, DATABASE() AS db, SCHEMA()';
    const [r0] = (await n.execute(rcSql)) as [Record<string, unknown>[], unknown];
    assert.equal(r0, [{ rc: -1, db: null, 'SCHEMA()': null }]);
    await n.query('USE shop');
    const m = await open('nodb');
    await m.query('SELECT 1'); // the connection is reset: n's backend statement is gone
    const a = await open('app');
    await a.query('SELECT 1'); // ... and has a schema again
    await n.query('BEGIN'); // pins n to a connection that has a schema, which cannot be reset while pinned
    assert.is(await val(n, 'execute', 'SELECT DATABASE() AS db'), null);
    assert.is(await val(n, 'query', 'SELECT DATABASE() AS db'), 'shop');
    await n.query('COMMIT');
    // Prepared without a schema, run on the pinned connection with ROW_COUNT() substituted (the
    // proxy's IS_USED_LOCK read-back ran there since): a variant prepared under 'shop', DATABASE() NULL.
    await n.query('BEGIN');
    await n.query('INSERT INTO shop.lt VALUES (1)');
    await n.query("SELECT GET_LOCK('nl', 0)");
    await n.query('DELETE FROM shop.lt');
    const [r2] = (await n.execute(rcSql)) as [Record<string, unknown>[], unknown];
    assert.equal(r2, [{ rc: 1, db: null, 'SCHEMA()': null }]);
    await n.query("SELECT RELEASE_LOCK('nl')");
    await n.query('ROLLBACK');
  });
}));

test.run();
