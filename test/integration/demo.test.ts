/**
 * `npm run demo -- --no-wait` end to end: the demo starts its own mariadbd and proxy, runs its self-check
 * through the proxy (plain TCP and TLS) and must shut down cleanly, leaving no temp dir behind.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as assert from 'uvu/assert';

import { DEMO_ORDER_COUNT } from '../../scripts/demo';
import { integrationSuite } from '../helpers/uvu';

/** Compiled layout: dist/test/integration/demo.test.js → dist/scripts/demo.js. */
const DEMO_JS = join(__dirname, '..', '..', 'scripts', 'demo.js');
const TIMEOUT_MS = 180_000;

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runDemo(args: readonly string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DEMO_JS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      // SIGTERM first so the demo still removes its mariadbd and temp dir.
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
    }, TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Skips itself, printing why, when mariadbd is not installed. */
const demo = integrationSuite('demo --no-wait');

demo('starts, prints connect commands, self-checks through the proxy and cleans up', async () => {
  assert.ok(existsSync(DEMO_JS), `${DEMO_JS} missing: run the build first`);
  const r = await runDemo(['--no-wait', '--port', '0']);
  const out = `--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;

  assert.is(r.code, 0, `demo exited with ${r.code ?? r.signal}\n${out}`);

  const cmd = /mariadb -h127\.0\.0\.1 -P(\d+) -uapp@acme -papp shop/.exec(r.stdout);
  assert.ok(cmd, `plain connect command not printed\n${out}`);
  const port = Number(cmd[1]);
  assert.ok(port > 0 && port < 65536, `bad port ${cmd[1]}`);
  assert.match(r.stdout, 'random, --port 0');

  const tls = /mariadb -h127\.0\.0\.1 -P(\d+) -uapp_tls@acme -papp --ssl --ssl-ca=(\S+) shop/.exec(r.stdout);
  assert.ok(tls, `TLS connect command not printed\n${out}`);
  assert.is(Number(tls[1]), port);

  assert.match(r.stdout, `self-check (app@acme, plain TCP): SELECT COUNT(*) FROM orders -> ${DEMO_ORDER_COUNT} (ok)`);
  assert.match(r.stdout, `self-check (app_tls@acme, TLS): SELECT COUNT(*) FROM orders -> ${DEMO_ORDER_COUNT} (ok)`);
  assert.match(r.stdout, /self-check \(app@acme, read on the replica\): SELECT @@server_id -> \d+ \(ok\)/);
  assert.match(r.stdout, /self-check \(app@acme, write on the primary\): .* \(ok\)/);
  assert.match(r.stdout, /self-check \(app@acme, another tenant's schema\): .*ERROR 1044 \(ok\)/);
  assert.not.match(r.stdout, /UNEXPECTED|FAILED/);

  const cfg = /^\s*config\s+(\S+)$/m.exec(r.stdout);
  assert.ok(cfg, `config path not printed\n${out}`);
  assert.not.ok(existsSync(dirname(cfg[1]!)), `temp dir ${dirname(cfg[1]!)} was not removed`);
  assert.not.ok(existsSync(tls[2]!), `CA file ${tls[2]} was not removed`);
});

demo.run();
