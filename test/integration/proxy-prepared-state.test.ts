/**
 * Statements run through the binary protocol carry the same session state as text ones: a
 * temporary table created by COM_STMT_EXECUTE pins the backend connection (no other session sees
 * it), and KILL cannot be prepared (it would reach the server with a proxy-side id): it is refused
 * with the server's "not supported in the prepared statement protocol" error, on which clients
 * fall back to the text protocol where the proxy maps the id. Found by mysql2's own suite run
 * through the proxy (temporary tables of one test file visible to the next).
 */
import * as assert from 'uvu/assert';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { ProxyHandle } from '../helpers/proxy';
import { sqlError, startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('proxy-prepared-state');

let server: MariaDbServer;
let h: ProxyHandle;

test.before(async () => {
  server = await startServer();
  // two backend connections: a leak shows within a few statements
  h = await startProxy({ backends: [{ name: 'b1', port: server.port, maxConnections: 2 }] });
});

test.after(async () => {
  await h?.stop();
  await server?.destroy();
});

test('CREATE TEMPORARY TABLE through execute(): visible to its session only, gone after it ends', timed(async () => {
  const a = await h.connect();
  await a.execute('CREATE TEMPORARY TABLE ps_tmp (x INT)');
  await a.execute('INSERT INTO ps_tmp VALUES (?)', [7]);
  const b = await h.connect();
  for (let i = 0; i < 4; i++) {
    const e = await sqlError(b.query('SELECT * FROM ps_tmp'));
    assert.is(e.errno, 1146, 'another session must not see the temporary table');
  }
  const [rows] = await a.query('SELECT x FROM ps_tmp');
  assert.equal(rows, [{ x: 7 }]);
  await a.end();
  const c = await h.connect();
  await c.execute('CREATE TEMPORARY TABLE ps_tmp (y INT)'); // no "already exists"
  c.destroy();
  b.destroy();
}));

test("a temporary table created after another session's CONNECTION_ID() stays visible to its session (the server keys it by pseudo_thread_id), both protocols", timed(async () => {
  // One backend connection: the other session's CONNECTION_ID() set pseudo_thread_id to its id there.
  const one = await startProxy({ backends: [{ name: 'b1', port: server.port, maxConnections: 1 }] });
  try {
    for (const mode of ['execute', 'query'] as const) {
      const a = await one.connect();
      const b = await one.connect();
      const [other] = await b.query('SELECT CONNECTION_ID() AS id');
      assert.equal(other, [{ id: b.threadId }]);
      await (mode === 'execute' ? a.execute('CREATE TEMPORARY TABLE pt (x INT)') : a.query('CREATE TEMPORARY TABLE pt (x INT)'));
      // CONNECTION_ID() makes the proxy set the session's own pseudo_thread_id before this statement
      const [rows] = await a.query('SELECT CONNECTION_ID() AS id, (SELECT COUNT(*) FROM pt) AS n');
      assert.equal(rows, [{ id: a.threadId, n: 0 }], `${mode}: the session's temporary table, under its own id`);
      await a.end(); // the only backend connection goes back to the pool (reset) for the next round
      b.destroy();
    }
  } finally {
    await one.stop();
  }
}));

test('KILL cannot be prepared (1295, as a server answers for unpreparable statements); the text KILL still works', timed(async () => {
  const a = await h.connect();
  const victim = await h.connect();
  const e = await sqlError(a.execute(`KILL ${victim.threadId}`));
  assert.equal([e.errno, e.sqlState, e.message], [1295, 'HY000', 'This command is not supported in the prepared statement protocol yet']);
  const [alive] = await victim.query('SELECT 1 AS one');
  assert.equal(alive, [{ one: 1 }]);
  await a.query(`KILL ${victim.threadId}`);
  const gone = await sqlError(victim.query('SELECT 1'));
  assert.ok(gone.message.length > 0);
  a.destroy();
}));

test.run();
