/**
 * Pooling: 500 concurrent clients share at most max_connections (20) backend connections, observed from
 * the server's PROCESSLIST and from proxy.stats(); and a backend that goes down answers queries with a
 * prompt ERR (no hang), then serves again after it restarts without restarting the proxy.
 */
import * as assert from 'uvu/assert';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { Conn, ProxyHandle } from '../helpers/proxy';
import { connectDirect, sleep, sqlError, startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('proxy-pool');

/** Backend account used only by the proxy, so its connections can be counted in PROCESSLIST. */
const BACKEND_USER = 'tg_pool';
const BACKEND_PASSWORD = 'tg-pool-pw';
const MAX = 20;
const CLIENTS = 500;

let server: MariaDbServer;
let h: ProxyHandle;
let monitor: Conn;

test.before(async () => {
  server = await startServer();
  monitor = await connectDirect(server.port);
  await monitor.query(`CREATE USER '${BACKEND_USER}'@'%' IDENTIFIED BY '${BACKEND_PASSWORD}'`);
  await monitor.query(`GRANT ALL ON *.* TO '${BACKEND_USER}'@'%'`);
  await monitor.query('CREATE TABLE pool_t (id INT PRIMARY KEY, v VARCHAR(40)) ENGINE=InnoDB');
  h = await startProxy({
    backends: [{
      name: 'b1', port: server.port, user: BACKEND_USER, password: BACKEND_PASSWORD,
      // generous: 500 clients queue for 20 connections on a loaded 2-core machine
      maxConnections: MAX, acquireTimeoutMs: 30_000,
    }],
  });
});

test.after(async () => {
  await h?.stop();
  monitor?.destroy();
  await server?.destroy();
});

async function backendCount(c: Conn): Promise<number> {
  const [[r]] = (await c.query(
    'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ?', [BACKEND_USER])) as unknown as [
    { n: number }[]];
  return Number(r.n);
}

/** Runs `fn` over items with at most `limit` in flight. */
async function pooled<T, R>(items: T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  }));
  return out;
}

test(`${CLIENTS} concurrent clients, backend max_connections ${MAX}: all correct, never more than ${MAX} backends`, timed(async () => {
  let maxProcesslist = 0;
  let maxStatsOpen = 0;
  let maxStatsHeld = 0;
  let samples = 0;
  let polling = true;
  let pollError: unknown;
  const poller = (async () => {
    while (polling) {
      try {
        maxProcesslist = Math.max(maxProcesslist, await backendCount(monitor));
        for (const b of h.proxy.stats().backends) {
          maxStatsOpen = Math.max(maxStatsOpen, b.open);
          maxStatsHeld = Math.max(maxStatsHeld, b.inUse + b.idle);
        }
        samples++;
      } catch (e) {
        pollError = e;
        return;
      }
      await sleep(50);
    }
  })();

  const ids = Array.from({ length: CLIENTS }, (_, i) => i + 1);
  const clients = await pooled(ids, 100, () => h.connect());
  assert.is(h.proxy.stats().clientSessions, CLIENTS, 'every client holds a session at once');

  const results = await Promise.all(clients.map(async (c, i) => {
    const id = ids[i];
    const [ins] = await c.query('INSERT INTO pool_t (id, v) VALUES (?, ?)', [id, `v${id}`]);
    const [sel] = await c.query('SELECT v FROM pool_t WHERE id = ?', [id]);
    const [ex] = await c.execute('SELECT ? * 2 AS dbl, v FROM pool_t WHERE id = ?', [id, id]);
    const [upd] = await c.query("UPDATE pool_t SET v = CONCAT(v, '!') WHERE id = ?", [id]);
    const [again] = await c.execute('SELECT v FROM pool_t WHERE id = ?', [id]);
    const [[cid]] = (await c.query('SELECT CONNECTION_ID() AS cid')) as unknown as [{ cid: number }[]];
    return {
      inserted: (ins as { affectedRows: number }).affectedRows,
      sel,
      ex,
      updated: (upd as { affectedRows: number }).affectedRows,
      again,
      ownThreadId: cid.cid === c.threadId,
    };
  }));
  results.forEach((r, i) => {
    const id = ids[i];
    assert.equal(r, {
      inserted: 1,
      sel: [{ v: `v${id}` }],
      ex: [{ dbl: id * 2, v: `v${id}` }],
      updated: 1,
      again: [{ v: `v${id}!` }],
      ownThreadId: true,
    }, `client ${id}`);
  });
  await Promise.all(clients.map((c) => c.end()));
  polling = false;
  await poller;
  if (pollError) throw pollError;

  const [[total]] = (await monitor.query(
    "SELECT COUNT(*) AS n, SUM(v = CONCAT('v', id, '!')) AS good FROM pool_t")) as unknown as [
    { n: number; good: string }[]];
  assert.equal({ n: Number(total.n), good: Number(total.good) }, { n: CLIENTS, good: CLIENTS });
  assert.ok(samples >= 5, `monitor sampled ${samples} times`);
  assert.ok(maxProcesslist <= MAX, `server saw ${maxProcesslist} proxy connections (max ${MAX})`);
  assert.ok(maxProcesslist >= 2, `the pool was used concurrently (saw ${maxProcesslist})`);
  assert.ok(maxStatsOpen <= MAX, `stats().open peaked at ${maxStatsOpen}`);
  assert.ok(maxStatsHeld <= MAX, `stats() inUse+idle peaked at ${maxStatsHeld}`);
  assert.ok((await backendCount(monitor)) <= MAX);
  // sessions are released when clients disconnect
  for (let i = 0; i < 40 && h.proxy.stats().clientSessions > 0; i++) await sleep(50);
  assert.is(h.proxy.stats().clientSessions, 0, 'no session left after every client ended');
}, 180_000));

