/**
 * Large payloads through the proxy: ≥16 MiB multi-packet commands and rows both ways (including payloads of
 * exactly 0xFFFFFF bytes, which need a trailing empty packet), LOAD DATA LOCAL INFILE, and a 200,000-row
 * result read slowly, during which the proxy must apply backpressure instead of buffering the result.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import * as assert from 'uvu/assert';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { Conn, Mode, ProxyHandle } from '../helpers/proxy';
import { cli, connectDirect, coreOf, run, sha1, sleep, sqlError, startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('proxy-large');

const MiB = 1024 * 1024;
const MAX_PAYLOAD = 0xffffff;

let server: MariaDbServer;
let h: ProxyHandle;
let direct: Conn;
let via: Conn;
let tmp: string;

test.before(async () => {
  server = await startServer({ extraArgs: ['--max-allowed-packet=256M'] });
  direct = await connectDirect(server.port);
  for (const p of ['d_', 'p_']) {
    await direct.query(`CREATE TABLE ${p}big (id INT PRIMARY KEY, b LONGBLOB)`);
    await direct.query(`CREATE TABLE ${p}ld (id INT PRIMARY KEY, name VARCHAR(200), val BIGINT) CHARSET utf8mb4`);
  }
  direct.destroy();
  h = await startProxy({ backends: [{ name: 'b1', port: server.port }] });
  tmp = mkdtempSync(join(tmpdir(), 'tg-large-'));
});

// fresh connections per test: a framing bug must fail its own test, not every later one
test.before.each(async () => {
  direct = await connectDirect(server.port);
  via = await h.connect();
});

test.after.each(() => {
  direct?.destroy();
  via?.destroy();
});

test.after(async () => {
  await h?.stop();
  await server?.destroy();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const BLOB = randomBytes(20 * MiB + 3);
BLOB[0] = 0x00;
BLOB[1] = 0xff;

test('20 MiB LONGBLOB inserted via query and via execute, read back byte-exact both ways', timed(async () => {
  const [q] = await via.query('INSERT INTO p_big VALUES (1, ?)', [BLOB]);
  assert.is((q as { affectedRows: number }).affectedRows, 1);
  const [e] = await via.execute('INSERT INTO p_big VALUES (2, ?)', [BLOB]);
  assert.is((e as { affectedRows: number }).affectedRows, 1);
  const [check] = await direct.query('SELECT id, LENGTH(b) AS len, SHA1(b) AS sha FROM p_big ORDER BY id');
  assert.equal(check, [
    { id: 1, len: BLOB.length, sha: sha1(BLOB) },
    { id: 2, len: BLOB.length, sha: sha1(BLOB) },
  ], 'stored on the server intact');
  for (const mode of ['query', 'execute'] as const) {
    for (const id of [1, 2]) {
      const [rows] = await run(via, mode, 'SELECT b FROM p_big WHERE id = ?', [id]);
      const b = (rows as { b: Buffer }[])[0].b;
      assert.is(b.length, BLOB.length, `${mode} id ${id} length`);
      assert.is(sha1(b), sha1(BLOB), `${mode} id ${id} sha1`);
    }
  }
  const [after] = await via.query('SELECT 1 AS ok');
  assert.equal(after, [{ ok: 1 }]);
}, 120_000));

test("SELECT REPEAT('a', 17 MiB) via query and execute", timed(async () => {
  const n = 17 * MiB;
  for (const mode of ['query', 'execute'] as const) {
    const [rows] = await run(via, mode, `SELECT REPEAT('a', ${n}) AS r, 'tail' AS t`);
    const r = (rows as { r: string; t: string }[])[0];
    assert.is(r.r.length, n, mode);
    assert.ok(r.r === 'a'.repeat(n), `${mode}: all 'a'`);
    assert.is(r.t, 'tail', `${mode}: the column after the 17 MiB one`);
  }
}, 60_000));

/**
 * Row payload sizes around the 0xFFFFFF packet limit. A text row of one string column of length n is
 * 4 (lenenc 0xFD + 3 bytes) + n; a binary row adds a 0x00 header and a 1-byte NULL bitmap.
 */
