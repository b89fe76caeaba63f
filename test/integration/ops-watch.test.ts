/**
 * `reload.watch_file: true` in the real `tenantgate start` process: an edit of the config file
 * (written in place, or renamed over it as editors do) is validated and applied with source `file`
 * and a history entry; an invalid edit is refused and logged, and the running config stays. Real
 * mariadbd backends, a mysql2 client kept open across the edits.
 */
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import mysql from 'mysql2/promise';
import { historyPath, readHistory } from '../../src/config/history';
import { nativeHash } from '../../src/protocol/auth';
import { MariaDbServer, startServers } from '../helpers/mariadb';
import { integrationSuite } from '../helpers/uvu';

const CLI = path.resolve(__dirname, '../../src/cli.js');
const t = integrationSuite<{ a: MariaDbServer; b: MariaDbServer; dir: string }>('ops-watch');

t.before(async (ctx) => {
  [ctx.a, ctx.b] = await startServers(2);
  ctx.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantgate-watch-'));
});

t.after(async (ctx) => {
  await ctx.a?.destroy();
  await ctx.b?.destroy();
  if (ctx.dir) fs.rmSync(ctx.dir, { recursive: true, force: true });
});

const yamlFor = (backendPort: number, maxConn: number) => `
listen: { host: 127.0.0.1, port: 0 }
backends: [{ name: main, host: 127.0.0.1, port: ${backendPort}, user: root, password: "", max_connections: ${maxConn} }]
users: [{ name: app, password_hash: "${nativeHash('app')}", backend: main, default_schema: test }]
reload: { watch_file: true }
log: { level: info }
`;

t('an edited config file is applied (source file, history); an invalid edit is refused and the running config stays', async (ctx) => {
  const file = path.join(ctx.dir, 'tenantgate.yaml');
  fs.writeFileSync(file, yamlFor(ctx.a.port, 10));
  const child = spawn(process.execPath, [CLI, 'start', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, any>[] = [];
  let buf = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    buf += c;
    let nl: number;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as Record<string, any>);
      } catch {
        /* not a log line */
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  /** Waits for the n-th log line matching (a condition, with a generous failure deadline). */
  const waitLog = async (pred: (l: Record<string, any>) => boolean, n = 1) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const hits = logs.filter(pred);
      if (hits.length >= n) return hits[n - 1]!;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`log never showed it; logs: ${JSON.stringify(logs.slice(-10))} stderr: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  let conn: mysql.Connection | null = null;
  try {
    const listening = await waitLog((l) => /listening/.test(String(l.msg)) && typeof l.port === 'number');
    conn = await mysql.createConnection({ host: '127.0.0.1', port: listening.port as number, user: 'app', password: 'app', database: 'test' });
    const port = async () => ((await conn!.query('SELECT @@port AS p')) as any)[0][0].p as number;
    assert.is(await port(), ctx.a.port);

    // 1. Written in place: backend main moves to server b.
    fs.writeFileSync(file, yamlFor(ctx.b.port, 10));
    const r1 = await waitLog((l) => l.msg === 'config reloaded');
    assert.is(r1.source, 'file');
    assert.is(r1.version, 2);
    assert.is(await port(), ctx.b.port);

    // 2. Renamed over the file (an editor's save): a pool setting changes.
    const tmp = path.join(ctx.dir, '.tenantgate.yaml.swp');
    fs.writeFileSync(tmp, yamlFor(ctx.b.port, 12));
    fs.renameSync(tmp, file);
    const r2 = await waitLog((l) => l.msg === 'config reloaded', 2);
    assert.is(r2.source, 'file');
    assert.is(r2.version, 3);

    // 3. An invalid edit: refused with the YAML path, nothing changes, the process and the session stay.
    fs.writeFileSync(file, yamlFor(ctx.b.port, 12).replace('max_connections:', 'max_conections:'));
    const refused = await waitLog((l) => /config reload refused/.test(String(l.msg)));
    assert.is(refused.source, 'file');
    assert.is(refused.version, 3);
    assert.ok(JSON.stringify(refused.problems).includes('max_conections'), JSON.stringify(refused.problems));
    assert.is(await port(), ctx.b.port);
    assert.is(child.exitCode, null);

    const hist = readHistory(historyPath(file));
    assert.equal(hist.map((e) => [e.version, e.source]), [[1, 'start'], [2, 'file'], [3, 'file']]);
  } finally {
    await conn?.end().catch(() => undefined);
    child.kill('SIGTERM');
    await exited;
  }
});

t.run();
