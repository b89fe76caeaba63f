/**
 * FOUND_ROWS() is held by at most one backend connection per session: a connection whose server
 * session still has an older value of the session's must not be trusted once the session's value
 * moved to another connection (found by the lane-random differential test, seed 33). Compared with
 * MariaDB directly; with the fast lane off and on.
 */
import * as assert from 'uvu/assert';
import { startServer, type MariaDbServer } from '../helpers/mariadb';
import { connectDirect, type Conn, startProxy } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('found-rows-owner');
let server: MariaDbServer;
let direct: Conn;

test.before(async () => {
  server = await startServer();
  direct = await connectDirect(server.port);
  await direct.query('CREATE TABLE fr_t (id INT PRIMARY KEY, v INT)');
  await direct.query('INSERT INTO fr_t VALUES (1, 1), (2, 2), (3, 3)');
});

test.after(async () => {
  direct?.destroy();
  await server?.destroy();
});

async function fr(c: Conn): Promise<number> {
  const [[r]] = (await c.query('SELECT FOUND_ROWS() AS fr')) as unknown as [{ fr: number }[]];
  return Number(r.fr);
}

for (const lane of [false, true]) {
  test(`an older connection's FOUND_ROWS() is not the session's (pool of two, three sessions; fast lane ${lane ? 'on' : 'off'})`, async () => {
    const h = await startProxy({ backends: [{ name: 'b1', port: server.port, maxConnections: 2, acquireTimeoutMs: 10_000 }], server: { fast_lane: lane } });
    try {
      const s = await h.connect();
      const t = await h.connect();
      const r = await h.connect();
      // S: two rows on connection X (X holds S's FOUND_ROWS() = 2).
      await s.query('SELECT v FROM fr_t ORDER BY id LIMIT 2');
      // T holds X in a transaction (a DML leaves FOUND_ROWS() alone); S's one-row select runs on a new connection Y (FOUND_ROWS() = 1 there).
      await t.query('BEGIN');
      await t.query('UPDATE fr_t SET v = v WHERE id = 3');
      await s.query('SELECT v FROM fr_t WHERE id = 1');
      // R holds Y; T gives X back: S's read of FOUND_ROWS() gets X, whose value (2) is stale.
      await r.query('BEGIN');
      await r.query('UPDATE fr_t SET v = v WHERE id = 2');
      await t.query('COMMIT');
      const got = await fr(s);
      await direct.query('SELECT v FROM fr_t ORDER BY id LIMIT 2');
      await direct.query('SELECT v FROM fr_t WHERE id = 1');
      assert.is(got, await fr(direct));
      assert.is(got, 1);
      await r.query('COMMIT');
    } finally {
      await h.stop();
    }
  });
}

test.run();
