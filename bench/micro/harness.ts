/**
 * A minimal micro-benchmark harness: `bench(name, fn, opts)` warms `fn` up, then times several rounds
 * with process.hrtime.bigint and prints ns/op (median and best round). Bench files live next to this
 * one as `*.bench.ts` and call `bench` at top level; `bench/micro.ts` loads them.
 *
 * `fn` is called `iterations` times per round; when one call does several operations (a loop over a
 * prepared buffer, which keeps call overhead out of the number), pass `opsPerCall`. Return something
 * derived from the work: it is folded into a sink so the JIT cannot drop the work as dead code.
 */

export interface BenchOptions {
  /** Calls of fn per timed round (default 1000). */
  iterations?: number;
  /** Operations one call of fn performs (default 1). */
  opsPerCall?: number;
  /** Timed rounds; the median is reported (default 7). */
  rounds?: number;
  /** Untimed calls before the first round (default: one round's worth). */
  warmup?: number;
}

export interface BenchResult {
  name: string;
  nsPerOpMedian: number;
  nsPerOpBest: number;
  opsPerSec: number;
  totalOps: number;
}

let sink = 0;
const results: BenchResult[] = [];
let filter: string | undefined;

/** Only benches whose name contains `f` run (set by the runner from the command line). */
export function setFilter(f: string | undefined): void {
  filter = f;
}

function fold(v: unknown): void {
  if (typeof v === 'number') sink = (sink + v) | 0;
  else if (typeof v === 'bigint') sink = (sink + Number(v & 0xffn)) | 0;
  else if (typeof v === 'string' || Array.isArray(v) || (v !== null && typeof v === 'object' && 'length' in v)) sink = (sink + (v as { length: number }).length) | 0;
  else if (v) sink = (sink + 1) | 0;
}

/** Times `fn`; prints and records the result. Returns undefined when filtered out. */
export function bench(name: string, fn: () => unknown, opts: BenchOptions = {}): BenchResult | undefined {
  if (filter && !name.includes(filter)) return undefined;
  const iterations = opts.iterations ?? 1000;
  const opsPerCall = opts.opsPerCall ?? 1;
  const rounds = opts.rounds ?? 7;
  const warmup = opts.warmup ?? iterations;
  for (let i = 0; i < warmup; i++) fold(fn());
  const perOp: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fold(fn());
    const ns = Number(process.hrtime.bigint() - t0);
    perOp.push(ns / (iterations * opsPerCall));
  }
  perOp.sort((a, b) => a - b);
  const median = perOp[Math.floor(perOp.length / 2)]!;
  const res: BenchResult = {
    name,
    nsPerOpMedian: median,
    nsPerOpBest: perOp[0]!,
    opsPerSec: 1e9 / median,
    totalOps: rounds * iterations * opsPerCall,
  };
  results.push(res);
  process.stdout.write(
    `${name.padEnd(48)} ${fmt(median).padStart(10)} ns/op  (best ${fmt(perOp[0]!)}, ${Math.round(res.opsPerSec).toLocaleString('en-US')} ops/s, ${rounds}×${iterations * opsPerCall} ops)\n`,
  );
  return res;
}

function fmt(ns: number): string {
  return ns >= 100 ? ns.toFixed(0) : ns >= 10 ? ns.toFixed(1) : ns.toFixed(2);
}

/** Everything measured so far in this process. */
export function allResults(): readonly BenchResult[] {
  return results;
}

/** The sink, so a runner can print it once (keeps it observable). */
export function sinkValue(): number {
  return sink;
}
