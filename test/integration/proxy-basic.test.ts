/**
 * Basic protocol behaviour through the proxy, checked differentially: every statement runs once straight
 * against the MariaDB server and once through the proxy, and the results (rows, field metadata, OK
 * packets, errors) must be identical; key values are also pinned to hand-written expectations.
 */
import * as assert from 'uvu/assert';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { Conn, Mode, ProxyHandle } from '../helpers/proxy';
import { connectDirect, fieldMeta, run, sleep, sqlError, startProxy, timed, withTimeout } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('proxy-basic');

/** Exact representations: no float rounding of BIGINT/DECIMAL, no time zone conversion of dates. */
const OPTS = { supportBigNumbers: true, bigNumberStrings: true, dateStrings: true } as const;

let server: MariaDbServer;
let h: ProxyHandle;
let direct: Conn;
let via: Conn;

const BLOB = Buffer.from([0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x00, 0x00, 0xff, 0x27, 0x5c, 0x0a]);
const LONG_TEXT = 'x'.repeat(60_000);
const UTF8 = 'emoji 😀🎉👨‍👩‍👧 CJK 漢字かなカナ한국어 ñ ü ß';

const SETUP = [
  `CREATE TABLE types (
     id INT PRIMARY KEY,
     ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
     mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
     de DECIMAL(30,10), f FLOAT, d DOUBLE, b BIT(10),
     dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL DEFAULT NULL, tm TIME(3), y YEAR,
     c CHAR(10), vc VARCHAR(100), tx TEXT, bl BLOB,
     e ENUM('a','b','c'), st SET('x','y','z'), j JSON,
     g GEOMETRY, pt POINT, ip INET6, u UUID
   ) CHARSET utf8mb4`,
  `INSERT INTO types VALUES (1,
     -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,
     '-99999999999999999999.9999999999', -3.5, -1.7976931348623157e308, b'0',
     '1000-01-01', '1000-01-01 00:00:00.000000', '1970-01-02 00:00:01.000', '-838:59:59.000', 1901,
     '', '', '', x'',
     'a', '', '[]',
     ST_GeomFromText('LINESTRING(0 0,1 1,2 0)'), POINT(0, 0), '::', '00000000-0000-0000-0000-000000000000')`,
  // row 2 (maximum values) is inserted with parameters in before(): the blob and long text are big.
  `INSERT INTO types (id) VALUES (3)`,
  `CREATE TABLE u8 (id INT PRIMARY KEY, s VARCHAR(200)) CHARSET utf8mb4`,
  `CREATE TABLE dup (id INT PRIMARY KEY)`,
  `INSERT INTO dup VALUES (1)`,
  `CREATE TABLE ms_direct (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10))`,
  `CREATE TABLE ms_proxy (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10))`,
  `CREATE PROCEDURE two_sets() BEGIN SELECT 1 AS a, 'x' AS b; SELECT 2 AS c UNION ALL SELECT 3; END`,
  `CREATE PROCEDURE echo_twice(IN v VARCHAR(20)) BEGIN SELECT v AS first; SELECT CONCAT(v, v) AS second; END`,
  `CREATE DATABASE db2`,
  `CREATE TABLE db2.only_in_db2 (x INT)`,
  `INSERT INTO db2.only_in_db2 VALUES (42)`,
];

test.before(async () => {
  server = await startServer();
  direct = await connectDirect(server.port, OPTS);
  for (const sql of SETUP) await direct.query(sql);
  await direct.query(
    `INSERT INTO types VALUES (2,
       127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615,
       '99999999999999999999.9999999999', 1.5, 1.7976931348623157e308, b'1111111111',
       '9999-12-31', '9999-12-31 23:59:59.999999', '2001-02-03 04:05:06.789', '838:59:59.000', 2155,
       'char', 'varchar ñ', ?, ?,
       'c', 'x,z', '{"k": [1, "two", null, true], "u": "ü"}',
       ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0))'), POINT(-1.5, 2.25),
       '2001:db8::ff00:42:8329', '123e4567-e89b-12d3-a456-426614174000')`,
    [LONG_TEXT, BLOB],
  );
  h = await startProxy({ backends: [{ name: 'b1', port: server.port }] });
  via = await h.connect(OPTS);
});

test.after(async () => {
  await h?.stop();
  direct?.destroy();
  await server?.destroy();
});

