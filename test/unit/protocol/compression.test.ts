/**
 * Compressed protocol codec: header layout, stored vs deflated payloads, streams of compressed packets
 * re-decoded unsplit, split into two chunks at every byte offset and fed byte by byte; MySQL packets
 * straddling compressed packets; malformed and fuzzed input (only ProtocolError, never another
 * exception); decompression bombs bounded by the configured limit.
 */
import { randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CompressedDecoder, deflateBound, encodeCompressedPacket, MIN_COMPRESS_LENGTH } from '../../../src/protocol/compression';
import { Framer, PacketTooLargeError } from '../../../src/protocol/framer';
import { ProtocolError } from '../../../src/protocol/packet-reader';
import { framePayload } from '../../../src/protocol/packet-writer';
import { protoErr } from '../../helpers/assert-protocol';

const MAX = 0xffffff;

function packet(payload: Buffer, seq: number): Buffer {
  return Buffer.concat(encodeCompressedPacket(payload, seq));
}

/** Decodes `chunks` in order; returns the plain bytes, the header seqs seen and what is left buffered. */
function decode(chunks: Buffer[], max = MAX): { plain: Buffer; seqs: number[]; buffered: number } {
  const d = new CompressedDecoder(max);
  const seqs: number[] = [];
  d.onHeader = (s) => seqs.push(s);
  const out: Buffer[] = [];
  for (const c of chunks) d.push(c, (b) => out.push(Buffer.from(b)));
  return { plain: Buffer.concat(out), seqs, buffered: d.buffered };
}

test('header layout: stored below 50 bytes, deflated above when smaller, stored when deflate does not shrink', () => {
  const [h, body] = encodeCompressedPacket(Buffer.from('abc'), 5);
  assert.is(h.toString('hex'), '03000005000000', 'length 3, seq 5, uncompressed length 0 (stored)');
  assert.is(body.toString(), 'abc');
  assert.is(Buffer.concat(encodeCompressedPacket(Buffer.alloc(0), 0)).toString('hex'), '00000000000000');
  const just = Buffer.alloc(MIN_COMPRESS_LENGTH - 1, 0x61);
  assert.is(encodeCompressedPacket(just, 0)[0].readUIntLE(4, 3), 0, '49 bytes: stored even though compressible');
  const zeros = Buffer.alloc(1000);
  const [zh, zb] = encodeCompressedPacket(zeros, 255);
  assert.is(zh.readUIntLE(0, 3), zb.length);
  assert.is(zh[3], 255);
  assert.is(zh.readUIntLE(4, 3), 1000, 'deflated: uncompressed length announced');
  assert.ok(zb.length < 50);
  const noise = randomBytes(5000);
  const [nh, nb] = encodeCompressedPacket(noise, 1);
  assert.is(nh.readUIntLE(4, 3), 0, 'incompressible: stored');
  assert.ok(nb.equals(noise));
  assert.throws(() => encodeCompressedPacket(Buffer.alloc(MAX + 1), 0), RangeError);
});

// a stream of compressed packets, stored and deflated, carrying MySQL packets that straddle them
const mysqlStream = Buffer.concat([
  framePayload(Buffer.from('\x03SELECT 1'), 0),
  framePayload(Buffer.alloc(3000, 0x41), 1),
  framePayload(randomBytes(700), 2),
  framePayload(Buffer.from('tiny'), 3),
  framePayload(Buffer.alloc(0), 4),
]);
const cuts = [0, 7, 20, 1500, 3100, 3700, mysqlStream.length];
const compressedStream = Buffer.concat(cuts.slice(1).map((end, i) => packet(mysqlStream.subarray(cuts[i], end), i)));

test('a stream of compressed packets decodes unsplit, split at every byte offset, and byte by byte', () => {
  const whole = decode([compressedStream]);
  assert.ok(whole.plain.equals(mysqlStream), 'unsplit');
  assert.equal(whole.seqs, [0, 1, 2, 3, 4, 5]);
  assert.is(whole.buffered, 0);
  for (let i = 0; i <= compressedStream.length; i++) {
    const r = decode([compressedStream.subarray(0, i), compressedStream.subarray(i)]);
    if (!r.plain.equals(mysqlStream)) assert.unreachable(`split at ${i}`);
    assert.is(r.buffered, 0);
  }
  const bytes: Buffer[] = [];
  for (let i = 0; i < compressedStream.length; i++) bytes.push(compressedStream.subarray(i, i + 1));
  assert.ok(decode(bytes).plain.equals(mysqlStream), 'byte by byte');
});

