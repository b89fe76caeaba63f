/**
 * Issue 5: a user variable's type must not cross sessions. MariaDB cannot drop a user variable:
 * `SET @a = NULL` keeps @a and its type, so clearing another session's variables that way let a
 * session that never set @a see it as BIGINT (or a string of some charset) instead of the server's
 * type for an unset variable. One backend connection shared by two proxy sessions (two users mapped
 * to one backend account, and two sessions of one user); result column metadata of what reads @a
 * compared with a fresh direct session, over the text and the binary protocol.
 */
import * as assert from 'uvu/assert';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { Conn, Mode, ProxyHandle } from '../helpers/proxy';
import { connectDirect, fieldMeta, run, startProxy, timed } from '../helpers/proxy';
import { missingClient } from '../helpers/clients';
import { runClientSteps, type ClientLang, type Step } from '../helpers/client-scripts';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('uservar-types');

let server: MariaDbServer;
let h: ProxyHandle;

const USERS = [
  { name: 'app', password: 'app', defaultSchema: 'shop' },
  { name: 'carol', password: 'carol', defaultSchema: 'shop' },
  { name: 'nodb', password: 'nodb', defaultSchema: null },
  { name: 'lat', password: 'lat', defaultSchema: 'l1' },
  { name: 'lat2', password: 'lat2', defaultSchema: 'l1' },
];

test.before(async () => {
  server = await startServer();
  await server.query('CREATE DATABASE shop; CREATE DATABASE l1 CHARACTER SET latin1');
  h = await startProxy({ backends: [{ name: 'b1', port: server.port, maxConnections: 1, acquireTimeoutMs: 5000 }], users: USERS });
});

test.after(async () => {
  await h?.stop();
  await server?.destroy();
});

const opened: Conn[] = [];
test.after.each(() => {
  for (const c of opened.splice(0)) c.destroy();
});

async function proxied(user: string): Promise<Conn> {
  const u = USERS.find((x) => x.name === user) as (typeof USERS)[number];
  const c = await h.connect({ user: u.name, password: u.password, database: undefined });
  opened.push(c);
  return c;
}

async function direct(db: string | undefined): Promise<Conn> {
  const c = await connectDirect(server.port, { database: db });
  opened.push(c);
  return c;
}

let seq = 0;

/** What a session observes of @a: result metadata of two reads and the table CREATE ... AS SELECT makes of it. */
async function observe(c: Conn, mode: Mode, schema: string): Promise<unknown> {
  const [r1, f1] = await run(c, mode, 'SELECT @a');
  const [r2, f2] = await run(c, mode, 'SELECT @a := @a AS b');
  const t = `${schema}.ctas_${++seq}`;
  await run(c, mode, `CREATE TABLE ${t} AS SELECT @a AS v`);
  const [r3] = (await run(c, 'query', `SHOW CREATE TABLE ${t}`)) as [Record<string, string>[], unknown];
  const ddl = String(r3[0]['Create Table']).replace(/`ctas_\d+`/, '`t`');
  return { read: [r1, fieldMeta(f1)], assign: [r2, fieldMeta(f2)], ddl };
}

const VALUES = ['5', "'text'", '1.5e0', "_latin1 'x' COLLATE latin1_bin", '2.50'];

for (const mode of ['query', 'execute'] as Mode[]) {
  for (const [other, schema] of [['carol', 'shop'], ['app', 'shop'], ['nodb', 'test']] as const) {
    test(`[${mode}] @a set by another session (app, then ${other}) on the one backend connection: ${other} sees it unset, as directly`, timed(async () => {
      for (const v of VALUES) {
        const ref = await observe(await direct(schema === 'shop' ? 'shop' : undefined), mode, schema === 'shop' ? 'shop' : 'test');
        const a = await proxied('app');
        await run(a, mode, `SET @a = ${v}`);
        // A prepared SELECT @a cached on the connection while @a has the type of `v`.
        await run(a, mode, 'SELECT @a');
        const b = await proxied(other);
        assert.equal(await observe(b, mode, schema === 'shop' ? 'shop' : 'test'), ref, `value ${v}`);
        // The first session still has its own value and type (replayed after the reset).
        const d = await direct('shop');
        await run(d, mode, `SET @a = ${v}`);
        const [ra, fa] = await run(a, mode, 'SELECT @a');
        const [rd, fd] = await run(d, mode, 'SELECT @a');
        assert.equal([ra, fieldMeta(fa)], [rd, fieldMeta(fd)], `own value ${v}`);
        a.destroy();
        b.destroy();
      }
    }));
  }
}