/** Runs `sql` on both connections with query or execute and asserts identical rows and metadata. */
async function same(mode: Mode, sql: string, params?: unknown[]): Promise<unknown> {
  const [dRows, dFields] = await run(direct, mode, sql, params);
  const [pRows, pFields] = await run(via, mode, sql, params);
  assert.equal(pRows, dRows, `${mode} rows: ${sql}`);
  assert.equal(fieldMeta(pFields), fieldMeta(dFields), `${mode} fields: ${sql}`);
  return pRows;
}

for (const mode of ['query', 'execute'] as const) {
  test(`every column type via ${mode}: identical to direct, exact values`, timed(async () => {
    const rows = (await same(mode, 'SELECT * FROM types ORDER BY id')) as Record<string, unknown>[];
    assert.is(rows.length, 3);
    const max = rows[1];
    assert.is(max.ti, 127);
    assert.is(max.siu, 65535);
    assert.is(max.miu, 16777215);
    assert.is(max.iu, 4294967295);
    assert.is(max.bi, '9223372036854775807');
    assert.is(max.biu, '18446744073709551615');
    assert.is(rows[0].bi, '-9223372036854775808');
    assert.is(max.de, '99999999999999999999.9999999999');
    assert.is(max.d, 1.7976931348623157e308);
    assert.equal(max.b, Buffer.from([0x03, 0xff]));
    assert.is(max.dtm, '9999-12-31 23:59:59.999999');
    // mysql2 formats a binary-protocol TIME without the fraction when it is zero
    assert.is(rows[0].tm, mode === 'query' ? '-838:59:59.000' : '-838:59:59');
    assert.is(max.y, 2155);
    assert.is(max.vc, 'varchar ñ');
    assert.is(max.tx, LONG_TEXT);
    assert.ok(Buffer.isBuffer(max.bl), 'BLOB is a Buffer');
    assert.ok(BLOB.equals(max.bl as Buffer), 'BLOB bytes incl. 0x00/0xFF intact');
    assert.is(max.e, 'c');
    assert.is(max.st, 'x,z');
    assert.is(max.ip, '2001:db8::ff00:42:8329');
    assert.is(max.u, '123e4567-e89b-12d3-a456-426614174000');
    assert.equal(max.pt, { x: -1.5, y: 2.25 });
    for (const [k, v] of Object.entries(rows[2])) if (k !== 'id') assert.is(v, null, `row 3 ${k} is NULL`);
  }));
}

test('single row by parameter via execute and via query placeholders', timed(async () => {
  for (const id of [1, 2, 3]) {
    await same('execute', 'SELECT * FROM types WHERE id = ?', [id]);
    await same('query', 'SELECT * FROM types WHERE id = ?', [id]);
  }
}));

test('utf8mb4 round trip: emoji and CJK in values, parameters and column aliases', timed(async () => {
  for (const mode of ['query', 'execute'] as const) {
    const rows = (await same(mode, 'SELECT ? AS s, CHAR_LENGTH(?) AS cl, LENGTH(?) AS bl', [UTF8, UTF8, UTF8])) as
      Record<string, unknown>[];
    assert.equal(rows, [{ s: UTF8, cl: [...UTF8].length, bl: Buffer.byteLength(UTF8) }]);
  }
  const [ins] = await via.execute('INSERT INTO u8 VALUES (?, ?)', [1, UTF8]);
  assert.is((ins as { affectedRows: number }).affectedRows, 1);
  const [back] = await direct.query('SELECT s, HEX(s) AS hx FROM u8 WHERE id = 1');
  assert.equal(back, [{ s: UTF8, hx: Buffer.from(UTF8).toString('hex').toUpperCase() }], 'stored bytes are utf8mb4');
  const rows = (await same('query', 'SELECT 1 AS `列名`, s FROM u8 WHERE id = 1')) as Record<string, unknown>[];
  assert.equal(rows, [{ '列名': 1, s: UTF8 }]);
}));

test('empty result set keeps its column definitions', timed(async () => {
  for (const mode of ['query', 'execute'] as const) {
    const [rows, fields] = await run(via, mode, 'SELECT * FROM types WHERE id < 0');
    assert.equal(rows, []);
    assert.is((fields as unknown[]).length, 31);
    await same(mode, 'SELECT * FROM types WHERE id < 0');
  }
}));

