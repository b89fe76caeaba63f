/**
 * The compressed protocol (CLIENT_COMPRESS) toward clients: mysql2 `compress: true` and `mariadb --compress`
 * compared with the same client compressed straight to MariaDB (differential); prepared statements, large
 * packets both ways, LOAD DATA LOCAL, TLS + compression, compressed sequence ids as libmariadb checks them,
 * a 1,000,000-row result to a slow compressed reader, malformed compressed input, and clients that did not
 * ask for compression.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import * as assert from 'uvu/assert';
import { Cap, Com } from '../../src/protocol/constants';
import { encodeCompressedPacket } from '../../src/protocol/compression';
import { parseErrPayload } from '../../src/protocol/ok-err';
import { PacketWriter } from '../../src/protocol/packet-writer';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { Conn, Mode, ProxyHandle } from '../helpers/proxy';
import { cli, connectDirect, coreOf, fieldMeta, run, sha1, startProxy, timed } from '../helpers/proxy';
import { RawClient } from '../helpers/raw-client';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('proxy-compress');

const MiB = 1024 * 1024;

let server: MariaDbServer;
let h: ProxyHandle;
let direct: Conn;
let via: Conn;
let tmp: string;

test.before(async () => {
  server = await startServer({ extraArgs: ['--max-allowed-packet=256M'] });
  const d = await connectDirect(server.port);
  for (const p of ['d_', 'p_']) {
    await d.query(`CREATE TABLE ${p}t (id INT PRIMARY KEY, s VARCHAR(100), n BIGINT, f DOUBLE, dt DATETIME(3), b BLOB)`);
    await d.query(`CREATE TABLE ${p}big (id INT PRIMARY KEY, b LONGBLOB)`);
    await d.query(`CREATE TABLE ${p}ld (id INT PRIMARY KEY, name VARCHAR(200), val BIGINT) CHARSET utf8mb4`);
  }
  d.destroy();
  h = await startProxy({ backends: [{ name: 'b1', port: server.port }], tls: true });
  tmp = mkdtempSync(join(tmpdir(), 'tg-compress-'));
});

test.before.each(async () => {
  direct = await connectDirect(server.port, { compress: true });
  via = await h.connect({ compress: true });
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

/** mysql2 switched to the compressed protocol (it does only when the server announced CLIENT_COMPRESS). */
function compressed(c: Conn): boolean {
  return !!(coreOf(c) as unknown as { config: { compress: unknown } }).config.compress;
}

/** Bytes the client socket received while `fn` ran. */
async function bytesDuring(c: Conn, fn: () => Promise<unknown>): Promise<number> {
  const s = coreOf(c).stream;
  const before = s.bytesRead;
  await fn();
  return s.bytesRead - before;
}

