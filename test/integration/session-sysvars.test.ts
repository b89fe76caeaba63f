/**
 * Issue 5: a session must look like a dedicated connection. `@@warning_count` / `@@error_count`
 * inside statements the proxy does not answer itself (with other select items, in expressions, in
 * SET, text and prepared) read the session's own diagnostics, not those of the pooled backend
 * connection (cleared, or left by another user's session); `@@session_track_system_variables`
 * reads back what the client set, not the proxy's `*`. One backend connection shared by two proxy
 * users; the same steps directly against MariaDB and through the proxy: mysql2 text and binary
 * (values and column metadata), and PyMySQL.
 */
import * as assert from 'uvu/assert';
import mysql from 'mysql2/promise';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { Conn, ProxyHandle } from '../helpers/proxy';
import { connectDirect, fieldMeta, run, startProxy, timed, type Mode } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';
import { missingClient } from '../helpers/clients';
import { runSteps, stepView, type Step, type StepConn } from '../helpers/client-scripts';
import { RawClient } from '../helpers/raw-client';

const test = integrationSuite('session-sysvars');

let server: MariaDbServer;
let h: ProxyHandle;
const opened: Conn[] = [];

test.before(async () => {
  server = await startServer();
  h = await startProxy({
    backends: [{ name: 'b1', port: server.port, maxConnections: 1, maxConnectionsPerUser: 1, acquireTimeoutMs: 5000 }],
    users: [{ name: 'app', password: 'app' }, { name: 'other', password: 'pw' }],
  });
});

test.after(async () => {
  for (const c of opened.splice(0)) c.destroy();
  await h?.stop();
  await server?.destroy();
});

test.after.each(() => {
  for (const c of opened.splice(0)) c.destroy();
});

type Open = (who: 'k' | 'o') => Promise<Conn>;
const directOpen: Open = async () => {
  const c = await connectDirect(server.port, { database: 'test' });
  c.on('error', () => {});
  opened.push(c);
  return c;
};
const proxyOpen: Open = async (who) => {
  const c = await h.connect(who === 'k' ? {} : { user: 'other', password: 'pw' });
  c.on('error', () => {});
  opened.push(c);
  return c;
};

/** Statements reading the diagnostics variables that the proxy cannot answer itself. */
const DIAG_READS = [
  'SELECT @@warning_count, 1',
  'SELECT @@warning_count + 0 AS w, @@error_count AS e',
  'SELECT @@session.warning_count, @@error_count',
  'SELECT @@LOCAL.WARNING_COUNT AS w, 1 FROM DUAL',
  "SELECT @@warning_count, CAST('x' AS INT)",
  "SELECT CAST('x' AS INT), @@warning_count, CAST('y' AS INT), @@warning_count, @@error_count",
  'SELECT @@warning_count FROM (SELECT 1) t',
];

/** Before each read: the session leaves warnings (or an error), then another user's session leaves its own on the shared connection. */
const LEAVE: Array<[string, string]> = [
  ["SELECT CAST('a' AS INT), CAST('b' AS INT), CAST('c' AS INT)", 'SELECT 1/0'],
  ['SELECT * FROM no_such_table', "SELECT CAST('q' AS INT)"],
  ["SELECT CAST('a' AS INT)", 'SELECT 1'],
];

async function diagScenario(open: Open, mode: Mode): Promise<unknown[]> {
  const k = await open('k');
  const o = await open('o');
  const out: unknown[] = [];
  for (const [mine, theirs] of LEAVE) {
    for (const q of DIAG_READS) {
      await k.query(mine).catch(() => null);
      await o.query(theirs).catch(() => null);
      const [rows, fields] = await run(k, mode, q);
      out.push({ q, rows, meta: fieldMeta(fields) });
    }
    await k.query(mine).catch(() => null);
    await o.query(theirs).catch(() => null);
    await run(k, mode, 'SET @w = @@warning_count, @e = @@session.error_count');
    const [rows] = await k.query('SELECT @w, @e');
    out.push({ q: 'SET', rows });
  }
  return out;
}

for (const mode of ['query', 'execute'] as const) {
  test(`mysql2 ${mode}: @@warning_count / @@error_count in statements the proxy forwards read the session's diagnostics, as directly`, timed(async () => {
    const d = await diagScenario(directOpen, mode);
    const p = await diagScenario(proxyOpen, mode);
    for (const [i, want] of d.entries()) assert.equal(p[i], want, JSON.stringify((want as { q: string }).q));
    // test sanity: directly, the first read shows the session's 3 warnings, the evaluation-time reads the statement's own
    assert.equal((d[0] as { rows: unknown[] }).rows, mode === 'query' ? [{ '@@warning_count': 3, 1: 1 }] : [{ '@@warning_count': 3, 1: 1 }]);
  }, 120_000));
}

const TRACK_READS = [
  'SELECT @@session_track_system_variables',
  'SELECT @@session.session_track_system_variables AS t, 1',
  'SELECT LENGTH(@@session_track_system_variables) AS n, @@SESSION_TRACK_SYSTEM_VARIABLES',
];

