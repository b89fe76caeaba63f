/**
 * Server-side prepared statements through a multiplexing proxy: with the backend capped at 2 connections,
 * a client's statement ids must keep working whichever backend connection runs the execute (the proxy
 * prepares on demand), parameters of every type must arrive intact, and the proxy must bound the number of
 * statements it keeps prepared on the server.
 */
import { randomBytes } from 'node:crypto';
import * as assert from 'uvu/assert';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { Conn, ProxyHandle } from '../helpers/proxy';
import { connectDirect, fieldMeta, sha1, sleep, sqlError, startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('proxy-prepared');

/** Backend account used only by the proxy, so its connections can be told apart in PROCESSLIST. */
const BACKEND_USER = 'tg_prep';
const BACKEND_PASSWORD = 'tg-prep-pw';
const OPTS = { supportBigNumbers: true, bigNumberStrings: true, dateStrings: true } as const;

let server: MariaDbServer;
let h: ProxyHandle;
let direct: Conn;

test.before(async () => {
  server = await startServer({ extraArgs: ['--max-allowed-packet=64M'] });
  direct = await connectDirect(server.port, OPTS);
  await direct.query(`CREATE USER '${BACKEND_USER}'@'%' IDENTIFIED BY '${BACKEND_PASSWORD}'`);
  await direct.query(`GRANT ALL ON *.* TO '${BACKEND_USER}'@'%'`);
  for (const p of ['d_', 'p_']) {
    await direct.query(`CREATE TABLE ${p}pt (
      id INT PRIMARY KEY, i INT, bi BIGINT, biu BIGINT UNSIGNED, de DECIMAL(20,6), d DOUBLE, f FLOAT,
      s VARCHAR(100), b VARBINARY(64), dt DATE, dtm DATETIME(6), tm TIME(3), j JSON, bo BOOLEAN,
      nul INT, lb LONGBLOB) CHARSET utf8mb4`);
  }
  h = await startProxy({
    backends: [{
      name: 'b1', port: server.port, user: BACKEND_USER, password: BACKEND_PASSWORD,
      maxConnections: 2, acquireTimeoutMs: 10_000, maxPreparedPerConnection: 64,
    }],
  });
});

test.after(async () => {
  await h?.stop();
  direct?.destroy();
  await server?.destroy();
});

/** Deterministic PRNG so a failure is reproducible. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x / 0x80000000;
  };
}

test('many distinct statements from 8 clients on 2 backend connections: exact results', timed(async () => {
  const clients = await Promise.all(Array.from({ length: 8 }, () => h.connect(OPTS)));
  const TEMPLATES = 40;
  await Promise.all(clients.map(async (c, ci) => {
    const r = rng(ci + 1);
    for (let n = 0; n < 60; n++) {
      const k = Math.floor(r() * TEMPLATES);
      const x = Math.floor(r() * 1e6) - 5e5;
      const s = `c${ci}n${n}`;
      const isNull = r() < 0.2 ? null : 'nn';
      const [rows] = await c.execute(
        `SELECT ? + ${k} AS v, CONCAT(?, '-${k}') AS s, ? IS NULL AS n, ${k} AS k`, [x, s, isNull]);
      assert.equal(rows, [{ v: x + k, s: `${s}-${k}`, n: isNull === null ? 1 : 0, k }], `client ${ci} #${n}`);
    }
  }));
  // the mysql2 statement cache now holds 40 ids per client; run each once more on every client
  await Promise.all(clients.map(async (c, ci) => {
    for (let k = 0; k < TEMPLATES; k++) {
      const [rows] = await c.execute(
        `SELECT ? + ${k} AS v, CONCAT(?, '-${k}') AS s, ? IS NULL AS n, ${k} AS k`, [ci, 'z', null]);
      assert.equal(rows, [{ v: ci + k, s: `z-${k}`, n: 1, k }]);
    }
  }));
  await Promise.all(clients.map((c) => c.end()));
}, 90_000));

const BIG = randomBytes(4 * 1024 * 1024 + 7);
BIG[0] = 0x00;
BIG[BIG.length - 1] = 0xff;

type Param = string | number | bigint | boolean | null | Buffer;
function paramRow(id: number): Param[] {
  return [
    id, -2147483648, 9223372036854775807n, '18446744073709551615', '-12345678901234.123456', 3.141592653589793,
    1.5, 'utf8 ñ 漢字 😀', Buffer.from([0x00, 0xff, 0x00, 0x27, 0x5c]), '2024-02-29', '2024-02-29 12:34:56.123456',
    '-12:34:56.789', '{"a": [1, 2, {"b": null}]}', true, null, BIG,
  ];
}
const INSERT_PT = (p: string) => `INSERT INTO ${p}pt VALUES (${Array(16).fill('?').join(', ')})`;

test('parameters of every type incl. NULL and a 4 MiB blob: same rows as direct', timed(async () => {
  const c = await h.connect(OPTS);
  const [dOk] = await direct.execute(INSERT_PT('d_'), paramRow(1));
  const [pOk] = await c.execute(INSERT_PT('p_'), paramRow(1));
  assert.equal(pOk, dOk);
  for (const mode of ['execute', 'query'] as const) {
    const sql = (p: string) => `SELECT id, i, bi, biu, de, d, f, s, b, dt, dtm, tm, j, bo, nul, LENGTH(lb) AS lbl,
      SHA1(lb) AS lbsha FROM ${p}pt WHERE id = ?`;
    const [dRows] = mode === 'execute' ? await direct.execute(sql('d_'), [1]) : await direct.query(sql('d_'), [1]);
    const [pRows] = mode === 'execute' ? await c.execute(sql('p_'), [1]) : await c.query(sql('p_'), [1]);
    assert.equal(pRows, dRows, mode);
    const r = (pRows as Record<string, unknown>[])[0];
    assert.is(r.bi, '9223372036854775807');
    assert.is(r.biu, '18446744073709551615');
    assert.is(r.de, '-12345678901234.123456');
    assert.is(r.s, 'utf8 ñ 漢字 😀');
    assert.equal(r.b, Buffer.from([0x00, 0xff, 0x00, 0x27, 0x5c]));
    assert.is(r.dtm, '2024-02-29 12:34:56.123456');
    assert.is(r.nul, null);
    assert.is(Number(r.lbl), BIG.length);
    assert.is(r.lbsha, sha1(BIG));
  }
  // the blob comes back byte-exact through the binary protocol too
  const [[blobRow]] = (await c.execute('SELECT lb FROM p_pt WHERE id = ?', [1])) as unknown as [{ lb: Buffer }[]];
  assert.ok(BIG.equals(blobRow.lb), 'LONGBLOB bytes equal');
  // parameters echoed back without a table
  const echo = 'SELECT ? AS a, ? AS b, ? AS c, ? AS d, ? AS e, ? AS f, ? AS g, ? AS h';
  const params: Param[] = [0, -1.25, 'x\u0000y', Buffer.from([0xff, 0x00]), null, 12345678901234567890n, false, ''];
  const [dEcho, dF] = await direct.execute(echo, params);
  const [pEcho, pF] = await c.execute(echo, params);
  assert.equal(pEcho, dEcho);
  assert.equal(fieldMeta(pF), fieldMeta(dF));
  await c.end();
}));

test('conn.prepare(): metadata, repeated execute amid other clients, close', timed(async () => {
  const sql = 'SELECT ? * 2 AS v, CONCAT(?, ?) AS s /* prepare-test */';
  const dSt = await direct.prepare(sql);
  const c = await h.connect(OPTS);
  const others = await Promise.all([h.connect(OPTS), h.connect(OPTS), h.connect(OPTS)]);
  const st = await c.prepare(sql);
  const meta = (x: typeof st) => {
    const s = (x as unknown as { statement: { columns: unknown; parameters: unknown[] } }).statement;
    return { columns: fieldMeta(s.columns), params: s.parameters.length };
  };
  assert.equal(meta(st), meta(dSt));
  assert.is(meta(st).params, 3);
  for (let n = 0; n < 20; n++) {
    // other clients prepare and execute their own statements on the same 2 backend connections
    await Promise.all(others.map((o, oi) => o.execute(`SELECT ? AS other${oi}`, [n])));
    const [rows] = await st.execute([n, 'a', String(n)]);
    assert.equal(rows, [{ v: n * 2, s: `a${n}` }]);
  }
  await st.close();
  await dSt.close();
  const de = await sqlError(dSt.execute([1, 'a', 'b']));
  const pe = await sqlError(st.execute([1, 'a', 'b']));
  assert.is(de.errno, 1243, 'direct: unknown statement handler (test sanity)');
  assert.equal([pe.errno, pe.sqlState], [de.errno, de.sqlState]);
  assert.match(pe.message, /^Unknown prepared statement handler \(\d+\) given to mysqld_stmt_execute$/);
  // the connection is fine afterwards and a new prepare works
  const st2 = await c.prepare('SELECT ? + 1 AS v /* after close */');
  assert.equal((await st2.execute([41]))[0], [{ v: 42 }]);
  await st2.close();
  await Promise.all([c, ...others].map((x) => x.end()));
}));