test('an idle connection without another session\'s user variables is preferred: no reset then; with one connection, a reset', timed(async () => {
  const h2 = await startProxy({ backends: [{ name: 'b1', port: server.port, maxConnections: 2, acquireTimeoutMs: 5000 }], users: USERS });
  try {
    const a = await h2.connect({ user: 'app', password: 'app', database: undefined });
    const b = await h2.connect({ user: 'carol', password: 'carol', database: undefined });
    const stats = h2.proxy.identity;
    // Both connections pinned, then released: the one holding b's @a last, on top of the idle list.
    await a.query('BEGIN');
    await b.query('BEGIN');
    await b.query('SET @a = 5');
    await a.query('COMMIT');
    await b.query('COMMIT');
    const before = stats.userVarResets;
    const [r] = (await a.query('SELECT @a IS NULL AS n')) as [Record<string, unknown>[], unknown];
    assert.is(Number(r[0].n), 1);
    assert.is(stats.userVarResets, before, 'the other idle connection, without b\'s variables, was taken');
    const [rb] = (await b.query('SELECT @a AS v')) as [Record<string, unknown>[], unknown];
    assert.is(Number(rb[0].v), 5);
  } finally {
    await h2.stop();
  }
  // One connection: the reset is unavoidable, and counted.
  const a = await proxied('app');
  const b = await proxied('carol');
  await b.query('SET @a = 5');
  const before = h.proxy.identity.userVarResets;
  const [r] = (await a.query('SELECT @a IS NULL AS n')) as [Record<string, unknown>[], unknown];
  assert.is(Number(r[0].n), 1);
  assert.is(h.proxy.identity.userVarResets, before + 1);
}));

for (const mode of ['query', 'execute'] as Mode[]) {
  test(`[${mode}] ROW_COUNT() substituted after another session's statement keeps its type (BIGINT(21), not INT(2))`, timed(async () => {
    await (await direct('shop')).query('CREATE TABLE IF NOT EXISTS rc (x INT)');
    const see = async (c: Conn, t: string) => {
      const [r, f] = await run(c, mode, 'SELECT ROW_COUNT()');
      await run(c, 'query', 'INSERT INTO rc VALUES (1), (2)');
      await run(c, mode, `CREATE TABLE ${t} AS SELECT ROW_COUNT() AS n`);
      const [s] = (await run(c, 'query', `SHOW CREATE TABLE ${t}`)) as [Record<string, string>[], unknown];
      return [r, fieldMeta(f), String(s[0]['Create Table']).replace(/`rc_t\d+`/, '`t`')];
    };
    // Prepared before the INSERT (mysql2 caches it): a PREPARE between the INSERT and the read is
    // tested on its own below.
    const d = await direct('shop');
    await run(d, mode, 'SELECT ROW_COUNT()');
    await d.query('INSERT INTO rc VALUES (1), (2)');
    const ref = await see(d, `rc_t${++seq}`);
    const a = await proxied('app');
    const b = await proxied('carol');
    await run(a, mode, 'SELECT ROW_COUNT()');
    await a.query('INSERT INTO rc VALUES (1), (2)');
    await b.query('SELECT 1');
    assert.equal(await see(a, `rc_t${++seq}`), ref);
  }));
}

test('[execute] ROW_COUNT() prepared after another session ran on the connection is the session\'s own (the PREPARE does not make the connection hold its ROW_COUNT())', timed(async () => {
  await (await direct('shop')).query('CREATE TABLE IF NOT EXISTS rc2 (x INT)');
  const sql = `SELECT ROW_COUNT() AS rc /* ${++seq} */`; // a statement mysql2 has not cached yet
  const d = await direct('shop');
  await d.query('INSERT INTO rc2 VALUES (1), (2)');
  const [ref] = (await d.execute(sql)) as [Record<string, unknown>[], unknown];
  assert.is(Number(ref[0].rc), 2, 'directly: the INSERT\'s 2 rows (COM_STMT_PREPARE leaves ROW_COUNT() alone)');
  const a = await proxied('app');
  const b = await proxied('carol');
  await a.query('INSERT INTO rc2 VALUES (1), (2)');
  await b.query('SELECT 1'); // ROW_COUNT() -1 on the one backend connection
  const [got] = (await a.execute(sql)) as [Record<string, unknown>[], unknown];
  assert.equal(got, ref);
}));

