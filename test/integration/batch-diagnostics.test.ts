/**
 * Issue 5: diagnostics and proxy-answered statements inside a multi-statement batch the proxy splits
 * (a KILL in it: batch-run.ts). `SHOW WARNINGS`, `SELECT @@warning_count`, `SHOW COUNT(*) WARNINGS`
 * after the KILL read the session's diagnostics, as on a server (KILL reads no table, so it keeps
 * them), not those of the backend connection the segment happens to run on — which another
 * session's statement may have left, or cleared. One backend connection shared by the sessions;
 * the same steps directly against MariaDB and through the proxy: mysql2, the raw protocol strictly
 * decoded (sequence ids, MORE_RESULTS), and the `mariadb` CLI with column metadata. Tenants: a
 * diagnostics statement goes through isolation like any other (it bypassed it), and `SHOW DATABASES`
 * / `SHOW PROCESSLIST` inside such a batch are answered (they were refused with 1235).
 * Also: a tenant's CONNECTION_ID() (the proxy's id, substituted) is typed as the server's call.
 */
import * as assert from 'uvu/assert';
import mysql from 'mysql2/promise';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { Conn, ProxyHandle } from '../helpers/proxy';
import { cli, connectDirect, fieldMeta, run, sqlError, startProxy, timed, type Mode } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';
import { RawClient } from '../helpers/raw-client';
import { Cap } from '../../src/protocol/constants';
import { readStrict } from '../helpers/strict-decoder';
import { missingClient } from '../helpers/clients';
import { parseConfig } from '../../src/config/load';
import { Proxy } from '../../src/server/proxy';
import { nativeHash } from '../../src/protocol/auth';

const test = integrationSuite('batch-diagnostics');

let server: MariaDbServer;
let h: ProxyHandle;
let tp: Proxy;
const opened: Conn[] = [];

const TENANTS = ['t1', 't2'];

test.before(async () => {
  server = await startServer();
  h = await startProxy({ backends: [{ name: 'b1', port: server.port, maxConnections: 1, maxConnectionsPerUser: 1, acquireTimeoutMs: 5000 }] });
  for (const x of TENANTS) {
    await server.query(`CREATE DATABASE s_${x}`);
    await server.query(`CREATE TABLE s_${x}.secret (v VARCHAR(20))`);
    await server.query(`INSERT INTO s_${x}.secret VALUES ('${x}-secret')`);
    // the tenant's backend account, and a server user of the login's name (the direct reference)
    for (const u of [`acct_${x}`, `u_${x}`]) {
      await server.query(`CREATE USER '${u}'@'%' IDENTIFIED BY 'pw'`);
      await server.query(`GRANT ALL ON s_${x}.* TO '${u}'@'%'`);
    }
  }
  const yaml = `
listen: { host: 127.0.0.1, port: 0 }
backends: [{ name: main, host: 127.0.0.1, port: ${server.port}, user: root, password: "", max_connections: 1, max_connections_per_user: 1, acquire_timeout_ms: 5000 }]
users:
${TENANTS.map((x) => `  - { name: u_${x}, password_hash: "${nativeHash('pw')}", default_schema: s_${x} }`).join('\n')}
clusters: [{ name: c1, primary: main }]
tenants:
${TENANTS.map((x) => `  - { id: ${x}, tier: separate_schema, cluster: c1, schema: s_${x}, backend_user: acct_${x}, backend_password: pw, users: [u_${x}] }`).join('\n')}
`;
  tp = new Proxy(parseConfig(yaml), {});
  await tp.start();
});

test.after(async () => {
  for (const c of opened.splice(0)) c.destroy();
  await tp?.stop();
  await h?.stop();
  await server?.destroy();
});

test.after.each(() => {
  for (const c of opened.splice(0)) c.destroy();
});

type Open = (o?: mysql.ConnectionOptions) => Promise<Conn>;

const directOpen: Open = async (o = {}) => {
  const c = await connectDirect(server.port, o);
  c.on('error', () => {});
  opened.push(c);
  return c;
};
const proxyOpen: Open = async (o = {}) => {
  const c = await h.connect(o);
  c.on('error', () => {});
  opened.push(c);
  return c;
};