test('prepare errors are the server\'s (1146, 1064) and leave the client usable', timed(async () => {
  const c = await h.connect(OPTS);
  for (const sql of ['SELECT * FROM no_such_table WHERE id = ?', 'SELEC ?']) {
    const d = await sqlError(direct.prepare(sql));
    const p = await sqlError(c.prepare(sql));
    assert.equal(p, d);
    const pe = await sqlError(c.execute(sql, [1]));
    assert.equal(pe, d);
  }
  assert.equal((await c.execute('SELECT ? AS ok', ['yes']))[0], [{ ok: 'yes' }]);
  await c.end();
}));

async function backendIds(): Promise<number[]> {
  const [rows] = await direct.query(
    'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ? ORDER BY ID', [BACKEND_USER]);
  return (rows as { id: number }[]).map((r) => r.id);
}

test('statements keep working after the backend connections that prepared them are killed', timed(async () => {
  const c = await h.connect(OPTS);
  const st = await c.prepare('SELECT ? + 1 AS v /* survives kill */');
  assert.equal((await st.execute([1]))[0], [{ v: 2 }]);
  assert.equal((await c.execute('SELECT ? AS cached /* survives kill */', [1]))[0], [{ cached: 1 }]);
  const ids = await backendIds();
  assert.ok(ids.length >= 1 && ids.length <= 2, `proxy holds 1..2 backend connections, found ${ids.length}`);
  for (const id of ids) await direct.query(`KILL ${id}`);
  await sleep(300);
  assert.equal((await st.execute([41]))[0], [{ v: 42 }]);
  assert.equal((await c.execute('SELECT ? AS cached /* survives kill */', [2]))[0], [{ cached: 2 }]);
  const after = await backendIds();
  assert.ok(after.every((id) => !ids.includes(id)), 'killed connections were replaced');
  await st.close();
  await c.end();
}));

