/**
 * The native fast lane (README "Fast lane") against a real MariaDB, differential: prepared and text
 * statements relayed by the lane answer exactly as directly; every way the lane gives a session back
 * (warnings, an error, a large row, a KILL, a disconnect, a killed backend connection, a pool of one
 * shared by three sessions of two users) leaves the session and the pool as the JS path would; the
 * statements it relayed are counted in the metrics and digest statistics. Skips (saying why) when the
 * module is not built.
 */
import * as assert from 'uvu/assert';
import { startServer, type MariaDbServer } from '../helpers/mariadb';
import { connectDirect, sleep, type Conn, type ProxyHandle } from '../helpers/proxy';
import { missingClient, PYTHON, runProc } from '../helpers/clients';
import { integrationSuite } from '../helpers/uvu';
import { createBackendAccount, laneManager, laneStatementCount, startTwoUserProxy, waitUntil } from '../helpers/lane-stats';
import { loadLaneNative } from '../../src/io/lane-native';
import type { LaneManager } from '../../src/server/lane-manager';

const test = integrationSuite('fast-lane');
const BACKEND_USER = 'tg_lane';
const BACKEND_PASSWORD = 'tg-lane-pw';
const BACKEND = { user: BACKEND_USER, password: BACKEND_PASSWORD };
const built = loadLaneNative() !== null;

let server: MariaDbServer;
let h: ProxyHandle;
let direct: Conn;

test.before(async () => {
  if (!built) return;
  server = await startServer();
  direct = await connectDirect(server.port);
  await createBackendAccount(direct, BACKEND_USER, BACKEND_PASSWORD);
  await direct.query('CREATE TABLE lane_t (id INT PRIMARY KEY, c VARCHAR(40), n BIGINT UNSIGNED)');
  const rows = Array.from({ length: 200 }, (_, i) => `(${i + 1}, 'row-${i + 1}', ${(i + 1) * 1000})`).join(',');
  await direct.query(`INSERT INTO lane_t VALUES ${rows}`);
  h = await startTwoUserProxy(server.port, BACKEND, 4, { extraYaml: { digests: { max_entries: 1000 } } });
});

test.after(async () => {
  await h?.stop();
  direct?.destroy();
  await server?.destroy();
});

const lanes = (): LaneManager => laneManager(h.proxy);
const laneStatements = (): number => laneStatementCount(h.proxy);
const waitFor = waitUntil;

const skip = (name: string) => test(`${name} (skipped: native fast lane not built)`, () => {
  console.log(`[fast-lane] skipped "${name}": native/lane/build/Release/tenantgate_lane.node missing (npm run build:native)`);
});

function t(name: string, fn: () => Promise<void>): void {
  if (!built) return skip(name);
  test(name, fn);
}

t('prepared point selects run in the lane and answer as directly (binary protocol)', async () => {
  const p = await h.connect();
  const before = laneStatements();
  const viaProxy: unknown[] = [];
  const viaDirect: unknown[] = [];
  for (let i = 1; i <= 200; i++) {
    const [r] = await p.execute('SELECT id, c, n FROM lane_t WHERE id = ?', [i]);
    viaProxy.push(r);
  }
  for (let i = 1; i <= 200; i++) {
    const [r] = await direct.execute('SELECT id, c, n FROM lane_t WHERE id = ?', [i]);
    viaDirect.push(r);
  }
  assert.equal(viaProxy, viaDirect);
  const ran = laneStatements() - before;
  assert.ok(ran >= 100, `only ${ran} of 200 executes ran in the lane`);
  p.destroy();
});

