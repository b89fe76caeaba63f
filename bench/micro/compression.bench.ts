/**
 * Compressed protocol micro benches: what CLIENT_COMPRESS costs the proxy per relayed backend chunk.
 * The encoder (CompressedTransport into a null socket) on a point-select response (deflated as MariaDB
 * would, and stored as tenantgate does by default below 1 KiB), on a 16 KiB chunk
 * of sysbench-like rows at zlib levels 1 and 6, and on a 64 KiB chunk; the decoder on a client command
 * (stored) and on a deflated 16 KiB chunk. Prints the compression ratio of each row chunk once.
 */
import { bench } from './harness';
import { PacketWriter } from '../../src/protocol/packet-writer';
import { CompressedDecoder, encodeCompressedPacket } from '../../src/protocol/compression';
import { ByteSink, CompressedTransport } from '../../src/server/compressed-transport';
import { sysbenchRows } from './sysbench-rows';

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`compression bench self-check failed: ${what}`);
}

class NullSink implements ByteSink {
  bytes = 0;
  writableNeedDrain = false;
  write(b: Buffer): boolean {
    this.bytes += b.length;
    return true;
  }
  cork(): void {}
  uncork(): void {}
}

// a point-select response as the backend sends it: column count, one definition, EOF, one row, EOF
const colDef = new PacketWriter(64).lenencString('def').lenencString('sbtest').lenencString('sbtest1').lenencString('sbtest1')
  .lenencString('c').lenencString('c').u8(0x0c).u16(45).u32(480).u8(0xfe).u16(0).u8(0).u16(0);
const pointSelect = Buffer.concat([
  new PacketWriter(1).u8(1).finish(1),
  colDef.finish(2),
  new PacketWriter(5).u8(0xfe).u16(0).u16(2).finish(3),
  new PacketWriter(121).lenencString('83868641912-28773972837-60736120486-75162659906-27563526494-20381887404-41576422241-93426793964-56405065102-33518432330').finish(4),
  new PacketWriter(5).u8(0xfe).u16(0).u16(2).finish(5),
]);

const rows16 = sysbenchRows(16 * 1024);
const rows64 = sysbenchRows(64 * 1024);

function encodeBench(chunk: Buffer, level: number, minLength = 50): { sink: NullSink; fn: () => number } {
  const sink = new NullSink();
  const t = new CompressedTransport(sink, 1 << 24, level, 64 * 1024, minLength);
  return {
    sink,
    fn: () => {
      t.cork();
      t.write(chunk);
      t.uncork();
      return sink.bytes;
    },
  };
}

function ratio(chunk: Buffer, level: number): string {
  const [h, body] = encodeCompressedPacket(chunk, 0, level);
  return `${((h.length + body.length) / chunk.length).toFixed(3)}`;
}

const ps = encodeBench(pointSelect, 1);
ps.fn();
check(ps.sink.bytes > 7 && ps.sink.bytes < pointSelect.length + 14, `point select encodes to ${ps.sink.bytes} bytes`);
process.stdout.write(
  `compressed/plain bytes: point select ${ratio(pointSelect, 1)} (${pointSelect.length} B), 16 KiB rows level 1 ${ratio(rows16, 1)}, level 6 ${ratio(rows16, 6)}, 64 KiB rows level 1 ${ratio(rows64, 1)}\n`,
);

bench(`encode: point-select response (${pointSelect.length} B), deflated`, ps.fn, { iterations: 20000 });
bench('encode: point-select response, stored (default min 1 KiB)', encodeBench(pointSelect, 1, 1024).fn, { iterations: 100000 });
bench('encode: 16 KiB of rows, level 1', encodeBench(rows16, 1).fn, { iterations: 500 });
bench('encode: 16 KiB of rows, level 6', encodeBench(rows16, 6).fn, { iterations: 300 });
bench('encode: 64 KiB of rows, level 1', encodeBench(rows64, 1).fn, { iterations: 200 });

const cmd = Buffer.concat(encodeCompressedPacket(new PacketWriter(40).u8(3).string('SELECT c FROM sbtest1 WHERE id=4711').finish(0), 0));
const deflated16 = Buffer.concat(encodeCompressedPacket(rows16, 0, 1));
const dec = new CompressedDecoder(0xffffff);
let decoded = 0;
const out = (b: Buffer) => (decoded += b.length);
dec.push(deflated16, out);
check(decoded === rows16.length, 'decoder restores the 16 KiB chunk');
bench('decode: point-select command (stored)', () => (dec.push(cmd, out), decoded), { iterations: 100000 });
bench('decode: 16 KiB of rows, deflated', () => (dec.push(deflated16, out), decoded), { iterations: 500 });