test("after a reset the schema's character set is back (MariaDB's COM_RESET_CONNECTION keeps the schema, not @@character_set_database)", timed(async () => {
  const q = 'SELECT DATABASE() AS db, @@character_set_database AS cs, @@collation_database AS co';
  const [ref] = await (await direct('l1')).query(q);
  // Reset to drop another session's user variable.
  const a = await proxied('lat');
  await a.query('SET @a = 5');
  const b = await proxied('lat2');
  const before = h.proxy.identity.userVarResets;
  assert.equal((await b.query(q))[0], ref);
  assert.is(h.proxy.identity.userVarResets, before + 1);
  // Reset of a pinned connection whose session ended.
  await a.query('BEGIN');
  await a.query('SELECT 1');
  a.destroy();
  for (let i = 0; i < 200 && h.proxy.stats().backends[0].inUse > 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal((await b.query(q))[0], ref);
}));

for (const lang of ['python', 'php'] as ClientLang[]) {
  test(`[${lang}] CREATE TABLE AS SELECT @a in a session that never set @a, after another set it on the one connection`, timed(async () => {
    const miss = missingClient(lang === 'python' ? 'pymysql' : 'php');
    if (miss) {
      console.log(`skipped: ${miss}`);
      return;
    }
    const steps = (p: string): Step[] => [
      { conn: 'a', open: true },
      { conn: 'a', sql: 'SET @a = 5' },
      { conn: 'a', sql: 'SELECT @a', prepared: true },
      { conn: 'b', open: true },
      { conn: 'b', sql: `CREATE TABLE ${p}_q AS SELECT @a AS v` },
      { conn: 'b', sql: `CREATE TABLE ${p}_p AS SELECT @a AS v`, prepared: true },
      { conn: 'b', sql: `SHOW CREATE TABLE ${p}_q` },
      { conn: 'b', sql: `SHOW CREATE TABLE ${p}_p` },
      { conn: 'a', sql: 'SELECT @a', prepared: true },
    ];
    const via = await runClientSteps(lang, { a: { port: h.port, user: 'app', password: 'app' }, b: { port: h.port, user: 'carol', password: 'carol' } }, steps(`${lang}_x`));
    const ref = await runClientSteps(lang, { a: { port: server.port, user: 'root', password: '', db: 'shop' }, b: { port: server.port, user: 'root', password: '', db: 'shop' } }, steps(`${lang}_r`));
    const norm = (r: unknown) => JSON.stringify(r).replace(new RegExp(`${lang}_[xr]`, 'g'), 'T');
    assert.is(norm(via), norm(ref));
  }));
}

/** Values whose type a user variable keeps when set to NULL (and a variable first set to NULL). */
const NULL_AFTER = ['5', "'text'", '1.5e0', "_latin1 'x' COLLATE latin1_bin", '2.50', 'CAST(1 AS UNSIGNED)', "_binary 'b'", 'NULL'];

for (const mode of ['query', 'execute'] as Mode[]) {
  test(`[${mode}] a session's own @a set to NULL keeps its type after a reset and replay (another session's variables on the one connection)`, timed(async () => {
    for (const v of NULL_AFTER) {
      const d = await direct('shop');
      await run(d, mode, `SET @a = ${v}`);
      await run(d, mode, 'SET @a = NULL');
      const ref = await observe(d, mode, 'shop');
      const a = await proxied('app');
      await run(a, mode, `SET @a = ${v}`);
      await run(a, mode, 'SET @a = NULL');
      // another user's session sets a variable of its own on the connection: a's next statement resets it and replays
      const b = await proxied('carol');
      await run(b, mode, 'SET @other = 1');
      assert.equal(await observe(a, mode, 'shop'), ref, `value ${v}`);
      a.destroy();
      b.destroy();
    }
  }));
}

for (const lang of ['python', 'php'] as ClientLang[]) {
  test(`[${lang}] CREATE TABLE AS SELECT @a of the session's own @a set to NULL, after another session's variable on the one connection`, timed(async () => {
    const miss = missingClient(lang === 'python' ? 'pymysql' : 'php');
    if (miss) {
      console.log(`skipped: ${miss}`);
      return;
    }
    const steps = (p: string): Step[] => [
      { conn: 'a', open: true },
      { conn: 'a', sql: 'SET @a = 5' },
      { conn: 'a', sql: 'SET @a = NULL' },
      { conn: 'b', open: true },
      { conn: 'b', sql: 'SET @other = 1' },
      { conn: 'a', sql: `CREATE TABLE ${p}_nq AS SELECT @a AS v` },
      { conn: 'b', sql: 'SET @other = 2' },
      { conn: 'a', sql: `CREATE TABLE ${p}_np AS SELECT @a AS v`, prepared: true },
      { conn: 'a', sql: `SHOW CREATE TABLE ${p}_nq` },
      { conn: 'a', sql: `SHOW CREATE TABLE ${p}_np` },
    ];
    const via = await runClientSteps(lang, { a: { port: h.port, user: 'app', password: 'app' }, b: { port: h.port, user: 'carol', password: 'carol' } }, steps(`${lang}_x`));
    const ref = await runClientSteps(lang, { a: { port: server.port, user: 'root', password: '', db: 'shop' }, b: { port: server.port, user: 'root', password: '', db: 'shop' } }, steps(`${lang}_r`));
    const norm = (r: unknown) => JSON.stringify(r).replace(new RegExp(`${lang}_[xr]`, 'g'), 'T');
    assert.is(norm(via), norm(ref));
    assert.match(norm(ref), /bigint\(20\)/);
  }));
}

for (const mode of ['query', 'execute'] as Mode[]) {
  test(`[${mode}] after the client's COM_RESET_CONNECTION: the current schema stays, with the server's database character set, until USE / COM_INIT_DB (another session between, on the one connection)`, timed(async () => {
    const q = 'SELECT DATABASE() AS db, @@character_set_database AS cs, @@collation_database AS co';
    const steps = async (c: Conn, other: () => Promise<void>) => {
      const out: unknown[] = [];
      const see = async () => {
        const [r, f] = await run(c, mode, q);
        out.push([r, fieldMeta(f)]);
      };
      await run(c, 'query', 'USE l1');
      await see();
      await c.reset();
      await see();
      await other();
      await see();
      await run(c, mode, 'SET @x = 1');
      await other();
      await see();
      await run(c, 'query', 'USE l1');
      await see();
      await c.reset();
      await other();
      await c.changeUser({ database: 'l1' }).catch(() => null);
      await see();
      return out;
    };
    const d = await direct('shop');
    const d2 = await direct('shop');
    const ref = await steps(d, async () => void (await d2.query('SELECT 1')));
    const a = await proxied('app');
    const b = await proxied('carol');
    const got = await steps(a, async () => void (await run(b, mode, 'SELECT DATABASE()')));
    assert.equal(got, ref);
    // test sanity: directly, the reset left l1 with the server's utf8mb4
    assert.equal((ref[1] as unknown[][])[0], [{ db: 'l1', cs: 'utf8mb4', co: 'utf8mb4_general_ci' }]);
  }));
}

test('[execute] a statement prepared without a schema still reads DATABASE() as NULL after USE, when the replay must reset the connection (another user\'s variables on it)', timed(async () => {
  const steps = async (a: Conn, b: Conn) => {
    const out: unknown[] = [];
    const see = async () => {
      const [r, f] = await a.execute('SELECT DATABASE() AS db, SCHEMA() AS s');
      out.push([r, fieldMeta(f)]);
    };
    await see();
    await a.query('USE shop');
    await b.query('SET @bv = 1');
    await see();
    await b.query('SET @bv = 2');
    await a.query('SET @own = 1');
    await see();
    return out;
  };
  const ref = await steps(await direct(undefined), await direct('shop'));
  const got = await steps(await proxied('nodb'), await proxied('carol'));
  assert.equal(got, ref);
  assert.equal((ref[1] as unknown[][])[0], [{ db: null, s: null }], 'directly (test sanity)');
}));

test.run();
