/**
 * Raw socket I/O (src/io/raw-io.ts) on and forced off: a default proxy uses it, `server.raw_io: false`
 * and TENANTGATE_RAW_IO=0 fall back to stream sockets, and both paths serve the same results to mysql2
 * (text, prepared, a multi-megabyte result, compressed, TLS, TLS + compressed) and to the `mariadb` CLI.
 * The other integration suites run on the default (raw) path; `TENANTGATE_RAW_IO=0 node dist/test/run.js
 * <suite>` runs any of them through the fallback.
 */
import * as assert from 'uvu/assert';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { ProxyHandle } from '../helpers/proxy';
import { cli, startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('raw-io');

let server: MariaDbServer;
let on: ProxyHandle;
let off: ProxyHandle;

test.before(async () => {
  server = await startServer();
  const envBefore = process.env.TENANTGATE_RAW_IO;
  delete process.env.TENANTGATE_RAW_IO;
  try {
    on = await startProxy({ backends: [{ name: 'b1', port: server.port }], tls: true });
  } finally {
    if (envBefore !== undefined) process.env.TENANTGATE_RAW_IO = envBefore;
  }
  off = await startProxy({ backends: [{ name: 'b1', port: server.port }], tls: true, server: { raw_io: false } });
});

test.after(async () => {
  await on?.stop();
  await off?.stop();
  await server?.destroy();
});

test('raw I/O is on by default and off with server.raw_io: false or TENANTGATE_RAW_IO=0', timed(async () => {
  assert.is(on.proxy.rawIo, true);
  assert.is(off.proxy.rawIo, false);
  const envBefore = process.env.TENANTGATE_RAW_IO;
  process.env.TENANTGATE_RAW_IO = '0';
  try {
    const viaEnv = await startProxy({ backends: [{ name: 'b1', port: server.port }] });
    try {
      assert.is(viaEnv.proxy.rawIo, false);
      const c = await viaEnv.connect();
      const [rows] = await c.query('SELECT 1 + 1 AS two');
      assert.equal(rows, [{ two: 2 }]);
    } finally {
      await viaEnv.stop();
    }
  } finally {
    if (envBefore === undefined) delete process.env.TENANTGATE_RAW_IO;
    else process.env.TENANTGATE_RAW_IO = envBefore;
  }
}));

const SQL = "SELECT seq, SHA1(seq) AS h, REPEAT(CHAR(65 + seq % 26), 300) AS pad FROM seq_1_to_8000";

for (const [name, opts] of [
  ['plain', {}],
  ['compressed', { compress: true }],
  ['TLS', { tls: true }],
  ['TLS + compressed', { tls: true, compress: true }],
] as const) {
  test(`${name}: text, prepared and a multi-megabyte result are the same through both paths`, timed(async () => {
    const results: unknown[] = [];
    for (const h of [on, off]) {
      const ssl = 'tls' in opts ? { ssl: { ca: h.tls?.ca } } : {};
      const c = await h.connect({ ...ssl, ...('compress' in opts ? { compress: true } : {}) });
      const [a] = await c.query('SELECT ? AS x, CONNECTION_ID() > 0 AS cid', ['text']);
      const [b] = await c.execute('SELECT ? + 1 AS y', [41]);
      const [big] = await c.query(SQL);
      const rows = big as Array<{ seq: number; h: string; pad: string }>;
      assert.is(rows.length, 8000);
      results.push([a, b, rows]);
      c.destroy();
    }
    assert.equal(results[0], results[1]);
  }));
}

test('mariadb CLI (classic EOF, libmariadb) sees the same output through both paths', timed(async () => {
  const sql = "SELECT 1 AS a, 'x' AS b; SELECT COUNT(*), SUM(LENGTH(pad)) FROM (SELECT REPEAT('z', seq) AS pad FROM seq_1_to_2000) t";
  const a = await cli(on.port, sql);
  const b = await cli(off.port, sql);
  assert.is(a.code, 0, a.stderr);
  assert.is(a.stdout, b.stdout);
  assert.ok(a.stdout.includes('2001000'), a.stdout);
}));

test.run();
