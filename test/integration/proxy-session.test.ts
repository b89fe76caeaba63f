/**
 * Session state must survive multiplexing: the backend pool is capped at 2 connections while 6 clients
 * interleave statements, so a client's consecutive statements run on backend connections other clients
 * used in between. Each scenario runs once on direct server connections and once through the proxy with
 * its own tables (`d_*` / `p_*`); the transcripts must be identical, and are pinned to exact values too.
 */
import * as assert from 'uvu/assert';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { Conn, ProxyHandle } from '../helpers/proxy';
import { connectDirect, sleep, sqlError, startProxy, timed, withTimeout } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('proxy-session');

let server: MariaDbServer;
let h: ProxyHandle;
let setup: Conn;

const N = 6;

test.before(async () => {
  server = await startServer();
  setup = await connectDirect(server.port);
  for (const p of ['d_', 'p_']) {
    await setup.query(`CREATE TABLE ${p}ai (id INT AUTO_INCREMENT PRIMARY KEY, who INT NOT NULL)`);
    await setup.query(`CREATE TABLE ${p}rc (k INT PRIMARY KEY, v INT NOT NULL)`);
    await setup.query(`INSERT INTO ${p}rc SELECT seq, 0 FROM seq_1_to_10`);
    await setup.query(`CREATE TABLE ${p}wt (s VARCHAR(3))`);
    await setup.query(`CREATE TABLE ${p}tx (id INT PRIMARY KEY) ENGINE=InnoDB`);
    await setup.query(`CREATE TABLE ${p}lt (x INT)`);
    await setup.query(`CREATE TABLE ${p}other (x INT)`);
  }
  h = await startProxy({ backends: [{ name: 'b1', port: server.port, maxConnections: 2, acquireTimeoutMs: 5000 }] });
});

test.after(async () => {
  await h?.stop();
  setup?.destroy();
  await server?.destroy();
});

type Connect = () => Promise<Conn>;
type Scenario<T> = (connect: Connect, prefix: string) => Promise<T>;

/** Runs a scenario directly and through the proxy; asserts equal transcripts; returns the direct one. */
async function differential<T>(scenario: Scenario<T>): Promise<T> {
  const opened: Conn[] = [];
  const track = (f: Connect): Connect => async () => {
    const c = await f();
    opened.push(c);
    return c;
  };
  let d: T;
  try {
    d = await scenario(track(() => connectDirect(server.port)), 'd_');
  } finally {
    opened.splice(0).forEach((c) => c.destroy());
  }
  try {
    const p = await scenario(track(() => h.connect()), 'p_');
    assert.equal(p, d, 'proxy transcript equals the direct transcript');
  } finally {
    opened.splice(0).forEach((c) => c.destroy());
  }
  return d;
}

async function q(c: Conn, sql: string, params?: unknown[]): Promise<Record<string, unknown>[]> {
  const [rows] = await c.query(sql, params);
  return rows as Record<string, unknown>[];
}

async function one(c: Conn, sql: string, params?: unknown[]): Promise<Record<string, unknown>> {
  const rows = await q(c, sql, params);
  assert.is(rows.length, 1, sql);
  return rows[0];
}

/** Other clients run statements concurrently, so the backend connections are reused in between. */
async function busy(cs: Conn[]): Promise<void> {
  for (let round = 0; round < 2; round++) await Promise.all(cs.map((c) => c.query('SELECT 1 AS busy')));
}

async function openN(connect: Connect, n: number): Promise<Conn[]> {
  const out: Conn[] = [];
  for (let i = 0; i < n; i++) out.push(await connect());
  return out;
}

const NAMES = ['latin1', 'utf8mb4', 'utf8mb3', 'latin1', null, 'utf8mb4'];
const MODES = ['ANSI_QUOTES', 'STRICT_TRANS_TABLES', 'PIPES_AS_CONCAT', '', 'ANSI_QUOTES,PIPES_AS_CONCAT', 'TRADITIONAL'];
const ISO = ['READ UNCOMMITTED', 'READ COMMITTED', 'REPEATABLE READ', 'SERIALIZABLE', 'READ COMMITTED', 'SERIALIZABLE'];

const READBACK = `SELECT @uservar AS uv, @multi AS multi, @@sql_mode AS mode, @@time_zone AS tz,
  TIMEDIFF(NOW(), UTC_TIMESTAMP()) AS tzoff, @@character_set_client AS csc, @@character_set_connection AS cscon,
  @@character_set_results AS csr, @@autocommit AS ac, @@tx_isolation AS iso, @@group_concat_max_len AS gcml,
  @@max_join_size AS mjs, 'a' || 'b' AS pipes,
  @only_0 AS o0, @only_1 AS o1, @only_2 AS o2, @only_3 AS o3, @only_4 AS o4, @only_5 AS o5`;

