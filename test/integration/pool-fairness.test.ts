/**
 * Fair share of a small pool (3 backend connections, two users, so each may hold 2): user A pinning
 * connections with open transactions cannot starve user B. A's lease beyond its share waits for one
 * of A's own connections (and gets it when A commits), or fails after acquire_timeout_ms with ERR
 * 1226 (42000), while B keeps getting answers over text and prepared statements (mysql2). Without the
 * share (max_connections_per_user: 3, the whole pool), B is starved as before: ERR 9001. And a
 * connection idle in another capability profile's pool is closed to make room for a client of
 * another profile (which the fuzz run's canary needed).
 */
import * as assert from 'uvu/assert';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { Conn, ProxyHandle } from '../helpers/proxy';
import { sleep, sqlError, startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('pool-fairness');

let server: MariaDbServer;
let h: ProxyHandle;

const USERS = [{ name: 'a', password: 'a' }, { name: 'b', password: 'b' }];

test.before(async () => {
  server = await startServer();
  await server.query('CREATE TABLE fair_t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB');
  await server.query('INSERT INTO fair_t VALUES (1, 10), (2, 20), (3, 30)');
  h = await startProxy({ backends: [{ name: 'b1', port: server.port, maxConnections: 3, acquireTimeoutMs: 3000 }], users: USERS });
});

test.after(async () => {
  await h?.stop();
  await server?.destroy();
});

const as = (user: string, ph = h) => ph.connect({ user, password: user });

/**
 * A session of A holding a backend connection with an open transaction. (Sessions are connected
 * before the share is full: a login naming a schema checks it on a backend connection, a lease too.)
 */
async function pinned(ph = h, c?: Conn): Promise<Conn> {
  c ??= await as('a', ph);
  await c.query('BEGIN');
  await c.query('SELECT v FROM fair_t WHERE id = 1');
  return c;
}

/** Polls (up to 10 s) until `cond` holds. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await sleep(25);
  assert.ok(cond(), what);
}

const shareOf = (user: string, ph = h) => ph.proxy.backends.get('b1')!.shares.get(`user:${user}`);

test('the default share is max_connections - 1 when two users share the backend', () => {
  assert.is(h.config.backends[0].maxConnectionsPerUser, 2);
});

test('A pins its share; its next lease fails with 1226 after acquire_timeout_ms; B is answered throughout', timed(async () => {
  const a3 = await as('a');
  const b = await as('b');
  const a1 = await pinned();
  const a2 = await pinned();
  assert.is(shareOf('a')!.held, 2);
  const refused = sqlError(a3.query('BEGIN'));
  await until(() => shareOf('a')!.waiting === 1, 'A\'s third lease waits at its cap');
  for (let i = 0; i < 5; i++) {
    const [rows] = (await b.query('SELECT v FROM fair_t WHERE id = ?', [2])) as unknown as [{ v: number }[]];
    assert.equal(rows, [{ v: 20 }]);
    const [prepared] = (await b.execute('SELECT v FROM fair_t WHERE id = ?', [3])) as unknown as [{ v: number }[]];
    assert.equal(prepared, [{ v: 30 }]);
  }
  // B may even pin one itself: it is under its own share.
  await b.query('BEGIN');
  await b.query('SELECT 1');
  await b.query('COMMIT');
  const e = await refused;
  assert.is(e.errno, 1226);
  assert.is(e.sqlState, '42000');
  assert.match(e.message, /User 'a' has exceeded the 'max_connections_per_user' resource \(current value: 2\)/);
  assert.match(e.message, /backends\[\]\.max_connections_per_user/);
  // The refused session goes on: once A frees a connection, it is served.
  await a1.query('COMMIT');
  const [rows] = (await a3.query('SELECT 7 AS x')) as unknown as [{ x: number }[]];
  assert.equal(rows, [{ x: 7 }]);
  await a2.query('COMMIT');
  await until(() => shareOf('a')!.held === 0, 'A holds nothing once its transactions ended');
  for (const c of [a1, a2, a3, b]) c.destroy();
}));

test('a lease waiting at the cap gets the connection A frees', timed(async () => {
  const a3 = await as('a');
  const a1 = await pinned();
  const a2 = await pinned();
  const waiting = a3.query('SELECT v FROM fair_t WHERE id = 3');
  await until(() => shareOf('a')!.waiting === 1, 'A\'s third lease waits at its cap');
  await a1.query('COMMIT');
  const [rows] = (await waiting) as unknown as [{ v: number }[]];
  assert.equal(rows, [{ v: 30 }]);
  await a2.query('COMMIT');
  for (const c of [a1, a2, a3]) c.destroy();
}));

test('closing pinned sessions gives their share back', timed(async () => {
  const a1 = await pinned();
  const a2 = await pinned();
  assert.is(shareOf('a')!.held, 2);
  a1.destroy();
  a2.destroy();
  await until(() => shareOf('a')!.held === 0, 'the share counts the closed sessions\' connections back');
  const a3 = await pinned();
  assert.is(shareOf('a')!.held, 1);
  await a3.query('COMMIT');
  a3.destroy();
}));

test('with the whole pool as the share (max_connections_per_user = max_connections), B is starved: 9001', timed(async () => {
  const open = await startProxy({ backends: [{ name: 'b1', port: server.port, maxConnections: 3, maxConnectionsPerUser: 3, acquireTimeoutMs: 1000 }], users: USERS });
  try {
    const b = await as('b', open);
    const held = [await pinned(open), await pinned(open), await pinned(open)];
    const e = await sqlError(b.query('SELECT 1'));
    assert.is(e.errno, 9001);
    for (const c of held) c.destroy();
    b.destroy();
  } finally {
    await open.stop();
  }
}));

test('an idle connection cooled into another profile\'s pool is closed to make room (max_connections 1, two collations)', timed(async () => {
  const one = await startProxy({ backends: [{ name: 'b1', port: server.port, maxConnections: 1, acquireTimeoutMs: 3000 }], users: USERS });
  try {
    const utf8 = await one.connect({ user: 'a', password: 'a' });
    const latin1 = await one.connect({ user: 'a', password: 'a', charset: 'LATIN1_SWEDISH_CI' });
    await utf8.query('SELECT 1');
    const b = one.proxy.backends.get('b1')!;
    // wait until no connection is on a hot list: the one open sits in generic-pool's idle set
    await until(() => [...b.pools.values()].every((p) => p.hot.length === 0) && [...b.pools.values()].some((p) => p.gp.available === 1), 'the idle connection cooled into generic-pool');
    const [rows] = (await latin1.query('SELECT 2 AS x')) as unknown as [{ x: number }[]];
    assert.equal(rows, [{ x: 2 }]);
    assert.is(b.open, 1);
  } finally {
    await one.stop();
  }
}));

test.run();
