/**
 * Tenants and routing wired into the proxy, against two real GTID clusters (a primary + two
 * replicas each): identification at login and COM_CHANGE_USER, each tenant's statements on its
 * cluster, schema and own backend account, reads on replicas and writes/transactions on the
 * primary, read-your-writes, replicas leaving and rejoining rotation, a read-only primary, the
 * proxy's isolation checks — and the server layer holding with those checks switched off.
 */
import { spawn } from 'node:child_process';
import * as assert from 'uvu/assert';
import mysql from 'mysql2/promise';
import { applyTenantGrants } from '../../src/admin/grants-apply';
import { formatGtidPos } from '../../src/backend/gtid';
import { parseConfig } from '../../src/config/load';
import type { Config } from '../../src/config/types';
import { Proxy } from '../../src/server/proxy';
import { startTwoClusters, type TestClusters } from '../helpers/clusters';
import { destroyAll } from '../helpers/mariadb';
import { buildProxyYaml, type Conn, sqlError, timed } from '../helpers/proxy';
import { waitForSnapshot } from '../helpers/topology-wait';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('tenant-routing');
let tc: TestClusters;
let config: Config;
let proxy: Proxy;
const conns: Conn[] = [];

const TENANTS = [
  { id: 'acme', tier: 'separate_schema', cluster: 'c1', schema: 't_acme', logical_schema: 'app', backend_user: 'acme_u', backend_password: 'acme-pw', users: ['acme_app'] },
  { id: 'globex', tier: 'separate_schema', cluster: 'c1', schema: 't_globex', logical_schema: 'app', backend_user: 'globex_u', backend_password: 'globex-pw' },
  { id: 'initech', tier: 'separate_cluster', cluster: 'c2', schema: 'initech', backend_user: 'initech_u', backend_password: 'initech-pw', allow_use_switch: true },
];

function yamlFor(over: Record<string, unknown> = {}): string {
  return buildProxyYaml({
    backends: tc.clusters.flatMap((c) => c.proxyBackends()),
    users: [
      { name: 'acme_app', password: 'acme', defaultSchema: null },
      { name: 'app', password: 'app', defaultSchema: null },
    ],
    extraYaml: {
      clusters: tc.clusters.map((c) => ({
        name: c.name,
        primary: c.backendNames[0],
        replicas: c.backendNames.slice(1).map((backend) => ({ backend })),
        max_replication_lag_s: 5,
      })),
      tenants: TENANTS,
      tenant_identification: {
        strategies: ['user_map', { type: 'user_pattern', pattern: '{user}@{tenant}' }, { type: 'connect_attr', attribute: 'tenant' }, 'database'],
      },
      read_your_writes: { scope: 'session', gtid_wait_timeout_ms: 300, fallback: 'primary' },
      ...over,
    },
  });
}

async function startRoutedProxy(over: Record<string, unknown> = {}, unsafeSkipProxyIsolation = false, maxConnections?: number): Promise<Proxy> {
  const cfg = parseConfig(yamlFor(over));
  const config = maxConnections === undefined ? cfg : { ...cfg, backends: cfg.backends.map((b) => ({ ...b, maxConnections })) };
  const p = new Proxy(config, { monitorIntervalMs: 100, unsafeSkipProxyIsolation });
  await p.start();
  await waitForSnapshot(p.topology!, (s) => [...s.clusters.values()].every((c) => c.primary.state === 'up' && c.replicas.every((r) => r.inRotation)), 'every member up');
  return p;
}

async function connect(user: string, password: string, opts: mysql.ConnectionOptions = {}, p: Proxy = proxy): Promise<Conn> {
  const c = await mysql.createConnection({ host: '127.0.0.1', port: p.port, user, password, ...opts });
  c.on('error', () => {});
  conns.push(c);
  return c;
}

async function one(c: Conn, sql: string, params?: unknown[]): Promise<any> {
  const [rows] = (await c.query(sql, params)) as [any[], unknown];
  return rows[0] ? Object.values(rows[0])[0] : undefined;
}

const ids = (c: 0 | 1) => ({ primary: tc.clusters[c].primary.serverId, replicas: tc.clusters[c].replicas.map((r) => r.serverId) });