test('per-client SET state (names, sql_mode, time_zone, multi-SET, autocommit, isolation, user vars)', timed(async () => {
  const d = await differential(async (connect) => {
    const cs = await openN(connect, N);
    const each = (f: (c: Conn, i: number) => string | null) =>
      Promise.all(cs.map((c, i) => {
        const sql = f(c, i);
        return sql === null ? undefined : c.query(sql);
      }));
    await each((_, i) => (NAMES[i] ? `SET NAMES ${NAMES[i]}` : 'SET CHARACTER SET latin1'));
    await busy(cs);
    await each((_, i) => `SET SESSION sql_mode='${MODES[i]}'`);
    await each((_, i) => `SET @@session.time_zone='+0${i}:00'`);
    await busy(cs);
    await each((_, i) => `SET SESSION group_concat_max_len = ${1024 + i}, max_join_size = ${1000000 + i}, @multi = ${i}`);
    await each((_, i) => (i === 0 ? 'SET autocommit=0' : null));
    await each((_, i) => `SET SESSION TRANSACTION ISOLATION LEVEL ${ISO[i]}`);
    await busy(cs);
    await each((_, i) => `SET @uservar = 'abc${i}'`);
    await each((_, i) => `SET @only_${i} = ${i}`);
    await each((_, i) => (i === 1 ? 'SET time_zone = DEFAULT' : null));
    await busy(cs);
    const first: Record<string, unknown>[] = [];
    for (const c of cs) first.push(await one(c, READBACK));
    await busy(cs);
    // concurrently this time, in reverse order
    const second = (await Promise.all([...cs].reverse().map((c) => one(c, READBACK)))).reverse();
    assert.equal(second, first, 'state is stable across reads');
    return first;
  });
  for (let i = 0; i < N; i++) {
    const r = d[i];
    assert.is(r.uv, `abc${i}`);
    assert.is(r.multi, i);
    assert.is(r.ac, i === 0 ? 0 : 1);
    assert.is(r.iso, ISO[i].replace(' ', '-'));
    assert.is(r.gcml, 1024 + i);
    assert.is(r.tz, i === 1 ? 'SYSTEM' : `+0${i}:00`);
    if (i !== 1) assert.is(r.tzoff, `0${i}:00:00`);
    assert.is(r.csc, NAMES[i] ?? 'latin1');
    assert.is(r.pipes, MODES[i].includes('PIPES_AS_CONCAT') ? 'ab' : 0);
    for (let j = 0; j < N; j++) assert.is(r[`o${j}`], j === i ? i : null, `client ${i} sees @only_${j}`);
  }
}, 60_000));

test('FOUND_ROWS() survives SET NAMES / SET CHARACTER SET (the proxy reads collation_connection back on the same connection)', timed(async () => {
  const d = await differential(async (connect, p) => {
    const c = await connect();
    const out: unknown[] = [];
    await c.query(`SELECT k FROM ${p}rc WHERE k <= 3`);
    for (const set of ['SET NAMES latin1', 'SET CHARACTER SET utf8mb4']) {
      await c.query(set);
      out.push((await c.query('SELECT FOUND_ROWS() AS fr'))[0]);
      await c.query(`SELECT k FROM ${p}rc WHERE k <= 3`);
    }
    return out;
  });
  assert.equal(d, [[{ fr: 3 }], [{ fr: 3 }]]);
}));

test('a fresh client never inherits state left by earlier clients', timed(async () => {
  const d = await differential(async (connect) => {
    const dirty = await openN(connect, 3);
    await Promise.all(dirty.map((c, i) =>
      c.query(`SET @leak = 'dirty${i}', SESSION sql_mode = 'ANSI_QUOTES', time_zone = '+07:00'`)));
    await Promise.all(dirty.map((c) => c.end()));
    const fresh = await openN(connect, 3);
    return Promise.all(fresh.map((c) => one(c, 'SELECT @leak AS leak, @@sql_mode AS mode, @@time_zone AS tz')));
  });
  for (const r of d) {
    assert.is(r.leak, null);
    assert.is.not(r.mode, 'ANSI_QUOTES');
    assert.is(r.tz, 'SYSTEM');
  }
}));

