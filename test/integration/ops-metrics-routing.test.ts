/**
 * Routing, backend health and plan-cache metrics on a real GTID primary + replica: routed reads and
 * writes are counted by route, each member's health state and the replica's lag are exported, and
 * plan-cache lookups are counted.
 */
import * as assert from 'uvu/assert';
import mysql from 'mysql2/promise';
import pino from 'pino';
import { parseConfig } from '../../src/config/load';
import { Proxy } from '../../src/server/proxy';
import { nativeHash } from '../../src/protocol/auth';
import { startClusters, type TestClusters } from '../helpers/clusters';
import { integrationSuite } from '../helpers/uvu';

const t = integrationSuite<{ cl: TestClusters; proxy: Proxy }>('ops-metrics-routing');

t.before(async (ctx) => {
  ctx.cl = await startClusters(1, 1);
  const c = ctx.cl.clusters[0]!;
  await c.primary.query('CREATE DATABASE s_t1');
  await c.primary.query('CREATE TABLE s_t1.items (id INT AUTO_INCREMENT PRIMARY KEY, v INT)');
  await c.primary.query("CREATE USER 'acct_t1'@'%'");
  await c.primary.query("GRANT ALL ON s_t1.* TO 'acct_t1'@'%'");
  await c.set.waitForReplication();
  const [p, r] = [c.primary, c.replicas[0]!];
  const yaml = `
listen: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
backends:
  - { name: p1, host: 127.0.0.1, port: ${p.port}, user: root, password: "" }
  - { name: r1, host: 127.0.0.1, port: ${r.port}, user: root, password: "" }
users: [{ name: u_t1, password_hash: "${nativeHash('pw')}", default_schema: s_t1 }]
clusters: [{ name: c1, primary: p1, replicas: [{ backend: r1 }] }]
tenants: [{ id: t1, tier: separate_schema, cluster: c1, schema: s_t1, backend_user: acct_t1, users: [u_t1] }]
`;
  ctx.proxy = new Proxy(parseConfig(yaml), { logger: pino({ level: 'silent' }), monitorIntervalMs: 100 });
  await ctx.proxy.start();
});

t.after(async (ctx) => {
  await ctx.proxy?.stop();
  await ctx.cl?.destroy();
});

async function scrape(ctx: { proxy: Proxy }): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${ctx.proxy.adminPort}/metrics`)).text();
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

/** Scrapes until `ok` holds (the monitor's first probes run after start), or fails after 15 s. */
async function scrapeUntil(ctx: { proxy: Proxy }, ok: (m: Map<string, number>) => boolean, what: string): Promise<Map<string, number>> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const m = await scrape(ctx);
    if (ok(m)) return m;
    if (Date.now() > deadline) throw new Error(`metrics never showed ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const UP_P = 'tenantgate_backend_up{cluster="c1",backend="p1",role="primary"}';
const UP_R = 'tenantgate_backend_up{cluster="c1",backend="r1",role="replica"}';

t('health state, up and replication lag per member come from the topology', async (ctx) => {
  const m = await scrapeUntil(ctx, (x) => x.get(UP_P) === 1 && x.get(UP_R) === 1 && x.has('tenantgate_backend_replication_lag_seconds{backend="r1"}'), 'both members up with a lag');
  assert.is(m.get('tenantgate_backend_health_state{cluster="c1",backend="p1",role="primary",state="up"}'), 1);
  assert.is(m.get('tenantgate_backend_health_state{cluster="c1",backend="p1",role="primary",state="down"}'), 0);
  assert.is(m.get('tenantgate_backend_health_state{cluster="c1",backend="r1",role="replica",state="up"}'), 1);
  const lag = m.get('tenantgate_backend_replication_lag_seconds{backend="r1"}')!;
  assert.ok(lag >= 0 && lag < 5, `lag ${lag}`);
  // The primary has no lag series.
  assert.not.ok(m.has('tenantgate_backend_replication_lag_seconds{backend="p1"}'));
});

t('reads and writes are counted by route; plan-cache hits and misses follow the statements', async (ctx) => {
  await scrapeUntil(ctx, (x) => x.get(UP_R) === 1, 'the replica up');
  const before = await scrape(ctx);
  const conn = await mysql.createConnection({ host: '127.0.0.1', port: ctx.proxy.port, user: 'u_t1', password: 'pw', database: 's_t1' });
  try {
    // Reads first: after a write, read-your-writes may send reads elsewhere.
    for (let i = 0; i < 5; i++) await conn.query('SELECT COUNT(*) AS n FROM items WHERE v > 7');
    for (let i = 0; i < 3; i++) await conn.query('INSERT INTO items (v) VALUES (42)');
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT @@server_id AS sid');
    assert.ok(rows.length === 1);
  } finally {
    await conn.end();
  }
  const after = await scrape(ctx);
  const d = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  assert.is(d('tenantgate_routed_statements_total{route="replica"}') + d('tenantgate_routed_statements_total{route="primary"}'), 9);
  assert.ok(d('tenantgate_routed_statements_total{route="replica"}') >= 5, 'the five reads went to the replica');
  assert.ok(d('tenantgate_routed_statements_total{route="primary"}') >= 3, 'the three writes went to the primary');
  assert.is(d('tenantgate_routed_statements_total{route="pinned"}'), 0);
  // Three shapes: each missed once; the repeats (4 + 2) were hits.
  assert.is(d('tenantgate_plan_cache_misses_total'), 3);
  assert.is(d('tenantgate_plan_cache_hits_total'), 6);
  assert.is(d('tenantgate_plan_cache_evictions_total'), 0);
  assert.ok(after.has('tenantgate_parse_failures_total'));
});

t('/readyz: 200 while the cluster primary is up, 503 naming it once the monitor finds it down, 200 again when it is back', async (ctx) => {
  const readyz = async () => {
    const r = await fetch(`http://127.0.0.1:${ctx.proxy.adminPort}/readyz`);
    return { status: r.status, body: (await r.json()) as { ready: boolean; reasons: string[] } };
  };
  await scrapeUntil(ctx, (x) => x.get(UP_P) === 1, 'the primary up');
  assert.equal(await readyz(), { status: 200, body: { ready: true, reasons: [] } });
  const p = ctx.cl.clusters[0]!.primary;
  await p.kill();
  try {
    await scrapeUntil(ctx, (x) => x.get(UP_P) === 0, 'the primary down');
    const r = await readyz();
    assert.is(r.status, 503);
    assert.is(r.body.ready, false);
    assert.ok(r.body.reasons.some((x) => x.startsWith('cluster c1: primary p1 is down')), r.body.reasons.join('; '));
  } finally {
    await p.start();
  }
  await scrapeUntil(ctx, (x) => x.get(UP_P) === 1, 'the primary back up');
  assert.is((await readyz()).status, 200);
});

t.run();
