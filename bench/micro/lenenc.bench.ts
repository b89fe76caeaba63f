/**
 * Example micro bench (proves the harness): decoding 1e6 length-encoded integers from one buffer with
 * Buffer reads, the way a MySQL codec reads lenenc fields. The decoder here is written inline on
 * purpose; the codec's own benches (src/protocol) belong in their own *.bench.ts files.
 */
import { bench } from './harness';

const COUNT = 1_000_000;

/** Values spread over all four lenenc forms: 1 byte (<251), 0xfc+2, 0xfd+3, 0xfe+8. */
function makeValues(): number[] {
  const vals: number[] = [];
  let x = 12345;
  for (let i = 0; i < COUNT; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    switch (i & 3) {
      case 0: vals.push(x % 251); break;
      case 1: vals.push(251 + (x % (0x10000 - 251))); break;
      case 2: vals.push(0x10000 + (x % (0x1000000 - 0x10000))); break;
      default: vals.push(0x1000000 + x * 4); break;
    }
  }
  return vals;
}

function encode(vals: readonly number[]): Buffer {
  const buf = Buffer.allocUnsafe(vals.length * 9);
  let pos = 0;
  for (const v of vals) {
    if (v < 251) buf[pos++] = v;
    else if (v < 0x10000) { buf[pos++] = 0xfc; buf.writeUInt16LE(v, pos); pos += 2; }
    else if (v < 0x1000000) { buf[pos++] = 0xfd; buf.writeUIntLE(v, pos, 3); pos += 3; }
    else { buf[pos++] = 0xfe; buf.writeUIntLE(v, pos, 6); buf.writeUInt16LE(0, pos + 6); pos += 8; }
  }
  return buf.subarray(0, pos);
}

const values = makeValues();
const buf = encode(values);

/** Decodes every lenenc integer in buf; returns their sum (mod 2^32) so the work is observable. */
function decodeAll(b: Buffer): number {
  let pos = 0;
  let sum = 0;
  const end = b.length;
  while (pos < end) {
    const first = b[pos]!;
    let v: number;
    if (first < 0xfb) { v = first; pos += 1; }
    else if (first === 0xfc) { v = b.readUInt16LE(pos + 1); pos += 3; }
    else if (first === 0xfd) { v = b.readUIntLE(pos + 1, 3); pos += 4; }
    else if (first === 0xfe) {
      // Up to 2^53 exactly; a real codec must reject larger values as a protocol error.
      v = b.readUIntLE(pos + 1, 6) + b.readUInt16LE(pos + 7) * 2 ** 48; pos += 9;
    } else throw new Error(`invalid lenenc prefix 0x${first.toString(16)} at ${pos}`);
    sum = (sum + v) | 0;
  }
  return sum;
}

// Correctness check before timing: the bench must measure a decoder that works.
let expected = 0;
for (const v of values) expected = (expected + v) | 0;
if (decodeAll(buf) !== expected) throw new Error('lenenc decoder self-check failed');

bench('lenenc decode (Buffer reads, mixed widths)', () => decodeAll(buf), { iterations: 5, opsPerCall: COUNT, rounds: 7, warmup: 3 });