/** A TCP relay in front of `port` that counts the bytes sent toward the client (what crossed the wire). */
async function countingRelay(port: number): Promise<{ port: number; toClient: () => number; close: () => void }> {
  let n = 0;
  const server = net.createServer((c) => {
    const up = net.connect(port, '127.0.0.1');
    up.on('data', (b: Buffer) => (n += b.length));
    c.pipe(up).pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, toClient: () => n, close: () => server.close() };
}

/** Outcome of a statement as the test compares it: rows and field metadata, or the error. */
async function outcome(c: Conn, mode: Mode, sql: string, params?: unknown[]): Promise<unknown> {
  try {
    const [rows, fields] = await run(c, mode, sql, params);
    // the proxied statements read the p_ copy of each table
    return { rows, fields: JSON.parse(JSON.stringify(fieldMeta(fields) ?? null).replace(/"p_(\w+)"/g, '"d_$1"')) };
  } catch (e) {
    const x = e as { errno?: number; sqlState?: string; sqlMessage?: string };
    return { errno: x.errno, sqlState: x.sqlState, message: x.sqlMessage };
  }
}

test('mysql2 compress: true gets a compressed session; a 1 MiB compressible result crosses in far fewer bytes', timed(async () => {
  assert.ok(compressed(direct), 'direct (test sanity): MariaDB announces CLIENT_COMPRESS');
  assert.ok(compressed(via), 'the proxy announces CLIENT_COMPRESS and mysql2 switched to it');
  const sql = "SELECT REPEAT('abc', 349525) AS r";
  let rows: unknown;
  const n = await bytesDuring(via, async () => ([rows] = await via.query(sql)));
  assert.is((rows as { r: string }[])[0].r.length, 3 * 349525);
  assert.ok(n < 64 * 1024, `1 MiB of 'abc' arrived as ${n} bytes: not compressed`);
  const plain = await h.connect();
  assert.not.ok(compressed(plain), 'a client that did not ask stays uncompressed');
  const m = await bytesDuring(plain, () => plain.query(sql));
  assert.ok(m > MiB, `uncompressed client received ${m} bytes`);
}));

test('server.compression: false announces no CLIENT_COMPRESS: a client asking for it stays uncompressed and works', timed(async () => {
  const off = await startProxy({ backends: [{ name: 'b1', port: server.port }], server: { compression: false } });
  try {
    const c = await off.connect({ compress: true });
    assert.not.ok(compressed(c));
    const [rows] = await c.query("SELECT REPEAT('x', 100000) AS r");
    assert.is((rows as { r: string }[])[0].r.length, 100000);
    const cliOut = await cli(off.port, 'SELECT 1 AS one', ['--compress']);
    assert.equal(cliOut, { code: 0, stdout: 'one\n1\n', stderr: '' });
  } finally {
    await off.stop();
  }
}));

test('text and prepared statements under compression: same results, fields and errors as direct', timed(async () => {
  const ins = (p: string) => `INSERT INTO ${p}t VALUES (?, ?, ?, ?, ?, ?)`;
  const values = (i: number) => [i, `row ${i} é ${'x'.repeat(i % 60)}`, BigInt(2) ** BigInt(40) + BigInt(i), i / 7, new Date(Date.UTC(2026, 0, 1, 0, 0, i)), Buffer.alloc(i * 3, i)];
  for (let i = 1; i <= 40; i++) {
    const mode: Mode = i % 2 ? 'query' : 'execute';
    const d = await outcome(direct, mode, ins('d_'), values(i));
    const p = await outcome(via, mode, ins('p_'), values(i));
    assert.equal(p, d, `insert ${i} (${mode})`);
  }
  const statements: [string, unknown[]?][] = [
    ['SELECT * FROM {t} ORDER BY id'],
    ['SELECT * FROM {t} WHERE id > ? ORDER BY id DESC', [10]],
    ['SELECT id, s FROM {t} WHERE s LIKE ? ORDER BY id', ['row 1%']],
    ['UPDATE {t} SET n = n + 1 WHERE id <= ?', [5]],
    ['SELECT COUNT(*) AS c, SUM(n) AS s FROM {t}'],
    ['SELECT nosuchcolumn FROM {t}'],
    ["SELECT CAST('x' AS SIGNED) AS w"],
    ['SELECT 1 AS a; SELECT 2 AS b'],
  ];
  for (const [tpl, params] of statements) {
    for (const mode of ['query', 'execute'] as const) {
      const d = await outcome(direct, mode, tpl.replaceAll('{t}', 'd_t'), params);
      const p = await outcome(via, mode, tpl.replaceAll('{t}', 'p_t'), params);
      assert.equal(p, d, `${mode}: ${tpl}`);
    }
  }
  const [w] = await via.query('SHOW WARNINGS');
  assert.ok(Array.isArray(w));
}));

test('COM_CHANGE_USER, multi-statements and COM_RESET_CONNECTION inside a compressed session', timed(async () => {
  const opts = { compress: true, multipleStatements: true };
  // the reference runs uncompressed: MariaDB itself restarts the packet numbering inside compressed
  // multi-results, which mysql2 reports on the console; through the proxy it must not happen
  const d = await connectDirect(server.port, { multipleStatements: true });
  const p = await h.connect(opts);
  const warnings: string[] = [];
  coreOf(p).on('warn', (w) => warnings.push(w.message));
  try {
    const multi = "SET @a = 5; SELECT @a + 1 AS b; SELECT seq FROM seq_1_to_3; DO 1";
    const [dm] = await d.query(multi);
    const [pm] = await p.query(multi);
    assert.equal(pm, dm, 'multi-statement results');
    await p.changeUser({ user: 'app', password: 'app', database: 'test' });
    const [after] = await p.query('SELECT @a AS a, DATABASE() AS db');
    assert.equal(after, [{ a: null, db: 'test' }], 'change user reset the session, still compressed and in sync');
    await p.query('SET @z = 1');
    await new Promise<void>((resolve, reject) =>
      (coreOf(p) as unknown as { reset(cb: (e: Error | null) => void): void }).reset((e) => (e ? reject(e) : resolve())),
    );
    const [z] = await p.query('SELECT @z AS z');
    assert.equal(z, [{ z: null }], 'COM_RESET_CONNECTION answered in the compressed session');
    assert.equal(warnings, [], 'packet numbering as mysql2 expects');
    const [rows] = await p.query("SELECT REPEAT('r', 5000) = REPEAT('r', 5000) AS ok");
    assert.equal(rows, [{ ok: 1 }]);
  } finally {
    d.destroy();
    p.destroy();
  }
}));

test('large packets both ways: a 20 MiB blob via query and execute, a 17 MiB row, rows of 16 MiB - 2 and 17 MiB', timed(async () => {
  const blob = randomBytes(20 * MiB + 3);
  const [q] = await via.query('INSERT INTO p_big VALUES (1, ?)', [blob]);
  assert.is((q as { affectedRows: number }).affectedRows, 1);
  const [e] = await via.execute('INSERT INTO p_big VALUES (2, ?)', [blob]);
  assert.is((e as { affectedRows: number }).affectedRows, 1);
  for (const mode of ['query', 'execute'] as const) {
    for (const id of [1, 2]) {
      const [rows] = await run(via, mode, 'SELECT b, LENGTH(b) AS n, SHA1(b) AS sha FROM p_big WHERE id = ?', [id]);
      const r = (rows as { b: Buffer; n: number; sha: string }[])[0];
      assert.equal({ n: r.n, sha: r.sha }, { n: blob.length, sha: sha1(blob) }, `${mode} id ${id} stored intact`);
      assert.ok(r.b.equals(blob), `${mode} id ${id} read back byte-exact`);
    }
  }
  const [rep] = await via.query(`SELECT REPEAT('a', ${17 * MiB}) AS r, 'tail' AS t`);
  const r = (rep as { r: string; t: string }[])[0];
  assert.ok(r.r.length === 17 * MiB && r.t === 'tail', '17 MiB row and the column after it');
  for (const n of [0xffffff - 5, 0xffffff - 4, 0xffffff - 3]) {
    const [d] = await direct.query(`SELECT REPEAT('b', ${n}) AS r`);
    const [p] = await via.query(`SELECT REPEAT('b', ${n}) AS r`);
    assert.ok((p as { r: string }[])[0].r === (d as { r: string }[])[0].r, `row of ${n + 4} bytes`);
  }
  const [after] = await via.query('SELECT 1 AS ok');
  assert.equal(after, [{ ok: 1 }]);
}, 180_000));

test('LOAD DATA LOCAL INFILE under compression: same OK and contents as direct', timed(async () => {
  const file = join(tmp, 'rows.tsv');
  const names: string[] = [];
  let text = '';
  for (let i = 1; i <= 20_000; i++) {
    const name = `name-${i}-${'y'.repeat(i % 91)}-ü`;
    names.push(name);
    text += `${i}\t${name}\t${i * 7}\n`;
  }
  writeFileSync(file, text);
  const sql = (p: string) => `LOAD DATA LOCAL INFILE ? INTO TABLE ${p}ld CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t'`;
  const factory = () => createReadStream(file, { highWaterMark: 16 * 1024 });
  const [dOk] = await direct.query({ sql: sql('d_'), values: [file], infileStreamFactory: factory });
  const [pOk] = await via.query({ sql: sql('p_'), values: [file], infileStreamFactory: factory });
  assert.equal(pOk, dOk);
  assert.is((pOk as { affectedRows: number }).affectedRows, 20_000);
  await via.query('SET SESSION group_concat_max_len = 67108864');
  const [rows] = await via.query("SELECT COUNT(*) AS n, SUM(val) AS v, SHA1(GROUP_CONCAT(name ORDER BY id SEPARATOR '\\n')) AS h FROM p_ld");
  assert.equal(rows, [{ n: 20_000, v: String(7 * 20_000 * 20_001 / 2), h: sha1(names.join('\n')) }]);
}, 60_000));

test('TLS + compression: mysql2 ssl and compress together', timed(async () => {
  const c = await h.connect({ compress: true, ssl: { ca: h.tls?.ca, rejectUnauthorized: true, servername: 'localhost' } as never });
  assert.ok(compressed(c), 'compressed');
  assert.ok((coreOf(c).stream as { encrypted?: boolean }).encrypted, 'over TLS');
  const [rows] = await c.query('SELECT seq, REPEAT(CHAR(65 + seq % 26), 100) AS pad FROM seq_1_to_5000');
  assert.is((rows as unknown[]).length, 5000);
  const last = (rows as { seq: number; pad: Buffer }[])[4999];
  assert.equal({ seq: last.seq, pad: last.pad.toString() }, { seq: 5000, pad: String.fromCharCode(65 + (5000 % 26)).repeat(100) });
  const [e] = await c.execute('SELECT ? + 1 AS x', [41]);
  assert.equal(e, [{ x: 42 }]);
  c.destroy();
}));

test('mariadb --compress: same output as compressed straight to MariaDB', timed(async () => {
  const input = [
    'SELECT 1 AS a;',
    "SELECT seq, REPEAT('z', seq % 300) AS pad FROM seq_1_to_3000;",
    'SELECT id, s, n FROM d_t ORDER BY id;',
    'SELECT @@warning_count;',
    "SELECT CAST('q' AS SIGNED) AS w;",
    'SHOW WARNINGS;',
    'SELECT nosuch FROM d_t;',
    '',
  ].join('\n');
  // --force: carry on past the error, so the statements after it are compared too
  const args = ['--compress', '--force', '--column-type-info'];
  const d = await cli(server.port, null, args, { user: 'root', password: '', input });
  const relay = await countingRelay(h.port);
  const p = await cli(relay.port, null, args, { input });
  relay.close();
  assert.ok(d.stdout.includes('3000\t'), 'direct (test sanity)');
  assert.equal(p, d);
  assert.ok(relay.toClient() < d.stdout.length / 4, `the CLI received ${relay.toClient()} bytes for ${d.stdout.length} of output: not compressed`);
  // --compress over TLS
  const tlsArgs = ['--compress', '--ssl', `--ssl-ca=${h.tls?.caFile}`];
  const pt = await cli(h.port, "SELECT REPEAT('x', 100000) = REPEAT('x', 100000) AS same, SUBSTR(@@version_comment, 1, 0) AS e", tlsArgs);
  assert.equal(pt, { code: 0, stdout: 'same\te\n1\t\n', stderr: '' });
}, 60_000));

const PHP = `<?php
[$_, $port, $user, $pass] = $argv;
mysqli_report(MYSQLI_REPORT_OFF);
$m = mysqli_init();
if (!$m->real_connect('127.0.0.1', $user, $pass, 'test', (int)$port, null, MYSQLI_CLIENT_COMPRESS)) { echo 'connect: ', mysqli_connect_error(), "\n"; exit(1); }
$out = [];
$r = $m->query("SELECT seq, REPEAT(CHAR(97 + seq % 26 USING latin1), seq % 200) AS pad FROM seq_1_to_3000");
$out[] = md5(json_encode($r->fetch_all()));
$r = $m->query("SELECT REPEAT('p', 2000000) AS big");
$out[] = strlen($r->fetch_row()[0]);
$st = $m->prepare('SELECT ? + 1 AS x, ? AS s');
$a = 41; $b = str_repeat('q', 100000);
$st->bind_param('is', $a, $b);
$st->execute();
$row = $st->get_result()->fetch_row();
$out[] = $row[0] . ':' . strlen($row[1]);
$out[] = $m->query('SELECT nosuch') ? 'ok' : ($m->errno . ' ' . $m->error);
$pdo = new PDO("mysql:host=127.0.0.1;port=$port;dbname=test", $user, $pass, [PDO::MYSQL_ATTR_COMPRESS => true, PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
$out[] = $pdo->query('SELECT COUNT(*) FROM seq_1_to_100000')->fetchColumn();
$s = $pdo->prepare('SELECT ? AS v'); $s->execute([str_repeat('z', 70000)]); $out[] = strlen($s->fetchColumn());
echo json_encode($out), "\n";
`;

test('PHP mysqli (MYSQLI_CLIENT_COMPRESS) and PDO (MYSQL_ATTR_COMPRESS): same output as direct, compressed on the wire', timed(async () => {
  const script = join(tmp, 'compress.php');
  writeFileSync(script, PHP);
  const php = (port: number, user: string, pass: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile('php', [script, String(port), user, pass], (e, stdout, stderr) => resolve({ code: e ? Number(e.code ?? 1) : 0, stdout, stderr })),
    );
  const d = await php(server.port, 'root', '');
  assert.is(d.code, 0, `direct (test sanity): ${d.stdout} ${d.stderr}`);
  const relay = await countingRelay(h.port);
  try {
    const p = await php(relay.port, 'app', 'app');
    assert.equal(p, d);
    // 2 MB of 'p', 100 kB of 'q', 3,000 rows: uncompressed that is well over 2 MiB
    assert.ok(relay.toClient() < 512 * 1024, `PHP received ${relay.toClient()} bytes: not compressed`);
  } finally {
    relay.close();
  }
}, 60_000));

test('mysqltest --compress, text and --ps-protocol: same recorded result as direct', timed(async () => {
  const testFile = join(tmp, 'compress.test');
  writeFileSync(
    testFile,
    [
      'SELECT 1 AS a;',
      'CREATE TABLE mt_t (a INT, b TEXT);',
      "INSERT INTO mt_t VALUES (1, REPEAT('x', 5000)), (2, 'y');",
      'SELECT a, LENGTH(b), MD5(b) FROM mt_t ORDER BY a;',
      "SELECT seq, REPEAT('m', seq % 40) FROM seq_1_to_500;",
      '--error 1054',
      'SELECT nosuch FROM mt_t;',
      'DROP TABLE mt_t;',
      '',
    ].join('\n'),
  );
  const mysqltest = (port: number, user: string, pass: string, ps: boolean, result: string) =>
    new Promise<{ code: number; stderr: string; result: string }>((resolve) =>
      execFile(
        'mysqltest',
        ['--compress', ...(ps ? ['--ps-protocol'] : []), '-h127.0.0.1', `-P${port}`, `--user=${user}`, `--password=${pass}`, '--database=test',
          `--test-file=${testFile}`, `--result-file=${result}`, '--record'],
        (e, _stdout, stderr) => resolve({ code: e ? Number(e.code ?? 1) : 0, stderr, result: readFileSync(result, 'utf8') }),
      ).stdin?.end(),
    );
  for (const ps of [false, true]) {
    const d = await mysqltest(server.port, 'root', '', ps, join(tmp, `d${ps}.result`));
    assert.is(d.code, 0, `direct (test sanity): ${d.stderr}`);
    const p = await mysqltest(h.port, 'app', 'app', ps, join(tmp, `p${ps}.result`));
    assert.equal(p, d, ps ? '--ps-protocol' : 'text protocol');
  }
}, 60_000));

test('mariadb --compress LOAD DATA LOCAL INFILE (libmariadb numbers the file packets 0): same as direct', timed(async () => {
  const file = join(tmp, 'cli-rows.tsv');
  let text = '';
  for (let i = 1; i <= 50_000; i++) text += `${i}\tcli-${i}-${'w'.repeat(i % 50)}\n`;
  writeFileSync(file, text);
  const load = (t: string) =>
    `CREATE TABLE ${t} (id INT PRIMARY KEY, s VARCHAR(100)); LOAD DATA LOCAL INFILE '${file}' INTO TABLE ${t}; ` +
    `SELECT COUNT(*) AS n, SUM(id) AS s, MD5(GROUP_CONCAT(s ORDER BY id)) AS h FROM ${t}`;
  const args = ['--compress', '--local-infile=1'];
  const d = await cli(server.port, `SET SESSION group_concat_max_len = 67108864; ${load('cli_ld_d')}`, args, { user: 'root', password: '' });
  const p = await cli(h.port, `SET SESSION group_concat_max_len = 67108864; ${load('cli_ld_p')}`, args);
  assert.ok(d.code === 0 && d.stdout.startsWith('n\ts\th\n50000\t'), `direct (test sanity): ${d.stdout} ${d.stderr}`);
  assert.equal(p, d);
}, 60_000));

test('mariadb --compress with packets of 16 MiB and more both ways: a 17 MiB query, rows of 16 MiB - 2 and 17 MiB', timed(async () => {
  const args = ['--compress', '--max-allowed-packet=64M'];
  const k = 17 * MiB;
  const input = `SELECT LENGTH('${'c'.repeat(k)}') AS n;\n`;
  const d = await cli(server.port, null, args, { user: 'root', password: '', input, timeoutMs: 60_000 });
  assert.equal(d, { code: 0, stdout: `n\n${k}\n`, stderr: '' }, 'direct (test sanity)');
  const p = await cli(h.port, null, args, { input, timeoutMs: 60_000 });
  assert.equal(p, d, '17 MiB COM_QUERY from libmariadb');
  // a row of exactly 0xFFFFFF bytes is left out: libmariadb loses the connection on it under
  // --compress straight against MariaDB too (a client bug; mysql2 covers that size above)
  for (const n of [0xffffff - 5, 17 * MiB]) {
    const input = `SELECT REPEAT('b', ${n}) AS r, 'tail' AS t;\n`;
    const dr = await cli(server.port, null, args, { user: 'root', password: '', input, timeoutMs: 60_000 });
    const pr = await cli(h.port, null, args, { input, timeoutMs: 60_000 });
    assert.ok(dr.code === 0 && dr.stdout.length === n + 10, `direct (test sanity): ${dr.stderr}`);
    assert.ok(pr.code === dr.code && pr.stderr === dr.stderr && pr.stdout === dr.stdout, `row of ${n + 9} bytes: ${pr.stderr}`);
  }
}, 180_000));

test('compressed sequence ids: each reply starts at one past the command, contiguous (as libmariadb checks)', timed(async () => {
  const c = await RawClient.connect(h.port, 'app', 'app', 'test', Cap.COMPRESS);
  for (const sql of ['SELECT 1', "SELECT seq, REPEAT('s', 200) FROM seq_1_to_2000", 'SELECT nosuch', 'DO 1']) {
    c.compressedSeqs = [];
    const r = await c.query(sql);
    assert.ok(r.ok || r.err || r.rows.length > 0, sql);
    const want = c.compressedSeqs.map((_, i) => (i + 1) & 0xff);
    assert.equal(c.compressedSeqs, want, `${sql}: compressed seqs ${c.compressedSeqs.slice(0, 10).join(',')}...`);
  }
  const st = await c.prepare('SELECT ? + 1');
  c.compressedSeqs = [];
  const r = await c.execute(st.id, [41]);
  assert.equal(r.rows, [["42"]]);
  assert.equal(c.compressedSeqs, c.compressedSeqs.map((_, i) => i + 1));
  // COM_STMT_CLOSE has no reply; the next command's reply still starts at 1
  c.send(new PacketWriter(8).u8(Com.STMT_CLOSE).u32(st.id));
  c.compressedSeqs = [];
  const after = await c.query('SELECT 2');
  assert.equal(after.rows, [['2']]);
  assert.equal(c.compressedSeqs, [1]);
  // two commands in one write (pipelined): each reply starts its own compressed sequence at 1
  c.compressedSeqs = [];
  const q = (sql: string) => Buffer.concat(encodeCompressedPacket(new PacketWriter(sql.length + 1).u8(Com.QUERY).string(sql).finish(0), 0));
  c.socket.write(Buffer.concat([q('SELECT 3'), q('SELECT 4')]));
  const r3 = await c.readResult();
  const r4 = await c.readResult();
  assert.equal([r3.rows, r4.rows], [[['3']], [['4']]]);
  assert.equal(c.compressedSeqs, [1, 1]);
  c.close();
}));

test('a 1,000,000-row result to a slow compressed reader: complete, proxy memory bounded', timed(async () => {
  const c = await RawClient.connect(h.port, 'app', 'app', 'test', Cap.COMPRESS);
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  const live = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const base = live();
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, live())), 20);
  const sock = c.socket;
  let wire = 0;
  let sincePause = 0;
  sock.on('data', (chunk: Buffer) => {
    wire += chunk.length;
    sincePause += chunk.length;
    if (sincePause >= 256 * 1024) {
      // a slow reader: stop for a while after every 256 KiB of compressed bytes
      sincePause = 0;
      sock.pause();
      setTimeout(() => sock.resume(), 15);
    }
  });
  const sql = "SELECT seq, REPEAT(CHAR(97 + seq % 26), 180) AS pad FROM seq_1_to_1000000";
  c.send(new PacketWriter(sql.length + 1).u8(Com.QUERY).string(sql));
  let rows = 0;
  let sum = 0;
  // read packet by packet: column count, 2 definitions, EOF, rows, EOF
  for (let i = 0; i < 4; i++) await c.read(30_000);
  for (;;) {
    const f = await c.read(30_000);
    const p = f.payload;
    if (p[0] === 0xfe && p.length < 9) break;
    if (p[0] === 0xff) throw new Error(parseErrPayload(p).message);
    rows++;
    sum += Number(p.toString('latin1', 1, 1 + p[0]));
  }
  clearInterval(sampler);
  const growth = (peak - base) / MiB;
  assert.is(rows, 1_000_000);
  assert.is(sum, (1_000_000 * 1_000_001) / 2);
  assert.ok(wire < 60 * MiB, `~190 MiB of rows arrived as ${(wire / MiB).toFixed(1)} MiB compressed`);
  // the test's own framer and decoder hold parts of the result too: this bounds both sides together
  assert.ok(growth < 96, `memory grew ${growth.toFixed(1)} MiB relaying a 1,000,000-row result to a slow compressed reader`);
  const r = await c.query('SELECT 3');
  assert.equal(r.rows, [['3']], 'session still in sync');
  c.close();
}, 180_000));

