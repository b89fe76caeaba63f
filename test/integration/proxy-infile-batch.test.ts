/**
 * LOAD DATA LOCAL INFILE inside a multi-statement batch. A client without CLIENT_LOCAL_FILES gets
 * what MariaDB sends: the results before it, then ERR 4166 with the next sequence id, and the rest
 * of the batch does not run (before: the proxy let the backend ask for the file and the client saw
 * ERR 2013, lost connection). A client with it gets the server's file request as directly.
 * Direct vs proxy: the raw protocol strictly decoded, mysql2 (with and without
 * infileStreamFactory, and without LOCAL_FILES), `mariadb --local-infile=0/1`, PHP mysqli.
 */
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { Conn, ProxyHandle } from '../helpers/proxy';
import { cli, connectDirect, startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';
import { RawClient } from '../helpers/raw-client';
import { Cap } from '../../src/protocol/constants';
import { readStrict } from '../helpers/strict-decoder';
import { parseOk } from '../../src/protocol/ok-err';
import { CLIENTS_DIR, missingClient, runProc } from '../helpers/clients';

const test = integrationSuite('proxy-infile-batch');

let server: MariaDbServer;
let h: ProxyHandle;
let root: Conn;
let dir: string;
let file: string;

test.before(async () => {
  server = await startServer();
  root = await connectDirect(server.port);
  await root.query('CREATE TABLE test.infile_t (a INT)');
  await root.query('SET GLOBAL local_infile = 1');
  h = await startProxy({ backends: [{ name: 'b1', port: server.port }] });
  dir = mkdtempSync(join(tmpdir(), 'tg-infile-'));
  file = join(dir, 'rows.tsv');
  writeFileSync(file, '1\n2\n3\n');
});

test.after(async () => {
  root?.destroy();
  await h?.stop();
  await server?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * Waits (up to 10 s) until no other server thread is running a statement: after mysql2 fails a LOAD DATA
 * LOCAL at once, the server is still finishing the batch (the INSERT after it) when the test goes on.
 */
async function settled(): Promise<void> {
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    const [rows] = (await root.query(
      "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND NOT IN ('Sleep', 'Daemon', 'Binlog Dump') AND USER <> 'system user'",
    )) as unknown as [{ n: number }[]];
    if (Number(rows[0].n) === 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function rowsInTable(): Promise<number> {
  await settled();
  const [rows] = (await root.query('SELECT COUNT(*) AS n FROM test.infile_t')) as unknown as [{ n: number }[]];
  return Number(rows[0].n);
}

const batch = () => `SELECT 1 AS one; LOAD DATA LOCAL INFILE '${file}' INTO TABLE infile_t; INSERT INTO infile_t VALUES (100); SELECT 2 AS two`;

test('raw protocol: packets, sequence ids and what ran — same as MariaDB, with and without LOCAL_FILES', timed(async () => {
  const run = async (port: number, user: string, pw: string, extra: number) => {
    await root.query('DELETE FROM test.infile_t');
    const c = await RawClient.connect(port, user, pw, 'test', Cap.MULTI_STATEMENTS | Cap.MULTI_RESULTS | extra);
    c.send(Buffer.concat([Buffer.from([3]), Buffer.from(batch())]));
    // The whole response (classic EOF framing); a client with LOCAL_FILES answers the file request.
    const packets: [number, string][] = [];
    const take = async () => {
      const f = await c.read();
      if (f.seq < 0) throw new Error('connection closed');
      const p = f.payload;
      packets.push([f.seq, p[0] === 0xff ? `err ${p.readUInt16LE(1)} ${p.toString('latin1', 3, 9)}` : p.toString('hex')]);
      return f;
    };
    for (;;) {
      const { seq, payload: p } = await take();
      if (p[0] === 0xff) break;
      if (p[0] === 0xfb) {
        c.send(Buffer.from('7\n8\n'), seq + 1);
        c.send(Buffer.alloc(0), seq + 2);
        continue;
      }
      let status: number;
      if (p[0] === 0x00) status = parseOk(p, c.caps).status;
      else {
        for (let i = 0; i <= p[0]!; i++) await take(); // column definitions and their EOF
        let e = (await take()).payload;
        while (!(e[0] === 0xfe && e.length < 9) && e[0] !== 0xff) e = (await take()).payload;
        if (e[0] === 0xff) break;
        status = e.readUInt16LE(3);
      }
      if (!(status & 8)) break;
    }
    const after = (await c.query('SELECT 9 AS nine')).rows;
    c.close();
    return { packets, after, rows: await rowsInTable() };
  };
  for (const extra of [0, Cap.LOCAL_FILES]) {
    const d = await run(server.port, 'root', '', extra);
    const p = await run(h.port, 'app', 'app', extra);
    assert.equal(p, d, `caps +${extra}`);
    if (extra === 0) {
      assert.is(d.packets[d.packets.length - 1]![1], 'err 4166 #HY000');
      assert.is(d.rows, 0, 'nothing after the refused LOAD ran (direct, test sanity)');
    } else assert.is(d.rows, 3, 'file rows + the INSERT (direct, test sanity)');
  }
}));

test('raw protocol, no LOCAL_FILES: strictly decoded (DEPRECATE_EOF too), a lone LOAD DATA LOCAL and one mid-batch', timed(async () => {
  const run = async (port: number, user: string, pw: string, extra: number) => {
    const out = [];
    for (const sql of [`LOAD DATA LOCAL INFILE '${file}' INTO TABLE infile_t`, batch(), `SELECT 1 AS one; LOAD DATA LOCAL INFILE '${file}' INTO TABLE infile_t`]) {
      await root.query('DELETE FROM test.infile_t');
      const c = await RawClient.connect(port, user, pw, 'test', Cap.MULTI_STATEMENTS | Cap.MULTI_RESULTS | extra);
      c.send(Buffer.concat([Buffer.from([3]), Buffer.from(sql)]));
      const r = await readStrict(() => c.read(), { caps: c.caps, mariaCaps: 0 }, 'result');
      c.close();
      out.push({ seqs: r.raw.map(([s]) => s), decoded: r.decoded, rows: await rowsInTable() });
    }
    return out;
  };
  for (const extra of [0, Cap.DEPRECATE_EOF]) {
    const d = await run(server.port, 'root', '', extra);
    const p = await run(h.port, 'app', 'app', extra);
    assert.equal(p, d, `caps +${extra}`);
  }
}));

test('mysql2: default (no infileStreamFactory), with one, and without LOCAL_FILES — same results as MariaDB', timed(async () => {
  const variants: [string, object][] = [
    ['default', {}],
    ['infileStreamFactory', { infileStreamFactory: () => createReadStream(file) }],
    ['-LOCAL_FILES', { flags: ['-LOCAL_FILES'] }],
  ];
  const run = async (open: (o: object) => Promise<Conn>) => {
    const out: Record<string, unknown> = {};
    for (const [name, o] of variants) {
      await root.query('DELETE FROM test.infile_t');
      const c = await open({ multipleStatements: true, ...o });
      c.on('error', () => {});
      const res = await c.query(batch()).then(
        ([r]) => r,
        (e: { errno?: number; sqlState?: string; code?: string }) => ({ errno: e.errno, sqlState: e.sqlState, code: e.code }),
      );
      // mysql2 without a stream factory answers the file request with an empty file and fails the query
      // at once; the rest of the batch then arrives for its next query, which reads it or not depending
      // on timing (directly as well): what it returns is not compared in that case.
      const after = name === 'default' ? null : await c.query('SELECT 9 AS nine').then(([r]) => r, (e: { code?: string }) => e.code);
      c.destroy();
      out[name] = { res, after, rows: await rowsInTable() };
    }
    return out;
  };
  const d = await run((o) => connectDirect(server.port, o));
  const p = await run((o) => h.connect(o));
  assert.equal(p, d);
  assert.is((d['-LOCAL_FILES'] as { res: { errno: number } }).res.errno, 4166, 'direct (test sanity)');
}));

const noCli = missingClient('mariadb');
if (noCli) {
  console.error(`[proxy-infile-batch] SKIPPED 'mariadb CLI': ${noCli}`);
  test.skip(`mariadb CLI (skipped: ${noCli})`, () => {});
} else {
  test('mariadb --local-infile=0/1 (DELIMITER //, one multi-statement COM_QUERY): output, error and rows as directly', timed(async () => {
    const run = async (port: number, user: string, pw: string) => {
      const out = [];
      for (const flag of ['--local-infile=0', '--local-infile=1']) {
        await root.query('DELETE FROM test.infile_t');
        const r = await cli(port, null, [flag], { user, password: pw, input: `DELIMITER //\n${batch()}//\nSELECT 9 AS nine//\n` });
        out.push({ flag, code: r.code, stdout: r.stdout, stderr: r.stderr, rows: await rowsInTable() });
      }
      return out;
    };
    const d = await run(server.port, 'root', '');
    const p = await run(h.port, 'app', 'app');
    assert.equal(p, d);
    assert.match(d[0]!.stderr, /ERROR 4166/);
  }));
}

const noPhp = missingClient('php');
if (noPhp) {
  console.error(`[proxy-infile-batch] SKIPPED 'PHP mysqli': ${noPhp}`);
  test.skip(`PHP mysqli (skipped: ${noPhp})`, () => {});
} else {
  test('PHP mysqli multi_query with local_infile off and on: same output as directly', timed(async () => {
    const script = join(CLIENTS_DIR, 'php', 'infile-batch.php');
    const run = async (port: number, user: string, pw: string) => {
      const out = [];
      for (const mode of ['off', 'on']) {
        const ini = mode === 'on' ? ['-d', 'mysqli.allow_local_infile=1'] : [];
        const r = await runProc('php', [...ini, script, String(port), user, pw, file, mode], { timeoutMs: 60_000 });
        // (mysqlnd itself refuses the file with local infile off, and then misreads what follows: as directly)
        out.push({ mode, code: r.code, stdout: r.stdout, stderr: r.stderr.replace(/PID=\d+/g, 'PID=n'), rows: await rowsInTable() });
      }
      return out;
    };
    const d = await run(server.port, 'root', '');
    const p = await run(h.port, 'app', 'app');
    assert.equal(p, d);
  }, 120_000));
}

test.run();