test('multi-statement query returns every result set, identical to direct', timed(async () => {
  const d = await connectDirect(server.port, { ...OPTS, multipleStatements: true });
  const p = await h.connect({ ...OPTS, multipleStatements: true });
  try {
    const script = (t: string) =>
      `SELECT 1 AS a; SELECT 'two' AS b, 2.5 AS c UNION ALL SELECT 'three', 3.5; ` +
      `INSERT INTO ${t} (v) VALUES ('x'),('y'); SELECT id, v FROM ${t} ORDER BY id; DO 1`;
    const [dRes] = await d.query(script('ms_direct'));
    const [pRes] = await p.query(script('ms_proxy'));
    assert.equal(pRes, dRes);
    const r = pRes as unknown[];
    assert.is(r.length, 5);
    assert.equal(r[0], [{ a: 1 }]);
    assert.equal(r[1], [{ b: 'two', c: '2.5' }, { b: 'three', c: '3.5' }]);
    assert.is((r[2] as { affectedRows: number }).affectedRows, 2);
    assert.is((r[2] as { insertId: number }).insertId, 1);
    assert.equal(r[3], [{ id: 1, v: 'x' }, { id: 2, v: 'y' }]);
    // an error in the middle of a batch ends it; the connection must survive.
    const de = await sqlError(d.query('SELECT 1; SELECT * FROM no_such_table; SELECT 3'));
    const pe = await sqlError(p.query('SELECT 1; SELECT * FROM no_such_table; SELECT 3'));
    assert.equal(pe, de);
    assert.is(pe.errno, 1146);
    const [after] = await p.query('SELECT 7 AS seven; SELECT 8 AS eight');
    assert.equal(after, [[{ seven: 7 }], [{ eight: 8 }]]);
  } finally {
    d.destroy();
    await p.end();
  }
}));

test('CALL of a procedure returning two result sets + OK (query and execute)', timed(async () => {
  for (const mode of ['query', 'execute'] as const) {
    const res = (await same(mode, 'CALL two_sets()')) as unknown[];
    assert.is(res.length, 3);
    assert.equal(res[0], [{ a: 1, b: 'x' }]);
    assert.equal(res[1], [{ c: 2 }, { c: 3 }]);
    assert.is((res[2] as { affectedRows: number }).affectedRows, 0);
    const res2 = (await same(mode, 'CALL echo_twice(?)', ['ab'])) as unknown[];
    assert.equal(res2.slice(0, 2), [[{ first: 'ab' }], [{ second: 'abab' }]]);
  }
  const [[ok]] = (await via.query('SELECT 5 AS five')) as unknown as [unknown[]];
  assert.equal(ok, { five: 5 });
}));

const ERRORS: [string, number, string, string][] = [
  ['SELEC 1', 1064, '42000', 'syntax'],
  ['SELECT * FROM no_such_table', 1146, '42S02', 'unknown table'],
  ['INSERT INTO dup VALUES (1)', 1062, '23000', 'duplicate key'],
];
for (const [sql, errno, sqlState, what] of ERRORS) {
  test(`error: ${what} -> ${errno} ${sqlState}, same as direct, connection still usable`, timed(async () => {
    for (const mode of ['query', 'execute'] as const) {
      const d = await sqlError(run(direct, mode, sql));
      const p = await sqlError(run(via, mode, sql));
      assert.is(d.errno, errno, 'direct errno (test sanity)');
      assert.equal(p, d, `${mode}: ${sql}`);
      assert.is(p.sqlState, sqlState);
      const [rows] = await run(via, mode, 'SELECT ? AS ok', [mode]);
      assert.equal(rows, [{ ok: mode }], `usable after the ${mode} error`);
    }
  }));
}

test('COM_PING answers and does not disturb session state', timed(async () => {
  await via.query("SET @ping_var = 'kept'");
  await via.ping();
  await via.ping();
  const [rows] = await via.query('SELECT @ping_var AS v');
  assert.equal(rows, [{ v: 'kept' }]);
  const fresh = await h.connect();
  await fresh.ping();
  const [r2] = await fresh.query('SELECT 1 AS one');
  assert.equal(r2, [{ one: 1 }]);
  await fresh.end();
}));

