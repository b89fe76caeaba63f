/** The compiled `tenantgate` bin, run as a child process: check-config, hash-password, start, usage. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { nativeToken, sha2Stage2, sha2Token, verifyNative, verifySha2Crypt, verifySha2Fast } from '../../src/protocol/auth';

const CLI = path.resolve(__dirname, '../../src/cli.js');
const PROXY_MODULE = path.resolve(__dirname, '../../src/server/proxy.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-cli-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(args: string[], input?: string): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [CLI, ...args], { input: input ?? '', encoding: 'utf8', timeout: 20000 });
}

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

fs.writeFileSync(path.join(dir, 'cert.pem'), 'x');
fs.writeFileSync(path.join(dir, 'key.pem'), 'x');

const VALID = `
listen: { host: 127.0.0.1, port: 6033 }
tls: { cert_file: cert.pem, key_file: key.pem }
backends:
  - name: primary
    host: 127.0.0.1
    port: 3306
    user: root
    password: "backend-secret"
users:
  - name: app
    password_hash: "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
    backend: primary
    default_schema: test
`;

const INVALID = `
backends:
  - name: primary
    host: 127.0.0.1
    user: root
  - name: replica
    host: 127.0.0.1
    port: 99999
    user: root
users:
  - name: app
    password: hunter2
    backend: primary
`;

test('--help, --version, no command, unknown command', () => {
  const help = run(['--help']);
  assert.is(help.status, 0);
  assert.match(help.stdout, /Usage: tenantgate <command>/);
  assert.match(help.stdout, /check-config FILE/);
  const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8')) as { version: string };
  const version = run(['--version']);
  assert.is(version.status, 0);
  assert.is(version.stdout.trim(), pkg.version);
  const none = run([]);
  assert.is(none.status, 2);
  assert.match(none.stderr, /Usage: tenantgate/);
  const unknown = run(['frobnicate']);
  assert.is(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
  assert.match(unknown.stderr, /Usage: tenantgate/);
});

test('check-config on a valid file: exit 0 and a summary without secrets', () => {
  const r = run(['check-config', write('valid.yaml', VALID)]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /valid\.yaml: OK/);
  assert.match(r.stdout, /listen: 127\.0\.0\.1:6033, TLS on/);
  assert.match(r.stdout, /primary: root@127\.0\.0\.1:3306/);
  assert.match(r.stdout, /app -> primary/);
  assert.not.match(r.stdout, /backend-secret|2470C0C0/);
  assert.is(r.stderr, '');
});

test('check-config on an invalid file: exit 1 and every problem with its YAML path on stderr', () => {
  const r = run(['check-config', write('invalid.yaml', INVALID)]);
  assert.is(r.status, 1);
  assert.is(r.stdout, '');
  assert.match(r.stderr, /invalid\.yaml: 2 problems/);
  assert.match(r.stderr, /^backends\[1\]\.port: expected a number from 1 to 65535 \(line 8\)$/m);
  assert.match(r.stderr, /^users\[0\]\.password: plaintext passwords are not accepted; run `tenantgate hash-password`/m);
});

test('check-config: missing file, missing argument', () => {
  const missing = run(['check-config', path.join(dir, 'nope.yaml')]);
  assert.is(missing.status, 1);
  assert.match(missing.stderr, /cannot read config: file not found/);
  const noArg = run(['check-config']);
  assert.is(noArg.status, 2);
  assert.match(noArg.stderr, /check-config needs a FILE/);
});

function hashesOf(stdout: string): { password_hash: string; sha2_hash: string } {
  const doc = parse(stdout) as { password_hash: string; sha2_hash: string };
  assert.equal(Object.keys(doc).sort(), ['password_hash', 'sha2_hash']);
  return doc;
}

test('hash-password PASSWORD: YAML lines whose hashes verify the password and nothing else', () => {
  const r = run(['hash-password', 'correct horse']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^password_hash: "\*[0-9A-F]{40}"\nsha2_hash: "\$A\$005\$.{63}"\n$/);
  const h = hashesOf(r.stdout);
  const nonce = Buffer.from('abcdefghij0123456789');
  assert.ok(verifyNative(h.password_hash, nonce, nativeToken('correct horse', nonce)));
  assert.not.ok(verifyNative(h.password_hash, nonce, nativeToken('correct horsE', nonce)));
  assert.ok(verifySha2Crypt(h.sha2_hash, 'correct horse'));
  assert.not.ok(verifySha2Crypt(h.sha2_hash, 'correct horsE'));
  // After a full auth the server caches stage2; the fast path then accepts the client's token.
  assert.ok(verifySha2Fast(sha2Stage2('correct horse'), nonce, sha2Token('correct horse', nonce)));
});

test('hash-password reads stdin when no argument is given (one trailing newline dropped)', () => {
  const r = run(['hash-password'], 'pass word \n');
  assert.is(r.status, 0, r.stderr);
  const h = hashesOf(r.stdout);
  assert.ok(verifySha2Crypt(h.sha2_hash, 'pass word '));
  const nonce = Buffer.alloc(20, 7);
  assert.ok(verifyNative(h.password_hash, nonce, nativeToken('pass word ', nonce)));
});

test('hash-password output pastes into a config that check-config accepts', () => {
  const r = run(['hash-password', 's3cret']);
  const lines = r.stdout.trimEnd().split('\n').map((l) => '    ' + l).join('\n');
  const file = write('pasted.yaml', `backends: [{ name: p, host: h, user: u }]\nusers:\n  - name: app\n    backend: p\n${lines}\n`);
  const check = run(['check-config', file]);
  assert.is(check.status, 0, check.stderr);
  assert.match(check.stdout, /app -> p \(native \+ caching_sha2\)/);
});

test('hash-password with an empty password prints password_hash: "" and a warning', () => {
  const r = run(['hash-password'], '');
  assert.is(r.status, 0);
  assert.is(r.stdout, 'password_hash: ""\n');
  assert.match(r.stderr, /empty password/);
});

test('start: usage error without --config; exit 1 with the problems on an invalid config', () => {
  const noConfig = run(['start']);
  assert.is(noConfig.status, 2);
  assert.match(noConfig.stderr, /start needs --config FILE/);
  const bad = run(['start', '--config', path.join(dir, 'invalid.yaml')]);
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /backends\[1\]\.port: expected a number from 1 to 65535/);
});

/** Spawns `tenantgate start`, collecting JSON log lines from stdout. */
function startProcess(configFile: string) {
  const child = spawn(process.execPath, [CLI, 'start', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, any>[] = [];
  let stderr = '';
  let buf = '';
  const waiters: { pred: (l: Record<string, any>) => boolean; resolve: (l: Record<string, any>) => void }[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let rec: Record<string, any>;
      try {
        rec = JSON.parse(line) as Record<string, any>;
      } catch {
        continue;
      }
      logs.push(rec);
      for (const w of waiters.splice(0)) (w.pred(rec) ? w.resolve(rec) : waiters.push(w));
    }
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitFor = (pred: (l: Record<string, any>) => boolean, ms = 10000) =>
    new Promise<Record<string, any>>((resolve, reject) => {
      const hit = logs.find(pred);
      if (hit) return resolve(hit);
      const t = setTimeout(() => reject(new Error(`timed out; logs: ${JSON.stringify(logs)} stderr: ${stderr}`)), ms);
      waiters.push({ pred, resolve: (l) => (clearTimeout(t), resolve(l)) });
    });
  return { child, logs, exited, waitFor, stderr: () => stderr };
}

const START_CONFIG = `
listen: { host: 127.0.0.1, port: 0 }
server: { version: 8.0.36-tenantgate }
backends: [{ name: primary, host: 127.0.0.1, port: 1, user: root }]
users: [{ name: app, password_hash: "", backend: primary }]
log: { level: info }
`;

if (fs.existsSync(PROXY_MODULE)) {
  test('start: listens, logs where, and exits 0 on SIGTERM', async () => {
    const p = startProcess(write('start.yaml', START_CONFIG));
    try {
      const listening = await p.waitFor((l) => /listening/.test(String(l.msg)));
      assert.is(listening.level, 'info');
      assert.type(listening.port, 'number');
      assert.ok(listening.port > 0);
      await new Promise<void>((resolve, reject) => {
        const s = net.connect(listening.port as number, '127.0.0.1', () => (s.destroy(), resolve()));
        s.on('error', reject);
      });
      p.child.kill('SIGTERM');
      assert.is(await p.exited, 0, p.stderr());
      assert.ok(p.logs.some((l) => l.msg === 'stopping' && l.signal === 'SIGTERM'));
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  test('SIGHUP reloads (an invalid file is refused and logged); config history, diff and rollback --offline', async () => {
    const file = write('hup.yaml', START_CONFIG);
    fs.rmSync(file + '.history.jsonl', { force: true });
    const p = startProcess(file);
    try {
      await p.waitFor((l) => /listening/.test(String(l.msg)));
      fs.writeFileSync(file, START_CONFIG.replace('port: 1,', 'port: 2,'));
      p.child.kill('SIGHUP');
      const ok = await p.waitFor((l) => l.msg === 'config reloaded');
      assert.equal([ok.version, ok.source, ok.diff], [2, 'signal', ['~ backend primary: port: 1 → 2']]);
      fs.writeFileSync(file, START_CONFIG.replace('port: 1,', 'port: 0,'));
      p.child.kill('SIGHUP');
      const bad = await p.waitFor((l) => l.msg === 'config reload refused; the running config is unchanged');
      assert.is(bad.version, 2);
      assert.match(JSON.stringify(bad.problems), /backends\[0\]\.port: expected a number from 1 to 65535/);
      p.child.kill('SIGTERM');
      assert.is(await p.exited, 0, p.stderr());
    } finally {
      p.child.kill('SIGKILL');
    }
    const hist = run(['config', 'history', '--config', file]);
    assert.is(hist.status, 0, hist.stderr);
    assert.match(hist.stdout, /^1\t\S+\tstart\t/m);
    assert.match(hist.stdout, /^2\t\S+\tsignal\t1 change\n\t~ backend primary: port: 1 → 2$/m);
    const diff = run(['config', 'diff', '2', '1', '--config', file]);
    assert.is(diff.stdout, '~ backend primary: port: 2 → 1\n');
    assert.is(run(['config', 'rollback', '1', '--config', file]).status, 2);
    const rb = run(['config', 'rollback', '1', '--offline', '--config', file]);
    assert.is(rb.status, 0, rb.stderr);
    assert.is(fs.readFileSync(file, 'utf8'), START_CONFIG);
    assert.is(run(['config', 'diff', '1', '9', '--config', file]).status, 1);
  });
} else {
  test('start: without the server module built, fails with a clear fatal log and exit 1', async () => {
    const p = startProcess(write('start.yaml', START_CONFIG));
    assert.is(await p.exited, 1);
    assert.ok(p.logs.some((l) => l.level === 'fatal' && /cannot load the proxy server module/.test(String(l.msg))), JSON.stringify(p.logs));
  });
}

test('hash-token prints the SHA-256 line for admin.tokens', () => {
  const r = run(['hash-token', 's3cret']);
  assert.is(r.status, 0);
  assert.is(r.stdout, `token_hash: ${createHash('sha256').update('s3cret').digest('hex')}\n`);
});

test.run();
