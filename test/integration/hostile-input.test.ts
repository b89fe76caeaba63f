/**
 * Malformed and hostile client input after login: packets that once reached code throwing outside the
 * session's error handling (promise callbacks, backend data handlers) must end at most that one
 * session, with a proper ERR where the protocol allows, and never the process.
 */
import * as assert from 'uvu/assert';
import { Com } from '../../src/protocol/constants';
import { parseErrPayload } from '../../src/protocol/ok-err';
import { PacketWriter } from '../../src/protocol/packet-writer';
import { MariaDbServer, startServer } from '../helpers/mariadb';
import { ProxyHandle, sleep, startProxy, timed } from '../helpers/proxy';
import { RawClient } from '../helpers/raw-client';
import { integrationSuite } from '../helpers/uvu';

const t = integrationSuite('hostile-input');

let server: MariaDbServer;
let proxy: ProxyHandle;

t.before(async () => {
  server = await startServer();
  proxy = await startProxy({ backends: [{ name: 'b', port: server.port, maxConnections: 2, acquireTimeoutMs: 10_000 }] });
});

t.after(async () => {
  await proxy?.stop();
  await server?.destroy();
});

/** COM_STMT_EXECUTE of a one-parameter statement binding a string (type VAR_STRING). */
function executeString(id: number, s: string): PacketWriter {
  const v = Buffer.from(s);
  return new PacketWriter(32).u8(Com.STMT_EXECUTE).u32(id).u8(0).u32(1).u8(0).u8(1).u16(0xfd).u8(v.length).bytes(v);
}

/** The truncated execute of the report: statement 1, no flags, iteration count 1, null bitmap, nothing more. */
const TRUNCATED_EXECUTE = Buffer.from('17' + '01000000' + '00' + '01000000' + '00', 'hex');

/** What a server answers (errno) to the truncated execute after typed executes; null for a result. */
async function truncatedAnswer(c: RawClient, id: number): Promise<{ errno: number | null; closed: boolean }> {
  const b = Buffer.from(TRUNCATED_EXECUTE);
  b.writeUInt32LE(id, 1);
  c.send(b);
  const f = await c.read();
  if (f.seq < 0) return { errno: null, closed: true };
  if (f.payload[0] !== 0xff) {
    // drain a result set, if that is what came
    for (;;) {
      const g = await c.read();
      if (g.seq < 0 || (g.payload[0] === 0xfe && g.payload.length < 9)) break;
    }
    return { errno: null, closed: false };
  }
  return { errno: parseErrPayload(f.payload).errno, closed: false };
}

async function waitFor(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await sleep(10);
  assert.ok(cond(), what);
}

/**
 * How the truncated execute reaches its backend connection: from the pool's hot list (synchronously),
 * after waiting for a connection (inside a promise callback: the reported crash), or after a state
 * replay (the session has a user variable).
 */
for (const via of ['hot', 'wait', 'replay'] as const) {
  t(`truncated COM_STMT_EXECUTE after executes on two backend connections (${via}): the server's error, session and proxy go on`, timed(async () => {
    // Reference: the same packets straight to the server.
    const d = await RawClient.connect(server.port, 'root', '', 'test');
    const dp = await d.prepare('SELECT ?');
    assert.equal((await d.execute(dp.id, [7])).rows, [['7']]);
    d.send(executeString(dp.id, 'x'));
    assert.equal((await d.readResult(true)).rows, [['x']]);
    const want = await truncatedAnswer(d, dp.id);
    d.close();

    const c = await RawClient.connect(proxy.port, 'app', 'app', 'test');
    const holder = await RawClient.connect(proxy.port, 'app', 'app', 'test');
    const holder2 = await RawClient.connect(proxy.port, 'app', 'app', 'test');
    if (via === 'replay') assert.is((await c.query('SET @u = 1')).err, null);
    const p = await c.prepare('SELECT ?');
    // execute #1 binds LONGLONG on backend connection X
    assert.equal((await c.execute(p.id, [7])).rows, [['7']]);
    // the holder pins X in a transaction, so execute #2 (VAR_STRING) runs on another connection Y
    assert.is((await holder.query('BEGIN')).err, null);
    assert.is((await holder.query('SELECT 1')).err, null);
    c.send(executeString(p.id, 'x'));
    assert.equal((await c.readResult(true)).rows, [['x']]);
    let got: Promise<{ errno: number | null; closed: boolean }>;
    if (via === 'wait') {
      // Y pinned too (2 connections max): the truncated execute waits for X, handed over by the pool
      assert.is((await holder2.query('BEGIN')).err, null);
      assert.is((await holder2.query('SELECT 1')).err, null);
      got = truncatedAnswer(c, p.id);
      await waitFor('the execute waits for a backend connection', () => proxy.proxy.stats().backends[0].pending === 1);
      assert.is((await holder.query('COMMIT')).err, null);
    } else {
      // X goes back to the pool on top: the truncated execute lands on it, whose statement has the old types
      assert.is((await holder.query('COMMIT')).err, null);
      got = truncatedAnswer(c, p.id);
    }
    assert.equal(await got, want);
    if (via === 'wait') assert.is((await holder2.query('COMMIT')).err, null);
    // the session (unless the server would have closed it) and the others still work
    if (!want.closed) assert.equal((await c.execute(p.id, [8])).rows, [['8']]);
    assert.equal((await holder.query('SELECT 2')).rows, [['2']]);
    c.close();
    holder.close();
    holder2.close();
  }));
}

t.run();
