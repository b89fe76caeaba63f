/**
 * Syscalls per query of the middle hops: `node dist/bench/syscalls.js [--time S] [--ps on,off] LABEL=cli.js ...`
 * starts one MariaDB, HAProxy (TCP) and one tenantgate per build (as bench/ab.ts), then for each hop and ps
 * mode runs sysbench oltp_point_select (8 threads) with `perf stat -e syscalls:sys_enter_<name>,... -p <pid>`
 * attached for the whole run and prints, per hop, the count of each syscall divided by the queries sysbench
 * executed. `raw_syscalls:sys_enter` is the total, "other" what the named ones do not cover. Needs root (or
 * perf_event_paranoid ≤ -1) and tracefs. Counts, unlike CPU time, hardly depend on the machine's load.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { destroyAll, startServer } from '../test/helpers/mariadb';
import { killAllChildrenSync, sleep, stopAllChildren } from './e2e/children';
import { Hop, startHaproxy, startTenantgate } from './e2e/middle-hops';
import { prepare, RunSpec, runWorkload, Target } from './e2e/sysbench';

const NAMES = [
  'read', 'write', 'readv', 'writev', 'recvfrom', 'sendto', 'recvmsg', 'sendmsg', 'epoll_wait', 'epoll_pwait',
  'epoll_pwait2', 'epoll_ctl', 'futex', 'getpid', 'clock_gettime', 'gettimeofday', 'madvise', 'mmap', 'munmap',
  'mprotect', 'brk', 'setsockopt', 'getsockopt', 'ioctl', 'accept4', 'close', 'shutdown', 'timerfd_settime', 'sched_yield',
];

/** Software counters shown with the syscalls (page faults are kernel time too; task-clock is CPU ms). */
const SOFT = ['page-faults', 'context-switches', 'cpu-migrations', 'task-clock'];

function perfStat(pid: number): { stop: () => Promise<Map<string, number>> } {
  const events = ['raw_syscalls:sys_enter', ...NAMES.map((n) => `syscalls:sys_enter_${n}`), ...SOFT].join(',');
  const p = spawn('perf', ['stat', '-x', ',', '-e', events, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return {
    stop: () =>
      new Promise((resolve) => {
        p.on('exit', () => {
          const m = new Map<string, number>();
          for (const line of err.split('\n')) {
            const f = line.split(',');
            if (f.length < 3) continue;
            const n = Number(f[0]);
            if (!Number.isFinite(n)) continue;
            const name = (f[2] as string).replace(/^(raw_)?syscalls:sys_enter_?/, '') || 'total';
            m.set(name, name === 'task-clock' ? n * 1000 : n); // msec → µs
          }
          resolve(m);
        });
        p.kill('SIGINT');
      }),
  };
}

/** Voluntary and involuntary context switches of all threads of a process (/proc/<pid>/task/<tid>/status). */
function ctxSwitches(pid: number): { vol: number; invol: number } {
  let vol = 0;
  let invol = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const st = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    vol += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(st)?.[1] ?? 0);
    invol += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(st)?.[1] ?? 0);
  }
  return { vol, invol };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const opt = (name: string, def: string): string => {
    const i = argv.indexOf(`--${name}`);
    if (i < 0) return def;
    const v = argv[i + 1] as string;
    argv.splice(i, 2);
    return v;
  };
  const seconds = Number(opt('time', '5'));
  const record = opt('record', ''); // directory: also `perf record -e cpu-clock -g` each hop into it
  const psModes = opt('ps', 'on,off').split(',').map((x) => x === 'on');
  const builds = argv.map((a) => ({ label: a.slice(0, a.indexOf('=')), cli: a.slice(a.indexOf('=') + 1) }));
  const tmp = mkdtempSync(join(tmpdir(), 'tg-sc-'));
  const server = await startServer({ extraArgs: ['--innodb-buffer-pool-size=256M', '--max-connections=2000', '--max-prepared-stmt-count=100000'] });
  await server.query('CREATE DATABASE sbtest');
  await server.query("CREATE USER 'sbtest'@'%' IDENTIFIED BY 'sbtest'"); // for bench/e2e/node-pipe.ts
  await server.query("GRANT ALL ON sbtest.* TO 'sbtest'@'%'");
  const direct: Target = { host: server.host, port: server.port, user: 'root', password: '', db: 'sbtest' };
  await prepare(direct, 4, 10000);
  const entries: { name: string; hop: Hop; target: Target }[] = [];
  const ha = await startHaproxy(tmp, server.port);
  entries.push({ name: 'haproxy', hop: ha, target: { ...direct, host: ha.host, port: ha.port } });
  for (const b of builds) {
    const dir = mkdtempSync(join(tmp, `${b.label}-`));
    const hop = await startTenantgate({ dir, cliPath: b.cli, serverPort: server.port, nofile: 4096, backendMaxConnections: 32 });
    entries.push({ name: b.label, hop, target: { host: hop.host, port: hop.port, user: 'sbtest', password: 'sbtest', db: 'sbtest' } });
  }
  const spec = (ps: boolean, t: number): RunSpec => ({ workload: 'oltp_point_select', ps, threads: 8, seconds: t, tables: 4, tableSize: 10000, ignoreErrors: 'none' });
  for (const e of entries) for (const ps of psModes) await runWorkload(e.target, spec(ps, 2));
  for (const ps of psModes) {
    const rows: { name: string; q: number; qps: number; m: Map<string, number> }[] = [];
    for (const e of entries) {
      const st = perfStat(e.hop.child.pid);
      const rec = record
        ? spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-g', '-p', String(e.hop.child.pid), '-o', join(record, `${e.name}-${ps ? 'ps' : 'txt'}.data`)], { stdio: 'ignore' })
        : undefined;
      await sleep(300);
      const c0 = ctxSwitches(e.hop.child.pid);
      const x = await runWorkload(e.target, spec(ps, seconds));
      const c1 = ctxSwitches(e.hop.child.pid);
      const m = await st.stop();
      m.set('cs voluntary', c1.vol - c0.vol);
      m.set('cs involuntary', c1.invol - c0.invol);
      if (rec) await new Promise((r) => { rec.on('exit', r); rec.kill('SIGINT'); });
      rows.push({ name: e.name, q: x.queries, qps: x.qps, m });
    }
    console.log(`\n${ps ? 'prepared' : 'text'}: syscalls per query (8 threads, ${seconds} s, load ${loadavg().map((v) => v.toFixed(1)).join(' ')})`);
    console.log('syscall'.padEnd(16) + rows.map((r) => r.name.padStart(10)).join(''));
    const shown = ['total', ...NAMES, ...SOFT, 'cs voluntary', 'cs involuntary'].filter((n) => rows.some((r) => (r.m.get(n) ?? 0) / r.q >= 0.005));
    for (const n of shown) console.log(n.padEnd(16) + rows.map((r) => ((r.m.get(n) ?? 0) / r.q).toFixed(3).padStart(10)).join(''));
    console.log('other'.padEnd(16) + rows.map((r) => (((r.m.get('total') ?? 0) - NAMES.reduce((s, n) => s + (r.m.get(n) ?? 0), 0)) / r.q).toFixed(3).padStart(10)).join(''));
    console.log('qps'.padEnd(16) + rows.map((r) => Math.round(r.qps).toString().padStart(10)).join(''));
  }
  await stopAllChildren();
  await server.destroy().catch(() => undefined);
  await destroyAll();
  rmSync(tmp, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    killAllChildrenSync();
    process.exit(1);
  },
);