test('1000 distinct statements from one client with max_prepared_stmt_count=200 all succeed', timed(async () => {
  await direct.query('SET GLOBAL max_prepared_stmt_count = 200');
  try {
    const c = await h.connect(OPTS);
    let maxOnServer = 0;
    for (let k = 0; k < 1000; k++) {
      const [rows] = await c.execute(`SELECT ? + ${k} AS v /* distinct ${k} */`, [k]);
      assert.equal(rows, [{ v: 2 * k }], `statement ${k}`);
      if (k % 100 === 99) {
        const [[st]] = (await direct.query("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'")) as unknown as [
          { Value: string }[]];
        maxOnServer = Math.max(maxOnServer, Number(st.Value));
      }
    }
    // every statement is still executable by the client (re-prepared by the proxy when evicted)
    for (const k of [0, 1, 500, 999]) {
      const [rows] = await c.execute(`SELECT ? + ${k} AS v /* distinct ${k} */`, [1]);
      assert.equal(rows, [{ v: 1 + k }]);
    }
    // 2 backend connections x max_prepared_per_connection 64
    assert.ok(maxOnServer <= 128, `server held ${maxOnServer} prepared statements`);
    await c.end();
  } finally {
    await direct.query('SET GLOBAL max_prepared_stmt_count = DEFAULT');
  }
}, 120_000));

test.run();