const ROW_CASES: [Mode, number][] = [
  ['query', MAX_PAYLOAD - 4 - 1],
  ['query', MAX_PAYLOAD - 4],
  ['query', MAX_PAYLOAD - 4 + 1],
  ['execute', MAX_PAYLOAD - 6],
  ['execute', MAX_PAYLOAD - 6 + 1],
];
test('rows of exactly 0xFFFFFF bytes (and one either side) are relayed intact', timed(async () => {
  for (const [mode, n] of ROW_CASES) {
    const sql = `SELECT REPEAT('b', ${n}) AS r`;
    const [dRows] = await run(direct, mode, sql);
    const [pRows] = await run(via, mode, sql);
    const d = (dRows as { r: string }[])[0].r;
    const p = (pRows as { r: string }[])[0].r;
    assert.is(d.length, n, 'direct (test sanity)');
    assert.is(p.length, n, `${mode} n=${n}`);
    assert.ok(p === d, `${mode} n=${n} content`);
    const [next] = await via.query('SELECT 2 AS next');
    assert.equal(next, [{ next: 2 }], `${mode} n=${n}: stream still in sync`);
  }
}, 120_000));

test('COM_QUERY payloads of exactly 0xFFFFFF bytes (and one either side), sent by the mariadb CLI', timed(async () => {
  // mysql2 mis-frames a command of exactly 0xFFFFFF bytes (no trailing empty packet), libmariadb does it right
  const head = "SELECT LENGTH('";
  const tail = "') AS n";
  for (const delta of [-1, 0, 1]) {
    // payload = 1 command byte + SQL (the CLI strips the ';' delimiter and the newline)
    const k = MAX_PAYLOAD - 1 - head.length - tail.length + delta;
    const input = head + 'c'.repeat(k) + tail + ';\n';
    const args = ['--max-allowed-packet=64M'];
    const d = await cli(server.port, null, args, { user: 'root', password: '', input });
    assert.equal(d, { code: 0, stdout: `n\n${k}\n`, stderr: '' }, 'direct (test sanity)');
    const p = await cli(h.port, null, args, { input });
    assert.equal(p, d, `payload 0xFFFFFF${delta >= 0 ? '+' : ''}${delta}`);
  }
}, 90_000));

test('LOAD DATA LOCAL INFILE of 10,000 rows: count and checksums match, same OK as direct', timed(async () => {
  const file = join(tmp, 'rows.tsv');
  const names: string[] = [];
  let text = '';
  for (let i = 1; i <= 10_000; i++) {
    const name = `name-${i}-${'x'.repeat(i % 97)}-é`;
    names.push(name);
    text += `${i}\t${name}\t${i * 3}\n`;
  }
  writeFileSync(file, text);
  const sql = (p: string) =>
    `LOAD DATA LOCAL INFILE ? INTO TABLE ${p}ld CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n'`;
  const factory = () => createReadStream(file, { highWaterMark: 16 * 1024 });
  const [dOk] = await direct.query({ sql: sql('d_'), values: [file], infileStreamFactory: factory });
  const [pOk] = await via.query({ sql: sql('p_'), values: [file], infileStreamFactory: factory });
  assert.equal(pOk, dOk);
  assert.is((pOk as { affectedRows: number }).affectedRows, 10_000);
  const sum = (10_000 * 10_001) / 2;
  const check = (p: string) =>
    `SELECT COUNT(*) AS n, SUM(id) AS ids, SUM(val) AS vals,
       SHA1(GROUP_CONCAT(name ORDER BY id SEPARATOR '\\n')) AS names FROM ${p}ld`;
  await via.query('SET SESSION group_concat_max_len = 67108864');
  const [rows] = await via.query(check('p_'));
  assert.equal(rows, [{ n: 10_000, ids: String(sum), vals: String(3 * sum), names: sha1(names.join('\n')) }]);
  // a client that has no stream for the file answers with an empty packet: same outcome as direct
  const missing = (p: string) => `LOAD DATA LOCAL INFILE '/nonexistent/tg.tsv' INTO TABLE ${p}ld`;
  const dMissing = await direct.query(missing('d_')).then((r) => ({ ok: r[0] }), (e) => ({ err: (e as Error).message }));
  const pMissing = await via.query(missing('p_')).then((r) => ({ ok: r[0] }), (e) => ({ err: (e as Error).message }));
  assert.equal(pMissing, dMissing);
  const [after] = await via.query('SELECT COUNT(*) AS n FROM p_ld');
  assert.equal(after, [{ n: 10_000 }]);
}, 60_000));

