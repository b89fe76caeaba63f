/**
 * `npm run bench`: sysbench OLTP through tenantgate, directly against MariaDB, and through HAProxy in
 * TCP mode (the L4 reference), alternating the three paths inside every (workload, ps, threads) cell so
 * drift hits all of them; then an idle-connections memory test. Prints a table and writes
 * bench/last-run.md. See bench/RESULTS.md for how to read it.
 *
 * Options (after `npm run bench --`):
 *   --quick               5 s runs, oltp_point_select only, no idle test unless --idle is given
 *   --time N              seconds per run (default 10; env BENCH_TIME)
 *   --idle N              idle connections to hold through tenantgate (default 10000 in a full run; 0 = skip)
 *   --no-idle             skip the idle test
 *   --only-idle           skip sysbench runs (the idle test only)
 *   --paths a,b           subset of direct,haproxy,tenantgate
 *   --workloads a,b       subset of oltp_point_select,oltp_read_only,oltp_read_write
 *   --threads 1,8         thread counts
 *   --ps on,off           prepared statements on (sysbench default) and/or off (--db-ps-mode=disable)
 *   --warmup N            seconds of warm-up per path before measuring (default 3; 2 with --quick)
 *   --tables N --table-size N   sysbench data set (default 4 × 10000)
 *   --ignore-errors LIST  passed to --mysql-ignore-errors (default none: any error fails the run)
 *   --out FILE            Markdown output (default bench/last-run.md)
 *   --micro [filter]      run the micro benchmarks instead (same as npm run bench:micro)
 *   --routing [opts]      run the routing bench instead (bench/routing.ts: routing cost, read/write split, identity switches)
 *
 * Env TENANTGATE_CLI overrides the proxy entry point (default dist/src/cli.js), to test the bench
 * itself against a stand-in.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { destroyAll, MariaDbServer, startServer } from '../test/helpers/mariadb';
import { Child, killAllChildrenSync, lastOutput, sleep, startChild, stopAllChildren, stopChild } from './e2e/children';
import { currentLoad, describeMachine, Machine, machineLines } from './e2e/machine';
import { HAPROXY, Hop, startHaproxy, startTenantgate } from './e2e/middle-hops';
import { cpuMicros, openFilesLimit, statusBytes } from './e2e/procstat';
import { consoleTable, markdownTable, PathName, Row } from './e2e/report';
import { killRunningSysbench, prepare, RunSpec, runWorkload, Target } from './e2e/sysbench';

const ALL_PATHS: PathName[] = ['direct', 'haproxy', 'tenantgate'];
const ALL_WORKLOADS = ['oltp_point_select', 'oltp_read_only', 'oltp_read_write'];
const SERVER_ARGS = ['--innodb-buffer-pool-size=256M', '--max-connections=2000', '--max-prepared-stmt-count=100000'];
const IDLE_TARGET_MB = 150;
const ROOT = resolve(__dirname, '..', '..');

interface Options {
  quick: boolean;
  seconds: number;
  idle: number;
  onlyIdle: boolean;
  paths: PathName[];
  workloads: string[];
  threads: number[];
  ps: boolean[];
  warmup: number;
  tables: number;
  tableSize: number;
  ignoreErrors: string;
  out: string;
}

function usageExit(msg: string): never {
  process.stderr.write(`bench: ${msg}\nsee the header of bench/run.ts for options\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) usageExit(`unexpected argument ${a}`);
    const eq = a.indexOf('=');
    if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
    else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) flags.set(a.slice(2), argv[++i]!);
    else flags.set(a.slice(2), true);
  }
  const known = ['quick', 'time', 'idle', 'no-idle', 'only-idle', 'paths', 'workloads', 'threads', 'ps', 'warmup', 'tables', 'table-size', 'ignore-errors', 'out'];
  for (const k of flags.keys()) if (!known.includes(k)) usageExit(`unknown option --${k}`);
  const str = (k: string): string | undefined => {
    const v = flags.get(k);
    if (v === true) usageExit(`--${k} needs a value`);
    return v;
  };
  const int = (k: string, dflt: number): number => {
    const v = str(k);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) usageExit(`--${k} must be a non-negative integer, got ${v}`);
    return n;
  };
  const list = (k: string, dflt: string[], allowed?: string[]): string[] => {
    const v = str(k);
    if (v === undefined) return dflt;
    const items = v.split(',').map((s) => s.trim()).filter(Boolean);
    if (allowed) for (const it of items) if (!allowed.includes(it)) usageExit(`--${k}: ${it} is not one of ${allowed.join(',')}`);
    return items;
  };
  const quick = flags.has('quick');
  const envTime = process.env.BENCH_TIME ? Number(process.env.BENCH_TIME) : undefined;
  const seconds = int('time', envTime ?? (quick ? 5 : 10));
  if (seconds < 1) usageExit('--time must be at least 1');
  let idle = int('idle', quick ? 0 : 10_000);
  if (flags.has('no-idle')) idle = 0;
  return {
    quick,
    seconds,
    idle,
    onlyIdle: flags.has('only-idle'),
    paths: list('paths', ALL_PATHS, ALL_PATHS) as PathName[],
    workloads: list('workloads', quick ? ['oltp_point_select'] : ALL_WORKLOADS, ALL_WORKLOADS),
    threads: list('threads', ['1', '8']).map((t) => {
      const n = Number(t);
      if (!Number.isInteger(n) || n < 1) usageExit(`--threads: bad count ${t}`);
      return n;
    }),
    ps: list('ps', ['on', 'off'], ['on', 'off']).map((p) => p === 'on'),
    warmup: int('warmup', quick ? 2 : 3),
    tables: int('tables', 4),
    tableSize: int('table-size', 10_000),
    ignoreErrors: str('ignore-errors') ?? 'none',
    out: resolve(str('out') ?? join(ROOT, 'bench', 'last-run.md')),
  };
}

// ---------------------------------------------------------------------------------------------
// cleanup

let tmpDir: string | undefined;
let server: MariaDbServer | undefined;

function cleanupSync(): void {
  killRunningSysbench();
  killAllChildrenSync();
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
  tmpDir = undefined;
  // test/helpers/mariadb kills and deletes its servers in its own exit hook.
}

async function cleanup(): Promise<void> {
  killRunningSysbench();
  await stopAllChildren();
  if (server) await server.destroy().catch(() => undefined);
  server = undefined;
  await destroyAll();
  cleanupSync();
}

function installHooks(): void {
  process.once('exit', cleanupSync);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping everything this run started\n`);
      // The MariaDB helper's own handler exits the process right after this; 'exit' kills the rest.
      cleanupSync();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// paths

/** The state of one path: its target, and for a middle hop the process to measure. */
interface PathState {
  name: PathName;
  target?: Target;
  hop?: Hop;
  /** Why the path cannot be measured right now. */
  unavailable?: string;
  /** Proxy crashes seen (tenantgate is restarted before the next run after a crash). */
  crashes: string[];
  /** The last run on this path, to say after which run a crash was noticed. */
  lastRun?: string;
}