test.before(async () => {
  tc = await startTwoClusters();
  config = parseConfig(yamlFor());
  for (const t of TENANTS) await applyTenantGrants(config, t.id);
  for (const [i, schema] of [[0, 't_acme'], [0, 't_globex'], [1, 'initech']] as const) {
    await tc.clusters[i].primary.query(`CREATE TABLE ${schema}.items (id INT PRIMARY KEY, v VARCHAR(40))`);
    await tc.clusters[i].primary.query(`INSERT INTO ${schema}.items VALUES (0, '${schema}')`);
  }
  await Promise.all(tc.clusters.map((c) => c.set.waitForReplication()));
  proxy = await startRoutedProxy();
});

test.after(async () => {
  for (const c of conns) c.destroy();
  await proxy?.stop();
  await tc?.destroy();
  await destroyAll();
});

test('grants: each tenant has its own account, granted only its schema', async () => {
  const [rows] = (await (await mysql.createConnection({ host: '127.0.0.1', port: tc.clusters[0].primary.port, user: 'root' })).query("SHOW GRANTS FOR 'acme_u'@'%'")) as [any[], unknown];
  const text = rows.map((r) => Object.values(r)[0]).join('\n');
  assert.match(text, /ON `t_acme`\.\*/);
  assert.not.match(text, /t_globex|GRANT OPTION|SUPER|FILE/);
});

test('tenant identified by user map, user pattern, connect attribute and database; DATABASE() and CURRENT_USER() are the tenant\'s', async () => {
  const a = await connect('acme_app', 'acme');
  assert.equal([await one(a, 'SELECT DATABASE()'), await one(a, 'SELECT CURRENT_USER()')], ['t_acme', 'acme_u@%']);
  const g = await connect('app@globex', 'app');
  assert.equal([await one(g, 'SELECT DATABASE()'), await one(g, 'SELECT CURRENT_USER()')], ['t_globex', 'globex_u@%']);
  const i = await connect('app', 'app', { connectAttributes: { tenant: 'initech' } });
  assert.equal([await one(i, 'SELECT DATABASE()'), await one(i, 'SELECT CURRENT_USER()')], ['initech', 'initech_u@%']);
  const d = await connect('app', 'app', { database: 't_globex' });
  assert.is(await one(d, 'SELECT CURRENT_USER()'), 'globex_u@%');
  // The logical name at connect is the tenant's schema.
  const l = await connect('acme_app', 'acme', { database: 'app' });
  assert.is(await one(l, 'SELECT v FROM items WHERE id = 0'), 't_acme');
});

test('unknown tenants are refused with 1045 and a clear message', async () => {
  const e = await sqlError(connect('app', 'app'));
  assert.is(e.errno, 1045);
  assert.match(e.message, /could not identify a tenant/);
  const p = await sqlError(connect('app@nosuch', 'app'));
  assert.is(p.errno, 1045);
  const attr = await sqlError(connect('app', 'app', { connectAttributes: { tenant: 'nosuch' } }));
  assert.is(attr.errno, 1045);
  assert.match(attr.message, /names no tenant/);
  const other = await sqlError(connect('acme_app', 'acme', { database: 't_globex' }));
  assert.is(other.errno, 1044); // bound by user_map to acme: another tenant's database is refused
});

test('reads spread over the cluster\'s replicas; writes and transactions on the primary', async () => {
  const a = await connect('acme_app', 'acme');
  const c1 = ids(0);
  const seen = new Set<number>();
  for (let k = 0; k < 60 && seen.size < 2; k++) seen.add(Number(await one(a, 'SELECT @@server_id')));
  assert.equal([...seen].sort(), [...c1.replicas].sort());
  await a.query('INSERT INTO items VALUES (1, @@server_id)');
  assert.is(Number(await one(a, '/* tenantgate:primary */ SELECT v FROM items WHERE id = 1')), c1.primary);
  await a.query('BEGIN');
  assert.is(Number(await one(a, 'SELECT @@server_id')), c1.primary);
  await a.query('COMMIT');
  assert.is(Number(await one(a, 'SELECT @@server_id FROM items WHERE id = 0 FOR UPDATE')), c1.primary);
  const i = await connect('app@initech', 'app');
  const c2 = ids(1);
  assert.ok(c2.replicas.includes(Number(await one(i, 'SELECT @@server_id'))));
  await i.query('INSERT INTO items VALUES (1, @@server_id)');
  assert.is(Number(await one(i, '/* tenantgate:primary */ SELECT v FROM items WHERE id = 1')), c2.primary);
  // prepared statements (binary protocol) go the same way
  const [rows] = (await a.execute('SELECT @@server_id AS s FROM items WHERE id = ?', [0])) as [any[], unknown];
  assert.ok(c1.replicas.includes(Number(rows[0].s)));
});