/** A full GC without --expose-gc on the command line (the flag can be set at runtime). */
function fullGc(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

/**
 * Live JS memory: heap plus Buffers. RSS is not used because earlier tests' 20 MiB allocations leave freed
 * pages in the process that an unbounded buffer would silently reuse.
 */
function liveBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Streams a 200,000-row (~200 MiB) result, pausing often; returns row count, seq checksum, memory growth. */
async function slowStream(c: Conn): Promise<{ rows: number; sum: number; growthMiB: number }> {
  const ROWS = 200_000;
  // collect earlier tests' garbage first, or its collection during the stream would hide the growth
  fullGc();
  const baseline = liveBytes();
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, liveBytes());
  }, 25);
  try {
    const stream = coreOf(c).query(`SELECT seq, REPEAT('r', 1000) AS pad FROM seq_1_to_${ROWS}`).stream({ highWaterMark: 64 });
    let rows = 0;
    let sum = 0;
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (row: { seq: number; pad: string }) => {
        rows++;
        sum += row.seq;
        if (row.pad.length !== 1000) reject(new Error(`bad row ${row.seq}`));
        // ~4 s of pauses in total: far slower than the server produces
        if (rows % 2000 === 0) {
          stream.pause();
          setTimeout(() => stream.resume(), 40);
        }
      });
      stream.on('end', () => resolve());
      stream.on('error', reject);
    });
    return { rows, sum, growthMiB: (peak - baseline) / MiB };
  } finally {
    clearInterval(sampler);
  }
}

test('200,000-row result read slowly: complete, proxy adds < 64 MiB of memory (backpressure)', timed(async () => {
  const d = await slowStream(direct);
  await sleep(200);
  const p = await slowStream(via);
  const expectedSum = (200_000 * 200_001) / 2;
  assert.equal({ rows: d.rows, sum: d.sum }, { rows: 200_000, sum: expectedSum }, 'direct (test sanity)');
  assert.equal({ rows: p.rows, sum: p.sum }, { rows: 200_000, sum: expectedSum });
  assert.ok(
    p.growthMiB - d.growthMiB < 64,
    `heap+buffers grew ${p.growthMiB.toFixed(1)} MiB streaming through the proxy vs ${d.growthMiB.toFixed(1)} MiB ` +
      'direct (the client itself): the ~200 MiB result is being buffered instead of back-pressured',
  );
  const [after] = await via.query('SELECT 4 AS ok');
  assert.equal(after, [{ ok: 4 }]);
}, 120_000));

test("REPEAT beyond the server's max_allowed_packet: NULL + warning 1301 like direct", timed(async () => {
  // 300 MiB > the server's max_allowed_packet (256M): REPEAT returns NULL with a warning, no disconnect
  const [rows] = await via.query(`SELECT REPEAT('z', ${300 * MiB}) AS r`);
  const [dRows] = await direct.query(`SELECT REPEAT('z', ${300 * MiB}) AS r`);
  assert.equal(rows, dRows);
  assert.equal(rows, [{ r: null }]);
  const [w] = await via.query('SHOW WARNINGS');
  assert.is((w as { Code: number }[])[0].Code, 1301);
  const e = await sqlError(via.query('SELEC 1'));
  assert.is(e.errno, 1064);
}));

test("a command above the proxy's max_allowed_packet (64 MiB) gets ERR 1153, others unaffected", timed(async () => {
  const c = await h.connect();
  const warnings: string[] = [];
  coreOf(c).on('warn', (w) => warnings.push(w.message));
  const k = 65 * MiB;
  const e = await sqlError(c.query(`SELECT LENGTH('${'q'.repeat(k)}') AS n`));
  // what MariaDB itself answers (checked against a server with max_allowed_packet=64M); detail may follow
  assert.equal({ errno: e.errno, sqlState: e.sqlState }, { errno: 1153, sqlState: '08S01' });
  assert.match(e.message, /^Got a packet bigger than 'max_allowed_packet' bytes/);
  // the server numbers its ERR after the client's last packet; libmariadb rejects anything else
  assert.equal(warnings, [], 'ERR sequence id follows the client packets');
  c.destroy();
  const [rows] = await via.query('SELECT 5 AS ok');
  assert.equal(rows, [{ ok: 5 }]);
}, 60_000));

test.run();
