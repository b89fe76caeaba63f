/** PacketReader: every reader, bounds and malformed input; PacketWriter round trips. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PacketReader, ProtocolError } from '../../../src/protocol/packet-reader';
import { PacketWriter, framePayload, packetCount } from '../../../src/protocol/packet-writer';
import { MAX_PACKET_PAYLOAD } from '../../../src/protocol/constants';
import { protoErr } from '../../helpers/assert-protocol';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const rd = (b: Buffer) => new PacketReader(b, 0, b.length);


test('constructor bounds: start/end must lie within the buffer', () => {
  const b = Buffer.alloc(8);
  protoErr(() => new PacketReader(b, -1, 4), /bounds/);
  protoErr(() => new PacketReader(b, 0, 9), /bounds/);
  protoErr(() => new PacketReader(b, 5, 4), /bounds/);
  const r = new PacketReader(b, 8, 8);
  assert.is(r.remaining(), 0);
  const r2 = new PacketReader(b, 2, 6);
  assert.is(r2.pos, 2);
  assert.is(r2.remaining(), 4);
});

test('fixed-width little-endian integers', () => {
  const r = rd(hex('fe 3412 563412 78563412 ffffffff'));
  assert.is(r.u8(), 0xfe);
  assert.is(r.u16(), 0x1234);
  assert.is(r.u24(), 0x123456);
  assert.is(r.u32(), 0x12345678);
  assert.is(r.u32(), 0xffffffff); // unsigned
  assert.is(r.remaining(), 0);
  protoErr(() => r.u8(), /u8/);
});

test('fixed-width reads respect `end`, not the buffer length', () => {
  const b = hex('01 02 03 04 05 06 07 08');
  for (const [n, read] of [
    [1, (r: PacketReader) => r.u16()],
    [2, (r: PacketReader) => r.u24()],
    [3, (r: PacketReader) => r.u32()],
    [0, (r: PacketReader) => r.u8()],
  ] as [number, (r: PacketReader) => number][]) {
    const r = new PacketReader(b, 2, 2 + n);
    protoErr(() => read(r), /truncated/);
    assert.is(r.pos, 2, 'position unchanged after a failed read');
  }
  const r = new PacketReader(b, 2, 4);
  assert.is(r.u16(), 0x0403);
});

test('lenenc: 1-byte form (0..250)', () => {
  assert.is(rd(hex('00')).lenenc(), 0);
  assert.is(rd(hex('fa')).lenenc(), 250);
});

test('lenenc: 3-byte form 0xFC', () => {
  assert.is(rd(hex('fc fb00')).lenenc(), 251);
  assert.is(rd(hex('fc ffff')).lenenc(), 0xffff);
  protoErr(() => rd(hex('fc ff')).lenenc(), /truncated/);
});

test('lenenc: 4-byte form 0xFD', () => {
  assert.is(rd(hex('fd 000001')).lenenc(), 0x10000);
  assert.is(rd(hex('fd ffffff')).lenenc(), 0xffffff);
  protoErr(() => rd(hex('fd ffff')).lenenc(), /truncated/);
});

test('lenenc: 9-byte form 0xFE up to 2^53-1; as a length, 2^53 and above is past the end', () => {
  assert.is(rd(hex('fe 00000001 00000000')).lenenc(), 0x1000000);
  assert.is(rd(hex('fe 78563412 01000000')).lenenc(), 0x112345678);
  assert.is(rd(hex('fe ffffffff ffff1f00')).lenenc(), Number.MAX_SAFE_INTEGER);
  protoErr(() => rd(hex('fe 00000000 00002000')).lenenc(), /truncated/); // 2^53
  protoErr(() => rd(hex('fe ffffffff ffffffff')).lenenc(), /truncated/);
  protoErr(() => rd(hex('fe 01020304 050607')).lenenc(), /truncated/);
});

test('lenencInt: the whole 0..2^64-1 range, number up to 2^53-1 and bigint above (one representation per value)', () => {
  assert.is(rd(hex('fa')).lenencInt(), 250);
  assert.is(rd(hex('fe ffffffff ffff1f00')).lenencInt(), Number.MAX_SAFE_INTEGER);
  assert.is(rd(hex('fe 00000000 00002000')).lenencInt(), 2n ** 53n);
  assert.is(rd(hex('fe ffffffff ffffffff')).lenencInt(), 2n ** 64n - 1n);
  // what MariaDB sends for an auto-increment id of -999
  assert.is(rd(hex('fe 19fcffff ffffffff')).lenencInt(), 2n ** 64n - 999n);
  protoErr(() => rd(hex('fe 01020304 050607')).lenencInt(), /truncated/);
  protoErr(() => rd(hex('ff')).lenencInt(), /prefix 0xff/);
});

test('PacketWriter.lenenc writes numbers and bigints exactly; round trips through lenencInt', () => {
  for (const v of [0, 250, 251, 0xffff, 0x10000, 0xffffff, 0x1000000, Number.MAX_SAFE_INTEGER, 2n ** 53n, 2n ** 64n - 999n, 2n ** 64n - 1n]) {
    const w = new PacketWriter(9).lenenc(v).finish(0);
    const r = new PacketReader(w, 4, w.length);
    assert.is(r.lenencInt(), v);
    assert.is(r.remaining(), 0);
  }
  // a bigint that fits a short form is written in it
  assert.equal(new PacketWriter(9).lenenc(5n).finish(0).subarray(4), hex('05'));
});

test('lenenc: 0xFF prefix and bare 0xFB are protocol errors', () => {
  protoErr(() => rd(hex('ff')).lenenc(), /bad length-encoded integer prefix 0xff/);
  protoErr(() => rd(hex('fb')).lenenc(), /prefix 0xfb/);
  protoErr(() => rd(Buffer.alloc(0)).lenenc(), /truncated/);
});

test('lenencOrNull: 0xFB is NULL (-1), otherwise a lenenc', () => {
  const r = rd(hex('fb 05 fc 0001 fb'));
  assert.is(r.lenencOrNull(), -1);
  assert.is(r.lenencOrNull(), 5);
  assert.is(r.lenencOrNull(), 256);
  assert.is(r.lenencOrNull(), -1);
  assert.is(r.remaining(), 0);
  protoErr(() => r.lenencOrNull(), /truncated/);
  // 0xFB just past `end` is not read as NULL
  protoErr(() => new PacketReader(hex('fb'), 0, 0).lenencOrNull(), /truncated/);
});

test('bytes/skip/rest return views, not copies', () => {
  const b = hex('0102030405060708');
  const r = new PacketReader(b, 1, 7);
  const v = r.bytes(2);
  assert.equal([...v], [2, 3]);
  assert.is(v.buffer, b.buffer);
  assert.is(v.byteOffset, b.byteOffset + 1);
  r.skip(1);
  const rest = r.rest();
  assert.equal([...rest], [5, 6, 7]); // stops at end (7), not at the buffer end
  assert.is(r.remaining(), 0);
  assert.is(r.rest().length, 0);
  protoErr(() => r.bytes(1), /truncated/);
  protoErr(() => r.skip(1), /truncated/);
  protoErr(() => r.bytes(-1), /negative/);
  assert.is(r.bytes(0).length, 0);
});

test('lenencBytes / lenencString; a length past the end is a ProtocolError', () => {
  const r = rd(hex('03 616263 00 fc0200 c3a9'));
  assert.equal(r.lenencBytes(), Buffer.from('abc'));
  assert.is(r.lenencString(), '');
  assert.is(r.lenencString(), 'é');
  protoErr(() => rd(hex('05 61626364')).lenencBytes(), /truncated/);
  // length fits in the buffer but not before `end`
  protoErr(() => new PacketReader(hex('03 616263'), 0, 3).lenencString(), /truncated/);
});

test('nulBytes / nulString; missing NUL is a ProtocolError, also when the NUL lies past `end`', () => {
  const r = rd(hex('6162 00 00 63'));
  assert.is(r.nulString(), 'ab');
  assert.is(r.nulBytes().length, 0);
  protoErr(() => r.nulString(), /missing NUL/);
  assert.is(r.pos, 4, 'position unchanged');
  protoErr(() => new PacketReader(hex('616200'), 0, 2).nulBytes(), /missing NUL/);
  protoErr(() => rd(Buffer.alloc(0)).nulString(), /missing NUL/);
});

test('nulOrRestString: NUL-terminated when present, else the rest up to `end`', () => {
  const r = rd(hex('6162 00 6364'));
  assert.is(r.nulOrRestString(), 'ab');
  assert.is(r.nulOrRestString(), 'cd');
  assert.is(r.remaining(), 0);
  assert.is(r.nulOrRestString(), '');
  const r2 = new PacketReader(hex('616200'), 0, 2);
  assert.is(r2.nulOrRestString(), 'ab');
  assert.is(r2.pos, 2);
});

// ---- PacketWriter

test('PacketWriter: fixed widths, strings, zeros; header has length and seq', () => {
  const out = new PacketWriter(1).u8(0x1ff).u16(0x12345).u24(0x1234567).u32(0xfedcba98).zeros(2).string('é').nulString('x').finish(9);
  assert.equal(out, hex('10 00 00 09  ff 4523 674523 98badcfe 0000 c3a9 7800'));
  const w = new PacketWriter();
  assert.is(w.length, 0);
  w.u32(-1);
  assert.equal(w.finish(0).subarray(4), hex('ffffffff'));
  assert.is(w.length, 4);
});

test('PacketWriter: lenenc boundaries encode in the right form and read back', () => {
  const cases: [number, string][] = [
    [0, '00'],
    [250, 'fa'],
    [251, 'fcfb00'],
    [65535, 'fcffff'],
    [65536, 'fd000001'],
    [16777215, 'fdffffff'],
    [16777216, 'fe0000000100000000'],
    [2 ** 32, 'fe0000000001000000'],
    [Number.MAX_SAFE_INTEGER, 'feffffffffffff1f00'],
  ];
  for (const [v, h] of cases) {
    const p = new PacketWriter(1).lenenc(v).finish(0).subarray(4);
    assert.is(p.toString('hex'), h, `encode ${v}`);
    const r = rd(p);
    assert.is(r.lenenc(), v, `decode ${v}`);
    assert.is(r.remaining(), 0);
  }
});

test('PacketWriter: lenencString / lenencBytes / nulString round trip through PacketReader', () => {
  const long = 'x'.repeat(300);
  const blob = Buffer.alloc(70000, 0x5a);
  const p = new PacketWriter(4).lenencString('héllo').lenencString('').lenencString(long).lenencBytes(blob).nulString('db').u8(0xfb).finish(3);
  assert.is(p.readUIntLE(0, 3), p.length - 4);
  assert.is(p[3], 3);
  const r = new PacketReader(p, 4, p.length);
  assert.is(r.lenencString(), 'héllo');
  assert.is(r.lenencString(), '');
  assert.is(r.lenencString(), long);
  assert.equal(r.lenencBytes(), blob);
  assert.is(r.nulString(), 'db');
  assert.is(r.lenencOrNull(), -1);
  assert.is(r.remaining(), 0);
});

test('PacketWriter.finish: below 16 MiB no copy; at 0xFFFFFF split with a trailing empty packet', () => {
  const small = new PacketWriter(4).string('abc');
  const f = small.finish(1);
  assert.equal(f, hex('03000001 616263'));
  const w = new PacketWriter(16).zeros(MAX_PACKET_PAYLOAD - 1);
  const a = w.finish(0);
  assert.is(a.length, MAX_PACKET_PAYLOAD + 3);
  assert.equal([...a.subarray(0, 4)], [0xfe, 0xff, 0xff, 0]);
  w.u8(1);
  const b = w.finish(0);
  assert.is(b.length, MAX_PACKET_PAYLOAD + 8);
  assert.equal([...b.subarray(0, 4)], [0xff, 0xff, 0xff, 0]);
  assert.equal([...b.subarray(MAX_PACKET_PAYLOAD + 4)], [0, 0, 0, 1]);
});

test('framePayload / packetCount', () => {
  assert.equal(framePayload(Buffer.alloc(0), 5), hex('00000005'));
  assert.equal(framePayload(Buffer.from('hi'), 255), hex('020000ff 6869'));
  assert.is(packetCount(0), 1);
  assert.is(packetCount(MAX_PACKET_PAYLOAD - 1), 1);
  assert.is(packetCount(MAX_PACKET_PAYLOAD), 2);
  assert.is(packetCount(2 * MAX_PACKET_PAYLOAD), 3);
});

test.run();
