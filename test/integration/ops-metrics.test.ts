/**
 * Metrics scraped over HTTP after known traffic (statement, error, per-tenant counts, the tenant
 * label cap), per-digest statistics at GET /digests with reset, and the slow-query log.
 */
import { createHash } from 'node:crypto';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import mysql from 'mysql2/promise';
import pino from 'pino';
import { parseConfig } from '../../src/config/load';
import { Proxy } from '../../src/server/proxy';
import { topCommand } from '../../src/cli-ops';
import { nativeHash } from '../../src/protocol/auth';
import { MariaDbServer, startServer } from '../helpers/mariadb';
import { integrationSuite } from '../helpers/uvu';

const t = integrationSuite<{ server: MariaDbServer; proxy: Proxy; logs: string[] }>('ops-metrics');
const TENANTS = ['t1', 't2', 't3', 't4'];

t.before(async (ctx) => {
  ctx.server = await startServer();
  for (const x of TENANTS) {
    await ctx.server.query(`CREATE DATABASE IF NOT EXISTS s_${x}`);
    await ctx.server.query(`CREATE USER IF NOT EXISTS 'acct_${x}'@'%'`);
    await ctx.server.query(`GRANT ALL ON s_${x}.* TO 'acct_${x}'@'%'`);
  }
  const yaml = `
listen: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
backends: [{ name: main, host: 127.0.0.1, port: ${ctx.server.port}, user: root, password: "" }]
users:
${TENANTS.map((x) => `  - { name: u_${x}, password_hash: "${nativeHash('pw')}", default_schema: s_${x} }`).join('\n')}
clusters: [{ name: c1, primary: main }]
tenants:
${TENANTS.map((x) => `  - { id: ${x}, tier: separate_schema, cluster: c1, schema: s_${x}, backend_user: acct_${x}, users: [u_${x}] }`).join('\n')}
metrics: { tenant_label_cap: 2 }
digests: { max_entries: 100, slow_query_ms: 150 }
`;
  ctx.logs = [];
  const sink = new Writable({ write: (c, _e, cb) => (ctx.logs.push(String(c)), cb()) });
  ctx.proxy = new Proxy(parseConfig(yaml), { logger: pino({ level: 'info' }, sink) });
  await ctx.proxy.start();
});