test('USE db via query switches schema; unknown schema is 1049 and changes nothing', timed(async () => {
  await via.query('USE db2');
  const [r1] = await via.query('SELECT DATABASE() AS db, x FROM only_in_db2');
  assert.equal(r1, [{ db: 'db2', x: 42 }]);
  const d = await sqlError(direct.query('USE nope'));
  const p = await sqlError(via.query('USE nope'));
  assert.equal(p, d);
  assert.is(p.errno, 1049);
  assert.is(p.sqlState, '42000');
  assert.is(p.message, "Unknown database 'nope'");
  const [r2] = await via.query('SELECT DATABASE() AS db');
  assert.equal(r2, [{ db: 'db2' }]);
  // the schema must follow the client even if its next statement runs on another backend connection
  const others = await Promise.all([h.connect(), h.connect(), h.connect()]);
  await Promise.all(others.map((o) => o.query('SELECT SLEEP(0.05)')));
  const [r3] = await via.query('SELECT DATABASE() AS db');
  assert.equal(r3, [{ db: 'db2' }]);
  await via.query('USE test');
  const [r4] = await via.query('SELECT DATABASE() AS db');
  assert.equal(r4, [{ db: 'test' }]);
  await Promise.all(others.map((o) => o.end()));
}));

test('COM_CHANGE_USER switches database and resets session state (like the server)', timed(async () => {
  const d = await connectDirect(server.port);
  const p = await h.connect();
  try {
    for (const c of [d, p]) await c.query("SET @cu = 'before'");
    await d.changeUser({ database: 'db2' });
    await p.changeUser({ database: 'db2' });
    const [dr] = await d.query('SELECT DATABASE() AS db, @cu AS cu');
    const [pr] = await p.query('SELECT DATABASE() AS db, @cu AS cu');
    assert.equal(dr, [{ db: 'db2', cu: null }], 'direct (test sanity)');
    assert.equal(pr, dr);
    await p.changeUser({ database: 'test' });
    const [pr2] = await p.query('SELECT DATABASE() AS db, COUNT(*) AS n FROM dup');
    assert.equal(pr2, [{ db: 'test', n: 1 }]);
  } finally {
    d.destroy();
    await p.end();
  }
  const bad = await h.connect();
  const e = await sqlError(bad.changeUser({ user: 'app', password: 'wrong' }));
  assert.is(e.errno, 1045);
  assert.is(e.sqlState, '28000');
}));

test('CONNECTION_ID() equals the handshake thread id, distinct per client', timed(async () => {
  const a = await h.connect();
  const b = await h.connect();
  for (const c of [via, a, b]) {
    const [rows] = await c.query('SELECT CONNECTION_ID() AS id');
    assert.equal(rows, [{ id: c.threadId }]);
    const [rows2] = await c.execute('SELECT CONNECTION_ID() AS id');
    assert.equal(rows2, [{ id: c.threadId }]);
  }
  assert.is(new Set([via.threadId, a.threadId, b.threadId]).size, 3);
  await a.end();
  await b.end();
}));

/** Runs the KILL QUERY / KILL scenario on two connections made by `connect`; returns what it saw. */
async function killScenario(connect: () => Promise<Conn>) {
  const a = await connect();
  const b = await connect();
  const started = Date.now();
  const sleeping = sqlError(a.query('SELECT SLEEP(10) AS s'));
  await sleep(500);
  const [killRes] = await b.query(`KILL QUERY ${a.threadId}`);
  const interrupted = await withTimeout(sleeping, 5000, 'the killed SLEEP');
  const interruptedAfterMs = Date.now() - started;
  const [afterRows] = await a.query('SELECT 1 AS alive');
  const unknown = await sqlError(b.query('KILL 999999'));
  await b.query(`KILL ${a.threadId}`);
  // the killed client must see its connection closed (promptly, not on some later timeout)
  let closedErr: string | undefined;
  for (let i = 0; i < 40 && !closedErr; i++) {
    try {
      await a.query('SELECT 1');
      await sleep(50);
    } catch (e) {
      closedErr = (e as Error).message;
    }
  }
  const [bRows] = await b.query('SELECT 2 AS b_alive');
  b.destroy();
  a.destroy();
  return {
    killAffected: (killRes as { affectedRows: number }).affectedRows,
    interrupted: { errno: interrupted.errno, sqlState: interrupted.sqlState, message: interrupted.message },
    fastEnough: interruptedAfterMs < 4000,
    afterRows,
    unknown: { errno: unknown.errno, sqlState: unknown.sqlState, message: unknown.message },
    closed: closedErr !== undefined,
    bRows,
  };
}

test('KILL QUERY interrupts a SLEEP (1317 70100), KILL closes the client, same as direct', timed(async () => {
  const d = await killScenario(() => connectDirect(server.port));
  assert.equal(d.interrupted, { errno: 1317, sqlState: '70100', message: 'Query execution was interrupted' });
  const p = await killScenario(() => h.connect());
  assert.equal(p, d);
}, 60_000));

test.run();
