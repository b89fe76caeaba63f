/**
 * The fast lane for tenant sessions, against a real GTID cluster (a primary and two replicas): a
 * tenant's reads run in a lane on the replica (or primary) its route chose, as the tenant's own
 * account in its own schema; two tenants running the same statement shapes get their own rows;
 * read-your-writes holds across lane ejects; statements isolation refuses never reach a lane; a
 * replica drained by an operator gives its lanes back. Skips when the native module is not built.
 */
import * as assert from 'uvu/assert';
import mysql from 'mysql2/promise';
import { applyTenantGrants } from '../../src/admin/grants-apply';
import { parseConfig } from '../../src/config/load';
import { Proxy } from '../../src/server/proxy';
import { loadLaneNative } from '../../src/io/lane-native';
import { startClusters, type TestClusters } from '../helpers/clusters';
import { buildProxyYaml, type Conn, sleep } from '../helpers/proxy';
import { waitForSnapshot } from '../helpers/topology-wait';
import { integrationSuite } from '../helpers/uvu';
import { laneStatementCount } from '../helpers/lane-stats';

const test = integrationSuite('fast-lane-tenant');
const built = loadLaneNative() !== null;
let tc: TestClusters;
let proxy: Proxy;
const conns: Conn[] = [];

const TENANTS = [
  { id: 'acme', tier: 'separate_schema', cluster: 'c1', schema: 't_acme', logical_schema: 'app', backend_user: 'acme_u', backend_password: 'acme-pw', users: ['acme_app'] },
  { id: 'globex', tier: 'separate_schema', cluster: 'c1', schema: 't_globex', logical_schema: 'app', backend_user: 'globex_u', backend_password: 'globex-pw', users: ['globex_app'] },
];

test.before(async () => {
  if (!built) return;
  tc = await startClusters(1, 2, ['c1']);
  const yaml = buildProxyYaml({
    backends: tc.clusters[0].proxyBackends(),
    users: [
      { name: 'acme_app', password: 'acme', defaultSchema: null },
      { name: 'globex_app', password: 'globex', defaultSchema: null },
    ],
    extraYaml: {
      clusters: [{ name: 'c1', primary: tc.clusters[0].backendNames[0], replicas: tc.clusters[0].backendNames.slice(1).map((backend) => ({ backend })), max_replication_lag_s: 5 }],
      tenants: TENANTS,
      read_your_writes: { scope: 'session', gtid_wait_timeout_ms: 2000, fallback: 'primary' },
    },
  });
  const config = parseConfig(yaml);
  for (const t of TENANTS) await applyTenantGrants(config, t.id);
  const p = tc.clusters[0].primary;
  for (const schema of ['t_acme', 't_globex']) {
    await p.query(`CREATE TABLE ${schema}.items (id INT PRIMARY KEY, v VARCHAR(40))`);
    const rows = Array.from({ length: 100 }, (_, i) => `(${i}, '${schema}-${i}')`).join(',');
    await p.query(`INSERT INTO ${schema}.items VALUES ${rows}`);
  }
  await tc.clusters[0].set.waitForReplication();
  proxy = new Proxy(config, { monitorIntervalMs: 100 });
  await proxy.start();
  await waitForSnapshot(proxy.topology!, (s) => [...s.clusters.values()].every((c) => c.primary.state === 'up' && c.replicas.every((r) => r.inRotation)), 'every member up');
});

test.after(async () => {
  for (const c of conns) c.destroy();
  await proxy?.stop();
  await tc?.destroy();
});

const laneStatements = (): number => laneStatementCount(proxy);

async function connect(user: string, password: string): Promise<Conn> {
  const c = await mysql.createConnection({ host: '127.0.0.1', port: proxy.port, user, password });
  c.on('error', () => {});
  conns.push(c);
  return c;
}


/** Role of the lane the (only) session of `user` is in, or null. */
function laneRoleOf(user: string): string | null {
  for (const s of proxy.sessions.values()) if (s.loginName === user && s.lane !== null) return s.lane.role;
  return null;
}

function t(name: string, fn: () => Promise<void>): void {
  if (!built) {
    test(`${name} (skipped: native fast lane not built)`, () => console.log(`[fast-lane-tenant] skipped "${name}": native module not built`));
    return;
  }
  test(name, fn);
}

