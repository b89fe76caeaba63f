/**
 * Per-digest statistics of COM_STMT_EXECUTE are counted on the client's statement even when its id
 * differs from the backend statement's: the execute's id is rewritten to the backend's before it is
 * sent, and the statistics used to look the statement up by the rewritten id afterwards (counting
 * executes as "(unknown prepared statement)" or as another statement of the same session).
 */
import * as assert from 'uvu/assert';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { ProxyHandle } from '../helpers/proxy';
import { startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('digest-prepared');

let server: MariaDbServer;
let h: ProxyHandle;

test.before(async () => {
  server = await startServer();
  // one backend connection: both sessions share it, and its statements
  h = await startProxy({ backends: [{ name: 'b1', port: server.port, maxConnections: 1 }] });
});

test.after(async () => {
  await h?.stop();
  await server?.destroy();
});

test('executes count on their own statement when the backend statement id differs from the client one', timed(async () => {
  const a = await h.connect();
  const b = await h.connect();
  // session a: client ids 1, 2 -> backend ids 1, 2 on the shared connection
  await a.execute('SELECT ? + 1 AS x', [1]);
  await a.execute('SELECT ? + 2 AS y', [1]);
  h.proxy.digestStats.reset();
  // session b: 'SELECT ? + 2 AS y' is its client statement 1, backend statement 2
  for (let i = 0; i < 3; i++) await b.execute('SELECT ? + 2 AS y', [i]);
  const { digests } = h.proxy.digestStats.query({ sort: 'count' });
  const byDigest = Object.fromEntries(digests.map((d) => [d.digest, d.count]));
  assert.equal(byDigest, { 'SELECT ? + ? AS y': 3 }, JSON.stringify(digests));
  a.destroy();
  b.destroy();
}));

test.run();