test('a tenant session creates temporary tables and runs SQL PREPARE / EXECUTE (its account cannot set pseudo_thread_id)', async () => {
  const a = await connect('acme_app', 'acme');
  await a.query('CREATE TEMPORARY TABLE tt (x INT)');
  await a.query('INSERT INTO tt VALUES (1)');
  await a.query("PREPARE ps FROM 'SELECT COUNT(*) AS n FROM tt'");
  const [r] = (await a.query('EXECUTE ps')) as [any[], unknown];
  assert.is(Number(r[0].n), 1);
  await a.query("EXECUTE IMMEDIATE 'CREATE TEMPORARY TABLE tt2 (y INT)'");
  assert.is(Number(await one(a, 'SELECT COUNT(*) FROM tt2')), 0);
  await a.query('DEALLOCATE PREPARE ps');
});

test('read-your-writes: a write is seen by the next read while the replicas\' SQL threads are stopped', async () => {
  const c1 = tc.clusters[0];
  await Promise.all(c1.replicas.map((r) => r.query('STOP SLAVE SQL_THREAD')));
  try {
    const a = await connect('acme_app', 'acme');
    await a.query("INSERT INTO items VALUES (2, 'ryw')");
    assert.is(await one(a, 'SELECT v FROM items WHERE id = 2'), 'ryw');
    // a write returning rows ends with an EOF (no last_gtid in it): the proxy asks for the GTID
    const key = `s\0c1\0${(await one(a, 'SELECT CONNECTION_ID()')) as number}`;
    const before = formatGtidPos(proxy.ryw.requiredGtid(key)!);
    const [ret] = (await a.query("INSERT INTO items VALUES (4, 'returning') RETURNING id")) as [any[], unknown];
    assert.equal(ret.map((r) => r.id), [4]);
    assert.is(await one(a, 'SELECT v FROM items WHERE id = 4'), 'returning');
    // (checked after the next statement: the GTID is fetched after the result reached the client)
    assert.is.not(formatGtidPos(proxy.ryw.requiredGtid(key)!), before);
    assert.ok(proxy.ryw.requiredGtid(`s\0c1\0${(await one(a, 'SELECT CONNECTION_ID()')) as number}`) !== null);
  } finally {
    await Promise.all(c1.replicas.map((r) => r.query('START SLAVE SQL_THREAD')));
  }
});

test('read-your-writes per tenant: a write on one connection is seen by another connection of the tenant', async () => {
  const p = await startRoutedProxy({ read_your_writes: { scope: 'tenant', gtid_wait_timeout_ms: 300 } });
  const c1 = tc.clusters[0];
  try {
    const w = await connect('app@globex', 'app', {}, p);
    const r = await connect('app@globex', 'app', {}, p);
    await one(r, 'SELECT 1');
    await Promise.all(c1.replicas.map((x) => x.query('STOP SLAVE SQL_THREAD')));
    await w.query("INSERT INTO items VALUES (3, 'tenant-scope')");
    assert.is(await one(r, 'SELECT v FROM items WHERE id = 3'), 'tenant-scope');
  } finally {
    await Promise.all(c1.replicas.map((x) => x.query('START SLAVE SQL_THREAD')));
    await p.stop();
  }
});

test('a stopped replica leaves rotation (reads avoid it) and returns when it recovers', async () => {
  const c1 = tc.clusters[0];
  const r1 = c1.replicas[0];
  await r1.query('STOP SLAVE');
  try {
    await waitForSnapshot(proxy.topology!, (s) => !s.clusters.get('c1')!.replicas[0].inRotation, 'replica1 out of rotation');
    const a = await connect('acme_app', 'acme');
    for (let k = 0; k < 20; k++) assert.is.not(Number(await one(a, 'SELECT @@server_id')), r1.serverId);
  } finally {
    await r1.query('START SLAVE');
  }
  await waitForSnapshot(proxy.topology!, (s) => s.clusters.get('c1')!.replicas[0].inRotation, 'replica1 back in rotation');
});

