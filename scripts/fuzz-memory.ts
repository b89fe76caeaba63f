/**
 * The memory criterion of the long fuzz run (scripts/fuzz.ts), as pure functions over the proxy's
 * memory reports: one taken before any case, one after each round (load stopped, idle, full GC).
 *
 * What the figures showed (README, "fuzz run"): a full GC forced while the load is still running
 * leaves V8's new space at its grown size (2 × 16 MiB semi-spaces) and keeps the memory reducer from
 * shrinking it later, which is where most of an RSS "not back to baseline" came from. Once the load
 * has stopped for a few seconds, a full GC (or V8's own memory reducer) shrinks it back to 1 MiB. What
 * stays is the live heap of the bounded caches (digest statistics) and a few MiB kept by malloc.
 */

export const MIB = 1024 * 1024;

/** Live heap allowed above the start after the last round: bounded caches (digest statistics) full. */
export const HEAP_SLACK = 16 * MIB;
/** RSS allowed above the start after the last round: the heap slack plus malloc's retained pages. */
export const RSS_SLACK = 32 * MIB;
/** Growth allowed from round 1 to the last round: a plateau, not a leak. */
export const HEAP_PLATEAU = 4 * MIB;
export const RSS_PLATEAU = 8 * MIB;

/** What the proxy reported at one point (`report`: its SIGUSR2 line; `split`: /proc smaps_rollup in KiB). */
export interface Measured {
  report: Record<string, number> | null;
  split: { rss: number; anon: number; file: number } | null;
  /** RSS by kind of mapping (smapsBreakdown), when /proc/PID/smaps could be read. */
  smaps?: SmapsBreakdown | null;
}

export interface RoundMemory extends Measured {
  round: number;
  seed: number;
  cases: number;
  canaryChecks: number;
  /** The kinds of the round's findings (crash, hang, canary-wrong, ...). */
  findings: string[];
  ms: number;
  /** RSS (KiB) sampled every 5 s from the end of the round, before the report's full GC. */
  idleRssKb: number[];
}

const mib = (n: number | undefined) => (n === undefined ? '-' : (n / MIB).toFixed(1));

/** A fixed-width table: the start, then one row per round. */
export function roundTable(start: Measured, rounds: readonly RoundMemory[]): string {
  const head = ['round', 'seed', 'cases', 'canary', 'crash', 'hang', 'wrong', 'other', 'secs', 'heapUsed', 'heapTotal', 'newSpace', 'oldSpace', 'external', 'arrayBuf', 'RSS', 'anon', 'notV8', 'file', 'v8Pages', 'malloc', 'mmapEtc', 'idleMin'];
  const memCols = (m: Measured) => {
    const r = m.report ?? {};
    return [mib(r.heapUsed), mib(r.heapTotal), mib(r.heapNewSpace), mib(r.heapOldSpace), mib(r.external), mib(r.arrayBuffers),
      mib(m.split ? m.split.rss * 1024 : r.rss), mib(m.split ? m.split.anon * 1024 : undefined),
      mib(m.split ? m.split.anon * 1024 - v8Resident(r) : undefined), mib(m.split ? m.split.file * 1024 : undefined),
      mib(m.smaps ? m.smaps.v8Pages * 1024 : undefined), mib(m.smaps ? (m.smaps.mallocMain + m.smaps.mallocThreads) * 1024 : undefined),
      mib(m.smaps ? m.smaps.otherAnon * 1024 : undefined)];
  };
  const rows: string[][] = [['start', '', '', '', '', '', '', '', '', ...memCols(start), '']];
  for (const x of rounds) {
    const count = (w: string) => String(x.findings.filter((f) => f === w).length);
    const other = x.findings.filter((f) => !['crash', 'hang', 'canary-wrong'].includes(f)).length;
    rows.push([String(x.round), String(x.seed), String(x.cases), String(x.canaryChecks), count('crash'), count('hang'), count('canary-wrong'),
      String(other), String(Math.round(x.ms / 1000)), ...memCols(x), mib(Math.min(...x.idleRssKb) * 1024)]);
  }
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(width[i])).join(' ');
  const legend = 'memory in MiB after the load stopped and a full GC; anon: anonymous RSS (heaps, stacks), notV8: anon minus the '
    + 'resident V8 heap spaces, file: mapped binary and libraries; from /proc/PID/smaps: v8Pages: V8\'s 256 KiB pages (spaces and its pool of '
    + 'free pages), malloc: glibc arenas (main + threads), mmapEtc: other anonymous mappings; idleMin: lowest RSS while idle before that GC';
  return [legend, line(head), ...rows.map(line)].join('\n');
}

/** Resident bytes of the V8 heap: the sum of the report's heap spaces (see memory-report.ts). */
export function v8Resident(r: Record<string, number>): number {
  let sum = 0;
  for (const [k, v] of Object.entries(r)) if (/^heap[A-Z].*Space$/.test(k)) sum += v;
  return sum;
}

