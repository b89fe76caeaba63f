/**
 * A cheap pre-digest key for COM_QUERY: the statement's bytes with the literal values cut out, and a
 * hash of them. A statement seen before (same bytes apart from literal values, same tenant, config
 * version and scan options) finds its routing class without running the digest scanner.
 *
 * Fail-closed by construction: the key keeps every byte that is not a literal verbatim (whitespace,
 * case, comments, quoted names included), so it is finer than the digest. A byte run is cut out only
 * where the digest scanner also reads a literal; anything the cheap loop cannot read exactly as the
 * scanner does (executable comments, multi-byte charsets, a quote touching `@`, very long
 * statements, unterminated quotes) gives no key and the full scan runs. A hit is confirmed by
 * comparing the kept bytes, never by the hash alone.
 */
import { ownedCopy } from '../protocol/owned-copy';
import type { StatementRoute } from '../routing/planner';

const W = 1; // word byte: letter, `_`, `$`, >= 0x80
const D = 2; // digit
const cls = new Uint8Array(256);
for (let c = 0x41; c <= 0x5a; c++) cls[c] = W;
for (let c = 0x61; c <= 0x7a; c++) cls[c] = W;
cls[0x5f] = W;
cls[0x24] = W;
for (let c = 0x80; c <= 0xff; c++) cls[c] = W;
for (let c = 0x30; c <= 0x39; c++) cls[c] = D;

/** Statements longer than this get no key (they are rare on the hot path; the scanner handles them). */
export const MAX_KEYED_LENGTH = 2048;

/** Scratch for the kept bytes: reused, so computing a key allocates nothing. */
const KEY = Buffer.allocUnsafe(MAX_KEYED_LENGTH * 2 + 16);
let keyLen = 0;

function put(b: number): void {
  // 0x00 is the escape byte: a literal becomes 0x00 0x01, a real 0x00 byte 0x00 0x00
  KEY[keyLen++] = b;
  if (b === 0) KEY[keyLen++] = 0;
}

function putLiteral(): void {
  KEY[keyLen++] = 0;
  KEY[keyLen++] = 1;
}