test('a primary turned read_only refuses writes with 1290; reads continue', async () => {
  const c2 = tc.clusters[1];
  await c2.primary.query('SET GLOBAL read_only = 1');
  try {
    await waitForSnapshot(proxy.topology!, (s) => s.clusters.get('c2')!.primary.state === 'read_only_primary', 'c2 primary read-only');
    const i = await connect('app@initech', 'app');
    const e = await sqlError(i.query("INSERT INTO items VALUES (9, 'x')"));
    assert.is(e.errno, 1290);
    assert.is(await one(i, 'SELECT v FROM items WHERE id = 0'), 'initech');
  } finally {
    await c2.primary.query('SET GLOBAL read_only = 0');
  }
  await waitForSnapshot(proxy.topology!, (s) => s.clusters.get('c2')!.primary.state === 'up', 'c2 primary writable');
});

test('COM_CHANGE_USER re-identifies the tenant', async () => {
  const c = await connect('acme_app', 'acme');
  assert.is(await one(c, 'SELECT DATABASE()'), 't_acme');
  await c.changeUser({ user: 'app@globex', password: 'app' });
  assert.equal([await one(c, 'SELECT DATABASE()'), await one(c, 'SELECT CURRENT_USER()')], ['t_globex', 'globex_u@%']);
});

test('cross-tenant attempts are refused by the proxy with one error', async () => {
  const a = await connect('acme_app', 'acme', { multipleStatements: true });
  const denied = async (sql: string) => {
    const e = await sqlError(a.query(sql));
    assert.is(e.errno, 1044, `${sql}: ${e.message}`);
    assert.match(e.message, /to database 't_globex'/);
  };
  await denied('SELECT * FROM t_globex.items');
  await denied('SELECT * FROM items WHERE id IN (SELECT id FROM `t_globex`.items)');
  await denied('USE t_globex');
  await denied('CALL t_globex.p()');
  await denied('SELECT 1; SELECT * FROM t_globex.items');
  await denied('/*!50000 SELECT * FROM t_globex.items */');
  await denied("PREPARE s FROM 'SELECT * FROM t_globex.items'");
  await denied('CREATE VIEW v AS SELECT * FROM t_globex.items');
  const nonexistent = await sqlError(a.query('SELECT * FROM no_such_schema.items'));
  assert.is(nonexistent.errno, 1044); // the same error whether the schema exists or not
  const prepared = await sqlError(a.execute('SELECT * FROM t_globex.items WHERE id = ?', [0]));
  assert.is(prepared.errno, 1044);
  const [ui] = (await a.query('SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', ['t_globex'])) as [any[], unknown];
  assert.equal(ui, []);
  await a.query("SET SESSION sql_mode = 'ANSI_QUOTES'");
  await denied('SELECT * FROM "t_globex".items');
  await a.query("SET SESSION sql_mode = DEFAULT");
  // the logical name is the tenant's own schema, also inside information_schema filters
  assert.is(await one(a, 'SELECT v FROM app.items WHERE id = 0'), 't_acme');
  assert.is(await one(a, "SELECT TABLE_SCHEMA FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 'items'"), 't_acme');
  // the same shape with the physical name first: the logical one must still be mapped afterwards
  // (a decision that read a literal's value is never remembered by shape)
  assert.is(await one(a, "SELECT TABLE_SCHEMA FROM information_schema.TABLES WHERE TABLE_SCHEMA = 't_acme' AND TABLE_NAME = 'items' AND 2 = 2"), 't_acme');
  assert.is(await one(a, "SELECT TABLE_SCHEMA FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 'items' AND 2 = 2"), 't_acme');
  await a.query('USE app');
  assert.is(await one(a, 'SELECT DATABASE()'), 't_acme');
});