test('backend down: prompt ERR naming the backend, client kept; backend back: served again', timed(async () => {
  const ACQUIRE = 1000;
  const h2 = await startProxy({
    backends: [{
      name: 'down-b1', port: server.port, user: BACKEND_USER, password: BACKEND_PASSWORD,
      maxConnections: 4, acquireTimeoutMs: ACQUIRE, connectTimeoutMs: 1000,
    }],
  });
  try {
    const c = await h2.connect();
    const [ok] = await c.query('SELECT 1 AS up');
    assert.equal(ok, [{ up: 1 }]);
    monitor.destroy();
    await server.stop();

    for (let attempt = 1; attempt <= 2; attempt++) {
      const t0 = Date.now();
      const e = await sqlError(c.query('SELECT 1 AS up'));
      const ms = Date.now() - t0;
      assert.ok(ms < ACQUIRE + 1000, `attempt ${attempt}: ERR after ${ms} ms (acquire timeout ${ACQUIRE} ms)`);
      assert.type(e.errno, 'number', `attempt ${attempt}: a server ERR packet, got ${JSON.stringify(e)}`);
      assert.ok(e.sqlState && e.sqlState.length === 5, `attempt ${attempt}: SQLSTATE ${e.sqlState}`);
      assert.not.ok(e.fatal, `attempt ${attempt}: the client connection was not dropped`);
      assert.match(e.message, new RegExp(`down-b1|127\\.0\\.0\\.1:${server.port}|backend`, 'i'));
    }

    // a client connecting while the backend is down: an ERR (at login or first query), never a hang
    const t1 = Date.now();
    const outcome = await h2.connect().then(
      async (n) => sqlError(n.query('SELECT 1')).finally(() => n.destroy()),
      (e) => sqlError(Promise.reject(e)),
    );
    assert.type(outcome.errno, 'number', JSON.stringify(outcome));
    assert.ok(Date.now() - t1 < ACQUIRE + 3000, `new client answered after ${Date.now() - t1} ms`);

    await server.start();
    let back: unknown;
    const t2 = Date.now();
    while (Date.now() - t2 < 10_000) {
      try {
        [back] = await c.query('SELECT 3 AS back');
        break;
      } catch {
        await sleep(200);
      }
    }
    assert.equal(back, [{ back: 3 }], 'the same client connection is served again within 10 s');
    const fresh = await h2.connect();
    const [r] = await fresh.query('SELECT 2 AS up');
    assert.equal(r, [{ up: 2 }]);
    await fresh.end();
    await c.end();
  } finally {
    await h2.stop();
    monitor = await connectDirect(server.port).catch(() => monitor);
  }
}, 60_000));

test.run();
