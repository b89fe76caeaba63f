/**
 * Backend connections read into one reused buffer, and the relay writes views of it to the client. When a
 * client write is still queued after a backend read, the next backend read must not land in that buffer.
 * The dangerous case is small backend reads while the client does not read: each client write is queued
 * whole (the socket buffers towards the client are full) yet write() returns true (below the high-water
 * mark), so the backend is not paused and keeps reading. The server is started with the smallest net
 * buffer and trickles the rows (a short SLEEP every few rows), so they arrive in ~1 KiB reads.
 */
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { parseTextRow } from '../../src/protocol/column';
import { Cap } from '../../src/protocol/constants';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { ProxyHandle } from '../helpers/proxy';
import { DEFAULT_PASSWORD, DEFAULT_USER, sleep, startProxy, timed } from '../helpers/proxy';
import { RawClient } from '../helpers/raw-client';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('proxy-read-buffer');

let server: MariaDbServer;
let h: ProxyHandle;

test.before(async () => {
  server = await startServer({ extraArgs: ['--net-buffer-length=1024'] });
  h = await startProxy({ backends: [{ name: 'b1', port: server.port }] });
});

test.after(async () => {
  await h?.stop();
  await server?.destroy();
});

const ROWS = 8000;

test('rows trickling in small backend reads to a client that stalls arrive intact (no read buffer reused under a queued write)', timed(async () => {
  const c = await RawClient.connect(h.port, DEFAULT_USER, DEFAULT_PASSWORD, 'test');
  try {
    // ~8 MB in ~1 KiB flushes over ~0.5 s; the client reads nothing for the first 1.5 s
    c.socket.pause();
    const result = c.query(`SELECT seq, SHA1(seq) AS h, REPEAT(SHA1(seq), 24) AS pad, IF(seq % 16 = 0, SLEEP(0.001), 0) AS z FROM seq_1_to_${ROWS}`);
    await sleep(1500);
    c.socket.resume();
    const r = await result;
    assert.is(r.err, null);
    assert.is(r.rows.length, ROWS);
    let bad: string | null = null;
    r.rows.forEach((row, i) => {
      const sum = createHash('sha1').update(String(i + 1)).digest('hex');
      if (bad === null && (row[0] !== String(i + 1) || row[1] !== sum || row[2] !== sum.repeat(24))) bad = `row ${i + 1}: ${row.join(' ')}`;
    });
    assert.is(bad, null);
    const after = await c.query('SELECT 5');
    assert.equal(after.rows, [['5']]);
  } finally {
    c.socket.destroy();
  }
}, 90_000));

test('compressed session: incompressible rows in small backend reads to a client that stalls arrive intact (stored bodies are views of the read buffer)', timed(async () => {
  // 6 KiB of random bytes per row does not deflate, so each backend read goes out in a stored
  // compressed packet whose body (over 4 KiB: not copied) is a view of the read buffer. A SLEEP per
  // row keeps the reads at about one row, below the client socket's high-water mark.
  const N = 2000;
  const c = await RawClient.connect(h.port, DEFAULT_USER, DEFAULT_PASSWORD, 'test', Cap.COMPRESS);
  try {
    const rb = Array.from({ length: 6 }, () => 'RANDOM_BYTES(1024)').join(', ');
    for (const sql of ['CREATE TABLE rnd (id INT PRIMARY KEY, b BLOB, h CHAR(40))', `INSERT INTO rnd SELECT seq, CONCAT(${rb}), NULL FROM seq_1_to_${N}`, 'UPDATE rnd SET h = SHA1(b)']) {
      assert.is((await c.query(sql)).err, null, sql);
    }
    c.socket.pause();
    const result = c.query('SELECT id, b, h, SLEEP(0.001) AS z FROM rnd ORDER BY id');
    await sleep(1500);
    c.socket.resume();
    const r = await result;
    assert.is(r.err, null);
    const rowPackets = r.packets.slice(1 + r.columns.length + (c.deprecateEof ? 0 : 1), -1);
    assert.is(rowPackets.length, N);
    let bad: string | null = null;
    rowPackets.forEach(([, p], i) => {
      const [id, b, sum] = parseTextRow(p, 4);
      const ok = id?.toString() === String(i + 1) && b !== null && b.length === 6144 && createHash('sha1').update(b).digest('hex') === sum?.toString();
      if (bad === null && !ok) bad = `row ${i + 1} corrupted`;
    });
    assert.is(bad, null);
    assert.ok(c.compressedSeqs.length > 0, 'the session was compressed');
    assert.equal((await c.query('SELECT 5')).rows, [['5']]);
    await c.query('DROP TABLE rnd');
  } finally {
    c.socket.destroy();
  }
}, 90_000));

test.run();