/** Batches run by the killer after `pre` steps of its own and of another session on the shared connection. */
const CASES: Array<{ name: string; pre: Array<['k' | 'o', string]>; batch: string }> = [
  { name: "another session's warnings on the connection", pre: [['o', 'SELECT 1/0, 2/0']], batch: 'KILL QUERY $V; SHOW WARNINGS; SELECT @@warning_count; SHOW COUNT(*) WARNINGS; SHOW ERRORS' },
  { name: 'own warnings, cleared on the connection by another session', pre: [['k', 'SELECT 1/0'], ['o', 'SELECT 1']], batch: 'KILL QUERY $V; SHOW WARNINGS; SELECT @@warning_count AS w' },
  { name: 'own warnings, count only', pre: [['k', 'SELECT 1/0'], ['o', 'SELECT 1']], batch: 'KILL QUERY $V; SELECT @@session.warning_count' },
  { name: 'own error, then the other session', pre: [['k', 'SELECT * FROM no_such_table'], ['o', 'SELECT 1/0']], batch: 'KILL QUERY $V; SHOW ERRORS; SHOW COUNT(*) ERRORS; SELECT @@error_count' },
  { name: 'warnings left in the batch before the KILL', pre: [['o', 'SELECT 1/0, 2/0, 3/0']], batch: 'SELECT 1/0 AS x; KILL QUERY $V; SELECT 1 AS one; SHOW WARNINGS; SHOW WARNINGS LIMIT 0' },
  { name: 'a statement reading a table in between clears them', pre: [], batch: 'SELECT 1/0 AS x; KILL QUERY $V; SELECT 1 FROM information_schema.CHARACTER_SETS LIMIT 0; SHOW WARNINGS' },
  { name: 'two KILLs', pre: [['k', 'SELECT 1/0'], ['o', 'DO 2/0']], batch: 'KILL QUERY $V; KILL QUERY $V; SHOW WARNINGS' },
];

async function mysql2Scenario(open: Open): Promise<unknown> {
  const out = [];
  for (const c of CASES) {
    const victim = await open();
    const other = await open();
    const k = await open({ multipleStatements: true });
    for (const [who, sql] of c.pre) await (who === 'k' ? k : other).query(sql).catch(() => null);
    const [res] = await k.query(c.batch.replace(/\$V/g, String(victim.threadId)));
    // after the batch: the text and the binary protocol read what the batch left
    const [w] = await k.query('SHOW WARNINGS');
    const [x] = await k.execute('SELECT @@warning_count AS n');
    out.push({ name: c.name, res, w, x });
  }
  return out;
}

test('mysql2: diagnostics after a KILL in a split batch are the session\'s, as directly (one shared backend connection)', timed(async () => {
  const d = await mysql2Scenario(directOpen);
  const p = await mysql2Scenario(proxyOpen);
  for (const [i, want] of (d as unknown[]).entries()) assert.equal((p as unknown[])[i], want);
  // test sanity: directly, the first case shows nothing, the second the session's own warning
  assert.equal(((d as Array<{ res: unknown[] }>)[0]!.res)[1], []);
  assert.is(((d as Array<{ res: unknown[][] }>)[1]!.res)[1]!.length, 1);
}, 60_000));

test('raw protocol: the same packets as MariaDB (strictly decoded, seq ids, MORE_RESULTS), classic EOF and DEPRECATE_EOF', timed(async () => {
  const run = async (port: number, user: string, pw: string, extra: number) => {
    const out = [];
    for (const c of CASES) {
      const victim = await RawClient.connect(port, user, pw, 'test');
      const vid = Number((await victim.query('SELECT CONNECTION_ID()')).rows[0][0]);
      const other = await RawClient.connect(port, user, pw, 'test');
      const k = await RawClient.connect(port, user, pw, 'test', Cap.MULTI_STATEMENTS | Cap.MULTI_RESULTS | extra);
      for (const [who, sql] of c.pre) await (who === 'k' ? k : other).query(sql);
      k.send(Buffer.concat([Buffer.from([3]), Buffer.from(c.batch.replace(/\$V/g, String(vid)))]));
      const r = await readStrict(() => k.read(), { caps: k.caps, mariaCaps: 0 }, 'result');
      for (const x of [victim, other, k]) x.close();
      out.push({ name: c.name, seqs: r.raw.map(([q]) => q), decoded: r.decoded });
    }
    return out;
  };
  for (const extra of [0, Cap.DEPRECATE_EOF]) {
    const d = await run(server.port, 'root', '', extra);
    const p = await run(h.port, 'app', 'app', extra);
    for (const [i, want] of d.entries()) assert.equal(JSON.stringify(p[i]), JSON.stringify(want), `${want.name} (caps +${extra})`);
  }
}, 60_000));

