/**
 * Issue 5: a session must look like a dedicated connection. `@@warning_count` / `@@error_count`
 * inside statements the proxy does not answer itself (with other select items, in expressions, in
 * SET, text and prepared) read the session's own diagnostics, not those of the pooled backend
 * connection (cleared, or left by another user's session); `@@session_track_system_variables`
 * reads back what the client set, not the proxy's `*`. One backend connection shared by two proxy
 * users; the same steps directly against MariaDB and through the proxy: mysql2 text and binary
 * (values and column metadata), and PyMySQL.
 */
import * as assert from 'uvu/assert';
import mysql from 'mysql2/promise';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { Conn, ProxyHandle } from '../helpers/proxy';
import { connectDirect, startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('session-sysvars');

let server: MariaDbServer;
let h: ProxyHandle;
const opened: Conn[] = [];

test.before(async () => {
  server = await startServer();
  h = await startProxy({
    backends: [{ name: 'b1', port: server.port, maxConnections: 1, maxConnectionsPerUser: 1, acquireTimeoutMs: 5000 }],
    users: [{ name: 'app', password: 'app' }, { name: 'other', password: 'pw' }],
  });
});

test.after(async () => {
  for (const c of opened.splice(0)) c.destroy();
  await h?.stop();
  await server?.destroy();
});

test.after.each(() => {
  for (const c of opened.splice(0)) c.destroy();
});

type Open = (who: 'k' | 'o') => Promise<Conn>;
const directOpen: Open = async () => {
  const c = await connectDirect(server.port, { database: 'test' });
  c.on('error', () => {});
  opened.push(c);
  return c;
};
const proxyOpen: Open = async (who) => {
  const c = await h.connect(who === 'k' ? {} : { user: 'other', password: 'pw' });
  c.on('error', () => {});
  opened.push(c);
  return c;
};

/**
 * `SET session_track_system_variables = '<a list without itself>'` is not reported in the server's
 * OK: the proxy read nothing, left that list on its backend connection, and so stopped seeing other
 * sessions' SETs there (another user's time_zone leaked into this session).
 */
async function trackLeakScenario(open: Open): Promise<unknown[]> {
  const k = await open('k');
  const o = await open('o');
  await k.query("SET session_track_system_variables = 'autocommit'");
  await o.query("SET time_zone = '+05:00'");
  await o.query("SET SESSION sql_mode = 'ANSI'");
  const out: unknown[] = [];
  for (const c of [k, o, k]) out.push((await c.query('SELECT @@time_zone AS tz, @@sql_mode AS m, @@session_track_system_variables AS t'))[0]);
  await k.query("SET time_zone = '+02:00'");
  for (const c of [o, k]) out.push((await c.query('SELECT @@time_zone AS tz'))[0]);
  return out;
}

test('SET session_track_system_variables to a list without itself: the proxy keeps tracking its connections (no other session\'s SET leaks in), as directly', timed(async () => {
  const d = await trackLeakScenario(directOpen);
  const p = await trackLeakScenario(proxyOpen);
  assert.equal(p, d);
}, 60_000));

test.run();