test('SHOW DATABASES, SHOW PROCESSLIST and KILL see only the tenant', async () => {
  const a = await connect('acme_app', 'acme');
  const g = await connect('app@globex', 'app');
  const [dbs] = (await a.query('SHOW DATABASES')) as [any[], unknown];
  assert.equal(dbs.map((r) => r.Database), ['information_schema', 'app']);
  const [pl] = (await a.query('SHOW PROCESSLIST')) as [any[], unknown];
  const gid = Number(await one(g, 'SELECT CONNECTION_ID()'));
  assert.ok(pl.length >= 1);
  assert.ok(pl.every((r) => r.User === 'acme_app'));
  assert.not.ok(pl.some((r) => Number(r.Id) === gid));
  const [ipl] = (await a.query('SELECT * FROM information_schema.PROCESSLIST')) as [any[], unknown];
  assert.ok(ipl.length >= 1 && ipl.every((r) => r.USER === 'acme_app' && Number(r.ID) !== gid));
  const k = await sqlError(a.query(`KILL ${gid}`));
  assert.is(k.errno, 1094);
  assert.is(Number(await one(g, 'SELECT 1')), 1);
});

test('a tenant\'s KILL inside a multi-statement batch: mapped to its own sessions, the rest still checked and routed', timed(async () => {
  const a = await connect('acme_app', 'acme', { multipleStatements: true });
  const v1 = await connect('acme_app', 'acme');
  const v2 = await connect('acme_app', 'acme');
  const g = await connect('app@globex', 'app');
  const id1 = Number(await one(v1, 'SELECT CONNECTION_ID()'));
  const id2 = Number(await one(v2, 'SELECT CONNECTION_ID()'));
  const gid = Number(await one(g, 'SELECT CONNECTION_ID()'));
  // statements around the KILL run as the tenant, in its schema
  const [res] = (await a.query(`SELECT 1 AS one; KILL ${id1}; SELECT v FROM items WHERE id = 0`)) as [any[], unknown];
  assert.equal(res[0], [{ one: 1 }]);
  assert.is(res[1].affectedRows, 0);
  assert.equal(res[2], [{ v: 't_acme' }]);
  assert.ok(await v1.query('SELECT 1').then(() => false, () => true), 'the tenant\'s own session was killed');
  // another tenant's session is an unknown thread (1094), which ends the batch there
  const e = await sqlError(a.query(`SELECT 1; KILL ${gid}; DO 1`));
  assert.is(e.errno, 1094);
  assert.is(Number(await one(g, 'SELECT 1')), 1, 'the other tenant\'s session lives');
  // what follows the KILL goes through the isolation checks: another tenant's schema is refused
  const r = await sqlError(a.query(`KILL QUERY ${id2}; SELECT * FROM t_globex.items`));
  assert.is(r.errno, 1044);
  assert.is(Number(await one(v2, 'SELECT 1')), 1, 'KILL QUERY of an idle session leaves it alive');
  assert.is(Number(await one(a, 'SELECT 7')), 7);
}));

test('CONNECTION_ID() is the proxy\'s connection id in text and prepared statements of a tenant session', async () => {
  const a = await connect('acme_app', 'acme');
  const proxyId = a.threadId;
  assert.is(Number(await one(a, 'SELECT CONNECTION_ID()')), proxyId);
  const [rows, fields] = (await a.execute('SELECT CONNECTION_ID(), ? AS x', [5])) as [any[], any[]];
  assert.is(Number(rows[0]['CONNECTION_ID()']), proxyId);
  assert.is(fields[0].name, 'CONNECTION_ID()'); // the column keeps its name
  const [w] = (await a.execute('SELECT v FROM items WHERE id = ? AND CONNECTION_ID() = ?', [0, proxyId])) as [any[], unknown];
  assert.equal(w, [{ v: 't_acme' }]);
});

test('COM_CHANGE_USER identifies the tenant by the connect attributes its packet carries, not the handshake\'s', async () => {
  const c = await connect('app', 'app', { connectAttributes: { tenant: 'globex' } });
  assert.is(await one(c, 'SELECT DATABASE()'), 't_globex');
  // mysql2 sends COM_CHANGE_USER with CLIENT_CONNECT_ATTRS and no attributes: 'app' names no tenant now
  const e = await sqlError(c.changeUser({ user: 'app', password: 'app' }));
  assert.is(e.errno, 1045, e.message);
  const d = await connect('app', 'app', { connectAttributes: { tenant: 'globex' } });
  await d.changeUser({ user: 'app@acme', password: 'app' });
  assert.is(await one(d, 'SELECT DATABASE()'), 't_acme');
});