function log(msg: string): void {
  process.stdout.write(msg + '\n');
}

function errMsg(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
}

async function startTenantgateHop(serverPort: number, nofile: number): Promise<Hop> {
  return startTenantgate({
    dir: tmpDir!,
    cliPath: process.env.TENANTGATE_CLI ?? join(ROOT, 'dist', 'src', 'cli.js'),
    serverPort,
    nofile,
    backendMaxConnections: 32,
  });
}

async function ensureTenantgate(p: PathState, serverPort: number, nofile: number): Promise<void> {
  if (p.hop && !p.hop.child.exited) return;
  if (p.hop?.child.exited) {
    const after = p.lastRun ? ` after ${p.lastRun}` : '';
    const why = `tenantgate ${p.hop.child.exitDescription}${after}; last output: ${lastOutput(p.hop.child)}`;
    p.crashes.push(why);
    log(`  ! ${why} — restarting it`);
  }
  p.hop = undefined;
  try {
    p.hop = await startTenantgateHop(serverPort, nofile);
    p.target = { host: p.hop.host, port: p.hop.port, user: 'sbtest', password: 'sbtest', db: 'sbtest' };
    p.unavailable = undefined;
  } catch (err) {
    p.unavailable = errMsg(err);
  }
}

async function measure(p: PathState, spec: RunSpec, warmup = false): Promise<Row> {
  const row: Row = { workload: spec.workload, ps: spec.ps, threads: spec.threads, path: p.name };
  p.lastRun = `${spec.workload} ps=${spec.ps ? 'on' : 'off'} threads=${spec.threads}${warmup ? ' (warm-up)' : ''}`;
  if (!p.target || p.unavailable) {
    row.failure = p.unavailable ?? 'not started';
    return row;
  }
  const pid = p.hop?.child.pid;
  const cpu0 = pid !== undefined ? cpuMicros(pid) : undefined;
  try {
    const r = await runWorkload(p.target, spec);
    const cpu1 = pid !== undefined ? cpuMicros(pid) : undefined;
    Object.assign(row, { qps: r.qps, avgMs: r.avgMs, p95Ms: r.p95Ms, errors: r.errors + r.reconnects });
    if (cpu0 !== undefined && cpu1 !== undefined && r.queries > 0) row.cpuUsPerQuery = (cpu1 - cpu0) / r.queries;
    if (pid !== undefined) row.rssBytes = statusBytes(pid, 'VmRSS');
  } catch (err) {
    row.failure = errMsg(err);
    if (p.hop?.child.exited) row.failure += ` (${p.name} ${p.hop.child.exitDescription}; last output: ${lastOutput(p.hop.child)})`;
  }
  return row;
}

