/**
 * Decodes a literal the digest scanner found (it stores offsets only, so the hot path never pays
 * for values nobody reads). Used by isolation (the SQL inside PREPARE ... FROM '...'), by rewrites
 * of information_schema filters, and by the golden tests.
 */
import { mbLength, mbTablesFor } from './multibyte';
import type { Literal, ScanOptions } from './scan-types';

const ESCAPES: Record<number, number> = { 0x30: 0x00, 0x27: 0x27, 0x22: 0x22, 0x62: 0x08, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09, 0x5a: 0x1a, 0x5c: 0x5c };

/**
 * The bytes of a string literal's value: quotes removed, `''` undone, escapes applied (unless
 * NO_BACKSLASH_ESCAPES; in gbk/big5/sjis a 0x5c trail byte stays part of its character), adjacent
 * literals (`'a' 'b'`) joined. An `_charset` or `N` introducer is skipped.
 */
export function stringLiteralBytes(buf: Buffer, lit: Literal, opts: ScanOptions = {}): Buffer {
  const mb = mbTablesFor(opts.charset);
  const out: number[] = [];
  let i = lit.start;
  const end = lit.end;
  while (i < end) {
    const c = buf[i]!;
    if (c !== 0x27 && c !== 0x22) {
      i++; // introducer, whitespace between adjacent literals
      continue;
    }
    const q = c;
    i++;
    while (i < end) {
      const d = buf[i]!;
      if (mb !== null && d >= 0x80) {
        const n = mbLength(mb, buf, i, end);
        for (let k = 0; k < n; k++) out.push(buf[i + k]!);
        i += n;
        continue;
      }
      if (d === 0x5c && !opts.noBackslashEscapes && i + 1 < end) {
        const e = buf[i + 1]!;
        // \% and \_ keep the backslash (LIKE patterns), as the server does
        if (e === 0x25 || e === 0x5f) out.push(0x5c, e);
        else out.push(ESCAPES[e] ?? e);
        i += 2;
        continue;
      }
      if (d === q) {
        if (i + 1 < end && buf[i + 1] === q) {
          out.push(q);
          i += 2;
          continue;
        }
        i++;
        break;
      }
      out.push(d);
      i++;
    }
  }
  return Buffer.from(out);
}

/** A literal's value as text: strings decoded (utf8 unless a single-byte/multi-byte charset is given), numbers as written. */
export function literalValue(buf: Buffer, lit: Literal, opts: ScanOptions = {}): string {
  if (lit.type === 'string') {
    const cs = (opts.charset ?? 'utf8mb4').toLowerCase();
    return stringLiteralBytes(buf, lit, opts).toString(cs.startsWith('utf8') ? 'utf8' : 'latin1');
  }
  return buf.toString('latin1', lit.start, lit.end);
}
