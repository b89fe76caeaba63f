import * as http from 'node:http';
import * as assert from 'uvu/assert';
import { MariaDbServer, startServer } from '../helpers/mariadb';
import { ProxyHandle, startProxy } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

/** The ops listener: Prometheus metrics and a health document. */
const t = integrationSuite<{ server: MariaDbServer; proxy: ProxyHandle }>('admin');

t.before(async (ctx) => {
  ctx.server = await startServer();
  ctx.proxy = await startProxy({ backends: [{ name: 'main', port: ctx.server.port, maxConnections: 3 }], extraYaml: { admin: { host: '127.0.0.1', port: 0 } } });
});

t.after(async (ctx) => {
  await ctx.proxy?.stop();
  await ctx.server?.destroy();
});

function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
      })
      .on('error', reject);
  });
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

t('/metrics counts logins, commands, sessions and pool connections', async ({ proxy }) => {
  const port = proxy.proxy.adminPort;
  assert.ok(port > 0);
  const c = await proxy.connect();
  await c.query('SELECT 1');
  await c.execute('SELECT ?', [1]);
  await proxy.connect({ password: 'wrong' }).catch(() => {});
  const r = await get(port, '/metrics');
  assert.is(r.status, 200);
  assert.match(r.type, /text\/plain/);
  assert.is(metric(r.body, 'tenantgate_client_sessions'), 1);
  assert.is(metric(r.body, 'tenantgate_logins_total{result="ok"}'), 1);
  assert.is(metric(r.body, 'tenantgate_logins_total{result="denied"}'), 1);
  assert.ok(metric(r.body, 'tenantgate_commands_total{command="query"}') >= 1);
  assert.is(metric(r.body, 'tenantgate_commands_total{command="stmt_execute"}'), 1);
  assert.ok(metric(r.body, 'tenantgate_backend_connections_open{backend="main"}') >= 1);
  assert.ok(metric(r.body, 'tenantgate_backend_connections_open{backend="main"}') <= 3);
  assert.match(r.body, /tenantgate_process_resident_memory_bytes \d+/);
  await c.end();
});

t('/health answers JSON; other paths 404', async ({ proxy }) => {
  const port = proxy.proxy.adminPort;
  const h = await get(port, '/health');
  assert.is(h.status, 200);
  const doc = JSON.parse(h.body) as { status: string; backends: { name: string }[] };
  assert.is(doc.status, 'ok');
  assert.equal(doc.backends.map((b) => b.name), ['main']);
  assert.is((await get(port, '/nope')).status, 404);
});

t.run();
