import { ColumnType, parseTextRow } from '../protocol/column';
import { PacketWriter } from '../protocol/packet-writer';

/**
 * Re-encodes a text-protocol row (as captured by a COM_QUERY on a backend) as a binary-protocol
 * row (as COM_STMT_EXECUTE returns it) for columns of the given types: header 0x00, NULL bitmap
 * with offset 2, integers fixed-width little-endian, everything else as a length-encoded string.
 * Only for results the proxy answers itself from captured text rows (diagnostics); the integer
 * cells hold decimal digits, as the server writes them. Pure.
 */
export function binaryRow(text: Buffer, types: readonly number[]): Buffer {
  const n = types.length;
  const cells = parseTextRow(text, n);
  const bitmap = Buffer.alloc((n + 7 + 2) >> 3);
  const w = new PacketWriter(text.length + bitmap.length + 8 * n);
  w.u8(0);
  const at = w.length;
  w.bytes(bitmap);
  for (let i = 0; i < n; i++) {
    const c = cells[i];
    if (c === null) {
      bitmap[(i + 2) >> 3] |= 1 << ((i + 2) & 7);
      continue;
    }
    const t = types[i];
    if (t === ColumnType.TINY) w.u8(Number(c.toString('latin1')) & 0xff);
    else if (t === ColumnType.SHORT || t === ColumnType.YEAR) w.u16(Number(c.toString('latin1')) & 0xffff);
    else if (t === ColumnType.LONG || t === ColumnType.INT24) w.u32(Number(c.toString('latin1')) >>> 0);
    else if (t === ColumnType.LONGLONG) {
      const v = BigInt.asUintN(64, BigInt(c.toString('latin1')));
      w.u32(Number(v & 0xffffffffn)).u32(Number(v >> 32n));
    } else w.lenenc(c.length).bytes(c);
  }
  const out = w.finish(0).subarray(4);
  bitmap.copy(out, at);
  return out;
}