test('decoded bytes frame into the same MySQL packets as the plain stream, wherever the cuts fall', () => {
  const d = new CompressedDecoder(MAX);
  const fr = new Framer(1 << 20);
  const frames: string[] = [];
  for (let i = 0; i < compressedStream.length; i += 13) {
    d.push(compressedStream.subarray(i, i + 13), (b) => fr.push(b));
    for (let f = fr.next(); f; f = fr.next()) frames.push(`${f.seq}:${f.payload.toString('hex')}`);
  }
  const plain = new Framer(1 << 20);
  plain.push(mysqlStream);
  const want: string[] = [];
  for (let f = plain.next(); f; f = plain.next()) want.push(`${f.seq}:${f.payload.toString('hex')}`);
  assert.equal(frames, want);
  assert.is(frames.length, 5);
});

test('stored payloads are handed on as they arrive, without waiting for the whole compressed packet', () => {
  const payload = randomBytes(10_000);
  const p = packet(payload, 0);
  const d = new CompressedDecoder(MAX);
  let got = 0;
  d.push(p.subarray(0, 1007), (b) => (got += b.length));
  assert.is(got, 1000);
  assert.is(d.buffered, 0, 'nothing held back');
});

test('malformed input: ProtocolError with a reason', () => {
  const dec = (b: Buffer, max = MAX) => () => new CompressedDecoder(max).push(b, () => {});
  protoErr(dec(Buffer.from([5, 0, 0, 0, 100, 0, 0, 1, 2, 3, 4, 5])), /does not zlib-decompress/);
  protoErr(dec(Buffer.from([0, 0, 0, 0, 10, 0, 0])), /carries none/);
  protoErr(dec(Buffer.from([0xff, 0xff, 0, 0, 10, 0, 0])), /more than zlib makes/);
  const z = deflateSync(Buffer.alloc(100, 1));
  const short = Buffer.concat([Buffer.from([z.length, 0, 0, 0, 101, 0, 0]), z]);
  protoErr(dec(short), /announced 101 bytes: inflates to 100 bytes/);
  const long = Buffer.concat([Buffer.from([z.length, 0, 0, 0, 99, 0, 0]), z]);
  protoErr(dec(long), /does not zlib-decompress to the announced 99 bytes/);
});

test('decompression bombs: announced size above the limit refused at the header; lies cost at most the announced size', () => {
  let err: unknown = null;
  try {
    new CompressedDecoder(1 << 20).push(Buffer.from([5, 0, 0, 3, 0x01, 0x00, 0x10]), () => {});
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof PacketTooLargeError, 'announces 1 MiB + 1 with a 1 MiB limit');
  assert.is((err as PacketTooLargeError).size, (1 << 20) + 1);
  // 64 MiB of zeros deflate to ~64 KiB: announcing 100,000 bytes, the body is plausible for that size,
  // so it is inflated, but never past the announced size
  const bomb = deflateSync(Buffer.alloc(64 << 20));
  assert.ok(bomb.length < deflateBound(100_000), 'the bomb passes the size plausibility check');
  const before = process.memoryUsage().arrayBuffers;
  const hdr = Buffer.alloc(7);
  hdr.writeUIntLE(bomb.length, 0, 3);
  hdr.writeUIntLE(100_000, 4, 3);
  protoErr(() => new CompressedDecoder(MAX).push(Buffer.concat([hdr, bomb]), () => {}), /does not zlib-decompress to the announced 100000 bytes/);
  assert.ok(process.memoryUsage().arrayBuffers - before < 32 << 20, 'did not inflate 64 MiB');
});

test('fuzz: random bytes and mutated valid streams raise only ProtocolError', () => {
  let errors = 0;
  const run = (b: Buffer) => {
    try {
      decode([b.subarray(0, b.length >> 1), b.subarray(b.length >> 1)], 1 << 20);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw new Error(`not a ProtocolError: ${(e as Error).stack}`);
      errors++;
    }
  };
  for (let i = 0; i < 300; i++) run(randomBytes(1 + (i % 97) * 7));
  for (let i = 0; i < 1000; i++) {
    const m = Buffer.from(compressedStream);
    for (let k = 0; k < 1 + (i % 4); k++) m[(i * 7919 + k * 104729) % m.length] ^= 1 + ((i + k) % 255);
    run(m);
  }
  assert.ok(errors > 100, `most garbage is refused (${errors})`);
});

test.run();