t('text point selects with different literals run in the lane and answer as directly', async () => {
  const p = await h.connect();
  const before = laneStatements();
  for (let i = 1; i <= 200; i++) {
    const q = i % 2 === 0 ? `SELECT c, n FROM lane_t WHERE id = ${i}` : `SELECT c, n FROM lane_t WHERE c = 'row-${i}'`;
    const [a] = await p.query(q);
    const [b] = await direct.query(q);
    assert.equal(a, b, q);
  }
  const ran = laneStatements() - before;
  assert.ok(ran >= 100, `only ${ran} of 200 queries ran in the lane`);
  p.destroy();
});

t('statements the lane declines go through the proxy: user variables stay per session', async () => {
  const p = await h.connect();
  for (let i = 0; i < 20; i++) await p.execute('SELECT c FROM lane_t WHERE id = ?', [i + 1]);
  await p.query("SET @who = 'me'");
  for (let i = 0; i < 20; i++) await p.execute('SELECT c FROM lane_t WHERE id = ?', [i + 1]);
  const [r] = (await p.query('SELECT @who AS w')) as unknown as [{ w: string }[]];
  assert.equal(r, [{ w: 'me' }]);
  p.destroy();
});

t('a warning in a lane statement reaches the client and SHOW WARNINGS, as directly', async () => {
  const p = await h.connect();
  const sql = 'SELECT CAST(? AS UNSIGNED) AS v FROM lane_t WHERE id = 1';
  for (let i = 0; i < 10; i++) await p.execute(sql, ['5']);
  const [a] = await p.execute(sql, ['abc']);
  const [wa] = await p.query('SHOW WARNINGS');
  const [b] = await direct.execute(sql, ['abc']);
  const [wb] = await direct.query('SHOW WARNINGS');
  assert.equal(a, b);
  assert.equal(wa, wb);
  assert.ok((wa as unknown[]).length > 0);
  p.destroy();
});

t('an error for a lane statement (table dropped behind it) is the server\'s, and the session goes on', async () => {
  await direct.query('CREATE TABLE lane_drop (id INT PRIMARY KEY, c INT)');
  await direct.query('INSERT INTO lane_drop VALUES (1, 10), (2, 20)');
  const p = await h.connect();
  for (let i = 0; i < 10; i++) await p.execute('SELECT c FROM lane_drop WHERE id = ?', [1 + (i % 2)]);
  for (let i = 0; i < 10; i++) await p.query(`SELECT c FROM lane_drop WHERE id = ${1 + (i % 2)}`);
  await direct.query('DROP TABLE lane_drop');
  const errOf = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      return null;
    } catch (e) {
      return (e as { errno?: number }).errno ?? -1;
    }
  };
  const e1 = await errOf(() => p.execute('SELECT c FROM lane_drop WHERE id = ?', [1]));
  const e2 = await errOf(() => p.query('SELECT c FROM lane_drop WHERE id = 2'));
  const e3 = await errOf(() => direct.query('SELECT c FROM lane_drop WHERE id = 2'));
  assert.is(e1, 1146);
  assert.is(e2, e3);
  const [r] = (await p.query('SELECT 1 AS one')) as unknown as [{ one: number }[]];
  assert.equal(r, [{ one: 1 }]);
  p.destroy();
});

t('a row larger than the lane buffer is relayed by the proxy, byte-identical to directly', async () => {
  const p = await h.connect();
  const sql = 'SELECT REPEAT(c, ?) AS big FROM lane_t WHERE id = 7';
  for (let i = 0; i < 10; i++) await p.execute(sql, [2]);
  const [a] = (await p.execute(sql, [40_000])) as unknown as [{ big: string }[]];
  const [b] = (await direct.execute(sql, [40_000])) as unknown as [{ big: string }[]];
  assert.is(a[0].big.length, b[0].big.length);
  assert.ok(a[0].big === b[0].big);
  const [c] = await p.execute(sql, [2]);
  const [d] = await direct.execute(sql, [2]);
  assert.equal(c, d);
  p.destroy();
});