const noCli = missingClient('mariadb');
if (noCli) {
  console.error(`[batch-diagnostics] SKIPPED 'mariadb CLI': ${noCli}`);
  test.skip(`mariadb CLI (skipped: ${noCli})`, () => {});
} else {
  test('mariadb CLI --column-type-info: SHOW WARNINGS / @@warning_count after KILL in a batch print as directly (metadata too)', timed(async () => {
    const run = async (port: number, user: string, pw: string, open: Open) => {
      const victim = await open();
      const other = await open();
      await other.query('SELECT 1/0, 2/0');
      const out = [];
      // the other session's warnings are on the shared connection; then the session's own
      for (const first of ['', 'SELECT 1/0 AS x; ']) {
        const batch = `${first}KILL QUERY ${victim.threadId}; SHOW WARNINGS; SELECT @@warning_count; SHOW COUNT(*) WARNINGS`;
        const r = await cli(port, null, ['--column-type-info'], { user, password: pw, input: `DELIMITER //\n${batch}//\n` });
        out.push({ code: r.code, stdout: r.stdout, stderr: r.stderr });
      }
      return out;
    };
    const d = await run(server.port, 'root', '', directOpen);
    const p = await run(h.port, 'app', 'app', proxyOpen);
    assert.equal(p, d);
    assert.not.match(d[0]!.stdout, /Division by 0/);
    assert.match(d[1]!.stdout, /Division by 0/);
  }, 60_000));
}

async function rowCountScenario(open: Open): Promise<unknown[]> {
  const out: unknown[] = [];
  const victim = await open();
  const other = await open();
  const k = await open({ multipleStatements: true });
  await k.query('CREATE TABLE IF NOT EXISTS test.kr (x INT)');
  const [r1] = await k.query(`INSERT INTO test.kr VALUES (1),(2); KILL QUERY ${victim.threadId}; SELECT ROW_COUNT() AS rc`);
  out.push(r1);
  await k.query('INSERT INTO test.kr VALUES (1),(2),(3)');
  await other.query('SELECT 1');
  await k.query(`KILL QUERY ${victim.threadId}`);
  out.push((await k.query('SELECT ROW_COUNT() AS rc'))[0], (await k.execute('SELECT ROW_COUNT() AS rc'))[0]);
  await k.query('INSERT INTO test.kr VALUES (1)');
  out.push((await sqlError(k.query('KILL 999999'))).errno, (await k.execute('SELECT ROW_COUNT() AS rc'))[0]);
  const [r2] = await k.query(`SELECT 1 UNION SELECT 2; KILL QUERY ${victim.threadId}; SELECT FOUND_ROWS() AS fr, ROW_COUNT() AS rc`);
  out.push(r2);
  await k.query('DROP TABLE test.kr');
  return out;
}

test('ROW_COUNT() after a KILL the proxy answers is 0 (-1 after a refused one), FOUND_ROWS() kept, as directly', timed(async () => {
  const d = await rowCountScenario(directOpen);
  const p = await rowCountScenario(proxyOpen);
  assert.equal(p, d);
  assert.equal(d[1], [{ rc: 0 }], 'directly (test sanity)');
}));

// ---- tenants ----------------------------------------------------------------------------------

async function tenantConn(x: string, port = tp.port, o: mysql.ConnectionOptions = {}): Promise<Conn> {
  const c = await mysql.createConnection({ host: '127.0.0.1', port, user: `u_${x}`, password: 'pw', database: `s_${x}`, ...o });
  c.on('error', () => {});
  opened.push(c);
  return c;
}

test('tenant: a diagnostics statement naming another tenant\'s schema is refused by isolation (1044), like the same statement without @@warning_count', timed(async () => {
  const a = await tenantConn('t1');
  const b = await tenantConn('t2');
  await b.query('SELECT 1'); // the shared connection last served t2
  const plain = await sqlError(a.query('SELECT (SELECT v FROM s_t2.secret) AS x'));
  for (const sql of ['SELECT @@warning_count, (SELECT v FROM s_t2.secret) AS x', 'SELECT @@warning_count AS w FROM s_t2.secret']) {
    const e = await sqlError(a.query(sql));
    assert.equal([e.errno, e.message], [plain.errno, plain.message], sql);
  }
  assert.is(plain.errno, 1044);
}));