test('LAST_INSERT_ID() is per client after other clients inserted in between', timed(async () => {
  const d = await differential(async (connect, p) => {
    const cs = await openN(connect, N);
    const out: unknown[] = [];
    for (let round = 0; round < 2; round++) {
      const ids: number[] = [];
      for (let i = 0; i < N; i++) {
        const [ok] = await cs[i].query(`INSERT INTO ${p}ai (who) VALUES (?)`, [i]);
        ids.push((ok as { insertId: number }).insertId);
      }
      await busy(cs);
      for (let i = 0; i < N; i++) {
        const r = await one(cs[i], `SELECT LAST_INSERT_ID() AS lid, (SELECT who FROM ${p}ai WHERE id = LAST_INSERT_ID()) AS who`);
        const [[e]] = (await cs[i].execute('SELECT LAST_INSERT_ID() AS lid')) as unknown as [Record<string, unknown>[]];
        out.push({ okId: ids[i], lid: Number(r.lid), who: r.who, viaExecute: Number(e.lid) });
      }
    }
    return out;
  });
  d.forEach((r, k) => {
    const i = k % N;
    const id = k + 1;
    assert.equal(r, { okId: id, lid: id, who: i, viaExecute: id });
  });
}));

test('ROW_COUNT() and FOUND_ROWS() refer to the client\'s own previous statement', timed(async () => {
  const d = await differential(async (connect, p) => {
    const cs = await openN(connect, N);
    const out: unknown[] = [];
    for (let i = 0; i < N; i++) {
      const [changed] = await cs[i].query(`UPDATE ${p}rc SET v = v + 1 WHERE k <= ?`, [i + 1]);
      // a no-op UPDATE: affected rows depend on the client's CLIENT_FOUND_ROWS flag (mysql2 sets it)
      const [noop] = await cs[i].query(`UPDATE ${p}rc SET v = v WHERE k <= ?`, [i + 1]);
      await Promise.all(cs.filter((_, j) => j !== i).map((c) => c.query(`DELETE FROM ${p}rc WHERE k > 100`)));
      const rc = await one(cs[i], 'SELECT ROW_COUNT() AS rc');
      await cs[i].query(`SELECT SQL_CALC_FOUND_ROWS k FROM ${p}rc WHERE k <= ? LIMIT 1`, [i + 2]);
      await busy(cs.filter((_, j) => j !== i));
      const fr = await one(cs[i], 'SELECT ROW_COUNT() AS rc, FOUND_ROWS() AS fr');
      out.push({
        changed: (changed as { affectedRows: number }).affectedRows,
        noop: (noop as { affectedRows: number }).affectedRows,
        noopChanged: (noop as { changedRows: number }).changedRows,
        rowCountAfterNoop: rc.rc,
        afterSelect: fr,
      });
    }
    return out;
  });
  d.forEach((r, i) => {
    assert.equal(r, {
      changed: i + 1,
      noop: i + 1,
      noopChanged: 0,
      rowCountAfterNoop: i + 1,
      afterSelect: { rc: -1, fr: i + 2 },
    });
  });
}));

test('warnings: SHOW WARNINGS / SHOW COUNT(*) WARNINGS see the client\'s own last statement', timed(async () => {
  const d = await differential(async (connect, p) => {
    const cs = await openN(connect, N);
    const out: unknown[] = [];
    for (let i = 0; i < N; i++) {
      const [[cast]] = (await cs[i].query(`SELECT CAST('x${i}' AS INT) AS v`)) as unknown as [Record<string, unknown>[]];
      await busy(cs.filter((_, j) => j !== i));
      const warnings = await q(cs[i], 'SHOW WARNINGS');
      const count = await q(cs[i], 'SHOW COUNT(*) WARNINGS');
      out.push({ cast, warnings, count });
    }
    // truncation on INSERT: a warning under non-strict sql_mode, an error under strict
    const c = cs[0];
    await c.query("SET SESSION sql_mode = ''");
    const [ok] = await c.query(`INSERT INTO ${p}wt (s) VALUES ('toolong')`);
    await busy(cs.slice(1));
    out.push({ warningStatus: (ok as { warningStatus: number }).warningStatus, warnings: await q(c, 'SHOW WARNINGS') });
    await c.query("SET SESSION sql_mode = 'STRICT_TRANS_TABLES'");
    const e = await sqlError(c.query(`INSERT INTO ${p}wt (s) VALUES ('toolong')`));
    out.push({ errno: e.errno, sqlState: e.sqlState, message: e.message });
    out.push(await q(c, `SELECT s FROM ${p}wt`));
    return out;
  });
  for (let i = 0; i < N; i++) {
    assert.equal(d[i], {
      cast: { v: 0 },
      warnings: [{ Level: 'Warning', Code: 1292, Message: `Truncated incorrect INTEGER value: 'x${i}'` }],
      count: [{ '@@session.warning_count': 1 }],
    });
  }
  assert.equal(d[N], {
    warningStatus: 1,
    warnings: [{ Level: 'Warning', Code: 1265, Message: "Data truncated for column 's' at row 1" }],
  });
  assert.equal(d[N + 1], { errno: 1406, sqlState: '22001', message: "Data too long for column 's' at row 1" });
  assert.equal(d[N + 2], [{ s: 'too' }]);
}));

