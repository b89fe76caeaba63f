/**
 * Long fuzz run of the proxy's wire protocol (issue 5, section 3): starts a throw-away MariaDB and the
 * proxy as a child process, runs rounds of mutated-packet cases in that one proxy process with a
 * canary session checking its answers, and prints crashes, hangs and wrong canary answers with the
 * exact inputs, plus the proxy's memory after each round.
 *
 *   npm run build && node dist/scripts/fuzz.js [--cases N] [--rounds R] [--seed S] [--idle-s I] [--digests D] [--timeout-ms T] [--lane-warmup P]
 *
 * Round i (1-based) runs N cases with seed S + i - 1. After each round the load stops; the proxy's RSS
 * is sampled for I seconds (default 30; the proxy's idle GC, server.idle_gc_after_ms = 10 s, gives
 * memory back then), then a memory report is taken after a full GC. The proxy keeps D digest
 * statistics (digests.max_entries, default 2000 here: full within the first round, so later rounds
 * show whether memory is bounded). With chance P (default 0.3) a command case first sends a few plain
 * statements back to back, so that the mutated packet reaches a native fast lane; the lane's counters
 * (from the admin port's /metrics) are printed after each round. Exit status 0 only with zero findings and memory bounded: see
 * memoryVerdict below.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { startServer } from '../test/helpers/mariadb';
import { formatReport, FUZZ_SETUP_SQL, FUZZ_USERS, fuzzProxyOpts, runFuzz, type FuzzReport } from '../test/helpers/fuzz';
import { startProxyProcess, type ProxyProcess } from '../test/helpers/proxy-process';
import { seedFrom } from '../test/helpers/prng';
import { memoryVerdict, roundTable, smapsBreakdown, type Measured, type RoundMemory, type SmapsBreakdown } from './fuzz-memory';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  if (i >= 0) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`${name}=`));
  return eq?.slice(name.length + 1);
}

/** A TCP port free now (for the proxy's admin listener). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** The tenantgate_fast_lane_* samples of the proxy's /metrics, on one line. */
async function laneMetrics(port: number): Promise<string> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return text.split('\n').filter((l) => l.startsWith('tenantgate_fast_lane_')).join('; ') || 'no samples';
  } catch (e) {
    return `metrics not read (${(e as Error).message})`;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The memory of an idle proxy: RSS split from /proc and a report after a full GC. */
async function measure(proc: ProxyProcess): Promise<Measured> {
  const report = await proc.memory();
  let smaps: SmapsBreakdown | null = null;
  try {
    smaps = smapsBreakdown(fs.readFileSync(`/proc/${proc.pid}/smaps`, 'utf8'));
  } catch {
    // not Linux, or the process is gone
  }
  return { report, split: proc.rssSplitKb(), smaps };
}

async function main(): Promise<number> {
  const cases = Number(arg('--cases') ?? 100_000);
  const rounds = Number(arg('--rounds') ?? 1);
  const seed = arg('--seed') !== undefined ? Number(arg('--seed')) : seedFrom('FUZZ_SEED');
  // Long enough for V8's allocation-rate window (5 s) to see the load has stopped, and for its memory
  // reducer (first run 8 s after a mark-compact) to act.
  const idleS = Number(arg('--idle-s') ?? 30);
  const digests = Number(arg('--digests') ?? 2000);
  // Above the fuzz proxy's acquire_timeout_ms (3000), so pool contention shows as ERR 9001, not as a hang.
  const timeoutMs = Number(arg('--timeout-ms') ?? 5000);
  // Chance of plain statements back to back before a mutated command, so it reaches a fast lane.
  const laneWarmup = Number(arg('--lane-warmup') ?? 0.3);
  if (![cases, rounds, seed, idleS, digests].every(Number.isInteger) || cases < 1 || rounds < 1 || idleS < 0 || digests < 0) {
    console.error('usage: node dist/scripts/fuzz.js [--cases N] [--rounds R] [--seed S] [--idle-s I] [--digests D] [--timeout-ms T]');
    return 2;
  }
  const server = await startServer();
  let proc: ProxyProcess | null = null;
  try {
    for (const sql of FUZZ_SETUP_SQL) await server.query(sql);
    // A digest-statistics cap the first round fills, so that later rounds show a plateau, not a cache filling.
    // The admin port serves /metrics: the fast lane's counters are printed after each round.
    const adminPort = await freePort();
    const opts = { ...fuzzProxyOpts(server.port), extraYaml: { digests: { max_entries: digests }, admin: { port: adminPort } } };
    proc = await startProxyProcess(opts, { exposeGc: true });
    const run = { proc };
    console.log(`fuzz: seed ${seed}, ${rounds} round(s) of ${cases} cases, proxy pid ${proc.pid} on port ${proc.port}`);
    // The start is measured like the end of a round: after the same idle time, then a full GC.
    await sleep(Math.max(1, idleS) * 1000);
    const start = await measure(proc);
    const results: RoundMemory[] = [];
    const reports: FuzzReport[] = [];
    const t0 = Date.now();
    for (let round = 1; round <= rounds; round++) {
      const started = Date.now();
      let printed = 0;
      const rep = await runFuzz({
        seed: seed + round - 1, cases, timeoutMs, proc: run.proc, ...FUZZ_USERS, laneWarmup,
        restart: async () => {
          console.log('fuzz: proxy crashed; restarting it');
          run.proc = await startProxyProcess(opts, { exposeGc: true });
          return run.proc;
        },
        progress: (n, r) => {
          // Each finding as it happens (the full report with inputs comes at the end).
          for (const f of r.findings.slice(printed)) console.log(`fuzz: round ${round}: finding at case ${f.case}: ${f.what}: ${f.detail.split('\n')[0]}`);
          printed = r.findings.length;
          if (n % 5000 === 0) {
            const rate = Math.round((n * 1000) / (Date.now() - started));
            console.log(`fuzz: round ${round}: ${n} cases (${rate}/s), findings ${r.findings.length}, RSS ${run.proc.rssKb()} KiB, canary checks ${r.canaryChecks}`);
          }
        },
      });
      proc = run.proc;
      // Load stopped: watch RSS without forcing anything, then a report after a full GC.
      const idleRssKb: number[] = [proc.rssKb() ?? 0];
      for (let s = 5; s <= idleS; s += 5) {
        await sleep(5000);
        idleRssKb.push(proc.rssKb() ?? 0);
      }
      const m = await measure(proc);
      rep.memory.end = m.report;
      rep.rssKb.end = m.split?.rss ?? null;
      console.log(`--- round ${round} (seed ${rep.seed})\n${formatReport(rep)}`);
      console.log(`RSS KiB while idle (every 5 s, no forced GC): ${idleRssKb.join(' ')}`);
      console.log(`fast lane: ${await laneMetrics(adminPort)}`);
      reports.push(rep);
      results.push({ round, seed: rep.seed, cases: rep.cases, canaryChecks: rep.canaryChecks, findings: rep.findings.map((f) => f.what), ms: rep.ms, idleRssKb, ...m });
    }
    console.log(`\nfuzz: ${rounds * cases} cases in ${Math.round((Date.now() - t0) / 1000)} s`);
    console.log(roundTable(start, results));
    const verdict = memoryVerdict(start, results);
    for (const line of verdict.lines) console.log(line);
    const findings = reports.reduce((n, r) => n + r.findings.length, 0);
    console.log(findings === 0 && verdict.ok ? 'fuzz: PASS' : `fuzz: FAIL (${findings} findings, memory ${verdict.ok ? 'ok' : 'NOT ok'})`);
    return findings === 0 && verdict.ok ? 0 : 1;
  } finally {
    await proc?.stop();
    await server.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