function progressLine(r: Row): string {
  const cell = `${r.workload} ps=${r.ps ? 'on' : 'off'} threads=${r.threads} ${r.path}`.padEnd(48);
  if (r.qps === undefined) return `  ${cell} failed: ${r.failure}`;
  const extra = r.cpuUsPerQuery !== undefined ? `  ${r.cpuUsPerQuery.toFixed(1)} µs/q  ${((r.rssBytes ?? 0) / 2 ** 20).toFixed(1)} MB` : '';
  return `  ${cell} ${Math.round(r.qps).toString().padStart(7)} qps  avg ${r.avgMs!.toFixed(2)} ms  p95 ${r.p95Ms!.toFixed(2)} ms${extra}`;
}

// ---------------------------------------------------------------------------------------------
// idle connections

interface IdleResult {
  n: number;
  failure?: string;
  opened?: number;
  failed?: number;
  openMs?: number;
  openErrors?: Record<string, number>;
  rssBeforeBytes?: number;
  rssHeldBytes?: number;
  hwmBytes?: number;
  pingOk?: number;
  pingFailed?: number;
  pingMs?: number;
  closedWhileIdle?: number;
  clientRssBytes?: number;
  proxyNofile?: number;
}

interface IdleEvent {
  event: string;
  [k: string]: unknown;
}

/** Runs the lean idle client as a child with a raised fd limit; resolves events by name. */
function startIdleClient(target: Target, n: number): { child: Child; next: (event: string, timeoutMs: number) => Promise<IdleEvent>; send: (cmd: string) => void } {
  const waiters: Array<{ event: string; resolve: (e: IdleEvent) => void }> = [];
  const seen: IdleEvent[] = [];
  let buf = '';
  const nofile = n + 1024;
  const child = startChild(
    'idle-client',
    'bash',
    [
      '-c',
      `ulimit -n ${nofile} 2>/dev/null || { echo "cannot raise open-files limit to ${nofile} (ulimit -n is $(ulimit -n))" >&2; exit 3; }; exec "$0" "$@"`,
      process.execPath,
      join(__dirname, 'e2e', 'idle-client.js'),
      target.host,
      String(target.port),
      target.user,
      target.password,
      target.db,
      String(n),
      '200',
    ],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
      onStdout: (chunk) => {
        buf += chunk.toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          let ev: IdleEvent;
          try {
            ev = JSON.parse(line) as IdleEvent;
          } catch {
            continue;
          }
          if (ev.event === 'progress') log(`  idle: ${ev.finished}/${n} handshakes done (${ev.failed} failed)`);
          const w = waiters.findIndex((x) => x.event === ev.event);
          if (w >= 0) waiters.splice(w, 1)[0]!.resolve(ev);
          else seen.push(ev);
        }
      },
    },
  );
  const next = (event: string, timeoutMs: number): Promise<IdleEvent> =>
    new Promise((resolvePromise, reject) => {
      const i = seen.findIndex((e) => e.event === event);
      if (i >= 0) return resolvePromise(seen.splice(i, 1)[0]!);
      const timer = setTimeout(() => reject(new Error(`idle client: no '${event}' within ${timeoutMs} ms`)), timeoutMs);
      const onExit = (): void => {
        clearTimeout(timer);
        reject(new Error(`idle client ${child.exitDescription}: ${lastOutput(child)}`));
      };
      child.proc.once('exit', onExit);
      waiters.push({
        event,
        resolve: (e) => {
          clearTimeout(timer);
          child.proc.removeListener('exit', onExit);
          resolvePromise(e);
        },
      });
    });
  const send = (cmd: string): void => {
    child.proc.stdin?.write(cmd + '\n');
  };
  return { child, next, send };
}