t('KILL QUERY of a session whose statement runs in the lane interrupts it; the session goes on', async () => {
  const a = await h.connect();
  const b = await h.connect();
  for (let i = 0; i < 10; i++) await a.execute('SELECT SLEEP(?) AS s', [0]);
  const [[{ id }]] = (await a.query('SELECT CONNECTION_ID() AS id')) as unknown as [{ id: number }[]];
  for (let i = 0; i < 10; i++) await a.execute('SELECT SLEEP(?) AS s', [0]);
  const long = a.execute('SELECT SLEEP(?) AS s', [20]).then(
    ([r]) => ({ ok: r as unknown }),
    (e: { errno?: number }) => ({ err: e.errno }),
  );
  await sleep(300);
  await b.query(`KILL QUERY ${id}`);
  const out = await long;
  // MariaDB answers an interrupted SLEEP() with 1 (or ERR 1317 when the kill lands before it runs).
  assert.ok(('ok' in out && JSON.stringify(out.ok) === JSON.stringify([{ s: 1 }])) || ('err' in out && out.err === 1317), JSON.stringify(out));
  const [r] = (await a.query('SELECT 2 AS two')) as unknown as [{ two: number }[]];
  assert.equal(r, [{ two: 2 }]);
  a.destroy();
  b.destroy();
});

t('a client that disconnects while its session is in a lane gives the connection back', async () => {
  const p = await h.connect();
  for (let i = 0; i < 20; i++) await p.execute('SELECT c FROM lane_t WHERE id = ?', [i + 1]);
  await waitFor('the session to be in a lane', () => lanes().attachedCount > 0);
  p.destroy();
  await waitFor('no session in a lane', () => lanes().attachedCount === 0);
  await waitFor('the session to close', () => h.proxy.sessions.size === 0);
  const q = await h.connect();
  const [r] = (await q.query('SELECT 3 AS three')) as unknown as [{ three: number }[]];
  assert.equal(r, [{ three: 3 }]);
  q.destroy();
});

t('the backend connection parked in a lane is killed on the server: the next statement runs on another one', async () => {
  const p = await h.connect();
  for (let i = 0; i < 20; i++) await p.execute('SELECT c FROM lane_t WHERE id = ?', [i + 1]);
  await waitFor('the session to be in a lane', () => lanes().attachedCount > 0);
  const [procs] = (await direct.query('SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ? AND COMMAND = ?', [BACKEND_USER, 'Sleep'])) as unknown as [{ ID: number }[]];
  for (const x of procs) await direct.query(`KILL ${x.ID}`);
  await waitFor('the lane to give the session back', () => lanes().attachedCount === 0);
  const [r] = await p.execute('SELECT c FROM lane_t WHERE id = ?', [5]);
  assert.equal(r, [{ c: 'row-5' }]);
  p.destroy();
});

t('three sessions of two users through a pool of one: lanes give the connection back, nothing crosses sessions', async () => {
  const h1 = await startTwoUserProxy(server.port, BACKEND, 1);
  try {
    const a = await h1.connect();
    const b = await h1.connect({ user: 'app2', password: 'app2' });
    const c = await h1.connect();
    await c.query("SET @v = 'c-only'");
    const loops = [
      (async () => {
        for (let i = 1; i <= 150; i++) {
          const [r] = (await a.execute('SELECT id, c FROM lane_t WHERE id = ?', [i])) as unknown as [{ id: number; c: string }[]];
          assert.equal(r, [{ id: i, c: `row-${i}` }]);
        }
        const [v] = (await a.query('SELECT @v AS v')) as unknown as [{ v: string | null }[]];
        assert.equal(v, [{ v: null }]);
      })(),
      (async () => {
        for (let i = 1; i <= 150; i++) {
          const [r] = (await b.query(`SELECT id, c FROM lane_t WHERE id = ${i}`)) as unknown as [{ id: number; c: string }[]];
          assert.equal(r, [{ id: i, c: `row-${i}` }]);
        }
        const [v] = (await b.execute('SELECT @v AS v')) as unknown as [{ v: string | null }[]];
        assert.equal(v, [{ v: null }]);
      })(),
      (async () => {
        for (let i = 1; i <= 50; i++) {
          const [v] = (await c.query('SELECT @v AS v')) as unknown as [{ v: string }[]];
          assert.equal(v, [{ v: 'c-only' }]);
          const [r] = (await c.execute('SELECT c FROM lane_t WHERE id = ?', [i])) as unknown as [{ c: string }[]];
          assert.equal(r, [{ c: `row-${i}` }]);
        }
      })(),
    ];
    await Promise.all(loops);
    a.destroy();
    b.destroy();
    c.destroy();
  } finally {
    await h1.stop();
  }
});