test('transactions: rollback discards, commit keeps, uncommitted rows invisible to others', timed(async () => {
  const d = await differential(async (connect, p) => {
    const [a, b, ...others] = await openN(connect, N);
    const count = async (c: Conn, id: number) => Number((await one(c, `SELECT COUNT(*) AS n FROM ${p}tx WHERE id = ?`, [id])).n);
    const out: Record<string, number> = {};
    await a.query('BEGIN');
    await a.query(`INSERT INTO ${p}tx VALUES (1)`);
    await busy(others);
    out.bSeesUncommitted = await count(b, 1);
    out.aSeesOwn = await count(a, 1);
    await a.query('ROLLBACK');
    out.aAfterRollback = await count(a, 1);
    out.bAfterRollback = await count(b, 1);

    await a.beginTransaction();
    await a.query(`INSERT INTO ${p}tx VALUES (2)`);
    await busy(others);
    out.bBeforeCommit = await count(b, 2);
    await a.commit();
    out.bAfterCommit = await count(b, 2);

    await a.query('SET autocommit = 0');
    await a.query(`INSERT INTO ${p}tx VALUES (3)`);
    await busy(others);
    out.bSeesImplicitTrx = await count(b, 3);
    await a.query('ROLLBACK');
    await a.query(`INSERT INTO ${p}tx VALUES (4)`);
    await a.query('COMMIT');
    await a.query('SET autocommit = 1');
    out.bAfterAutocommit0Commit = await count(b, 4) + (await count(b, 3)) * 10;

    // a client that disconnects mid-transaction: its work is rolled back and its locks are released
    await a.query('BEGIN');
    await a.query(`INSERT INTO ${p}tx VALUES (5)`);
    a.destroy();
    await sleep(200);
    out.bAfterAbandoned = await count(b, 5);
    const [ins] = await withTimeout(b.query(`INSERT INTO ${p}tx VALUES (5)`), 3000, 'insert after abandoned trx');
    out.bInsertsSameKey = (ins as { affectedRows: number }).affectedRows;
    return out;
  });
  assert.equal(d, {
    bSeesUncommitted: 0,
    aSeesOwn: 1,
    aAfterRollback: 0,
    bAfterRollback: 0,
    bBeforeCommit: 0,
    bAfterCommit: 1,
    bSeesImplicitTrx: 0,
    bAfterAutocommit0Commit: 1,
    bAfterAbandoned: 0,
    bInsertsSameKey: 1,
  });
}));

test('temporary tables belong to their client across statements', timed(async () => {
  const d = await differential(async (connect) => {
    const [a, b, ...others] = await openN(connect, N);
    const out: Record<string, unknown> = {};
    await a.query('CREATE TEMPORARY TABLE tmp_t (x INT)');
    await a.query('INSERT INTO tmp_t VALUES (1), (2)');
    await busy(others);
    out.aSum = (await one(a, 'SELECT SUM(x) AS s FROM tmp_t')).s;
    out.bSelect = (await sqlError(b.query('SELECT * FROM tmp_t'))).errno;
    await b.query('CREATE TEMPORARY TABLE tmp_t (x INT)');
    await b.query('INSERT INTO tmp_t VALUES (10)');
    out.aSum2 = (await one(a, 'SELECT SUM(x) AS s FROM tmp_t')).s;
    out.bSum = (await one(b, 'SELECT SUM(x) AS s FROM tmp_t')).s;
    await a.query('DROP TEMPORARY TABLE tmp_t');
    out.aAfterDrop = (await sqlError(a.query('SELECT * FROM tmp_t'))).errno;
    out.bSum2 = (await one(b, 'SELECT SUM(x) AS s FROM tmp_t')).s;
    await b.end();
    await busy(others);
    // b's temporary table must not surface in anyone else's session
    const fresh = await connect();
    out.freshSelect = (await sqlError(fresh.query('SELECT * FROM tmp_t'))).errno;
    out.othersSelect = await Promise.all(others.map(async (o) => (await sqlError(o.query('SELECT * FROM tmp_t'))).errno));
    return out;
  });
  assert.equal(d, {
    aSum: '3', bSelect: 1146, aSum2: '3', bSum: '10', aAfterDrop: 1146, bSum2: '10',
    freshSelect: 1146, othersSelect: [1146, 1146, 1146, 1146],
  });
}));

