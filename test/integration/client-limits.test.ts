/**
 * Limits on what clients can hold: connections still in the handshake have their own budget
 * (server.max_handshake_connections) apart from logged-in sessions (server.max_client_connections);
 * idle clients are closed by wait_timeout / interactive_timeout as MariaDB closes them.
 */
import * as net from 'node:net';
import * as assert from 'uvu/assert';
import { Cap } from '../../src/protocol/constants';
import { parseErrPayload } from '../../src/protocol/ok-err';
import { MariaDbServer, startServer } from '../helpers/mariadb';
import { RawClient } from '../helpers/raw-client';
import { Conn, ProxyHandle, sqlError, startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

const t = integrationSuite('client-limits');

let server: MariaDbServer;
/** Server defaults wait_timeout 1 s, interactive_timeout 3 s. */
let shortWait: MariaDbServer;

t.before(async () => {
  server = await startServer();
  shortWait = await startServer({ extraArgs: ['--wait-timeout=1', '--interactive-timeout=3'] });
});

t.after(async () => {
  await server?.destroy();
  await shortWait?.destroy();
});

/** What an idle connection gets when it is closed: the ERR packet's errno, or null when the socket just closes. */
async function howClosed(c: RawClient): Promise<{ errno: number | null }> {
  const f = await c.read(20_000);
  if (f.seq < 0) return { errno: null };
  const errno = f.payload[0] === 0xff ? parseErrPayload(f.payload).errno : -1;
  assert.is((await c.read(20_000)).seq, -1, 'closed after the packet');
  return { errno };
}

/** A TCP connection that reads the greeting and then says nothing. */
function idleSocket(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('error', () => {});
    s.once('data', () => resolve(s));
    s.once('close', () => reject(new Error('closed before the greeting')));
  });
}

t('200 idle unauthenticated sockets never make real logins fail; logged-in sessions are capped at max_client_connections', timed(async () => {
  const h: ProxyHandle = await startProxy({
    backends: [{ name: 'b', port: server.port }],
    server: { max_client_connections: 5, max_handshake_connections: 20 },
  });
  const idle: net.Socket[] = [];
  const conns: Conn[] = [];
  try {
    for (let i = 0; i < 200; i++) idle.push(await idleSocket(h.port));
    assert.ok(h.proxy.handshaking.size <= 20, `handshaking ${h.proxy.handshaking.size} within its budget`);
    for (let i = 0; i < 5; i++) {
      const c = await h.connect();
      conns.push(c);
      const [rows] = await c.query('SELECT 1 AS one');
      assert.equal(rows, [{ one: 1 }]);
    }
    const e = await sqlError(h.connect());
    assert.equal({ errno: e.errno, sqlState: e.sqlState, message: e.message }, { errno: 1040, sqlState: '08004', message: 'Too many connections' });
    // the oldest idle sockets were the ones dropped
    assert.ok(idle[0].destroyed || idle[0].readableEnded, 'oldest idle socket closed');
  } finally {
    for (const s of idle) s.destroy();
    await h.stop();
  }
}));

t('SET SESSION wait_timeout = 1 closes an idle client as MariaDB 10.11 does (socket closed, no packet)', timed(async () => {
  const d = await RawClient.connect(server.port, 'root', '', 'test');
  assert.is((await d.query('SET SESSION wait_timeout = 1')).err, null);
  const want = await howClosed(d);
  assert.equal(want, { errno: null });
  const h = await startProxy({ backends: [{ name: 'b', port: server.port }] });
  try {
    const c = await RawClient.connect(h.port, 'app', 'app', 'test');
    assert.is((await c.query('SET SESSION wait_timeout = 1')).err, null);
    assert.equal(await howClosed(c), want);
    // without the SET the server default (28800 s) applies: still open
    const other = await RawClient.connect(h.port, 'app', 'app', 'test');
    assert.equal((await other.query('SELECT 1')).rows, [['1']]);
    other.close();
  } finally {
    await h.stop();
  }
}));

t('the server default wait_timeout applies, and interactive_timeout for CLIENT_INTERACTIVE clients', timed(async () => {
  const h = await startProxy({ backends: [{ name: 'b', port: shortWait.port }] });
  try {
    for (const port of [shortWait.port, h.port]) {
      const direct = port === shortWait.port;
      const [user, pw] = direct ? ['root', ''] : ['app', 'app'];
      const plain = await RawClient.connect(port, user, pw, 'test');
      const interactive = await RawClient.connect(port, user, pw, 'test', Cap.INTERACTIVE);
      assert.equal(await howClosed(plain), { errno: null }, `${direct ? 'direct' : 'proxy'}: plain client closed after wait_timeout`);
      // interactive_timeout (3 s) has not passed yet when wait_timeout (1 s) closed the plain client
      assert.equal((await interactive.query('SELECT 2')).rows, [['2']], `${direct ? 'direct' : 'proxy'}: interactive client still open`);
      assert.equal(await howClosed(interactive), { errno: null });
    }
  } finally {
    await h.stop();
  }
}));

t('wait_timeout closes a session pinned in a transaction; the transaction is rolled back and the backend connection returned', timed(async () => {
  await server.query('CREATE TABLE IF NOT EXISTS test.wt (id INT PRIMARY KEY)');
  const h = await startProxy({ backends: [{ name: 'b', port: server.port, maxConnections: 1 }] });
  try {
    const c = await RawClient.connect(h.port, 'app', 'app', 'test');
    assert.is((await c.query('BEGIN')).err, null);
    assert.is((await c.query('INSERT INTO wt VALUES (1)')).err, null);
    assert.is((await c.query('SET SESSION wait_timeout = 1')).err, null);
    assert.equal(await howClosed(c), { errno: null });
    // the only backend connection serves the next client, and the insert is gone
    const n = await RawClient.connect(h.port, 'app', 'app', 'test');
    assert.equal((await n.query('SELECT COUNT(*) FROM wt')).rows, [['0']]);
    assert.equal((await n.query('SELECT @@in_transaction, @@wait_timeout')).rows, [['0', '28800']]);
    n.close();
  } finally {
    await h.stop();
  }
}));

t.run();
