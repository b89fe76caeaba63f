/** Config store: validated reload, atomic swap, history, rollback, diff and the pool plan. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { backendSettingsHash, diffConfigs, formatDiff, planPools, redactConfig } from '../../../src/config/diff';
import { readHistory } from '../../../src/config/history';
import { parseConfig } from '../../../src/config/load';
import { ConfigStore } from '../../../src/config/store';

const NATIVE = '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-store-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

function yaml(o: { port2?: number; maxConn?: number; tenantCluster?: string; extraBackend?: boolean; pw?: string } = {}): string {
  return `
backends:
  - { name: a, host: 127.0.0.1, port: 3306, user: p, password: "${o.pw ?? 's1'}", max_connections: ${o.maxConn ?? 10} }
  - { name: b, host: 127.0.0.1, port: ${o.port2 ?? 3307}, user: p }
${o.extraBackend ? '  - { name: c, host: 127.0.0.1, port: 3308, user: p }\n' : ''}users:
  - { name: app, password_hash: "${NATIVE}" }
clusters:
  - { name: c1, primary: a }
  - { name: c2, primary: b }
tenants:
  - { id: acme, tier: separate_schema, cluster: ${o.tenantCluster ?? 'c1'}, schema: acme, backend_user: acme, backend_password: x, users: [app] }
`;
}

function fresh(name: string, text: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

test('planPools keeps unchanged backends, replaces changed ones, adds and removes by name', () => {
  const a = parseConfig(yaml());
  const b = parseConfig(yaml({ port2: 4000, extraBackend: true }));
  assert.equal(planPools(a.backends, b.backends), { keep: ['a'], replace: ['b'], add: ['c'], remove: [] });
  assert.equal(planPools(b.backends, a.backends), { keep: ['a'], replace: ['b'], add: [], remove: ['c'] });
  assert.is(backendSettingsHash(a.backends[0]!), backendSettingsHash(parseConfig(yaml()).backends[0]!));
  assert.is.not(backendSettingsHash(a.backends[0]!), backendSettingsHash(parseConfig(yaml({ maxConn: 11 })).backends[0]!));
});

test('formatDiff: readable lines, secrets by field name only', () => {
  const a = parseConfig(yaml());
  const b = parseConfig(yaml({ port2: 4000, tenantCluster: 'c2', extraBackend: true, pw: 'new-secret' }));
  const lines = formatDiff(diffConfigs(a, b));
  assert.equal(lines, [
    '+ backend c',
    '~ backend a: password changed',
    '~ backend b: port: 3307 → 4000',
    '~ tenant acme: cluster: c1 → c2',
    '~ user app: backend: a → b',
  ]);
  assert.not.match(lines.join('\n'), /new-secret|s1/);
});

test('redactConfig hides passwords and hashes', () => {
  const text = JSON.stringify(redactConfig(parseConfig(yaml())));
  assert.not.match(text, /"s1"|2470C0C0/);
  assert.match(text, /\(redacted\)/);
});

test('reload: invalid file changes nothing and reports the same problems as check-config', () => {
  const f = fresh('inv.yaml', yaml());
  const store = ConfigStore.open(f);
  let swaps = 0;
  store.onSwap(() => swaps++);
  const before = store.current;
  fs.writeFileSync(f, yaml().replace('port: 3307,', 'port: 99999,'));
  const r = store.reload('signal');
  assert.is(r.ok, false);
  if (!r.ok) assert.equal(r.problems.map((p) => [p.path, p.line]), [['backends[1].port', 4]]);
  assert.is(store.current, before);
  assert.is(swaps, 0);
  fs.writeFileSync(f, 'backends: [');
  assert.is(store.reload('signal').ok, false);
  fs.rmSync(f);
  const gone = store.reload('signal');
  assert.is(gone.ok, false);
  if (!gone.ok) assert.match(gone.problems[0]!.message, /file not found/);
  assert.is(store.current, before);
  assert.is(readHistory(store.historyFile!).length, 1);
});

test('reload: valid file swaps, bumps the version, calls listeners with the diff, appends history', () => {
  const f = fresh('ok.yaml', yaml());
  const store = ConfigStore.open(f);
  assert.is(store.version, 1);
  const seen: string[] = [];
  store.onSwap((next, prev, diff) => seen.push(`${prev.version}->${next.version}:${diff.tenants.changed.length}`));
  fs.writeFileSync(f, yaml({ tenantCluster: 'c2' }));
  const r = store.reload('api:ops');
  assert.ok(r.ok && r.changed);
  assert.is(store.version, 2);
  assert.equal(seen, ['1->2:1']);
  assert.is(store.current.config.tenants[0]!.cluster, 'c2');
  // Same text again: nothing to apply, no new version.
  const again = store.reload('signal');
  assert.ok(again.ok && !again.changed);
  assert.is(store.version, 2);
  const hist = readHistory(store.historyFile!);
  assert.equal(hist.map((e) => [e.version, e.source]), [[1, 'start'], [2, 'api:ops']]);
  // The tenant's user follows it to the other cluster's primary.
  assert.equal(hist[1]!.diff, ['~ tenant acme: cluster: c1 → c2', '~ user app: backend: a → b']);
  assert.is((fs.statSync(store.historyFile!).mode & 0o777).toString(8), '600');
});

test('rollback re-applies an earlier snapshot exactly, writes it back to the file, and is recorded', () => {
  const f = fresh('rb.yaml', yaml());
  const store = ConfigStore.open(f);
  const v1 = store.current.config;
  fs.writeFileSync(f, yaml({ port2: 4000, extraBackend: true }));
  store.reload('signal');
  fs.writeFileSync(f, yaml({ tenantCluster: 'c2' }));
  store.reload('signal');
  assert.is(store.version, 3);
  const r = store.rollback(1, 'api:ops');
  assert.ok(r.ok && r.changed);
  assert.is(store.version, 4);
  assert.equal(store.current.config, v1);
  assert.is(fs.readFileSync(f, 'utf8'), yaml());
  assert.is(readHistory(store.historyFile!)[3]!.source, 'rollback:1 by api:ops');
  assert.is(store.rollback(99, 'x').ok, false);
});

test('restart: the version continues from the history; replaying the history rebuilds the running snapshot', () => {
  const f = fresh('rs.yaml', yaml());
  const s1 = ConfigStore.open(f);
  fs.writeFileSync(f, yaml({ tenantCluster: 'c2' }));
  s1.reload('signal');
  // Same file at restart: same version, no new entry.
  const s2 = ConfigStore.open(f);
  assert.is(s2.version, 2);
  // Changed while down: a new version from 'start'.
  fs.writeFileSync(f, yaml({ extraBackend: true }));
  const s3 = ConfigStore.open(f);
  assert.is(s3.version, 3);
  const hist = readHistory(s3.historyFile!);
  assert.equal(hist.map((e) => e.source), ['start', 'signal', 'start']);
  assert.equal(hist[2]!.diff, ['+ backend c', '~ tenant acme: cluster: c2 → c1', '~ user app: backend: b → a']);
  const last = hist[hist.length - 1]!;
  assert.equal(parseConfig(last.text, f, { baseDir: dir }), s3.current.config);
});

test('history.dir puts the history elsewhere', () => {
  const hdir = path.join(dir, 'hist');
  const f = fresh('hd.yaml', yaml() + `history: { dir: hist }\n`);
  const store = ConfigStore.open(f);
  assert.is(store.historyFile, path.join(hdir, 'hd.yaml.history.jsonl'));
  assert.is(readHistory(store.historyFile!).length, 1);
});

test.run();