test('GET_LOCK / RELEASE_LOCK are owned by the client session', timed(async () => {
  const d = await differential(async (connect, p) => {
    const [a, b, ...others] = await openN(connect, N);
    const lock = `${p}lock`;
    const v = async (c: Conn, expr: string) => (await one(c, `SELECT ${expr} AS v`, [lock])).v;
    const out: Record<string, unknown> = {};
    out.aGet = await v(a, 'GET_LOCK(?, 0)');
    await busy(others);
    out.bGet = await v(b, 'GET_LOCK(?, 0)');
    out.bIsFree = await v(b, 'IS_FREE_LOCK(?)');
    out.bReleaseNotOwner = await v(b, 'RELEASE_LOCK(?)');
    out.othersGet = await Promise.all(others.map((o) => v(o, 'GET_LOCK(?, 0)')));
    out.aRelease = await v(a, 'RELEASE_LOCK(?)');
    out.bGet2 = await v(b, 'GET_LOCK(?, 0)');
    out.aGet2 = await v(a, 'GET_LOCK(?, 0)');
    out.bRelease = await v(b, 'RELEASE_LOCK(?)');
    out.aReleaseMissing = await v(a, 'RELEASE_LOCK(?)');
    // a lock held by a client that disconnects is released
    out.aGet3 = await v(a, 'GET_LOCK(?, 0)');
    a.destroy();
    out.bGetAfterDisconnect = await v(b, 'GET_LOCK(?, 3)');
    out.bRelease2 = await v(b, 'RELEASE_LOCK(?)');
    return out;
  });
  assert.equal(d, {
    aGet: 1, bGet: 0, bIsFree: 0, bReleaseNotOwner: 0, othersGet: [0, 0, 0, 0], aRelease: 1,
    bGet2: 1, aGet2: 0, bRelease: 1, aReleaseMissing: null, aGet3: 1, bGetAfterDisconnect: 1, bRelease2: 1,
  });
}));

test('LOCK TABLES / UNLOCK TABLES hold the client on its backend connection', timed(async () => {
  const d = await differential(async (connect, p) => {
    const [a, b] = await openN(connect, 2);
    const out: Record<string, unknown> = {};
    await a.query(`LOCK TABLES ${p}lt WRITE`);
    await a.query(`INSERT INTO ${p}lt VALUES (1)`);
    // only the locked table is usable: proves the statement ran where the lock is held
    const e = await sqlError(a.query(`SELECT COUNT(*) FROM ${p}other`));
    out.aOther = { errno: e.errno, sqlState: e.sqlState, message: e.message.replace(`'${p}`, "'") };
    let bDone = false;
    const bRead = one(b, `SELECT COUNT(*) AS n FROM ${p}lt`).then((r) => {
      bDone = true;
      return r;
    });
    await sleep(400);
    out.bBlockedWhileLocked = !bDone;
    await a.query('UNLOCK TABLES');
    out.bAfterUnlock = await withTimeout(bRead, 3000, 'read after UNLOCK TABLES');
    out.aOtherAfterUnlock = await one(a, `SELECT COUNT(*) AS n FROM ${p}other`);
    // a client disconnecting while holding LOCK TABLES releases them
    await a.query(`LOCK TABLES ${p}lt WRITE`);
    a.destroy();
    out.bAfterDisconnect = await withTimeout(one(b, `SELECT COUNT(*) AS n FROM ${p}lt`), 3000, 'read after disconnect');
    return out;
  });
  assert.equal(d, {
    aOther: { errno: 1100, sqlState: 'HY000', message: "Table 'other' was not locked with LOCK TABLES" },
    bBlockedWhileLocked: true,
    bAfterUnlock: { n: 1 },
    aOtherAfterUnlock: { n: 0 },
    bAfterDisconnect: { n: 1 },
  });
}));

test.run();
