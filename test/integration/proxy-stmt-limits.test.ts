/**
 * Server-side statement lifetime through the proxy, against a server started with
 * max_prepared_stmt_count=10: COM_STMT_CLOSE frees the statement on the server once no client
 * holds it (Prepared_stmt_count stays flat, as directly), a 1461 on prepare makes the proxy free
 * statements on that connection and retry, and statements held past the limit still execute
 * (re-prepared on demand). Clients: mysql2, the raw protocol, PHP PDO with native prepares.
 */
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { Conn, ProxyHandle } from '../helpers/proxy';
import { connectDirect, sleep, startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';
import { RawClient } from '../helpers/raw-client';
import { Com } from '../../src/protocol/constants';
import { PacketWriter } from '../../src/protocol/packet-writer';
import { CLIENTS_DIR, missingClient, runProc } from '../helpers/clients';

const test = integrationSuite('proxy-stmt-limits');

let server: MariaDbServer;
let h: ProxyHandle;
let root: Conn;

test.before(async () => {
  server = await startServer({ extraArgs: ['--max-prepared-stmt-count=10'] });
  root = await connectDirect(server.port);
  h = await startProxy({ backends: [{ name: 'b1', port: server.port, maxConnections: 2 }] });
});

test.after(async () => {
  root?.destroy();
  await h?.stop();
  await server?.destroy();
});

async function preparedCount(): Promise<number> {
  const [rows] = (await root.query("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'")) as unknown as [{ Value: string }[]];
  return Number(rows[0].Value);
}

/**
 * Prepared_stmt_count once it has settled at `want` (COM_STMT_CLOSE has no answer, and one written
 * on another backend connection is processed independently of this query): polls a condition,
 * up to 10 s, and returns the last value seen.
 */
async function settledCount(want: number): Promise<number> {
  let n = await preparedCount();
  for (let i = 0; i < 200 && n !== want; i++) {
    await sleep(50);
    n = await preparedCount();
  }
  return n;
}

test('mysql2: 50 x prepare + execute + close of distinct statements keeps Prepared_stmt_count flat', timed(async () => {
  const c = await h.connect();
  const before = await preparedCount();
  for (let i = 0; i < 50; i++) {
    const st = await c.prepare(`SELECT ${i} AS n, ? AS p`);
    const [rows] = (await st.execute([i])) as unknown as [{ n: number; p: number }[]];
    assert.equal(rows[0], { n: i, p: i });
    st.close();
  }
  await c.query('SELECT 1');
  assert.is(await settledCount(before), before);
  c.destroy();
}));

test('raw protocol: prepare + close with no other holder frees the server statement; a second holder keeps it until it closes too', timed(async () => {
  const a = await RawClient.connect(h.port, 'app', 'app', 'test');
  const b = await RawClient.connect(h.port, 'app', 'app', 'test');
  const before = await preparedCount();
  const sa = await a.prepare('SELECT 1 + ? AS x');
  const sb = await b.prepare('SELECT 1 + ? AS x');
  assert.ok((await preparedCount()) >= before + 1);
  a.send(new PacketWriter(8).u8(Com.STMT_CLOSE).u32(sa.id));
  await a.query('DO 0');
  // b still holds the statement: it must keep working
  const r = await b.execute(sb.id, [41]);
  assert.equal(r.rows, [['42']]);
  b.send(new PacketWriter(8).u8(Com.STMT_CLOSE).u32(sb.id));
  await b.query('DO 0');
  assert.is(await settledCount(before), before);
  a.close();
  b.close();
}));

test('mysql2: holding 15 statements against max_prepared_stmt_count=10: 1461 evicts and retries, all 15 still execute', timed(async () => {
  const c = await h.connect();
  const held = [];
  for (let i = 0; i < 15; i++) held.push(await c.prepare(`SELECT ${i} + ? AS n`));
  assert.ok((await preparedCount()) <= 10);
  for (let i = 0; i < 15; i++) {
    const [rows] = (await held[i].execute([1])) as unknown as [{ n: number }[]];
    assert.is(Number(rows[0].n), i + 1);
  }
  for (const s of held) s.close();
  await c.query('SELECT 1');
  assert.is(await settledCount(0), 0);
  c.destroy();
}));

test('sessions ending or resetting give their statements back', timed(async () => {
  const c = await h.connect();
  for (let i = 0; i < 5; i++) await c.prepare(`SELECT ${i} + 100`);
  assert.ok((await preparedCount()) >= 5);
  await c.reset();
  await c.query('SELECT 1');
  assert.is(await settledCount(0), 0);
  for (let i = 0; i < 5; i++) await c.prepare(`SELECT ${i} + 200`);
  assert.ok((await preparedCount()) >= 5);
  c.destroy();
  assert.is(await settledCount(0), 0);
}));

const why = missingClient('php');
if (why) {
  console.error(`[proxy-stmt-limits] SKIPPED 'PHP PDO native prepares': ${why}`);
  test.skip(`PHP PDO native prepares against max_prepared_stmt_count=10 (skipped: ${why})`, () => {});
} else {
  test('PHP PDO native prepares (prepare/execute/close per statement) against max_prepared_stmt_count=10: same output as directly', timed(async () => {
    const script = join(CLIENTS_DIR, 'php', 'strict.php');
    // generous bounds: on the shared 2-core machine under the full suite a run has taken over 60 s
    const d = await runProc('php', [script, 'pdo-native', String(server.port), 'root', ''], { timeoutMs: 110_000 });
    const p = await runProc('php', [script, 'pdo-native', String(h.port), 'app', 'app'], { timeoutMs: 110_000 });
    assert.is(d.stderr, '');
    assert.equal(p.stdout.split('\n'), d.stdout.split('\n'), `through the proxy: exit ${p.code}, stderr: ${p.stderr}`);
    assert.match(p.stdout, /50 x prepare\+execute\+close: 1225/);
    assert.is(await settledCount(0), 0);
  }, 240_000));
}

test.run();
