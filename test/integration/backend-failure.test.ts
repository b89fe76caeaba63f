/**
 * Section 2 of issue 5: a backend failure never turns into silent data loss. A session whose backend
 * connection held its transaction is ended like a server's connection (ERR 2013 with the right
 * sequence id, then closed); a session without such state goes on; a stopped backend (SIGSTOP) makes
 * statements fail within the configured timeouts instead of hanging; an idle transaction times out.
 */
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { Conn, ProxyHandle } from '../helpers/proxy';
import { sqlError, startProxy, timed, withTimeout } from '../helpers/proxy';
import { RawClient } from '../helpers/raw-client';
import { integrationSuite } from '../helpers/uvu';
import type { BackendConnection } from '../../src/backend/backend-connection';

const test = integrationSuite('backend-failure');

let server: MariaDbServer;
let stopped: MariaDbServer;
let stoppedPid = 0;
let h: ProxyHandle;

test.before(async () => {
  [server, stopped] = await Promise.all([startServer(), startServer()]);
  await server.query('CREATE TABLE bf (id INT PRIMARY KEY) ENGINE=InnoDB');
  stoppedPid = Number(fs.readFileSync(path.join(path.dirname(stopped.datadir), 'mariadbd.pid'), 'utf8').trim());
  h = await startProxy({ backends: [{ name: 'b1', port: server.port, maxConnections: 4 }] });
});

test.after(async () => {
  if (stoppedPid) process.kill(stoppedPid, 'SIGCONT');
  await h?.stop();
  await Promise.all([server?.destroy(), stopped?.destroy()]);
});

/** Waits (bounded) for a condition the proxy reaches asynchronously, e.g. noticing a closed socket. */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), `timed out waiting for: ${what}`);
}

/** The backend connection the proxy session `id` holds right now. */
function heldConn(p: ProxyHandle, id: number): BackendConnection {
  const s = p.proxy.sessions.get(id);
  const c = s?.runner.conn;
  assert.ok(c, `session ${id} holds a backend connection`);
  return c as BackendConnection;
}

async function count(): Promise<number> {
  const rows = await server.query('SELECT COUNT(*) AS n FROM bf');
  return Number(rows[0].n);
}

test('backend thread killed mid-transaction (raw client): ERR 2013 with sequence id 1, then the connection closes', timed(async () => {
  await server.query('DELETE FROM bf');
  const c = await RawClient.connect(h.port, 'app', 'app', 'test');
  assert.is((await c.query('BEGIN')).err, null);
  assert.is((await c.query('INSERT INTO bf VALUES (1)')).err, null);
  const sessionId = c.handshake.connectionId;
  const conn = heldConn(h, sessionId);
  await server.query(`KILL ${conn.threadId}`);
  await until('the proxy saw the backend connection close', () => conn.closed);
  c.send(Buffer.from([0x03, ...Buffer.from('INSERT INTO bf VALUES (2)')]));
  const f = await c.read();
  assert.is(f.seq, 1, 'sequence id of the ERR');
  assert.is(f.payload[0], 0xff);
  assert.is(f.payload.readUInt16LE(1), 2013);
  assert.is((await c.read()).seq, -1, 'then the proxy closes the connection');
  assert.is(await count(), 0);
}));

test('backend thread killed mid-transaction (mysql2): INSERT 2 fails with 2013, INSERT 3 and COMMIT fail, nothing is committed', timed(async () => {
  await server.query('DELETE FROM bf');
  const c = await h.connect();
  await c.query('BEGIN');
  await c.query('INSERT INTO bf VALUES (1)');
  const conn = heldConn(h, c.threadId as number);
  await server.query(`KILL ${conn.threadId}`);
  await until('the proxy saw the backend connection close', () => conn.closed);
  assert.is((await sqlError(c.query('INSERT INTO bf VALUES (2)'))).errno, 2013);
  await sqlError(c.query('INSERT INTO bf VALUES (3)'));
  await sqlError(c.query('COMMIT'));
  assert.is(await count(), 0, 'no row survives: the transaction died with its connection');
}));

test('a statement in flight when the pinned backend connection dies: ERR 2013, then closed', timed(async () => {
  await server.query('DELETE FROM bf');
  const c = await RawClient.connect(h.port, 'app', 'app', 'test');
  assert.is((await c.query('BEGIN')).err, null);
  assert.is((await c.query('INSERT INTO bf VALUES (1)')).err, null);
  const conn = heldConn(h, c.handshake.connectionId);
  c.send(Buffer.from([0x03, ...Buffer.from('SELECT SLEEP(20)')]));
  await until('the statement runs on the backend', () => !conn.closed);
  conn.socket.destroy(); // the connection breaks under the statement (network failure)
  const f = await c.read();
  assert.is(f.seq, 1);
  assert.is(f.payload.readUInt16LE(1), 2013);
  assert.is((await c.read()).seq, -1);
  assert.is(await count(), 0);
}));

test('a session without pinned state goes on after its backend connections were killed', timed(async () => {
  const c = await h.connect();
  await c.query("SET @keep = 'kept', SESSION sql_mode = 'ANSI'");
  await c.query('SELECT 1');
  const b = h.proxy.backends.get('b1');
  const rows = await server.query("SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Daemon' AND USER = 'root'");
  for (const r of rows) await server.query(`KILL ${r.ID}`).catch(() => {});
  await until('the proxy saw its backend connections close', () => b?.stats().open === 0);
  const [[r]] = (await c.query('SELECT @keep AS k, @@sql_mode AS m')) as unknown as [{ k: string; m: string }[]];
  assert.is(r.k, 'kept');
  assert.ok(r.m.includes('ANSI'));
}));

test('SIGSTOPped backend: an unpinned statement fails at acquire (9001), a pinned one hits the read timeout (2013) and is closed', timed(async () => {
  const p = await startProxy({
    backends: [{ name: 'st', port: stopped.port, maxConnections: 4, connectTimeoutMs: 300, acquireTimeoutMs: 1500, readTimeoutMs: 500, validateAfterIdleMs: 0 }],
  });
  try {
    const free = await p.connect();
    const tx = await p.connect();
    await free.query('SELECT 1');
    await tx.query('BEGIN');
    await tx.query('SELECT 1');
    process.kill(stoppedPid, 'SIGSTOP');
    try {
      const e1 = await withTimeout(sqlError(free.query('SELECT 2')), 10_000, 'unpinned statement on a stopped backend');
      assert.is(e1.errno, 9001);
      const e2 = await withTimeout(sqlError(tx.query('SELECT 2')), 10_000, 'pinned statement on a stopped backend');
      assert.is(e2.errno, 2013);
      await sqlError(tx.query('SELECT 3'));
    } finally {
      process.kill(stoppedPid, 'SIGCONT');
    }
  } finally {
    await p.stop();
  }
}, 60_000));

test('idle in transaction longer than idle_in_transaction_timeout_ms: the session is closed and its transaction rolled back', timed(async () => {
  await server.query('DELETE FROM bf');
  const p = await startProxy({ backends: [{ name: 'b1', port: server.port, idleInTransactionTimeoutMs: 300 }] });
  try {
    const c: Conn = await p.connect();
    const ended = new Promise<void>((resolve) => c.once('end', () => resolve()));
    await c.query('BEGIN');
    await c.query('INSERT INTO bf VALUES (9)');
    await withTimeout(ended, 10_000, 'the idle transaction to be ended');
    await sqlError(c.query('COMMIT'));
    assert.is(await count(), 0);
  } finally {
    await p.stop();
  }
}));

test.run();
