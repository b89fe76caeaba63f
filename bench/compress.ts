/**
 * `npm run bench:compress`: what CLIENT_COMPRESS costs through tenantgate, measured with mysql2 (sysbench
 * has no compression option). Point selects (text protocol) from several connections, and whole-table
 * reads (10,000 sysbench rows, ~1.9 MB per result), each with and without `compress: true`, directly and
 * through tenantgate, alternating the variants in every round so drift hits all of them. Reports
 * QPS, the proxy's CPU per query (from /proc) and the bytes the client received per query.
 *
 * Options: --time N (seconds per run, default 5), --rounds N (default 3), --conns N (default 4).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mysql from 'mysql2/promise';
import { destroyAll, startServer } from '../test/helpers/mariadb';
import { stopAllChildren } from './e2e/children';
import { describeMachine, machineLines } from './e2e/machine';
import { startTenantgate } from './e2e/middle-hops';
import { cpuMicros } from './e2e/procstat';

const ROOT = resolve(__dirname, '..', '..');

function opt(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

interface Variant {
  path: 'direct' | 'tenantgate';
  compress: boolean;
}

interface Sample {
  queries: number;
  seconds: number;
  cpuUs: number | null;
  bytes: number;
}

async function connect(port: number, v: Variant): Promise<mysql.Connection> {
  const direct = v.path === 'direct';
  return mysql.createConnection({
    host: '127.0.0.1',
    port,
    user: direct ? 'root' : 'sbtest',
    password: direct ? '' : 'sbtest',
    database: 'sbtest',
    compress: v.compress,
  });
}

function socketBytes(c: mysql.Connection): number {
  return (c as unknown as { connection: { stream: { bytesRead: number } } }).connection.stream.bytesRead;
}

async function runLoop(conns: mysql.Connection[], seconds: number, pid: number | null, sql: (i: number) => string): Promise<Sample> {
  const cpu0 = pid ? cpuMicros(pid) ?? null : null;
  const bytes0 = conns.reduce((s, c) => s + socketBytes(c), 0);
  const t0 = process.hrtime.bigint();
  const end = Date.now() + seconds * 1000;
  let queries = 0;
  await Promise.all(
    conns.map(async (c, k) => {
      let i = k * 7919;
      while (Date.now() < end) {
        await c.query(sql(i++));
        queries++;
      }
    }),
  );
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu1 = pid ? cpuMicros(pid) ?? null : null;
  return {
    queries,
    seconds: secs,
    cpuUs: cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : null,
    bytes: conns.reduce((s, c) => s + socketBytes(c), 0) - bytes0,
  };
}

async function main(): Promise<void> {
  const seconds = opt('time', 5);
  const rounds = opt('rounds', 3);
  const nConns = opt('conns', 4);
  const server = await startServer({ extraArgs: ['--innodb-buffer-pool-size=128M', '--max-connections=500'] });
  const dir = mkdtempSync(join(tmpdir(), 'tg-bench-compress-'));
  try {
    await server.query('CREATE DATABASE sbtest');
    await server.query('CREATE TABLE sbtest.sbtest1 (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL, KEY (k))');
    // sysbench's rows: groups of 11 random digits
    await server.query(
      `INSERT INTO sbtest.sbtest1 SELECT seq, FLOOR(RAND(seq) * 10000),
         CONCAT_WS('-', ${Array.from({ length: 10 }, (_, i) => `LPAD(FLOOR(RAND(seq * 10 + ${i}) * 1e11), 11, '0')`).join(', ')}),
         CONCAT_WS('-', ${Array.from({ length: 5 }, (_, i) => `LPAD(FLOOR(RAND(seq * 20 + ${i}) * 1e11), 11, '0')`).join(', ')})
       FROM seq_1_to_10000`,
    );
    const hop = await startTenantgate({ dir, cliPath: join(ROOT, 'dist/src/cli.js'), serverPort: server.port, nofile: 4096, backendMaxConnections: 16 });
    const pid: number | null = hop.child.pid;
    const variants: Variant[] = [
      { path: 'direct', compress: false },
      { path: 'direct', compress: true },
      { path: 'tenantgate', compress: false },
      { path: 'tenantgate', compress: true },
    ];
    const workloads: { name: string; conns: number; sql: (i: number) => string }[] = [
      { name: 'point select', conns: nConns, sql: (i) => `SELECT c FROM sbtest1 WHERE id=${1 + (i % 10000)}` },
      { name: 'full table (10k rows)', conns: 1, sql: () => 'SELECT * FROM sbtest1' },
    ];
    const lines: string[] = [];
    process.stdout.write(`${machineLines(describeMachine()).join('\n')}\n`);
    for (const w of workloads) {
      const totals = new Map<string, Sample>();
      for (let r = 0; r < rounds; r++) {
        for (const v of variants) {
          const port = v.path === 'direct' ? server.port : hop.port;
          const conns = await Promise.all(Array.from({ length: w.conns }, () => connect(port, v)));
          await runLoop(conns, 1, null, w.sql); // warm-up
          const s = await runLoop(conns, seconds, v.path === 'tenantgate' ? pid : null, w.sql);
          await Promise.all(conns.map((c) => c.end()));
          const key = `${v.path}${v.compress ? ' compress' : ''}`;
          const t = totals.get(key) ?? { queries: 0, seconds: 0, cpuUs: v.path === 'tenantgate' ? 0 : null, bytes: 0 };
          t.queries += s.queries;
          t.seconds += s.seconds;
          t.bytes += s.bytes;
          if (t.cpuUs !== null && s.cpuUs !== null) t.cpuUs += s.cpuUs;
          totals.set(key, t);
        }
      }
      for (const [key, t] of totals) {
        const qps = t.queries / t.seconds;
        const cpu = t.cpuUs !== null ? `${(t.cpuUs / t.queries).toFixed(1)} µs/query proxy CPU` : '';
        const line = `${w.name.padEnd(22)} ${key.padEnd(20)} ${qps.toFixed(0).padStart(7)} q/s  ${(t.bytes / t.queries).toFixed(0).padStart(8)} B/query to client  ${cpu}`;
        lines.push(line);
        process.stdout.write(`${line}\n`);
      }
    }
  } finally {
    await stopAllChildren();
    await server.destroy();
    await destroyAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
