/**
 * Multi-byte connection charsets in which a character's second byte may be 0x5c (`\`) or another
 * ASCII byte. In such a charset the server reads lead byte + trail byte as one character, so a
 * scanner that treated that 0x5c as an escape would disagree with the server about where a string
 * ends (the classic gbk `0xbf5c` quoting trick). UTF-8 and single-byte charsets need none of this:
 * no byte of a UTF-8 multi-byte sequence is below 0x80.
 */

/**
 * For a charset name (as in `SET NAMES` / the handshake collation's charset), a table with, per
 * byte, 1 when it may lead a two-byte character; and a table of valid trail bytes. `null` for
 * charsets without ASCII trail bytes (utf8, utf8mb4, latin1, binary, ...).
 */
export interface MbTables {
  readonly lead: Uint8Array;
  readonly trail: Uint8Array;
  /** gb18030 also has four-byte sequences: lead, 0x30-0x39, lead, 0x30-0x39. */
  readonly fourByte: boolean;
}

function table(ranges: readonly [number, number][]): Uint8Array {
  const t = new Uint8Array(256);
  for (const [a, b] of ranges) for (let c = a; c <= b; c++) t[c] = 1;
  return t;
}

const GBK: MbTables = { lead: table([[0x81, 0xfe]]), trail: table([[0x40, 0x7e], [0x80, 0xfe]]), fourByte: false };
const GB18030: MbTables = { lead: table([[0x81, 0xfe]]), trail: table([[0x40, 0x7e], [0x80, 0xfe]]), fourByte: true };
const BIG5: MbTables = { lead: table([[0xa1, 0xf9]]), trail: table([[0x40, 0x7e], [0xa1, 0xfe]]), fourByte: false };
const SJIS: MbTables = { lead: table([[0x81, 0x9f], [0xe0, 0xfc]]), trail: table([[0x40, 0x7e], [0x80, 0xfc]]), fourByte: false };

/** Tables for `charset`, or null when the charset has no ASCII-range trail bytes. */
export function mbTablesFor(charset: string | undefined): MbTables | null {
  switch ((charset ?? '').toLowerCase()) {
    case 'gbk':
      return GBK;
    case 'gb18030':
      return GB18030;
    case 'big5':
      return BIG5;
    case 'sjis':
    case 'cp932':
      return SJIS;
    default:
      return null;
  }
}

/**
 * Length of the multi-byte character starting at `i` (2 or 4), or 1 when the byte at `i` does not
 * start one that is complete and valid before `end` (the server then reads it as a single byte).
 */
export function mbLength(mb: MbTables, buf: Buffer, i: number, end: number): number {
  const c = buf[i]!;
  if (mb.lead[c] === 0 || i + 1 >= end) return 1;
  const d = buf[i + 1]!;
  if (mb.trail[d] === 1) return 2;
  if (mb.fourByte && d >= 0x30 && d <= 0x39 && i + 3 < end && mb.lead[buf[i + 2]!] === 1 && buf[i + 3]! >= 0x30 && buf[i + 3]! <= 0x39) return 4;
  return 1;
}
