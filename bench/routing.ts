/**
 * `npm run bench -- --routing`: what tenant routing costs and what read/write splitting buys, in one
 * run on one machine, alternating the paths inside each cell:
 *
 *   (a) routing cost: oltp_point_select through tenantgate in passthrough (a plain user → primary)
 *       vs routed (a tenant with `reads: primary`: identification, isolation, plan cache, selector,
 *       the tenant's own backend account; same server);
 *   (b) oltp_read_only over a primary + two replicas through tenantgate (a tenant reading from
 *       replicas) vs direct to the primary;
 *   (c) identity switching: two tenants on one cluster sharing the backend pool at once; the
 *       proxy's /health reports borrowed connections already logged in as the tenant (hits) and
 *       COM_CHANGE_USER switches with their total time.
 *
 * Options: --time N (seconds per run, default 10), --rounds N (default 2), --threads N (default 8),
 * --tables N --table-size N (default 4 × 10000), --out FILE (default bench/routing-last-run.md).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { nativeHash } from '../src/protocol/auth';
import { tenantGrantStatements } from '../src/routing/grants';
import { destroyAll, startReplicaSet, type ReplicaSet } from '../test/helpers/mariadb';
import { Child, freePort, startChild, stopAllChildren, stopChild, waitForPort } from './e2e/children';
import { describeMachine, machineLines } from './e2e/machine';
import { cpuMicros } from './e2e/procstat';
import { prepare, runWorkload, type RunSpec, type Target } from './e2e/sysbench';

const ROOT = resolve(__dirname, '..', '..');
const SERVER_ARGS = ['--innodb-buffer-pool-size=128M', '--max-connections=2000', '--max-prepared-stmt-count=100000'];

interface Opts {
  seconds: number;
  rounds: number;
  threads: number;
  tables: number;
  tableSize: number;
  out: string;
}

function parse(argv: string[]): Opts {
  const o: Opts = { seconds: Number(process.env.BENCH_TIME ?? 10), rounds: 2, threads: 8, tables: 4, tableSize: 10_000, out: join(ROOT, 'bench', 'routing-last-run.md') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    const n = Number(v);
    if (a === '--routing') continue;
    if (a === '--out' && v) (o.out = resolve(v)), i++;
    else if (a === '--time' && n > 0) (o.seconds = n), i++;
    else if (a === '--rounds' && n > 0) (o.rounds = n), i++;
    else if (a === '--threads' && n > 0) (o.threads = n), i++;
    else if (a === '--tables' && n > 0) (o.tables = n), i++;
    else if (a === '--table-size' && n > 0) (o.tableSize = n), i++;
    else throw new Error(`bench --routing: unknown or incomplete option ${a}`);
  }
  return o;
}

const q = (s: string) => JSON.stringify(s);

function routedYaml(port: number, adminPort: number, rs: ReplicaSet): string {
  const b = (name: string, p: number) => `  - { name: ${name}, host: 127.0.0.1, port: ${p}, user: root, password: "", max_connections: 48 }`;
  const tenant = (id: string, schema: string, reads: string, user: string) =>
    `  - { id: ${id}, tier: separate_schema, cluster: c, schema: ${schema}, backend_user: tg_${id}, backend_password: "pw-${id}", reads: ${reads}, users: [${user}] }`;
  return [
    `listen: { host: 127.0.0.1, port: ${port} }`,
    `admin: { host: 127.0.0.1, port: ${adminPort} }`,
    'backends:',
    b('primary', rs.primary.port),
    b('replica1', rs.replicas[0]!.port),
    b('replica2', rs.replicas[1]!.port),
    'clusters:',
    '  - { name: c, primary: primary, replicas: [{ backend: replica1 }, { backend: replica2 }] }',
    'users:',
    ...['sb_a', 'sb_b', 'sb_r'].map((u) => `  - { name: ${u}, password_hash: ${q(nativeHash('sbtest'))} }`),
    'tenants:',
    tenant('ta', 'sbtest', 'primary', 'sb_a'),
    tenant('tb', 'sbtest2', 'primary', 'sb_b'),
    tenant('tr', 'sbtest3', 'replica', 'sb_r'),
    `log: { level: ${process.env.BENCH_PROXY_LOG ?? 'warn'} }`,
    '',
  ].join('\n');
}

function passthroughYaml(port: number, rs: ReplicaSet): string {
  return [
    `listen: { host: 127.0.0.1, port: ${port} }`,
    'backends:',
    `  - { name: primary, host: 127.0.0.1, port: ${rs.primary.port}, user: root, password: "", max_connections: 48 }`,
    'users:',
    `  - { name: sbtest, password_hash: ${q(nativeHash('sbtest'))}, backend: primary, default_schema: sbtest }`,
    `log: { level: ${process.env.BENCH_PROXY_LOG ?? 'warn'} }`,
    '',
  ].join('\n');
}

async function startProxy(dir: string, name: string, yaml: (port: number) => string): Promise<{ child: Child; port: number }> {
  const port = await freePort();
  const cfg = join(dir, `${name}.yaml`);
  writeFileSync(cfg, yaml(port));
  const child = startChild(name, process.execPath, [join(ROOT, 'dist', 'src', 'cli.js'), 'start', '--config', cfg]);
  await waitForPort(child, '127.0.0.1', port, 15_000);
  return { child, port };
}

interface Result {
  cell: string;
  path: string;
  qps: number[];
  cpuUs: number[];
}

async function health(adminPort: number): Promise<{ identity: { hits: number; switches: number; switchMs: number } }> {
  const r = await fetch(`http://127.0.0.1:${adminPort}/health`);
  return (await r.json()) as { identity: { hits: number; switches: number; switchMs: number } };
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const lines: string[] = [];
  const log = (s: string) => {
    console.log(s);
    lines.push(s);
  };
  const machine = describeMachine();
  console.log('tenantgate routing bench\n' + machineLines(machine).join('\n'));
  const dir = mkdtempSync(join(tmpdir(), 'tenantgate-bench-routing-'));
  let rs: ReplicaSet | undefined;
  try {
    console.log('starting a GTID primary + 2 replicas …');
    rs = await startReplicaSet(2);
    for (const s of [rs.primary, ...rs.replicas]) await s.query('SET GLOBAL max_connections = 2000');
    const root: Target = { host: '127.0.0.1', port: rs.primary.port, user: 'root', password: '', db: 'sbtest' };
    for (const [id, schema] of [['ta', 'sbtest'], ['tb', 'sbtest2'], ['tr', 'sbtest3']] as const) {
      for (const g of tenantGrantStatements({ id, tier: 'separate_schema', cluster: 'c', schema, backendUser: `tg_${id}`, backendPassword: `pw-${id}`, reads: 'replica', users: [], allowUseSwitch: false })) {
        await rs.primary.query(g);
      }
      console.log(`preparing ${schema}: ${o.tables} tables × ${o.tableSize} rows …`);
      await prepare({ ...root, db: schema }, o.tables, o.tableSize);
    }
    await rs.waitForReplication(120_000);
    const rsv = rs;
    const adminPort = await freePort();
    const pass = await startProxy(dir, 'tenantgate-passthrough', (p) => passthroughYaml(p, rsv));
    const routed = await startProxy(dir, 'tenantgate-routed', (p) => routedYaml(p, adminPort, rsv));
    // replicas in rotation before measuring (the monitor's default interval is 1 s, rise 2 samples)
    await new Promise((r) => setTimeout(r, 4000));

    const spec = (workload: string, ps: boolean, threads = o.threads): RunSpec => ({ workload, ps, threads, seconds: o.seconds, tables: o.tables, tableSize: o.tableSize, ignoreErrors: 'none' });
    const results: Result[] = [];
    const run = async (cell: string, path: string, t: Target, s: RunSpec, child: Child | null) => {
      let r = results.find((x) => x.cell === cell && x.path === path);
      if (!r) results.push((r = { cell, path, qps: [], cpuUs: [] }));
      const c0 = child ? cpuMicros(child.pid) : undefined;
      const res = await runWorkload(t, s);
      const c1 = child ? cpuMicros(child.pid) : undefined;
      r.qps.push(res.qps);
      if (c0 !== undefined && c1 !== undefined) r.cpuUs.push((c1 - c0) / res.queries);
      console.log(`  ${cell.padEnd(34)} ${path.padEnd(34)} ${res.qps.toFixed(0).padStart(7)} qps`);
    };
    const viaPass: Target = { host: '127.0.0.1', port: pass.port, user: 'sbtest', password: 'sbtest', db: 'sbtest' };
    const viaA: Target = { host: '127.0.0.1', port: routed.port, user: 'sb_a', password: 'sbtest', db: 'sbtest' };
    const viaB: Target = { host: '127.0.0.1', port: routed.port, user: 'sb_b', password: 'sbtest', db: 'sbtest2' };
    const viaR: Target = { host: '127.0.0.1', port: routed.port, user: 'sb_r', password: 'sbtest', db: 'sbtest3' };

    console.log('warming up …');
    for (const t of [viaPass, viaA, viaR]) await runWorkload(t, { ...spec('oltp_point_select', true), seconds: 2 });
    const h0 = await health(adminPort);
    for (let round = 1; round <= o.rounds; round++) {
      console.log(`round ${round}/${o.rounds}`);
      for (const ps of [true, false]) {
        const cell = `(a) oltp_point_select ps=${ps ? 'on' : 'off'} t=${o.threads}`;
        await run(cell, 'passthrough (user → primary)', viaPass, spec('oltp_point_select', ps), pass.child);
        await run(cell, 'routed (tenant, reads: primary)', viaA, spec('oltp_point_select', ps), routed.child);
      }
      const cell = `(b) oltp_read_only ps=on t=${o.threads}`;
      await run(cell, 'direct to the primary', { ...root, db: 'sbtest3' }, spec('oltp_read_only', true), null);
      await run(cell, 'routed (tenant, reads on 2 replicas)', viaR, spec('oltp_read_only', true), routed.child);
    }
    const h1 = await health(adminPort);
    // (c) two tenants at once on one pool: the borrow prefers a connection already logged in as the tenant.
    console.log('(c) two tenants sharing the pool at once …');
    const half = Math.max(1, Math.floor(o.threads / 2));
    const [ra, rb] = await Promise.all([runWorkload(viaA, spec('oltp_point_select', true, half)), runWorkload(viaB, spec('oltp_point_select', true, half))]);
    const h2 = await health(adminPort);

    const row = (cell: string) => results.filter((r) => r.cell === cell);
    log(`# routing bench (${new Date().toISOString()})\n`);
    log(machineLines(machine).map((l) => `    ${l}`).join('\n'));
    log(`\n${o.rounds} alternating rounds × ${o.seconds} s per run, ${o.tables} × ${o.tableSize} rows, sysbench --threads=${o.threads}; QPS is the mean of the rounds.\n`);
    log('| cell | path | QPS (mean) | per round | ratio | proxy CPU µs/query |');
    log('| --- | --- | --- | --- | --- | --- |');
    for (const cell of [...new Set(results.map((r) => r.cell))]) {
      const rs2 = row(cell);
      const base = mean(rs2[0]!.qps);
      for (const r of rs2) {
        log(`| ${cell} | ${r.path} | ${mean(r.qps).toFixed(0)} | ${r.qps.map((x) => x.toFixed(0)).join(', ')} | ${(mean(r.qps) / base).toFixed(3)} | ${r.cpuUs.length ? mean(r.cpuUs).toFixed(1) : '—'} |`);
      }
    }
    const idA = { hits: h1.identity.hits - h0.identity.hits, switches: h1.identity.switches - h0.identity.switches, ms: h1.identity.switchMs - h0.identity.switchMs };
    const idC = { hits: h2.identity.hits - h1.identity.hits, switches: h2.identity.switches - h1.identity.switches, ms: h2.identity.switchMs - h1.identity.switchMs };
    const rate = (x: { hits: number; switches: number }) => ((100 * x.hits) / Math.max(1, x.hits + x.switches)).toFixed(2);
    const per = (x: { switches: number; ms: number }) => (x.switches ? (x.ms / x.switches).toFixed(3) : '—');
    log('\nIdentity (borrowed connection already logged in as the statement\'s tenant account = hit; else COM_CHANGE_USER + re-initialisation):\n');
    log('| phase | hits | switches | hit rate % | mean switch ms |');
    log('| --- | --- | --- | --- | --- |');
    log(`| (a)+(b) one tenant at a time | ${idA.hits} | ${idA.switches} | ${rate(idA)} | ${per(idA)} |`);
    log(`| (c) two tenants at once, ${half}+${half} threads | ${idC.hits} | ${idC.switches} | ${rate(idC)} | ${per(idC)} |`);
    log(`\n(c) QPS: tenant ta ${ra.qps.toFixed(0)}, tenant tb ${rb.qps.toFixed(0)}.`);
    writeFileSync(o.out, lines.join('\n') + '\n');
    console.log(`wrote ${o.out}`);
    await stopChild(pass.child, 5000);
    await stopChild(routed.child, 5000);
  } finally {
    await stopAllChildren();
    await rs?.destroy().catch(() => undefined);
    await destroyAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench --routing failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