t.after(async (ctx) => {
  await ctx.proxy?.stop();
  await ctx.server?.destroy();
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

function sum(m: Map<string, number>, prefix: string): number {
  let n = 0;
  for (const [k, v] of m) if (k.startsWith(prefix)) n += v;
  return n;
}

function tenantsLabelled(m: Map<string, number>, metric: string): string[] {
  return [...m.keys()].filter((k) => k.startsWith(metric + '{')).map((k) => /tenant="([^"]*)"/.exec(k)![1]!).sort();
}

t('statements, errors and per-tenant series match the traffic; at most tenant_label_cap tenants get a label', async (ctx) => {
  const conns = new Map<string, mysql.Connection>();
  for (const x of TENANTS) conns.set(x, await mysql.createConnection({ host: '127.0.0.1', port: ctx.proxy.port, user: `u_${x}`, password: 'pw', database: `s_${x}` }));
  // Round 1: t1 busiest, then t2; t3/t4 light. Every statement is recorded, under "other" until labels are handed out.
  const plan: Record<string, number> = { t1: 6, t2: 4, t3: 2, t4: 1 };
  for (const [x, n] of Object.entries(plan)) for (let i = 0; i < n; i++) await conns.get(x)!.query('SELECT ? AS v', [i]);
  const before = await scrape(ctx);
  assert.is(sum(before, 'tenantgate_tenant_statements_total{'), 13);
  assert.is(before.get('tenantgate_tenant_statements_total{tenant="other"}'), 13);
  // The gauge is computed at scrape time, after this scrape handed out the two slots.
  assert.is(before.get('tenantgate_tenant_sessions{tenant="other"}'), 2);
  // Round 2, after the first scrape gave slots to the two busiest: t1 and t2 have their own series.
  for (const x of TENANTS) await conns.get(x)!.query('SELECT 1');
  await conns.get('t3')!.query('SELEC broken').catch(() => undefined);
  await conns.get('t1')!.execute('SELECT ? + 1 AS v', [1]);
  const m = await scrape(ctx);
  assert.equal(tenantsLabelled(m, 'tenantgate_tenant_statements_total'), ['other', 't1', 't2']);
  assert.equal(tenantsLabelled(m, 'tenantgate_tenant_sessions'), ['other', 't1', 't2']);
  assert.is(m.get('tenantgate_tenant_statements_total{tenant="t1"}'), 2);
  assert.is(m.get('tenantgate_tenant_statements_total{tenant="t2"}'), 1);
  assert.is(m.get('tenantgate_tenant_statements_total{tenant="other"}'), 13 + 3);
  assert.is(m.get('tenantgate_tenant_errors_total{tenant="other"}'), 1);
  assert.is(m.get('tenantgate_tenant_sessions{tenant="t1"}'), 1);
  assert.is(m.get('tenantgate_tenant_sessions{tenant="other"}'), 2);
  assert.is(m.get('tenantgate_statement_errors_total{sqlstate_class="42"}'), 1);
  // 13 + 4 + 1 queries and 1 execute (prepare and close are "other").
  assert.is(m.get('tenantgate_statement_duration_seconds_count{command="query"}'), 18);
  assert.is(m.get('tenantgate_statement_duration_seconds_count{command="stmt_execute"}'), 1);
  assert.is(sum(m, 'tenantgate_tenant_statement_duration_seconds_count{'), 13 + 6);
  assert.ok(m.get('tenantgate_client_sent_bytes_total')! > 0 && m.get('tenantgate_client_received_bytes_total')! > 0);
  assert.ok(m.get('tenantgate_tenant_sent_bytes_total{tenant="t1"}')! > 0);
  assert.is(m.get('tenantgate_client_sessions'), 4);
  assert.is(m.get('tenantgate_config_version'), 1);
  assert.ok([...m.keys()].some((k) => k.startsWith('tenantgate_build_info{version="0.1.0"')));
  for (const c of conns.values()) await c.end();
});

t('GET /digests per (tenant, digest), filtered and sorted; reset; slow queries logged by digest without literals', async (ctx) => {
  // No tokens configured: the API answers 401 (fail closed) rather than open.
  assert.is((await fetch(`http://127.0.0.1:${ctx.proxy.adminPort}/digests`)).status, 401);
  const token = 'tok';
  ctx.proxy.store.applyConfig({ ...ctx.proxy.config, admin: { ...ctx.proxy.config.admin!, tokens: [{ name: 'ops', tokenHash: createHash('sha256').update(token).digest('hex') }] } }, 'test');
  const authed = (p: string, method = 'GET') => fetch(`http://127.0.0.1:${ctx.proxy.adminPort}${p}`, { method, headers: { authorization: `Bearer ${token}` } }).then((r) => r.json() as Promise<any>);
  await authed('/digests/reset', 'POST');
  const c = await mysql.createConnection({ host: '127.0.0.1', port: ctx.proxy.port, user: 'u_t2', password: 'pw', database: 's_t2' });
  for (const v of [1, 2, 3]) await c.query(`SELECT ${v} AS a, 'secret-${v}' AS b`);
  await c.query('SELECT SLEEP(0.2) AS s');
  const d = await authed('/digests?tenant=t2&sort=count');
  assert.is(d.total, 2);
  assert.is(d.digests[0].digest, 'SELECT ? AS a, ? AS b');
  assert.is(d.digests[0].count, 3);
  assert.is(d.digests[0].rowsSent, 3);
  assert.is(d.digests[1].count, 1);
  assert.ok(d.digests[1].maxTimeUs >= 200_000);
  assert.not.match(JSON.stringify(d), /secret/);
  const slow = ctx.logs.filter((l) => l.includes('"msg":"slow query"'));
  assert.is(slow.filter((l) => l.includes('SLEEP')).length, 1);
  assert.match(slow.find((l) => l.includes('SLEEP'))!, /"tenant":"t2".*"backend":"main"/);
  assert.not.match(slow.join(''), /0\.2|secret/);
  // tenantgate top --once renders the same figures.
  process.env.TENANTGATE_ADMIN_TOKEN = token;
  const out: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
  let code: number;
  try {
    code = await topCommand(['--admin', `http://127.0.0.1:${ctx.proxy.adminPort}`, '--once'], () => 2);
  } finally {
    process.stdout.write = write;
    delete process.env.TENANTGATE_ADMIN_TOKEN;
  }
  assert.is(code, 0);
  assert.match(out.join(''), /^t2 +4 +0 /m);
  assert.match(out.join(''), /^t2 +3 +[\d.]+ +SELECT \? AS a, \? AS b$/m);
  await authed('/digests/reset', 'POST');
  assert.is((await authed('/digests')).total, 0);
  await c.end();
});

t.run();
