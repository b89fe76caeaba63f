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

test.run();