async function trackScenario(open: Open, mode: Mode): Promise<unknown[]> {
  const k = await open('k');
  const o = await open('o');
  const out: unknown[] = [];
  for (const set of [null, "SET SESSION session_track_system_variables = 'time_zone,autocommit'", 'SET @@session_track_system_variables = DEFAULT', "SET session_track_system_variables = ''"]) {
    if (set !== null) await k.query(set);
    await o.query("SET SESSION session_track_system_variables = 'sql_mode'");
    for (const q of TRACK_READS) {
      const [rows, fields] = await run(k, mode, q);
      out.push({ set, q, rows, meta: fieldMeta(fields) });
    }
  }
  return out;
}

for (const mode of ['query', 'execute'] as const) {
  test(`mysql2 ${mode}: @@session_track_system_variables reads back what the client set, typed as directly`, timed(async () => {
    const d = await trackScenario(directOpen, mode);
    const p = await trackScenario(proxyOpen, mode);
    for (const [i, want] of d.entries()) assert.equal(p[i], want);
  }, 60_000));
}

/**
 * `SET session_track_system_variables = '<a list without itself>'` is not reported in the server's
 * OK: the proxy read nothing, left that list on its backend connection, and so stopped seeing other
 * sessions' SETs there (another user's time_zone leaked into this session).
 */
async function trackLeakScenario(open: Open): Promise<unknown[]> {
  const k = await open('k');
  const o = await open('o');
  await k.query("SET session_track_system_variables = 'autocommit'");
  await o.query("SET time_zone = '+05:00'");
  await o.query("SET SESSION sql_mode = 'ANSI'");
  const out: unknown[] = [];
  for (const c of [k, o, k]) out.push((await c.query('SELECT @@time_zone AS tz, @@sql_mode AS m, @@session_track_system_variables AS t'))[0]);
  await k.query("SET time_zone = '+02:00'");
  for (const c of [o, k]) out.push((await c.query('SELECT @@time_zone AS tz'))[0]);
  return out;
}

test('SET session_track_system_variables to a list without itself: the proxy keeps tracking its connections (no other session\'s SET leaks in), as directly', timed(async () => {
  const d = await trackLeakScenario(directOpen);
  const p = await trackLeakScenario(proxyOpen);
  assert.equal(p, d);
}, 60_000));

test('a cursor on a statement reading @@warning_count with the session\'s diagnostics, or @@session_track_system_variables: ERR 1235 (fails closed); without a cursor answered', timed(async () => {
  const c = await RawClient.connect(h.port, 'app', 'app', 'test');
  try {
    const st = await c.prepare('SELECT @@warning_count, 1');
    const tr = await c.prepare('SELECT @@session_track_system_variables, 1');
    await c.query("SELECT CAST('a' AS INT)");
    const cur = await c.execute(st.id, [], 1);
    assert.is(cur.err?.errno, 1235);
    assert.match(String(cur.err?.message), /cursor/);
    const t = await c.execute(tr.id, [], 1);
    assert.is(t.err?.errno, 1235);
    await c.query("SELECT CAST('a' AS INT)");
    const plain = await c.execute(st.id, []);
    assert.equal(plain.rows, [['1', '1']]);
  } finally {
    c.close();
  }
}, 30_000));

const pySkip = missingClient('pymysql');
if (pySkip === null) {
  test('PyMySQL: @@warning_count in a forwarded statement and @@session_track_system_variables, as directly', timed(async () => {
    const steps: Step[] = [
      { conn: 'k', open: true },
      { conn: 'o', open: true },
      { conn: 'k', sql: "SELECT CAST('a' AS INT), CAST('b' AS INT)" },
      { conn: 'o', sql: 'SELECT 1/0, 2/0, 3/0' },
      { conn: 'k', sql: 'SELECT @@warning_count, @@error_count, 1' },
      { conn: 'k', sql: "SELECT CAST('a' AS INT)" },
      { conn: 'o', sql: 'SELECT 1' },
      { conn: 'k', sql: 'SELECT @@warning_count + 1', prepared: true },
      { conn: 'k', sql: "SET session_track_system_variables = 'autocommit'" },
      { conn: 'k', sql: 'SELECT @@session_track_system_variables, 1' },
    ];
    const direct: Record<string, StepConn> = { k: { port: server.port, user: 'root', password: '', db: 'test' }, o: { port: server.port, user: 'root', password: '', db: 'test' } };
    const viaProxy: Record<string, StepConn> = { k: { port: h.port, user: 'app', password: 'app', db: 'test' }, o: { port: h.port, user: 'other', password: 'pw', db: 'test' } };
    const d = (await runSteps('python', direct, steps)).map(stepView);
    const p = (await runSteps('python', viaProxy, steps)).map(stepView);
    assert.equal(p, d);
    assert.equal(d[4], [[['2', '0', '1']]]);
  }, 60_000));
}

test.run();