test('tenant: SHOW DATABASES / SHOW WARNINGS in a batch with KILL answered as directly; SHOW PROCESSLIST answered', timed(async () => {
  const run = async (port: number) => {
    const out = [];
    for (const batch of ['KILL QUERY $V; SHOW DATABASES', 'SELECT 1/0 AS x; KILL QUERY $V; SHOW DATABASES; SHOW WARNINGS; SELECT @@warning_count', 'KILL QUERY $V; SHOW WARNINGS; SELECT @@warning_count']) {
      const victim = await tenantConn('t1', port);
      const other = await tenantConn('t2', port);
      const k = await tenantConn('t1', port, { multipleStatements: true });
      await other.query('SELECT 1/0, 2/0');
      const [res] = await k.query(batch.replace('$V', String(victim.threadId)));
      out.push({ batch, res });
    }
    return out;
  };
  const d = await run(server.port);
  const p = await run(tp.port);
  assert.equal(p, d);
  const k = await tenantConn('t1', tp.port, { multipleStatements: true });
  const victim = await tenantConn('t1');
  const [res] = (await k.query(`KILL QUERY ${victim.threadId}; SHOW PROCESSLIST; SELECT 2 AS two`)) as unknown as [unknown[]];
  assert.is(res.length, 3);
  const ids = (res[1] as Array<{ Id: number }>).map((r) => Number(r.Id));
  assert.ok(ids.includes(k.threadId) && ids.includes(victim.threadId), JSON.stringify(res[1]));
  assert.equal(res[2], [{ two: 2 }]);
}, 60_000));

let ctas = 0;

/** What a session sees of CONNECTION_ID()'s type: metadata of reads (text and binary) and CREATE TABLE ... AS SELECT. */
async function connIdShape(c: Conn, schema: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const mode of ['query', 'execute'] as Mode[]) {
    for (const sql of ['SELECT CONNECTION_ID()', 'SELECT CONNECTION_ID() AS id, 1 AS one', 'SELECT CONNECTION_ID() + 0 AS s', 'SELECT IFNULL(CONNECTION_ID(), 0) AS f']) {
      const [, f] = await run(c, mode, sql);
      out.push([mode, sql, fieldMeta(f)]);
    }
  }
  const t = `${schema}.cid_${++ctas}`;
  await c.query(`CREATE TABLE ${t} AS SELECT CONNECTION_ID(), CONNECTION_ID() AS c2, CONNECTION_ID() * 2 AS c3`);
  const [r] = (await c.query(`SHOW CREATE TABLE ${t}`)) as unknown as [Array<Record<string, string>>];
  out.push(String(r[0]!['Create Table']).replace(/`cid_\d+`/, '`t`'));
  const [v] = (await c.query(`SELECT COUNT(*) AS n FROM ${t} WHERE \`CONNECTION_ID()\` = ? AND c2 = ? AND c3 = ?`, [c.threadId, c.threadId, 2 * c.threadId])) as unknown as [Array<{ n: number }>];
  out.push(v);
  return out;
}

test('tenant: CONNECTION_ID() is typed INT(10) UNSIGNED NOT NULL as directly (metadata text/binary, CREATE TABLE AS SELECT), its value the proxy id', timed(async () => {
  const d = await connIdShape(await tenantConn('t1', server.port), 's_t1');
  const other = await tenantConn('t2');
  await other.query('SELECT 1');
  const p = await connIdShape(await tenantConn('t1'), 's_t1');
  assert.equal(p, d);
  assert.match(String(d[d.length - 2]), /`CONNECTION_ID\(\)` int\(10\) unsigned NOT NULL/);
}, 60_000));

test('passthrough user: CONNECTION_ID() typed as directly (metadata, CREATE TABLE AS SELECT)', timed(async () => {
  const d = await connIdShape(await directOpen({ database: 'test' }), 'test');
  const other = await proxyOpen();
  await other.query('SELECT 1');
  const p = await connIdShape(await proxyOpen(), 'test');
  assert.equal(p, d);
}, 60_000));

test.run();
