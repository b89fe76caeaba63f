/**
 * CompressedTransport: corked writes become one compressed packet, uncorked writes are sent at once,
 * large writes are cut into bounded compressed packets, compressed sequence ids follow the client's,
 * and backpressure is reported like socket.write.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CompressedDecoder, encodeCompressedPacket, PacketCodec, ZLIB } from '../../../src/protocol/compression';
import { zstdCodec } from '../../../src/protocol/zstd';
import { ByteSink, compressionSettings, CompressedTransport } from '../../../src/server/compressed-transport';

class Sink implements ByteSink {
  writes: Buffer[] = [];
  corks = 0;
  writableNeedDrain = false;
  write(b: Buffer): boolean {
    this.writes.push(Buffer.from(b));
    return !this.writableNeedDrain;
  }
  cork(): void {
    this.corks++;
  }
  uncork(): void {
    this.corks--;
  }
  /** What the client would decode: [compressed seq, uncompressed length, compressed length] per packet, and the bytes. */
  decoded(codec: PacketCodec = ZLIB): { packets: [number, number, number][]; plain: Buffer } {
    const d = new CompressedDecoder(0xffffff, codec);
    const packets: [number, number, number][] = [];
    d.onHeader = (seq, len, raw) => packets.push([seq, raw, len]);
    const out: Buffer[] = [];
    d.push(Buffer.concat(this.writes), (b) => out.push(Buffer.from(b)));
    return { packets, plain: Buffer.concat(out) };
  }
}

const clientCommand = (seq = 0) => Buffer.concat(encodeCompressedPacket(Buffer.from([5, 0, 0, 0, 3, 0x44, 0x4f, 0x20, 0x31]), seq));

test('uncorked writes go out at once, each as its own compressed packet', () => {
  const s = new Sink();
  const t = new CompressedTransport(s, 1 << 20);
  t.write(Buffer.from('hello'));
  assert.is(s.writes.length, 1, 'header and body written at once, as one buffer');
  t.write(Buffer.from('world'));
  const d = s.decoded();
  assert.equal(d.packets, [[0, 0, 5], [1, 0, 5]]);
  assert.is(d.plain.toString(), 'helloworld');
  assert.is(s.corks, 0, 'socket cork balanced');
});

test('corked writes are batched into one compressed packet, flushed on uncork (not later)', () => {
  const s = new Sink();
  const t = new CompressedTransport(s, 1 << 20, 1, 64 * 1024, 50);
  t.cork();
  for (let i = 0; i < 20; i++) t.write(Buffer.from(`row ${i} ${'x'.repeat(40)}\n`));
  assert.is(s.writes.length, 0, 'nothing sent while corked');
  t.uncork();
  const d = s.decoded();
  assert.is(d.packets.length, 1);
  assert.ok(d.packets[0][1] > 0 && d.packets[0][2] < d.packets[0][1], 'deflated');
  assert.is(d.plain.toString().split('\n').length, 21);
});

test('large writes are cut into compressed packets of at most the chunk size', () => {
  const s = new Sink();
  const t = new CompressedTransport(s, 1 << 20, 1, 16 * 1024, 50);
  const big = Buffer.alloc(100_000, 0x62);
  t.cork();
  t.write(big);
  assert.ok(s.writes.length > 0, 'a corked batch past the chunk size is sent without waiting for uncork');
  t.write(Buffer.from('tail'));
  t.uncork();
  const d = s.decoded();
  assert.ok(d.plain.equals(Buffer.concat([big, Buffer.from('tail')])));
  assert.ok(d.packets.every(([, raw, len]) => (raw || len) <= 16 * 1024), JSON.stringify(d.packets));
  assert.equal(d.packets.map((p) => p[0]), d.packets.map((_, i) => i));
});

