/** The long fuzz run's memory criterion (scripts/fuzz-memory.ts) and the memory report's heap spaces. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HEAP_PLATEAU, MIB, memoryVerdict, roundTable, smapsBreakdown, RSS_PLATEAU, RSS_SLACK, type Measured, type RoundMemory } from '../../../scripts/fuzz-memory';
import { heapSpaces } from '../../../src/server/memory-report';

const at = (heapUsedMiB: number, rssMiB: number, extra: Record<string, number> = {}): Measured => ({
  report: {
    heapUsed: heapUsedMiB * MIB, heapTotal: (heapUsedMiB + 4) * MIB, external: 2 * MIB, arrayBuffers: MIB, rss: rssMiB * MIB,
    heapNewSpace: MIB, heapOldSpace: 8 * MIB, heapCodeSpace: MIB, sessions: 0, handshaking: 0, ...extra,
  },
  split: { rss: rssMiB * 1024, anon: (rssMiB - 44) * 1024, file: 44 * 1024 },
});
const round = (n: number, m: Measured, findings: string[] = []): RoundMemory => ({
  ...m, round: n, seed: 100 + n, cases: 40_000, canaryChecks: 30_000, findings, ms: 600_000, idleRssKb: [(m.split!.rss + 10 * 1024), m.split!.rss],
});

test('a plateau within the slacks passes; every check is listed', () => {
  const v = memoryVerdict(at(12, 77), [round(1, at(20, 84)), round(2, at(20.5, 85)), round(3, at(21, 86))]);
  assert.ok(v.ok, v.lines.join('\n'));
  assert.is(v.lines.filter((l) => l.startsWith('ok: ')).length, 3 + 2 + 2);
});

test('RSS growing from round 1 to the last by more than RSS_PLATEAU fails, even within RSS_SLACK of the start', () => {
  const grow = RSS_PLATEAU / MIB + 1;
  const v = memoryVerdict(at(12, 77), [round(1, at(20, 80)), round(2, at(20, 80 + grow))]);
  assert.not.ok(v.ok);
  assert.ok(v.lines.some((l) => l.startsWith('NOT ok: RSS round 1 -> 2')), v.lines.join('\n'));
  assert.ok(80 + grow - 77 <= RSS_SLACK / MIB, 'the start criterion alone would pass');
});

test('the live heap growing round over round fails (a leak), RSS far above the start fails, a session left fails', () => {
  const leak = memoryVerdict(at(12, 77), [round(1, at(14, 80)), round(2, at(14 + HEAP_PLATEAU / MIB + 1, 82))]);
  assert.ok(leak.lines.some((l) => l.startsWith('NOT ok: heapUsed round 1')), leak.lines.join('\n'));
  const rss = memoryVerdict(at(12, 77), [round(1, at(14, 77 + RSS_SLACK / MIB + 1))]);
  assert.ok(rss.lines.some((l) => l.startsWith('NOT ok: RSS start')), rss.lines.join('\n'));
  assert.ok(rss.lines.some((l) => l.startsWith('plateau: not checked')));
  const left = memoryVerdict(at(12, 77), [round(1, at(14, 78, { sessions: 1 }))]);
  assert.not.ok(left.ok);
});

test('a missing report fails instead of passing silently', () => {
  assert.not.ok(memoryVerdict({ report: null, split: null }, [round(1, at(14, 78))]).ok);
  assert.not.ok(memoryVerdict(at(12, 77), [{ ...round(1, at(14, 78)), report: null }]).ok);
  assert.not.ok(memoryVerdict(at(12, 77), []).ok);
});

test('the round table has a start row and one row per round with the finding counts', () => {
  const t = roundTable(at(12, 77), [round(1, at(20, 84), ['hang', 'canary-error']), round(2, at(20, 84))]).split('\n');
  assert.is(t.length, 2 + 3);
  assert.match(t[1], /round +seed +cases +canary +crash +hang +wrong +other/);
  assert.match(t[3], /^ +1 +101 +40000 +30000 +0 +1 +0 +1 +600 +20\.0 /);
  assert.match(t[3], / 84\.0 +40\.0 +30\.0 +44\.0 +- +- +- +84\.0$/, 'RSS, anon, notV8 (anon minus the heap spaces), file, no smaps, idle minimum');
  const withSmaps = roundTable(at(12, 77), [{ ...round(1, at(20, 84)), smaps: { file: 45056, v8Pages: 20480, mallocMain: 8192, mallocThreads: 4096, otherAnon: 1024 } }]);
  assert.match(withSmaps.split('\n')[3], / 44\.0 +20\.0 +12\.0 +1\.0 +84\.0$/, 'v8Pages, malloc (main + threads), mmapEtc');
});

test('smapsBreakdown: file mappings, V8 pages (256 KiB aligned, or rwx code), glibc arenas ([heap], 64 MiB-aligned), the rest', () => {
  const map = (start: bigint, size: bigint, perm: string, inode: number, name: string, rssKb: number) =>
    `${start.toString(16)}-${(start + size).toString(16)} ${perm} 00000000 00:00 ${inode}${name ? `                  ${name}` : ''}\nSize:   ${size / 1024n} kB\nRss:    ${rssKb} kB\nPss:    ${rssKb} kB\n`;
  const K = 1024n;
  const text = [
    map(0x400000n, 40000n * K, 'r-xp', 1234, '/usr/bin/node', 30000),
    map(0x27c5f000n, 10452n * K, 'rw-p', 0, '[heap]', 9000),
    map(0x7f9088000000n, 3320n * K, 'rw-p', 0, '', 2500),
    map(0x7f9088000000n + 3320n * K, 65536n * K - 3320n * K, '---p', 0, '', 0),
    map(0x2a4d00000000n, 256n * K, 'rw-p', 0, '', 256),
    map(0x2a4d00040000n, 256n * K, 'rw-p', 0, '', 100),
    map(0x3b1c0000c000n, 240n * K, 'rwxp', 0, '', 200),
    map(0x7f0000001000n, 8192n * K, 'rw-p', 0, '', 40),
    map(0x7ffd00000000n, 132n * K, 'rw-p', 0, '[stack]', 30),
  ].join('');
  assert.equal(smapsBreakdown(text), { file: 30000, v8Pages: 556, mallocMain: 9000, mallocThreads: 2500, otherAnon: 70 });
});

test('heapSpaces: resident bytes of the V8 heap spaces in use, camel-case keys', () => {
  const s = heapSpaces();
  assert.ok(s.heapNewSpace > 0 && s.heapOldSpace > 0, JSON.stringify(s));
  assert.ok(Object.keys(s).every((k) => /^heap[A-Z][A-Za-z]*Space$/.test(k)), JSON.stringify(s));
  assert.ok(Object.values(s).reduce((a, b) => a + b, 0) <= process.memoryUsage().heapTotal * 1.5);
});

test.run();