test('process list: time in state and the statement of the tenant\'s other sessions; SHOW EXPLAIN FOR maps to their backend thread', async () => {
  const a = await connect('acme_app', 'acme');
  const b = await connect('acme_app', 'acme');
  const holder = await connect('acme_app', 'acme');
  const g = await connect('app@globex', 'app');
  await a.query('CREATE TABLE pl_rows (n INT)');
  await a.query(`INSERT INTO pl_rows VALUES ${Array.from({ length: 60 }, (_, i) => `(${i})`).join(',')}`);
  // runs ~30 s unless killed: the server checks for kills and SHOW EXPLAIN requests between rows
  const sql = 'SELECT COUNT(*) FROM pl_rows WHERE SLEEP(0.5) = 0';
  const running = sqlError(b.query(sql));
  const bid = b.threadId;
  let row: any;
  for (let i = 0; i < 200; i++) {
    const [pl] = (await a.query('SHOW PROCESSLIST')) as [any[], unknown];
    row = pl.find((r) => Number(r.Id) === bid);
    if (row && row.Info === sql && Number(row.Time) >= 1) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.is(row.Info, sql);
  assert.is(row.Command, 'Query');
  assert.ok(Number(row.Time) >= 1, `Time ${row.Time}`);
  const [ex] = (await a.query(`SHOW EXPLAIN FOR ${bid}`)) as [any[], unknown];
  assert.is(ex.length, 1);
  assert.is(ex[0].table, 'pl_rows');
  assert.is(ex[0].select_type, 'SIMPLE');
  await a.query(`KILL QUERY ${bid}`);
  assert.is((await running).errno, 1317);
  // an idle session: the server's own error for a thread with nothing to explain
  const idle = await sqlError(a.query(`SHOW EXPLAIN FOR ${holder.threadId}`));
  const sleeping = (await tc.clusters[0].primary.query("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Sleep' AND ID <> CONNECTION_ID() LIMIT 1")) as { ID: number }[];
  const direct = await sqlError(tc.clusters[0].primary.query(`SHOW EXPLAIN FOR ${sleeping[0]!.ID}`));
  assert.equal([idle.errno, idle.message], [direct.errno, direct.message]);
  // another tenant's session id does not exist for this tenant
  const other = await sqlError(a.query(`SHOW EXPLAIN FOR ${g.threadId}`));
  assert.is(other.errno, 1094);
  // the idle session's time in state is shown too
  const [pl2] = (await a.query('SHOW PROCESSLIST')) as [any[], unknown];
  const h = pl2.find((r) => Number(r.Id) === holder.threadId);
  assert.is(h.Command, 'Sleep');
  assert.is(h.Info, null);
  await a.query('DROP TABLE pl_rows');
});

test('server layer: with the proxy check switched off, the tenant\'s own account still cannot reach another schema', async () => {
  const p = await startRoutedProxy({}, true);
  try {
    const a = await connect('acme_app', 'acme', {}, p);
    assert.is(await one(a, 'SELECT CURRENT_USER()'), 'acme_u@%');
    const e = await sqlError(a.query('/* tenantgate:primary */ SELECT * FROM t_globex.items'));
    assert.ok(e.errno === 1142 || e.errno === 1044, `${e.errno} ${e.message}`);
    const u = await sqlError(a.query('USE t_globex'));
    assert.is(u.errno, 1044);
    const r = await sqlError(a.query('SELECT * FROM t_globex.items'));
    assert.ok(r.errno === 1142 || r.errno === 1044, `${r.errno} ${r.message}`);
  } finally {
    await p.stop();
  }
});

test('PHP PDO: a tenant\'s reads land on a replica and its writes on the primary, in its schema', async () => {
  const php = `
    $pdo = new PDO('mysql:host=127.0.0.1;port=${proxy.port}', 'acme_app', 'acme', [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
    $out = [$pdo->query('SELECT DATABASE()')->fetchColumn(), (int)$pdo->query('SELECT @@server_id')->fetchColumn()];
    $pdo->exec("INSERT INTO items VALUES (50, @@server_id)");
    $st = $pdo->prepare('/* tenantgate:primary */ SELECT v FROM items WHERE id = ?'); $st->execute([50]);
    $out[] = (int)$st->fetchColumn();
    try { $pdo->query('SELECT * FROM t_globex.items'); $out[] = 0; } catch (PDOException $e) { $out[] = $e->errorInfo[1]; }
    echo json_encode($out);`;
  const out = await new Promise<string>((resolve, reject) => {
    const ch = spawn('php', ['-r', php]);
    let buf = '';
    let err = '';
    ch.stdout.on('data', (d) => (buf += d));
    ch.stderr.on('data', (d) => (err += d));
    ch.on('error', reject);
    ch.on('close', (code) => (code === 0 ? resolve(buf) : reject(new Error(`php exited ${code}: ${err}${buf}`))));
  });
  const [db, readId, writeId, crossErr] = JSON.parse(out) as [string, number, number, number];
  const c1 = ids(0);
  assert.is(db, 't_acme');
  assert.ok(c1.replicas.includes(readId), `read on ${readId}`);
  assert.is(writeId, c1.primary);
  assert.is(crossErr, 1044);
});

test('a trusted worker of a tenant allowing it switches tenant with USE; a bound user does not', async () => {
  const w = await connect('app@initech', 'app');
  assert.ok(ids(1).replicas.includes(Number(await one(w, 'SELECT @@server_id'))));
  await w.query('USE t_acme');
  assert.equal([await one(w, 'SELECT DATABASE()'), await one(w, 'SELECT CURRENT_USER()')], ['t_acme', 'acme_u@%']);
  assert.ok(ids(0).replicas.includes(Number(await one(w, 'SELECT @@server_id'))));
  const a = await connect('acme_app', 'acme');
  assert.is((await sqlError(a.query('USE initech'))).errno, 1044);
});

test('a killed replica leaves rotation: no read fails after detection; it returns after restart', async () => {
  const c2 = tc.clusters[1];
  const r2 = c2.replicas[1];
  const i = await connect('app@initech', 'app');
  await r2.kill();
  try {
    await waitForSnapshot(proxy.topology!, (s) => s.clusters.get('c2')!.replicas[1].state === 'down', 'c2 replica2 down');
    for (let k = 0; k < 30; k++) assert.is(Number(await one(i, 'SELECT @@server_id')), c2.replicas[0].serverId);
  } finally {
    await r2.start();
  }
  await waitForSnapshot(proxy.topology!, (s) => s.clusters.get('c2')!.replicas[1].inRotation, 'c2 replica2 back', 60_000);
});

test('two tenants alternating on one backend connection each keep their identity and session state', async () => {
  const p = await startRoutedProxy({}, false, 1);
  try {
    const a = await connect('acme_app', 'acme', {}, p);
    const g = await connect('app@globex', 'app', {}, p);
    await a.query("SET time_zone = '+05:00', @mine = 'acme-var'");
    await g.query("SET time_zone = '-03:00', @mine = 'globex-var'");
    for (let k = 0; k < 3; k++) {
      assert.equal(
        [await one(a, '/* tenantgate:primary */ SELECT CONCAT_WS(",", CURRENT_USER(), DATABASE(), @@time_zone, @mine)')],
        ['acme_u@%,t_acme,+05:00,acme-var'],
      );
      assert.equal(
        [await one(g, '/* tenantgate:primary */ SELECT CONCAT_WS(",", CURRENT_USER(), DATABASE(), @@time_zone, @mine)')],
        ['globex_u@%,t_globex,-03:00,globex-var'],
      );
    }
    assert.ok(p.identity.switches >= 5, `switches ${p.identity.switches}`);
    const text = await p.metrics.registry.metrics();
    const m = /^tenantgate_identity_switches_total (\d+)/m.exec(text);
    assert.ok(m && Number(m[1]) === p.identity.switches, text.slice(0, 200));
    assert.is(p.stats().backends.find((b) => b.name === 'c1-primary')!.open, 1);
  } finally {
    await p.stop();
  }
});

test('read-your-writes waits on a replica that is behind but in rotation, then falls back to the primary', async () => {
  // Replicas whose SQL thread is blocked behind a row lock stay in rotation (threads running, lag under the bound).
  const p = await startRoutedProxy({
    clusters: tc.clusters.map((c) => ({ name: c.name, primary: c.backendNames[0], replicas: c.backendNames.slice(1).map((backend) => ({ backend })), max_replication_lag_s: 3600 })),
  });
  const c1 = tc.clusters[0];
  const lockers = await Promise.all(c1.replicas.map((r) => mysql.createConnection({ host: '127.0.0.1', port: r.port, user: 'root' })));
  try {
    for (const l of lockers) {
      await l.query('BEGIN');
      await l.query('SELECT * FROM t_acme.items WHERE id = 0 FOR UPDATE');
    }
    const a = await connect('acme_app', 'acme', {}, p);
    await a.query("UPDATE items SET v = 'after-write' WHERE id = 0");
    assert.is(await one(a, 'SELECT v FROM items WHERE id = 0'), 'after-write');
    // another session has no write to wait for: it reads the (stale) replica
    const b = await connect('acme_app', 'acme', {}, p);
    assert.is(await one(b, 'SELECT v FROM items WHERE id = 0'), 't_acme');
    assert.ok(p.topology!.snapshot().clusters.get('c1')!.replicas.every((r) => r.inRotation));
  } finally {
    for (const l of lockers) await l.query('ROLLBACK').finally(() => l.end());
    await c1.primary.query("UPDATE t_acme.items SET v = 't_acme' WHERE id = 0");
    await c1.set.waitForReplication();
    await p.stop();
  }
});

test('last_gtid is never replayed: after a write, another session on the same backend connection runs normally', async () => {
  // Passthrough (no tenants) over a binlog primary: the write's OK reports last_gtid.
  const yaml = buildProxyYaml({ backends: [tc.clusters[0].proxyBackends()[0]] });
  const p = new Proxy(parseConfig(yaml));
  await p.start();
  try {
    const a = await mysql.createConnection({ host: '127.0.0.1', port: p.port, user: 'app', password: 'app', database: 'test' });
    const b = await mysql.createConnection({ host: '127.0.0.1', port: p.port, user: 'app', password: 'app', database: 'test' });
    conns.push(a, b);
    await a.query('CREATE TABLE IF NOT EXISTS gtid_t (id INT PRIMARY KEY)');
    await a.query('INSERT INTO gtid_t VALUES (1)');
    assert.is(Number(await one(b, 'SELECT 1')), 1);
    assert.is(Number(await one(a, 'SELECT COUNT(*) FROM gtid_t')), 1);
  } finally {
    await p.stop();
  }
});

test('fair share per tenant: acme (through two proxy users) pinning its share of the primary leaves globex served; acme\'s next lease gets 1226 naming the tenant', async () => {
  const cfg = parseConfig(yamlFor());
  const small = { ...cfg, backends: cfg.backends.map((b) => ({ ...b, maxConnections: 3, maxConnectionsPerUser: 2, acquireTimeoutMs: 1500 })) };
  const p = new Proxy(small, { monitorIntervalMs: 100 });
  await p.start();
  try {
    await waitForSnapshot(p.topology!, (s) => [...s.clusters.values()].every((c) => c.primary.state === 'up'), 'primaries up');
    const a1 = await connect('acme_app', 'acme', {}, p);
    const a2 = await connect('app@acme', 'app', {}, p);
    const a3 = await connect('acme_app', 'acme', {}, p);
    const g = await connect('app@globex', 'app', {}, p);
    for (const a of [a1, a2]) {
      await a.query('BEGIN');
      await a.query('SELECT v FROM items WHERE id = 0');
    }
    const share = p.backends.get(tc.clusters[0].backendNames[0])!.shares.get('tenant:acme')!;
    assert.is(share.held, 2, 'one share for the tenant, whichever proxy user its sessions log in as');
    const refused = sqlError(a3.query('BEGIN'));
    // globex is answered on the same primary, in a transaction (transactions run on the primary)
    await g.query('BEGIN');
    assert.is(await one(g, 'SELECT v FROM items WHERE id = 0'), 't_globex');
    await g.query('COMMIT');
    const e = await refused;
    assert.is(e.errno, 1226);
    assert.is(e.sqlState, '42000');
    assert.match(e.message, /^Tenant 'acme' has exceeded the 'max_connections_per_user' resource \(current value: 2\)/);
    await a1.query('COMMIT');
    assert.is(await one(a3, 'SELECT v FROM items WHERE id = 0'), 't_acme');
    await a2.query('COMMIT');
  } finally {
    await p.stop();
  }
});

test.run();
