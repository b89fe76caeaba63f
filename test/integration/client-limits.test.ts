/**
 * Limits on what clients can hold: connections still in the handshake have their own budget
 * (server.max_handshake_connections) apart from logged-in sessions (server.max_client_connections);
 * idle clients are closed by wait_timeout / interactive_timeout as MariaDB closes them.
 */
import { execFile } from 'node:child_process';
import * as net from 'node:net';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import * as assert from 'uvu/assert';
import { Cap } from '../../src/protocol/constants';
import { parseErrPayload } from '../../src/protocol/ok-err';
import { MariaDbServer, startServer } from '../helpers/mariadb';
import { RawClient } from '../helpers/raw-client';
import { Conn, ProxyHandle, sleep, sqlError, startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

const t = integrationSuite('client-limits');

let server: MariaDbServer;
/** Server defaults wait_timeout 1 s, interactive_timeout 6 s (wide apart: the machine is loaded). */
let shortWait: MariaDbServer;

t.before(async () => {
  server = await startServer();
  shortWait = await startServer({ extraArgs: ['--wait-timeout=1', '--interactive-timeout=6'] });
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

/**
 * PyMySQL: SET SESSION wait_timeout = 1, wait until the server side has closed the socket (polled
 * with select, not slept), then query: prints what the driver reports.
 */
const PYMYSQL_WAIT = `
import sys, select, pymysql
c = pymysql.connect(host='127.0.0.1', port=int(sys.argv[1]), user=sys.argv[2], password=sys.argv[3], database='test')
c.cursor().execute('SET SESSION wait_timeout = 1')
r, _, _ = select.select([c._sock], [], [], 20)
print('closed' if r else 'open')
try:
    c.cursor().execute('SELECT 1')
    print('ok')
except pymysql.err.OperationalError as e:
    print(e.args[0])
`;

function pymysqlWait(port: number, user: string, password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/python3', ['-c', PYMYSQL_WAIT, String(port), user, password], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

t('PyMySQL after wait_timeout: the same as against MariaDB', timed(async () => {
  const want = await pymysqlWait(server.port, 'root', '');
  // MariaDB resets the connection: PyMySQL's next write fails with 2006 (server has gone away)
  assert.equal(want.split('\n'), ['closed', '2006']);
  const h = await startProxy({ backends: [{ name: 'b', port: server.port }] });
  try {
    assert.is(await pymysqlWait(h.port, 'app', 'app'), want);
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
      // interactive_timeout (6 s) has not passed yet when wait_timeout (1 s) closed the plain client
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

function gc(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

const MiB = 1 << 20;

t('8 clients stopping in the middle of a 56 MiB command: buffering bounded globally, freed by the read timeout, RSS returns', timed(async () => {
  const budget = 128 * MiB;
  const h = await startProxy({
    backends: [{ name: 'b', port: server.port }],
    server: { net_read_timeout_ms: 2000, max_client_buffer_bytes: budget },
  });
  const clients: RawClient[] = [];
  try {
    // A COM_QUERY of 57 MiB: three full 16 MiB packets and most of a fourth, then silence.
    const full = Buffer.alloc(4 + 0xffffff, 0x20);
    full.writeUIntLE(0xffffff, 0, 3);
    full[4] = 0x03;
    const part = Buffer.alloc(4 + 8 * MiB, 0x20);
    part.writeUIntLE(0xffffff, 0, 3);
    part[3] = 3;
    gc();
    const rss0 = process.memoryUsage().rss;
    const ab0 = process.memoryUsage().arrayBuffers; // includes the client's 24 MiB of buffers above
    for (let i = 0; i < 8; i++) {
      const c = await RawClient.connect(h.port, 'app', 'app', 'test');
      clients.push(c);
      for (let seq = 0; seq < 3; seq++) {
        const b = Buffer.from(full.subarray(0, 4));
        b[3] = seq;
        c.socket.write(b);
        c.socket.write(full.subarray(4));
      }
      c.socket.write(part);
    }
    const buf = h.proxy.clientBuffer;
    let peak = 0;
    let peakRss = 0;
    for (let i = 0; i < 3000 && buf.paused.size === 0; i++) {
      await sleep(10);
      peak = Math.max(peak, buf.bytes);
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
    assert.ok(buf.paused.size > 0, 'readers paused once the budget was reached');
    const closed = clients.map((c) => howClosed(c));
    for (let i = 0; i < 3000 && h.proxy.sessions.size > 0; i++) {
      await sleep(10);
      peak = Math.max(peak, buf.bytes);
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
    assert.ok(peak <= budget + 8 * MiB, `buffered peak ${peak} within the budget`);
    for (const r of await Promise.all(closed)) assert.equal(r, { errno: 1159 });
    assert.is(h.proxy.sessions.size, 0);
    assert.is(buf.bytes, 0);
    for (const c of clients) c.close();
    // Wait (a condition, not a time) for the sockets' buffers to be collected.
    let ab1 = Infinity;
    for (let i = 0; i < 200 && ab1 >= ab0 + 16 * MiB; i++) {
      await sleep(50);
      gc();
      ab1 = process.memoryUsage().arrayBuffers;
    }
    const rss1 = process.memoryUsage().rss;
    console.log(`[client-limits] partial packets: RSS ${(rss0 / MiB).toFixed(0)} MiB before, peak ${(peakRss / MiB).toFixed(0)} MiB, after ${(rss1 / MiB).toFixed(0)} MiB; buffers ${(ab0 / MiB).toFixed(0)} -> ${(ab1 / MiB).toFixed(0)} MiB; buffered peak ${(peak / MiB).toFixed(0)} MiB`);
    // Buffer memory is the exact measure (RSS also depends on how the allocator returns pages, and on
    // the other suites sharing this process): everything the 8 sessions held is released.
    assert.ok(ab1 < ab0 + 16 * MiB, `buffer memory back to its baseline (${ab0} -> ${ab1})`);
  } finally {
    for (const c of clients) c.close();
    await h.stop();
  }
}, 120_000));

t.run();
