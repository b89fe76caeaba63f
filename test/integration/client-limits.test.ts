/**
 * Limits on what clients can hold: connections still in the handshake have their own budget
 * (server.max_handshake_connections) apart from logged-in sessions (server.max_client_connections).
 */
import * as net from 'node:net';
import * as assert from 'uvu/assert';
import { MariaDbServer, startServer } from '../helpers/mariadb';
import { Conn, ProxyHandle, sqlError, startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

const t = integrationSuite('client-limits');

let server: MariaDbServer;

t.before(async () => {
  server = await startServer();
});

t.after(async () => {
  await server?.destroy();
});

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

t.run();