t('statements relayed by the lane are counted in the digest statistics and the statement metrics', async () => {
  const p = await h.connect();
  const sql = 'SELECT n FROM lane_t WHERE id = ? AND c IS NOT NULL';
  for (let i = 1; i <= 150; i++) await p.execute(sql, [i]);
  const entries = (h.proxy.digests({ limit: 1000 }) as { digests: { digest: string; count: number }[] }).digests;
  const e = entries.find((x) => x.digest.includes('AND `c` IS NOT NULL') || x.digest.includes('AND c IS NOT NULL'));
  assert.ok(e, JSON.stringify(entries.map((x) => x.digest)));
  assert.is(e.count, 150, JSON.stringify({ ejects: lanes().ejectCounts().filter((x) => x[1] > 0), attached: lanes().attachedCount, entries: entries.map((x) => [x.digest, x.count]) }));
  h.proxy.metrics.beforeScrape?.();
  const text = await h.proxy.metrics.registry.metrics();
  const m = /tenantgate_fast_lane_statements_total (\d+)/.exec(text);
  assert.ok(m && Number(m[1]) > 0, 'tenantgate_fast_lane_statements_total');
  p.destroy();
});

t('strict clients: PHP PDO (native prepares), mysqli text and PyMySQL loops answer as directly, through the lane', async () => {
  const php = missingClient('php');
  const py = missingClient('pymysql');
  const phpCode = `<?php
[$_, $port, $user, $pw] = $argv;
$pdo = new PDO("mysql:host=127.0.0.1;port=$port;dbname=test", $user, $pw, [PDO::ATTR_EMULATE_PREPARES => false, PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
$st = $pdo->prepare('SELECT id, c, n FROM lane_t WHERE id = ?');
for ($i = 1; $i <= 120; $i++) { $st->execute([$i]); echo json_encode($st->fetchAll(PDO::FETCH_NUM)), "\\n"; }
$st = $pdo->prepare('SELECT CAST(? AS UNSIGNED) AS v FROM lane_t WHERE id = 1');
$st->execute(['abc']); echo json_encode($st->fetchAll(PDO::FETCH_NUM)), "\\n";
echo json_encode($pdo->query('SHOW WARNINGS')->fetchAll(PDO::FETCH_NUM)), "\\n";
$m = new mysqli('127.0.0.1', $user, $pw, 'test', (int)$port);
for ($i = 1; $i <= 120; $i++) { $r = $m->query("SELECT id, c, n FROM lane_t WHERE id = $i"); echo json_encode($r->fetch_all()), "\\n"; }
`;
  const pyCode = `import sys, pymysql
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = pymysql.connect(host='127.0.0.1', port=port, user=user, password=pw, database='test', autocommit=True)
cur = c.cursor()
for i in range(1, 121):
    cur.execute('SELECT id, c, n FROM lane_t WHERE id = %s', (i,))
    print(cur.fetchall())
cur.execute("SELECT c FROM lane_t WHERE c LIKE %s ORDER BY id LIMIT 3", ('row-1%',))
print(cur.fetchall())
`;
  const runs: [string, string[], string][] = [];
  if (php === null) runs.push(['php', ['-r', phpCode.replace('<?php', '')], 'php']);
  if (py === null) runs.push([PYTHON, ['-c', pyCode], 'python']);
  if (runs.length === 0) {
    console.log(`[fast-lane] strict clients skipped: ${php}; ${py}`);
    return;
  }
  for (const [cmd, args, name] of runs) {
    const before = laneStatements();
    const a = await runProc(cmd, [...args, String(h.port), 'app', 'app'], { timeoutMs: 120_000 });
    const ran = laneStatements() - before;
    const b = await runProc(cmd, [...args, String(server.port), 'root', ''], { timeoutMs: 120_000 });
    assert.is(a.code, 0, `${name} through the proxy: ${a.stderr}`);
    assert.is(b.code, 0, `${name} directly: ${b.stderr}`);
    assert.is(a.stdout, b.stdout, `${name}: output differs`);
    assert.ok(ran > 0, `${name}: no statement ran in the lane`);
  }
});