test('sequence ids: a reply follows the compressed packet that carried the frame just read', () => {
  const s = new Sink();
  const t = new CompressedTransport(s, 1 << 20);
  const sink: Buffer[] = [];
  t.receive(clientCommand(0), (b) => sink.push(b));
  t.frameRead(false);
  t.write(Buffer.from('reply 1'));
  t.write(Buffer.from('reply 2'));
  assert.equal(s.decoded().packets.map((p) => p[0]), [1, 2]);
  // an exchange within a command (auth switch, LOAD DATA LOCAL): the client continues the sequence
  s.writes = [];
  t.receive(clientCommand(3), (b) => sink.push(b));
  t.frameRead(false);
  t.write(Buffer.from('answer'));
  assert.equal(s.decoded().packets.map((p) => p[0]), [4]);
  // two commands pipelined: each reply starts at 1, and a batch still pending is sent before the reset
  s.writes = [];
  t.receive(Buffer.concat([clientCommand(0), clientCommand(0)]), (b) => sink.push(b));
  t.frameRead(true);
  t.cork();
  t.write(Buffer.from('first reply'));
  t.frameRead(false);
  t.write(Buffer.from('second reply'));
  t.uncork();
  assert.equal(s.decoded().packets.map((p) => p[0]), [1, 1]);
  assert.is(s.decoded().plain.toString(), 'first replysecond reply');
});

test('writes below the minimum length are sent stored; at or above it, deflated', () => {
  const s = new Sink();
  const t = new CompressedTransport(s, 1 << 20, 1, 64 * 1024, 1024);
  t.write(Buffer.alloc(1023, 0x61));
  t.write(Buffer.alloc(1024, 0x61));
  const d = s.decoded();
  assert.is(d.packets[0][1], 0, '1023 bytes: stored');
  assert.is(d.packets[1][1], 1024, '1024 bytes: deflated');
  assert.is(d.plain.length, 2047);
});

test('backpressure: write returns false when the socket wants a drain, corked or not', () => {
  const s = new Sink();
  const t = new CompressedTransport(s, 1 << 20);
  assert.ok(t.write(Buffer.from('a')));
  s.writableNeedDrain = true;
  assert.not.ok(t.write(Buffer.from('b')));
  t.cork();
  assert.not.ok(t.write(Buffer.from('c')), 'corked: reports the socket state');
  s.writableNeedDrain = false;
  assert.ok(t.write(Buffer.from('d')));
  t.uncork();
});

const zstd = zstdCodec();
const withZstd = zstd ? test : test.skip;

withZstd('zstd transport: same framing, zstd frames as bodies; corked batches and large writes cut at the chunk size', () => {
  const z = zstd as PacketCodec;
  const s = new Sink();
  const t = new CompressedTransport(s, 1 << 20, 3, 16 * 1024, 1024, z);
  t.write(Buffer.from('short'));
  t.cork();
  const rows = Array.from({ length: 200 }, (_, i) => `row ${i} ${'x'.repeat(40)}\n`);
  for (const r of rows) t.write(Buffer.from(r));
  t.uncork();
  const big = Buffer.alloc(100_000, 0x62);
  t.cork();
  t.write(big);
  assert.ok(s.writes.length > 2, 'a corked batch past the chunk size is sent without waiting for uncork');
  t.uncork();
  const d = s.decoded(z);
  assert.is(d.packets[0][1], 0, 'below the minimum length: stored');
  assert.ok(d.packets[1][1] > 0 && d.packets[1][2] < d.packets[1][1] / 5, 'the corked rows: one zstd packet');
  assert.ok(d.packets.every(([, raw, len]) => (raw || len) <= 16 * 1024), JSON.stringify(d.packets));
  assert.equal(d.packets.map((p) => p[0]), d.packets.map((_, i) => i));
  assert.ok(d.plain.equals(Buffer.concat([Buffer.from('short'), Buffer.from(rows.join('')), big])), 'every byte, in order');
  // the zlib decoder cannot read it: the body really is zstd
  assert.throws(() => s.decoded(ZLIB));
});

test('compressionSettings: zlib at server.compression_level, zstd at the negotiated level; both bounded by max_allowed_packet', () => {
  const server = { maxAllowedPacket: 1 << 20, compressionLevel: 6, compressionMinLength: 512 };
  const zl = compressionSettings({ algorithm: 'zlib' }, server);
  assert.equal([zl.codec.name, zl.level, zl.minLength, zl.maxUncompressed], ['zlib', 6, 512, (1 << 20) + 4]);
  if (!zstd) return;
  const zs = compressionSettings({ algorithm: 'zstd', level: 2, clientLevel: 19 }, server);
  assert.equal([zs.codec.name, zs.level, zs.minLength, zs.maxUncompressed], ['zstd', 2, 512, (1 << 20) + 4]);
});

test.run();
