/**
 * A small seeded PRNG (mulberry32) for randomized tests: the same seed replays the same run, so a
 * failure prints its seed and can be reproduced exactly.
 */
export class Prng {
  private s: number;

  constructor(readonly seed: number) {
    this.s = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

/**
 * The seed for a randomized test: `process.env[envVar]` when set (to replay a failure), else a fresh
 * random one. Always print it with a failure.
 */
export function seedFrom(envVar: string): number {
  const v = process.env[envVar];
  if (v !== undefined && v !== '') {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`${envVar}=${v}: expected an integer from 0 to 4294967295`);
    return n;
  }
  return Math.floor(Math.random() * 0x100000000) >>> 0;
}