async function idleTest(n: number, serverPort: number): Promise<IdleResult> {
  const res: IdleResult = { n };
  const selfLimit = openFilesLimit('self');
  log(`\nidle connections: ${n} through a fresh tenantgate (this process: ulimit -n ${selfLimit}; children get ${n + 1024}+ via bash ulimit)`);
  let hop: Hop | undefined;
  let client: ReturnType<typeof startIdleClient> | undefined;
  try {
    hop = await startTenantgateHop(serverPort, Math.max(65_536, n + 1024));
    res.proxyNofile = openFilesLimit(hop.child.pid);
    if (res.proxyNofile !== undefined && res.proxyNofile < n + 100) {
      log(`  ! tenantgate may open only ${res.proxyNofile} files (needs ${n} + margin); raising failed — run as root or raise the hard limit (ulimit -Hn)`);
    }
    await sleep(1000);
    res.rssBeforeBytes = statusBytes(hop.child.pid, 'VmRSS');
    const target: Target = { host: hop.host, port: hop.port, user: 'sbtest', password: 'sbtest', db: 'sbtest' };
    client = startIdleClient(target, n);
    const ready = await client.next('ready', 300_000);
    Object.assign(res, {
      opened: ready.ok as number,
      failed: ready.failed as number,
      openMs: ready.ms as number,
      openErrors: ready.errors as Record<string, number>,
      clientRssBytes: ready.clientRssBytes as number,
    });
    log(`  idle: ${res.opened} open, ${res.failed} failed in ${res.openMs} ms${res.failed ? ` — ${JSON.stringify(res.openErrors)}` : ''}`);
    // Let the proxy settle (timers, GC) before reading its memory.
    await sleep(3000);
    if (hop.child.exited) throw new Error(`tenantgate ${hop.child.exitDescription} while holding idle connections; last output: ${lastOutput(hop.child)}`);
    res.rssHeldBytes = statusBytes(hop.child.pid, 'VmRSS');
    res.hwmBytes = statusBytes(hop.child.pid, 'VmHWM');
    client.send('ping');
    const ping = await client.next('ping', 120_000);
    Object.assign(res, { pingOk: ping.ok as number, pingFailed: ping.failed as number, pingMs: ping.ms as number, closedWhileIdle: ping.closedWhileIdle as number });
  } catch (err) {
    res.failure = errMsg(err);
  } finally {
    if (client) {
      client.send('close');
      await Promise.race([new Promise((r) => client!.child.proc.once('exit', r)), sleep(5000)]);
      await stopChild(client.child);
    }
    if (hop) await stopChild(hop.child, 5000);
  }
  return res;
}

function mb(b: number | undefined): string {
  return b === undefined ? '?' : (b / 2 ** 20).toFixed(1);
}

