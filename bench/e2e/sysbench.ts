/** Running sysbench OLTP workloads and parsing their summary. */
import { ChildProcess, spawn } from 'node:child_process';

export const SYSBENCH = '/usr/bin/sysbench';

/** Where and as whom sysbench connects. */
export interface Target {
  host: string;
  port: number;
  user: string;
  password: string;
  db: string;
}

/** The numbers taken from one sysbench summary. */
export interface SysbenchResult {
  queries: number;
  qps: number;
  tps: number;
  /** Latency per sysbench event (one transaction; one query for oltp_point_select), ms. */
  avgMs: number;
  p95Ms: number;
  /** Ignored errors (always 0 with --mysql-ignore-errors=none: any error aborts the run). */
  errors: number;
  reconnects: number;
  seconds: number;
}

function connArgs(t: Target): string[] {
  const a = [`--mysql-host=${t.host}`, `--mysql-port=${t.port}`, `--mysql-user=${t.user}`, `--mysql-db=${t.db}`];
  if (t.password !== '') a.push(`--mysql-password=${t.password}`);
  return a;
}

const running = new Set<ChildProcess>();

/** SIGKILLs any sysbench this module started that is still running (exit/Ctrl-C path). */
export function killRunningSysbench(): void {
  for (const p of running) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** Runs sysbench to completion; rejects with the tail of its output when it exits non-zero. */
export function runSysbench(args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const proc = spawn(SYSBENCH, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(proc);
    let out = '';
    proc.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    proc.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('error', (err) => {
      clearTimeout(timer);
      running.delete(proc);
      reject(err);
    });
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      running.delete(proc);
      if (code === 0) resolve(out);
      else reject(new Error(`sysbench ${signal ? `killed by ${signal}` : `exit ${code}`}: ${summarizeFailure(out)}`));
    });
  });
}

/** The informative lines of a failed sysbench run (FATAL / error lines), shortened. */
export function summarizeFailure(out: string): string {
  const lines = out.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const bad = lines.filter((l) => /FATAL|error|Error|ERROR|failed/.test(l));
  const pick = (bad.length > 0 ? bad : lines).slice(0, 3).join(' / ');
  return pick.length > 300 ? pick.slice(0, 300) + '…' : pick || '(no output)';
}

/** `sysbench oltp_common prepare` for the given tables. */
export async function prepare(t: Target, tables: number, tableSize: number): Promise<void> {
  await runSysbench(
    ['oltp_common', '--db-driver=mysql', ...connArgs(t), `--tables=${tables}`, `--table-size=${tableSize}`, 'prepare'],
    600_000,
  );
}

export interface RunSpec {
  workload: string;
  /** true: prepared statements (sysbench default `auto`); false: `--db-ps-mode=disable`. */
  ps: boolean;
  threads: number;
  seconds: number;
  tables: number;
  tableSize: number;
  ignoreErrors: string;
}

/** One measured sysbench run against a target. */
export async function runWorkload(t: Target, spec: RunSpec): Promise<SysbenchResult> {
  const args = [
    spec.workload,
    '--db-driver=mysql',
    ...connArgs(t),
    `--tables=${spec.tables}`,
    `--table-size=${spec.tableSize}`,
    `--threads=${spec.threads}`,
    `--time=${spec.seconds}`,
    '--report-interval=0',
    '--rand-type=uniform',
    `--mysql-ignore-errors=${spec.ignoreErrors}`,
    `--db-ps-mode=${spec.ps ? 'auto' : 'disable'}`,
    'run',
  ];
  const out = await runSysbench(args, (spec.seconds + 60) * 1000);
  return parseSysbench(out);
}

function num(out: string, re: RegExp, what: string): number {
  const m = re.exec(out);
  if (!m) throw new Error(`sysbench output has no ${what}: ${summarizeFailure(out)}`);
  return Number(m[1]);
}

/** Parses the summary block of `sysbench <oltp_*> run` (sysbench 1.0.x format). */
export function parseSysbench(out: string): SysbenchResult {
  return {
    queries: num(out, /^\s*queries:\s+(\d+)/m, 'queries'),
    qps: num(out, /^\s*queries:\s+\d+\s+\(([\d.]+) per sec/m, 'queries per sec'),
    tps: num(out, /^\s*transactions:\s+\d+\s+\(([\d.]+) per sec/m, 'transactions per sec'),
    avgMs: num(out, /^\s*avg:\s+([\d.]+)/m, 'avg latency'),
    p95Ms: num(out, /^\s*95th percentile:\s+([\d.]+)/m, '95th percentile'),
    errors: num(out, /^\s*ignored errors:\s+(\d+)/m, 'ignored errors'),
    reconnects: num(out, /^\s*reconnects:\s+(\d+)/m, 'reconnects'),
    seconds: num(out, /^\s*total time:\s+([\d.]+)s/m, 'total time'),
  };
}