/** End (after the closing quote) of a quoted run starting after `i`, or -1 when unterminated. */
function quoteEnd(buf: Buffer, i: number, end: number, q: number, escapes: boolean): number {
  while (i < end) {
    const c = buf[i]!;
    if (c === q) {
      if (i + 1 < end && buf[i + 1] === q) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    if (c === 0x5c && escapes) {
      i += 2;
      continue;
    }
    i++;
  }
  return -1;
}

/**
 * Computes the key of `buf[start:end)` into the scratch buffer and returns its 32-bit hash, or -1
 * when the statement gets no key. Call only for single-byte-safe charsets (utf8*, latin1, ascii):
 * in gbk/big5/sjis a trail byte 0x5c is not an escape.
 */
export function literalFreeKey(buf: Buffer, start: number, end: number, noBackslashEscapes: boolean, ansiQuotes: boolean, optionBits: number): number {
  if (end - start > MAX_KEYED_LENGTH) return -1;
  keyLen = 0;
  put(optionBits & 0xff);
  let i = start;
  // the last byte that was not whitespace (a comment counts as '.': what follows one is kept)
  let sig = 0x20;
  while (i < end) {
    const c = buf[i]!;
    const k = cls[c];
    if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) {
      put(c);
      i++;
      continue;
    }
    if (k === D) {
      const p = i > start ? buf[i - 1]! : 0x20;
      let e = i + 1;
      while (e < end && cls[buf[e]!] === D) e++;
      const n = e < end ? buf[e]! : 0x20;
      // a number token only when nothing word-like touches it (1x, t1, t.1, t . 1, @1, 1.5, 1e5, 0x1f, 1@h are kept)
      if (cls[p] !== 0 || sig === 0x2e || sig === 0x40 || cls[n] !== 0 || n === 0x2e || n === 0x40) {
        sig = c;
        for (; i < e; i++) put(buf[i]!);
      } else {
        putLiteral();
        sig = 0x27;
        i = e;
      }
      continue;
    }
    if (c === 0x27 || (c === 0x22 && !ansiQuotes)) {
      const p = i > start ? buf[i - 1]! : 0x20;
      if (p === 0x40) return -1; // @'var' is a name
      let escapes = !noBackslashEscapes;
      if (cls[p] === W && i - 2 >= start && cls[buf[i - 2]!] === 0) {
        // X'..' / B'..' take no escapes (N'..' and _charset'..' do)
        const l = p | 0x20;
        if (l === 0x78 || l === 0x62) escapes = false;
      } else if (cls[p] === W && i - 1 === start) {
        const l = p | 0x20;
        if (l === 0x78 || l === 0x62) escapes = false;
      }
      const e = quoteEnd(buf, i + 1, end, c, escapes);
      if (e < 0) return -1;
      if (e < end && buf[e] === 0x40) return -1; // 'user'@'host' is an account
      putLiteral();
      sig = 0x27;
      i = e;
      continue;
    }
    if (c === 0x60 || c === 0x22) {
      const e = quoteEnd(buf, i + 1, end, c, false);
      if (e < 0) return -1;
      for (; i < e; i++) put(buf[i]!);
      sig = c;
      continue;
    }
    if (c === 0x2f && i + 1 < end && buf[i + 1] === 0x2a) {
      // executable comments are code the cheap loop does not follow
      if (i + 2 < end && (buf[i + 2] === 0x21 || buf[i + 2] === 0x4d)) return -1;
      const e = buf.indexOf('*/', i + 2, 'latin1');
      if (e < 0 || e + 2 > end) return -1;
      for (; i < e + 2; i++) put(buf[i]!);
      sig = 0x2e;
      continue;
    }
    if (c === 0x23 || (c === 0x2d && i + 1 < end && buf[i + 1] === 0x2d)) {
      // `#` and `-- ` comments (and `--` operators) run to the line end, kept as they are
      let e = buf.indexOf(0x0a, i);
      if (e < 0 || e >= end) e = end;
      for (; i < e; i++) put(buf[i]!);
      sig = 0x2e;
      continue;
    }
    put(c);
    sig = c;
    i++;
  }
  let h = 0x811c9dc5;
  for (let j = 0; j < keyLen; j++) h = Math.imul(h ^ KEY[j]!, 0x01000193);
  return h >>> 0;
}

/** One remembered statement shape: its kept bytes and what routing needs from it. */
interface Entry {
  readonly key: Buffer;
  readonly tenant: string;
  readonly version: number;
  readonly route: StatementRoute;
}

/**
 * Statement shapes whose decision was "allow, no rewrite, route class R": bounded, oldest first out.
 * Only statements whose whole decision is a function of their non-literal bytes may be added (see
 * the caller).
 */
export class LiteralFreeIndex {
  private readonly map = new Map<number, Entry>();
  hits = 0;

  constructor(readonly capacity: number) {}

  /** The route class remembered for the key just computed by `literalFreeKey` (hash `h`), if any. */
  get(h: number, tenant: string, version: number): StatementRoute | undefined {
    const e = this.map.get(h);
    if (e === undefined || e.version !== version || e.tenant !== tenant || e.key.length !== keyLen) return undefined;
    if (KEY.compare(e.key, 0, keyLen, 0, keyLen) !== 0) return undefined;
    this.hits++;
    return e.route;
  }

  /** Remembers the key just computed (hash `h`). */
  set(h: number, tenant: string, version: number, route: StatementRoute): void {
    if (!this.map.has(h) && this.map.size >= this.capacity) this.map.delete(this.map.keys().next().value as number);
    this.map.set(h, { key: ownedCopy(KEY, 0, keyLen), tenant, version, route });
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
}

/** A copy of the key bytes last computed (tests compare keys by these, not by hash). */
export function lastKeyBytes(): Buffer {
  // Kept in bounded caches for long: its own memory, not a slice of Node's shared pool (see owned-copy.ts).
  return ownedCopy(KEY, 0, keyLen);
}

/** Whether `key` holds exactly the bytes of the key last computed by `literalFreeKey` (no copy). */
export function isLastKey(key: Buffer): boolean {
  return key.length === keyLen && KEY.compare(key, 0, keyLen, 0, keyLen) === 0;
}