function idleLines(r: IdleResult): string[] {
  if (r.failure && r.rssHeldBytes === undefined) return [`idle ${r.n}: failed: ${r.failure}`];
  const held = r.rssHeldBytes ?? 0;
  const delta = held - (r.rssBeforeBytes ?? 0);
  const verdict = held / 2 ** 20 <= IDLE_TARGET_MB ? `within the ${IDLE_TARGET_MB} MB target` : `OVER the ${IDLE_TARGET_MB} MB target`;
  const lines = [
    `idle connections requested: ${r.n}; authenticated: ${r.opened} (${r.failed} failed) in ${r.openMs} ms`,
    `tenantgate RSS: ${mb(r.rssBeforeBytes)} MB before, ${mb(r.rssHeldBytes)} MB holding them (${verdict}); peak (VmHWM) ${mb(r.hwmBytes)} MB`,
    `≈ ${r.opened ? ((delta / r.opened) / 1024).toFixed(1) : '?'} KB per idle connection (RSS delta / connections)`,
    `COM_PING on every held connection afterwards: ${r.pingOk} ok, ${r.pingFailed} failed, ${r.closedWhileIdle} closed by the proxy while idle (${r.pingMs} ms)`,
    `lean client RSS: ${mb(r.clientRssBytes)} MB; tenantgate open-files limit: ${r.proxyNofile}`,
  ];
  if (r.failed && r.openErrors) lines.push(`handshake errors: ${JSON.stringify(r.openErrors)}`);
  if (r.failure) lines.push(`failure: ${r.failure}`);
  return lines;
}

// ---------------------------------------------------------------------------------------------
// main