test('malformed compressed input ends that session with an error; others are unaffected', timed(async () => {
  const cases: [string, Buffer][] = [
    // announces 100 bytes once inflated, carries 5 bytes that are not zlib
    ['not zlib', Buffer.from([5, 0, 0, 0, 100, 0, 0, 1, 2, 3, 4, 5])],
    // announces 16 MiB - 1 inflated, more than max_allowed_packet allows in one compressed packet
    ['too large', Buffer.from([5, 0, 0, 0, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5])],
    // announces inflated bytes but carries nothing
    ['empty body', Buffer.from([0, 0, 0, 0, 10, 0, 0])],
  ];
  const h2 = await startProxy({ backends: [{ name: 'b1', port: server.port }], server: { max_allowed_packet: 1 << 20 } });
  try {
    for (const [what, bytes] of cases) {
      const c = await RawClient.connect(h2.port, 'app', 'app', 'test', Cap.COMPRESS);
      c.socket.write(bytes);
      const f = await c.read();
      assert.ok(f.seq >= 0 && f.payload[0] === 0xff, `${what}: an ERR packet`);
      const err = parseErrPayload(f.payload);
      assert.ok(err.errno === 1153 || err.errno === 1156, `${what}: errno ${err.errno} ${err.message}`);
      const end = await c.read();
      assert.is(end.seq, -1, `${what}: connection closed`);
    }
    const ok = await RawClient.connect(h2.port, 'app', 'app', 'test', Cap.COMPRESS);
    assert.equal((await ok.query('SELECT 9')).rows, [['9']]);
    ok.close();
  } finally {
    await h2.stop();
  }
}));

test.run();