t('a tenant\'s prepared and text reads run in a lane on a replica, as the tenant, in its schema', async () => {
  const a = await connect('acme_app', 'acme');
  const before = laneStatements();
  let sawReplica = false;
  const replicaIds = tc.clusters[0].replicas.map((r) => r.serverId);
  for (let i = 0; i < 100; i++) {
    const [r] = (await a.execute('SELECT @@server_id AS sid, v FROM items WHERE id = ?', [i])) as unknown as [{ sid: number; v: string }[]];
    assert.is(r[0].v, `t_acme-${i}`);
    assert.ok(replicaIds.includes(Number(r[0].sid)), `read served by server ${r[0].sid}, not a replica`);
    if (laneRoleOf('acme_app') === 'replica') sawReplica = true;
  }
  for (let i = 0; i < 100; i++) {
    const [r] = (await a.query(`SELECT v, CURRENT_USER() AS u FROM items WHERE id = ${i}`)) as unknown as [{ v: string; u: string }[]];
    assert.equal(r, [{ v: `t_acme-${i}`, u: 'acme_u@%' }]);
  }
  const ran = laneStatements() - before;
  assert.ok(ran >= 100, `only ${ran} of 200 reads ran in a lane`);
  assert.ok(sawReplica, 'the lane was never on a replica');
});

t('two tenants running the same shapes each read their own schema', async () => {
  const a = await connect('acme_app', 'acme');
  const g = await connect('globex_app', 'globex');
  const before = laneStatements();
  await Promise.all([
    (async () => {
      for (let i = 0; i < 100; i++) {
        const [r] = (await a.query(`SELECT v FROM items WHERE id = ${i}`)) as unknown as [{ v: string }[]];
        assert.equal(r, [{ v: `t_acme-${i}` }]);
      }
    })(),
    (async () => {
      for (let i = 0; i < 100; i++) {
        const [r] = (await g.query(`SELECT v FROM items WHERE id = ${i}`)) as unknown as [{ v: string }[]];
        assert.equal(r, [{ v: `t_globex-${i}` }]);
      }
    })(),
  ]);
  assert.ok(laneStatements() - before >= 100);
});

t('read-your-writes: each write ejects the lane, and the read right after sees it', async () => {
  const a = await connect('acme_app', 'acme');
  for (let k = 0; k < 20; k++) {
    for (let i = 0; i < 5; i++) await a.execute('SELECT v FROM items WHERE id = ?', [i]);
    const id = 1000 + k;
    await a.query(`INSERT INTO items VALUES (${id}, 'w${k}')`);
    const [r] = (await a.execute('SELECT v FROM items WHERE id = ?', [id])) as unknown as [{ v: string }[]];
    assert.equal(r, [{ v: `w${k}` }], `write ${k} not seen`);
  }
});

t('a statement isolation refuses never reaches a lane', async () => {
  const a = await connect('acme_app', 'acme');
  for (let i = 0; i < 20; i++) await a.query(`SELECT v FROM items WHERE id = ${i}`);
  for (let i = 0; i < 5; i++) {
    let errno = 0;
    try {
      await a.query(`SELECT v FROM t_globex.items WHERE id = ${i}`);
    } catch (e) {
      errno = (e as { errno: number }).errno;
    }
    assert.ok(errno === 1142 || errno === 1044, `errno ${errno}`);
    const [r] = (await a.query(`SELECT v FROM items WHERE id = ${i}`)) as unknown as [{ v: string }[]];
    assert.equal(r, [{ v: `t_acme-${i}` }]);
  }
});

t('a replica drained by an operator gives its lanes back; reads go on elsewhere', async () => {
  const a = await connect('acme_app', 'acme');
  let role: string | null = null;
  for (let i = 0; i < 50 && role !== 'replica'; i++) {
    await a.execute('SELECT v FROM items WHERE id = ?', [i]);
    role = laneRoleOf('acme_app');
  }
  assert.is(role, 'replica');
  let laneBackend = '';
  for (const s of proxy.sessions.values()) if (s.loginName === 'acme_app' && s.lane !== null) laneBackend = s.lane.conn.cfg.name;
  assert.ok(laneBackend !== '');
  proxy.drainBackend(laneBackend, true);
  try {
    const end = Date.now() + 5000;
    for (;;) {
      let still = false;
      for (const s of proxy.sessions.values()) if (s.lane !== null && s.lane.conn.cfg.name === laneBackend) still = true;
      if (!still) break;
      if (Date.now() > end) throw new Error('a lane stayed on the drained replica');
      await sleep(50);
    }
    for (let i = 0; i < 30; i++) {
      const [r] = (await a.execute('SELECT v FROM items WHERE id = ?', [i])) as unknown as [{ v: string }[]];
      assert.equal(r, [{ v: `t_acme-${i}` }]);
      for (const s of proxy.sessions.values()) if (s.lane !== null) assert.is.not(s.lane.conn.cfg.name, laneBackend);
    }
  } finally {
    proxy.drainBackend(laneBackend, false);
  }
});

test.run();