/** RSS in bytes: smaps_rollup when read, else the report's. */
function rssOf(m: Measured): number | undefined {
  return m.split ? m.split.rss * 1024 : m.report?.rss;
}

/**
 * Whether memory came back: after every round no session is left; after the last, the live heap is
 * within HEAP_SLACK and RSS within RSS_SLACK of the start; and from round 1 to the last round the
 * heap grew by at most HEAP_PLATEAU and RSS by at most RSS_PLATEAU (bounded, not leaking).
 */
export function memoryVerdict(start: Measured, rounds: readonly RoundMemory[]): { ok: boolean; lines: string[] } {
  const lines: string[] = [];
  let ok = true;
  const check = (pass: boolean, what: string) => {
    lines.push(`${pass ? 'ok' : 'NOT ok'}: ${what}`);
    ok &&= pass;
  };
  const first = rounds[0];
  const last = rounds[rounds.length - 1];
  if (!start.report || !last || rounds.some((r) => !r.report)) {
    check(false, 'a memory report from the proxy at the start and after every round');
    return { ok, lines };
  }
  for (const r of rounds) {
    check(r.report!.sessions === 0 && r.report!.handshaking === 0, `round ${r.round}: no session left (sessions ${r.report!.sessions}, handshaking ${r.report!.handshaking})`);
  }
  const s = start.report;
  const l = last.report!;
  check(l.heapUsed - s.heapUsed <= HEAP_SLACK, `heapUsed start -> last round ${mib(s.heapUsed)} -> ${mib(l.heapUsed)} MiB (allowed +${mib(HEAP_SLACK)})`);
  const rs = rssOf(start)!;
  const rl = rssOf(last)!;
  check(rl - rs <= RSS_SLACK, `RSS start -> last round ${mib(rs)} -> ${mib(rl)} MiB (allowed +${mib(RSS_SLACK)}; V8 heap ${mib(s.heapTotal)} -> ${mib(l.heapTotal)}, external ${mib(s.external)} -> ${mib(l.external)})`);
  if (rounds.length >= 2) {
    const f = first.report!;
    check(l.heapUsed - f.heapUsed <= HEAP_PLATEAU, `heapUsed round 1 -> ${last.round}: ${mib(f.heapUsed)} -> ${mib(l.heapUsed)} MiB (allowed +${mib(HEAP_PLATEAU)})`);
    const r1 = rssOf(first)!;
    check(rl - r1 <= RSS_PLATEAU, `RSS round 1 -> ${last.round}: ${mib(r1)} -> ${mib(rl)} MiB (allowed +${mib(RSS_PLATEAU)})`);
  } else lines.push('plateau: not checked with one round (use --rounds 2 or more)');
  return { ok, lines };
}

/** Resident KiB of a process by kind of mapping, from /proc/PID/smaps (Linux, glibc malloc). */
export interface SmapsBreakdown {
  /** The node binary and shared libraries. */
  file: number;
  /** V8's heap: its 256 KiB pages (including pooled free pages not counted in any space) and code pages. */
  v8Pages: number;
  /** glibc's main malloc arena (the brk heap). */
  mallocMain: number;
  /** glibc's per-thread malloc arenas (64 MiB-aligned reservations). */
  mallocThreads: number;
  /** Everything else anonymous: malloc's mmapped chunks, large V8 objects, stacks. */
  otherAnon: number;
}

/**
 * Splits a process's RSS by mapping, from the text of /proc/PID/smaps. A heuristic, but a sharp one:
 * V8 reserves its pages as 256 KiB-aligned 256 KiB mappings (code pages are rwx), glibc's thread
 * arenas are 64 MiB-aligned heaps of at most 64 MiB, its main arena is `[heap]`.
 */
export function smapsBreakdown(text: string): SmapsBreakdown {
  const out: SmapsBreakdown = { file: 0, v8Pages: 0, mallocMain: 0, mallocThreads: 0, otherAnon: 0 };
  let kind: keyof SmapsBreakdown | null = null;
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (m) {
      const start = BigInt(`0x${m[1]}`);
      const size = BigInt(`0x${m[2]}`) - start;
      const name = m[5].trim();
      const K256 = 256n * 1024n;
      const M64 = 64n * 1024n * 1024n;
      if (m[4] !== '0') kind = 'file';
      else if (name === '[heap]') kind = 'mallocMain';
      else if (name !== '') kind = 'otherAnon';
      else if (m[3] === 'rwxp' || (size === K256 && start % K256 === 0n)) kind = 'v8Pages';
      else if (start % M64 === 0n && size <= M64) kind = 'mallocThreads';
      else kind = 'otherAnon';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && kind) out[kind] += Number(rss[1]);
  }
  return out;
}