t('transactions: reads inside BEGIN … COMMIT run in the lane on the session\'s connection and see its own writes; others do not', async () => {
  await direct.query('CREATE TABLE lane_tx (id INT PRIMARY KEY, v INT)');
  await direct.query('INSERT INTO lane_tx VALUES (1, 10), (2, 20)');
  const a = await h.connect();
  const other = await h.connect({ user: 'app2', password: 'app2' });
  const before = laneStatements();
  await a.query('BEGIN');
  for (let i = 0; i < 50; i++) {
    const [r] = (await a.execute('SELECT v FROM lane_tx WHERE id = ?', [1 + (i % 2)])) as unknown as [{ v: number }[]];
    assert.equal(r, [{ v: i % 2 === 0 ? 10 : 20 }]);
  }
  await a.query('UPDATE lane_tx SET v = 11 WHERE id = 1');
  for (let i = 0; i < 50; i++) {
    const [r] = (await a.execute('SELECT v FROM lane_tx WHERE id = ?', [1])) as unknown as [{ v: number }[]];
    assert.equal(r, [{ v: 11 }]);
    const [q] = (await a.query('SELECT v FROM lane_tx WHERE id = 1')) as unknown as [{ v: number }[]];
    assert.equal(q, [{ v: 11 }]);
  }
  const [o] = (await other.query('SELECT v FROM lane_tx WHERE id = 1')) as unknown as [{ v: number }[]];
  assert.equal(o, [{ v: 10 }], 'another session saw an uncommitted write');
  await a.query('ROLLBACK');
  for (let i = 0; i < 20; i++) {
    const [r] = (await a.execute('SELECT v FROM lane_tx WHERE id = ?', [1])) as unknown as [{ v: number }[]];
    assert.equal(r, [{ v: 10 }]);
  }
  assert.ok(laneStatements() - before >= 100, `only ${laneStatements() - before} statements ran in a lane`);
  a.destroy();
  other.destroy();
});

t('autocommit off (the Python DB-API default): reads of the implicit transaction run in the lane; COMMIT publishes the write', async () => {
  const a = await h.connect();
  const other = await h.connect({ user: 'app2', password: 'app2' });
  await a.query('SET autocommit = 0');
  const before = laneStatements();
  for (let i = 0; i < 40; i++) await a.execute('SELECT c FROM lane_t WHERE id = ?', [1 + i]);
  await a.query("UPDATE lane_t SET c = 'changed' WHERE id = 199");
  for (let i = 0; i < 40; i++) {
    const [r] = (await a.execute('SELECT c FROM lane_t WHERE id = ?', [199])) as unknown as [{ c: string }[]];
    assert.equal(r, [{ c: 'changed' }]);
  }
  const [o1] = (await other.query('SELECT c FROM lane_t WHERE id = 199')) as unknown as [{ c: string }[]];
  assert.equal(o1, [{ c: 'row-199' }]);
  await a.query('COMMIT');
  const [o2] = (await other.query('SELECT c FROM lane_t WHERE id = 199')) as unknown as [{ c: string }[]];
  assert.equal(o2, [{ c: 'changed' }]);
  await a.query("UPDATE lane_t SET c = 'row-199' WHERE id = 199");
  await a.query('COMMIT');
  assert.ok(laneStatements() - before >= 40);
  a.destroy();
  other.destroy();
});

