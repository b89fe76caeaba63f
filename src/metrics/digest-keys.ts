import { isLastKey, lastKeyBytes } from '../classify/literal-free-key';
import type { DigestEntry } from './digest-stats';

/** One statement shape of one tenant and the digest entry its statements are counted in. */
interface Keyed {
  readonly key: Buffer;
  readonly tenant: string;
  readonly entry: DigestEntry;
}

/**
 * Literal-free statement keys (see literal-free-key.ts) → digest-statistics entries, so a statement
 * of a shape seen before is counted without running the digest scanner or building a string. The
 * key is finer than the digest (it keeps case, whitespace and comments), so several keys may share
 * one entry; a hit is confirmed by the kept bytes, never by the hash alone. Bounded, oldest first out.
 */
export class DigestKeys {
  private readonly map = new Map<number, Keyed>();

  constructor(readonly capacity: number) {}

  /** The live entry of the key just computed by `literalFreeKey` (hash `h`) for `tenant`, if known. */
  get(h: number, tenant: string): DigestEntry | null {
    const k = this.map.get(h);
    if (k === undefined || k.tenant !== tenant || !k.entry.live || !isLastKey(k.key)) return null;
    return k.entry;
  }

  /** Remembers `key` (hash `h`; defaults to a copy of the key just computed) as counted in `entry`. */
  set(h: number, tenant: string, entry: DigestEntry, key: Buffer = lastKeyBytes()): void {
    if (!this.map.has(h) && this.map.size >= this.capacity) this.map.delete(this.map.keys().next().value as number);
    this.map.set(h, { key, tenant, entry });
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
}