function markdown(m: Machine, o: Options, rows: Row[], idle: IdleResult | undefined, notes: string[], endLoad: string, minutes: number): string {
  const out = [
    `# tenantgate bench — ${m.date.slice(0, 10)}`,
    '',
    '## Machine',
    '',
    '```',
    ...machineLines(m),
    `load avg at end:   ${endLoad}`,
    '```',
    '',
    '## Settings',
    '',
    `- ${o.seconds} s per run, ${o.warmup} s warm-up per path; sysbench ${o.tables} tables × ${o.tableSize} rows, \`--rand-type=uniform --report-interval=0 --mysql-ignore-errors=${o.ignoreErrors}\``,
    `- MariaDB started by the bench with ${SERVER_ARGS.map((a) => `\`${a}\``).join(' ')} (plus the test harness defaults, e.g. \`--innodb-flush-log-at-trx-commit=2\`)`,
    '- direct: sysbench → MariaDB as root; haproxy: HAProxy `mode tcp`, `nbthread 1`, no checks/logs; tenantgate: `node dist/src/cli.js start`, user sbtest → backend root, `max_connections: 32`',
    '- paths alternate inside each cell (direct, haproxy, tenantgate); ps on = sysbench prepared statements (`--db-ps-mode=auto`), off = `--db-ps-mode=disable`',
    '- avg/p95 are per sysbench event (one transaction; for oltp_point_select one query); ÷ columns are QPS ratios within the same cell',
    '- hop CPU µs/query = Δ(utime+stime) of the proxy process over the run ÷ queries sysbench executed; hop RSS = VmRSS after the run',
    `- total wall time: ${minutes.toFixed(1)} min`,
    '',
    '## sysbench',
    '',
    rows.length ? markdownTable(rows) : '(no sysbench runs)',
    '',
  ];
  if (idle) out.push('## Idle connections', '', ...idleLines(idle).map((l) => `- ${l}`), '');
  if (notes.length) out.push('## Notes', '', ...notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--routing') {
    const r = spawnSync(process.execPath, [join(__dirname, 'routing.js'), ...argv.slice(1)], { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  }
  if (argv[0] === '--micro') {
    const r = spawnSync(process.execPath, [join(__dirname, 'micro.js'), ...argv.slice(1)], { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  }
  const o = parseArgs(argv);
  installHooks();
  const t0 = Date.now();
  const machine = describeMachine();
  log('tenantgate bench\n' + machineLines(machine).join('\n') + '\n');
  const notes: string[] = [];

  tmpDir = mkdtempSync(join(tmpdir(), 'tenantgate-bench-'));
  log(`starting MariaDB (${SERVER_ARGS.join(' ')}) …`);
  server = await startServer({ extraArgs: SERVER_ARGS });
  const srv = server;
  log(`  mariadbd on 127.0.0.1:${srv.port}, datadir ${srv.datadir}`);
  await srv.query('DROP DATABASE IF EXISTS sbtest');
  await srv.query('CREATE DATABASE sbtest');
  // sysbench itself uses root (direct, HAProxy) or the proxy's own user; this account is for people
  // who want to poke at the data set as sbtest directly.
  await srv.query("CREATE USER IF NOT EXISTS 'sbtest'@'%' IDENTIFIED BY 'sbtest'");
  await srv.query("GRANT ALL ON sbtest.* TO 'sbtest'@'%'");
  const direct: Target = { host: srv.host, port: srv.port, user: 'root', password: '', db: 'sbtest' };

  const runSysbench = !o.onlyIdle && o.workloads.length > 0;
  const rows: Row[] = [];
  const states = new Map<PathName, PathState>();
  if (runSysbench) {
    log(`preparing sysbench data: ${o.tables} tables × ${o.tableSize} rows …`);
    await prepare(direct, o.tables, o.tableSize);

    for (const name of o.paths) {
      const p: PathState = { name, crashes: [] };
      states.set(name, p);
      if (name === 'direct') p.target = direct;
      else if (name === 'haproxy') {
        try {
          p.hop = await startHaproxy(tmpDir, srv.port);
          p.target = { ...direct, host: p.hop.host, port: p.hop.port };
          log(`  haproxy on :${p.hop.port} (pid ${p.hop.child.pid})`);
        } catch (err) {
          p.unavailable = errMsg(err);
          log(`  haproxy: failed: ${p.unavailable}`);
        }
      } else {
        await ensureTenantgate(p, srv.port, 65_536);
        if (p.hop) log(`  tenantgate on :${p.hop.port} (pid ${p.hop.child.pid})`);
        else log(`  tenantgate: failed: ${p.unavailable}`);
      }
    }

    if (o.warmup > 0) {
      log(`warming up each path (${o.warmup} s oltp_point_select, ps on and off, 8 threads) …`);
      for (const p of states.values()) {
        if (!p.target) continue;
        for (const ps of [true, false]) {
          const r = await measure(p, { workload: 'oltp_point_select', ps, threads: 8, seconds: o.warmup, tables: o.tables, tableSize: o.tableSize, ignoreErrors: o.ignoreErrors }, true);
          if (r.failure) log(`  warm-up ${p.name} ps=${ps ? 'on' : 'off'}: failed: ${r.failure}`);
        }
      }
    }

    const cells = o.workloads.length * o.ps.length * o.threads.length;
    log(`\nmeasuring ${cells} cells × ${states.size} paths × ${o.seconds} s …`);
    for (const workload of o.workloads) {
      for (const ps of o.ps) {
        for (const threads of o.threads) {
          const spec: RunSpec = { workload, ps, threads, seconds: o.seconds, tables: o.tables, tableSize: o.tableSize, ignoreErrors: o.ignoreErrors };
          for (const p of states.values()) {
            if (p.name === 'tenantgate') await ensureTenantgate(p, srv.port, 65_536);
            const row = await measure(p, spec);
            rows.push(row);
            log(progressLine(row));
            await sleep(500);
          }
        }
      }
    }
    for (const p of states.values()) {
      if (p.unavailable && !rows.some((r) => r.path === p.name && r.qps !== undefined)) notes.push(`${p.name}: failed: ${p.unavailable}`);
      for (const c of p.crashes) notes.push(`${p.name} crashed during the run and was restarted: ${c}`);
      if (p.hop) await stopChild(p.hop.child, 5000);
    }
    if (o.paths.includes('haproxy') && !existsSync(HAPROXY)) notes.push(`haproxy: ${HAPROXY} not installed, path skipped`);
  }

  let idle: IdleResult | undefined;
  if (o.idle > 0) idle = await idleTest(o.idle, srv.port);

  const endLoad = currentLoad();
  const minutes = (Date.now() - t0) / 60_000;
  if (rows.length) log('\n' + consoleTable(rows));
  if (idle) log('\n' + idleLines(idle).join('\n'));
  if (notes.length) log('\nnotes:\n' + notes.map((n) => `  - ${n}`).join('\n'));
  log(`\nload avg at end: ${endLoad}; wall time ${minutes.toFixed(1)} min`);
  writeFileSync(o.out, markdown(machine, o, rows, idle, notes, endLoad, minutes));
  log(`wrote ${o.out}`);
}

main().then(
  async () => {
    await cleanup();
    process.exit(0);
  },
  async (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    await cleanup().catch(() => undefined);
    process.exit(1);
  },
);
