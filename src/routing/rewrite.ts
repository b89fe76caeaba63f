/**
 * Logical → physical schema names in a statement, by byte offsets the digest scanner reported.
 * Pure: builds a new buffer; the original is not touched.
 */

/** Replace `buf[start:end)` with `text` (already quoted/escaped as it must appear in SQL). */
export interface Rewrite {
  readonly start: number;
  readonly end: number;
  readonly text: string;
  /** The replacement as bytes, when it must not go through UTF-8 (SQL in a non-UTF-8 connection charset). */
  readonly bytes?: Buffer;
}

/**
 * Bytes of a single-quoted SQL string literal holding `content` bytes: quotes doubled, backslashes
 * doubled where they escape. Only for charsets whose bytes never pair with 0x27/0x5c (UTF-8 and
 * single-byte ones); the caller refuses the rest.
 */
export function quoteStringBytes(content: Buffer, noBackslashEscapes: boolean): Buffer {
  const out: number[] = [0x27];
  for (const c of content) {
    if (c === 0x27) out.push(0x27, 0x27);
    else if (c === 0x5c && !noBackslashEscapes) out.push(0x5c, 0x5c);
    else out.push(c);
  }
  out.push(0x27);
  return Buffer.from(out);
}

/** `name` as a backtick-quoted identifier. */
export function quoteIdent(name: string): string {
  return '`' + name.replace(/`/g, '``') + '`';
}

/**
 * `s` as a single-quoted string literal that reads back as `s` whatever NO_BACKSLASH_ESCAPES is:
 * quotes are doubled, and a backslash is written `\\` only where backslashes escape.
 */
export function quoteString(s: string, noBackslashEscapes: boolean): string {
  let out = s.replace(/'/g, "''");
  if (!noBackslashEscapes) out = out.replace(/\\/g, '\\\\');
  return `'${out}'`;
}

/**
 * `buf[start:end)` with the rewrites applied (they must not overlap; any order). Returns the
 * original view when there is nothing to do.
 */
export function applyRewrites(buf: Buffer, start: number, end: number, rewrites: readonly Rewrite[]): Buffer {
  if (rewrites.length === 0) return buf.subarray(start, end);
  const sorted = [...rewrites].sort((a, b) => a.start - b.start);
  const parts: Buffer[] = [];
  let at = start;
  for (const r of sorted) {
    if (r.start < at || r.end > end) throw new RangeError(`overlapping or out-of-range rewrite ${r.start}..${r.end}`);
    parts.push(buf.subarray(at, r.start), r.bytes ?? Buffer.from(r.text, 'utf8'));
    at = r.end;
  }
  parts.push(buf.subarray(at, end));
  return Buffer.concat(parts);
}
