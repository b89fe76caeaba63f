/**
 * A/B of tenantgate builds against HAProxy: `node dist/bench/ab.js [--rounds N] [--time S] [--ps on,off]
 * [--threads N] LABEL=PATH/TO/cli.js ...` starts one MariaDB, HAProxy (TCP) and one tenantgate per build,
 * then runs sysbench (oltp_point_select, or `--workload NAME`) round-robin over all of them (HAProxy first in every round), so
 * load drift on a shared machine hits every build alike. Prints per run and as medians: QPS, the ratio
 * to HAProxy's QPS in the same round, and the middle hop's CPU per query split into user and system
 * time from /proc/<pid>/stat (user time is the proxy's own code and Node; system time is mostly the
 * socket syscalls every hop pays).
 *
 * A LABEL=dist/bench/e2e/node-pipe.js entry measures a bare Node relay with tenantgate's I/O primitives
 * (the floor of a Node middle hop; see that file).
 *
 * To compare with an older build: `git worktree add /tmp/old <commit> && (cd /tmp/old && npm ci &&
 * npx tsc -p .)`, then `node dist/bench/ab.js old=/tmp/old/dist/src/cli.js new=dist/src/cli.js`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { destroyAll, startServer } from '../test/helpers/mariadb';
import { killAllChildrenSync, stopAllChildren } from './e2e/children';
import { Hop, startHaproxy, startTenantgate } from './e2e/middle-hops';
import { clkTck } from './e2e/procstat';
import { prepare, RunSpec, runWorkload, Target } from './e2e/sysbench';

interface Entry {
  name: string;
  hop: Hop;
  target: Target;
}

interface Sample {
  qps: number;
  user: number;
  sys: number;
}

/** utime and stime of a process in µs. */
function cpuSplit(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const us = 1e6 / clkTck();
  return { user: Number(f[11]) * us, sys: Number(f[12]) * us };
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)] as number;
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
  const rounds = Number(opt('rounds', '3'));
  const seconds = Number(opt('time', '5'));
  const threads = Number(opt('threads', '8'));
  const workload = opt('workload', 'oltp_point_select');
  const psModes = opt('ps', 'on,off').split(',').map((x) => x === 'on');
  const builds = argv.map((a) => {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new Error(`expected LABEL=path/to/cli.js, got ${a}`);
    return { label: a.slice(0, eq), cli: a.slice(eq + 1) };
  });
  if (builds.length === 0) throw new Error('usage: ab.js [--rounds N] [--time S] [--ps on,off] [--threads N] LABEL=cli.js ...');

  const tmp = mkdtempSync(join(tmpdir(), 'tg-ab-'));
  const server = await startServer({ extraArgs: ['--innodb-buffer-pool-size=256M', '--max-connections=2000', '--max-prepared-stmt-count=100000'] });
  await server.query('CREATE DATABASE sbtest');
  // For hops that pass the client's login through (bench/e2e/node-pipe.ts); tenantgate uses root on the backend.
  await server.query("CREATE USER 'sbtest'@'%' IDENTIFIED BY 'sbtest'");
  await server.query("GRANT ALL ON sbtest.* TO 'sbtest'@'%'");
  const direct: Target = { host: server.host, port: server.port, user: 'root', password: '', db: 'sbtest' };
  await prepare(direct, 4, 10000);
  const entries: Entry[] = [];
  const ha = await startHaproxy(tmp, server.port);
  entries.push({ name: 'haproxy', hop: ha, target: { ...direct, host: ha.host, port: ha.port } });
  for (const b of builds) {
    const dir = mkdtempSync(join(tmp, `${b.label}-`));
    const hop = await startTenantgate({ dir, cliPath: b.cli, serverPort: server.port, nofile: 4096, backendMaxConnections: 32 });
    entries.push({ name: b.label, hop, target: { host: hop.host, port: hop.port, user: 'sbtest', password: 'sbtest', db: 'sbtest' } });
  }
  const spec = (ps: boolean, t: number): RunSpec => ({ workload, ps, threads, seconds: t, tables: 4, tableSize: 10000, ignoreErrors: 'none' });
  for (const e of entries) for (const ps of psModes) await runWorkload(e.target, spec(ps, 2));

  const res = new Map<string, Sample[]>();
  for (let r = 0; r < rounds; r++) {
    for (const ps of psModes) {
      for (const e of entries) {
        const c0 = cpuSplit(e.hop.child.pid);
        const x = await runWorkload(e.target, spec(ps, seconds));
        const c1 = cpuSplit(e.hop.child.pid);
        const key = `${ps ? 'ps ' : 'txt'} ${e.name}`;
        const s: Sample = { qps: x.qps, user: (c1.user - c0.user) / x.queries, sys: (c1.sys - c0.sys) / x.queries };
        if (!res.has(key)) res.set(key, []);
        (res.get(key) as Sample[]).push(s);
        console.log(`round ${r} ${key.padEnd(18)} ${Math.round(s.qps).toString().padStart(7)} qps  user ${s.user.toFixed(1)}  sys ${s.sys.toFixed(1)} µs/q  load ${loadavg()[0].toFixed(1)}`);
      }
    }
  }
  console.log(`\n${workload}: medians over ${rounds} rounds (${threads} threads, ${seconds} s runs); ratio = QPS ÷ HAProxy QPS of the same round`);
  for (const ps of psModes) {
    const ref = res.get(`${ps ? 'ps ' : 'txt'} haproxy`) as Sample[];
    for (const e of entries) {
      const rows = res.get(`${ps ? 'ps ' : 'txt'} ${e.name}`) as Sample[];
      const ratios = rows.map((x, i) => x.qps / (ref[i] as Sample).qps);
      console.log(
        `${(ps ? 'prepared ' : 'text     ') + e.name.padEnd(12)} QPS ${Math.round(median(rows.map((x) => x.qps))).toString().padStart(7)}  ÷ haproxy ${median(ratios).toFixed(2)} [${ratios.map((v) => v.toFixed(2)).join(' ')}]` +
          `  CPU µs/q user ${median(rows.map((x) => x.user)).toFixed(1)} sys ${median(rows.map((x) => x.sys)).toFixed(1)} total ${median(rows.map((x) => x.user + x.sys)).toFixed(1)}`,
      );
    }
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
