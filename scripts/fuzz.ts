/**
 * Long fuzz run of the proxy's wire protocol (issue 5, section 3): starts a throw-away MariaDB and the
 * proxy as a child process, runs N mutated-packet cases with a canary session checking its answers,
 * and prints crashes, hangs and wrong canary answers with the exact inputs, plus RSS figures.
 *
 *   npm run build && node dist/scripts/fuzz.js [--cases N] [--seed S] [--timeout-ms T]
 *
 * Exit status 0 only with zero findings and RSS back near its baseline.
 */
import { startServer } from '../test/helpers/mariadb';
import { formatReport, FUZZ_SETUP_SQL, FUZZ_USERS, fuzzProxyOpts, runFuzz } from '../test/helpers/fuzz';
import { startProxyProcess, type ProxyProcess } from '../test/helpers/proxy-process';
import { seedFrom } from '../test/helpers/prng';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  if (i >= 0) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`${name}=`));
  return eq?.slice(name.length + 1);
}

/** Heap allowed to remain after the run (after a full GC): bounded caches full of fuzzed shapes. */
const HEAP_SLACK = 32 * 1024 * 1024;

/**
 * The memory criterion: after the run and a full GC, no session is left and the live heap is back
 * within HEAP_SLACK of its baseline. (RSS is reported and checked loosely: V8 and malloc keep freed
 * pages mapped, so RSS stays above a baseline that the heap itself has come back to.)
 */
function heapBack(base: Record<string, number> | null, end: Record<string, number> | null): { ok: boolean; why: string } {
  if (!base || !end) return { ok: false, why: 'no memory report from the proxy' };
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  const why = `heapUsed ${mib(base.heapUsed)} -> ${mib(end.heapUsed)} (allowed +${mib(HEAP_SLACK)}), sessions left ${end.sessions}, handshaking ${end.handshaking}`;
  return { ok: end.heapUsed <= base.heapUsed + HEAP_SLACK && end.sessions === 0 && end.handshaking === 0, why };
}

async function main(): Promise<number> {
  const cases = Number(arg('--cases') ?? 100_000);
  const seed = arg('--seed') !== undefined ? Number(arg('--seed')) : seedFrom('FUZZ_SEED');
  // Above the fuzz proxy's acquire_timeout_ms (3000), so pool contention shows as ERR 9001, not as a hang.
  const timeoutMs = Number(arg('--timeout-ms') ?? 5000);
  if (!Number.isInteger(cases) || cases < 1 || !Number.isInteger(seed)) {
    console.error('usage: node dist/scripts/fuzz.js [--cases N] [--seed S] [--timeout-ms T]');
    return 2;
  }
  const server = await startServer();
  let proc: ProxyProcess | null = null;
  try {
    for (const sql of FUZZ_SETUP_SQL) await server.query(sql);
    const opts = fuzzProxyOpts(server.port);
    proc = await startProxyProcess(opts, { exposeGc: true });
    console.log(`fuzz: seed ${seed}, ${cases} cases, proxy pid ${proc.pid} on port ${proc.port}`);
    const started = Date.now();
    const run = { proc };
    let printed = 0;
    const rep = await runFuzz({
      seed, cases, timeoutMs, proc, ...FUZZ_USERS,
      restart: async () => {
        console.log('fuzz: proxy crashed; restarting it');
        run.proc = await startProxyProcess(opts, { exposeGc: true });
        return run.proc;
      },
      progress: (n, r) => {
        // Each finding as it happens (the full report with inputs comes at the end).
        for (const f of r.findings.slice(printed)) console.log(`fuzz: finding at case ${f.case}: ${f.what}: ${f.detail.split('\n')[0]}`);
        printed = r.findings.length;
        if (n % 5000 === 0) {
          const rate = Math.round((n * 1000) / (Date.now() - started));
          console.log(`fuzz: ${n} cases (${rate}/s), findings ${r.findings.length}, RSS ${run.proc.rssKb()} KiB, canary checks ${r.canaryChecks}`);
        }
      },
    });
    proc = run.proc;
    // Give the proxy a moment to drop the closed sessions before the last RSS reading.
    await new Promise((r) => setTimeout(r, 2000));
    rep.memory.end = await proc.memory();
    rep.rssKb.end = proc.rssKb();
    console.log(formatReport(rep));
    const base = rep.rssKb.baseline ?? 0;
    const rssOk = rep.rssKb.end !== null && rep.rssKb.end <= base + 64 * 1024;
    if (!rssOk) console.log(`RSS did not come back near its baseline (${base} -> ${rep.rssKb.end} KiB)`);
    const heapOk = heapBack(rep.memory.baseline, rep.memory.end);
    console.log(heapOk.ok ? `heap criterion met: ${heapOk.why}` : `heap criterion NOT met: ${heapOk.why}`);
    return rep.findings.length === 0 && rssOk && heapOk.ok ? 0 : 1;
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