t('a transaction in a lane keeps the only connection of a pool of one: the others wait for its COMMIT, then run', async () => {
  const h1 = await startTwoUserProxy(server.port, BACKEND, 1);
  try {
    const a = await h1.connect();
    const b = await h1.connect({ user: 'app2', password: 'app2' });
    await a.query('BEGIN');
    await a.query('UPDATE lane_t SET n = n + 1 WHERE id = 3');
    for (let i = 0; i < 30; i++) await a.execute('SELECT n FROM lane_t WHERE id = ?', [3]);
    let bDone = false;
    const bRead = b.query('SELECT n FROM lane_t WHERE id = 3').then(([r]) => {
      bDone = true;
      return r as { n: number }[];
    });
    for (let i = 0; i < 30; i++) {
      const [r] = (await a.execute('SELECT n FROM lane_t WHERE id = ?', [3])) as unknown as [{ n: number }[]];
      assert.equal(r, [{ n: 3001 }]);
    }
    assert.is(bDone, false, 'another session ran on the connection holding a transaction');
    await a.query('COMMIT');
    assert.equal(await bRead, [{ n: 3001 }]);
    await a.query('UPDATE lane_t SET n = 3000 WHERE id = 3');
    a.destroy();
    b.destroy();
  } finally {
    await h1.stop();
  }
});

t('a client that disconnects inside a transaction in a lane: rolled back, the connection cleaned for the next session', async () => {
  const a = await h.connect();
  await a.query('BEGIN');
  await a.query("UPDATE lane_t SET c = 'uncommitted' WHERE id = 4");
  for (let i = 0; i < 30; i++) await a.execute('SELECT c FROM lane_t WHERE id = ?', [4]);
  a.destroy();
  await waitFor('the session to close', () => h.proxy.sessions.size === 0);
  const b = await h.connect();
  const [r] = (await b.query('SELECT c FROM lane_t WHERE id = 4')) as unknown as [{ c: string }[]];
  assert.equal(r, [{ c: 'row-4' }]);
  const [[st]] = (await b.query('SELECT @@in_transaction AS t')) as unknown as [{ t: number }[]];
  assert.is(Number(st.t), 0);
  b.destroy();
});

t('strict clients: the mariadb CLI (libmariadb) runs a script of point selects through the lane as directly, with column types', async () => {
  const why = missingClient('mariadb');
  if (why !== null) {
    console.log(`[fast-lane] mariadb CLI skipped: ${why}`);
    return;
  }
  const script = Array.from({ length: 150 }, (_, i) => `SELECT id, c, n FROM lane_t WHERE id = ${i + 1};`).join('\n') + "\nSELECT CAST('abc' AS UNSIGNED) AS v FROM lane_t WHERE id = 1;\nSHOW WARNINGS;\n";
  const run = (port: number, user: string, pw: string) =>
    runProc('mariadb', ['-h127.0.0.1', `-P${port}`, `-u${user}`, ...(pw ? [`-p${pw}`] : []), '--column-type-info', '--skip-ssl', 'test'], { input: script, timeoutMs: 120_000 });
  const before = laneStatements();
  const a = await run(h.port, 'app', 'app');
  const ran = laneStatements() - before;
  const b = await run(server.port, 'root', '');
  assert.is(a.code, 0, a.stderr);
  assert.is(b.code, 0, b.stderr);
  assert.is(a.stdout, b.stdout);
  assert.ok(ran > 0, 'no statement of the script ran in the lane');
});

test.run();
