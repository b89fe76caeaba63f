/**
 * zstd vs zlib in the compressed protocol: what one compressed packet costs to encode
 * (encodeCompressedPacket, compression always on) and to decode (CompressedDecoder) for 1 KiB, 16 KiB,
 * 64 KiB (the transport's chunk: what the proxy compresses per relayed backend read) and 1 MiB of
 * sysbench-like rows, at zlib level 1 (tenantgate's default) and zstd levels 1 and 3 (MySQL's default,
 * the default cap). Prints the compressed/plain ratio of each once. Skipped when zstd-napi is missing.
 */
import { bench } from './harness';
import { CompressedDecoder, encodeCompressedPacket, PacketCodec, ZLIB } from '../../src/protocol/compression';
import { zstdCodec, zstdUnavailableReason, zstdVersion } from '../../src/protocol/zstd';
import { sysbenchRows } from './sysbench-rows';

const zstd = zstdCodec();
const SIZES: [string, number, number][] = [
  ['1 KiB', 1024, 2000],
  ['16 KiB', 16 * 1024, 300],
  ['64 KiB', 64 * 1024, 100],
  ['1 MiB', 1024 * 1024, 6],
];

if (!zstd) {
  process.stdout.write(`zstd benches skipped: ${zstdUnavailableReason()}\n`);
} else {
  const variants: [string, PacketCodec, number][] = [
    ['zlib 1', ZLIB, 1],
    ['zstd 1', zstd, 1],
    ['zstd 3', zstd, 3],
  ];
  const ratios: string[] = [];
  for (const [label, size] of SIZES) {
    const data = sysbenchRows(size);
    const parts = variants.map(([name, codec, level]) => {
      const packet = Buffer.concat(encodeCompressedPacket(data, 0, level, 0, codec));
      return `${name} ${((packet.length - 7) / size).toFixed(3)}`;
    });
    ratios.push(`${label}: ${parts.join(', ')}`);
  }
  process.stdout.write(`libzstd ${zstdVersion()}; compressed/plain: ${ratios.join('; ')}\n`);
  for (const [label, size, iterations] of SIZES) {
    const data = sysbenchRows(size);
    for (const [name, codec, level] of variants) {
      bench(`codec ${label} rows: ${name} compress`, () => encodeCompressedPacket(data, 0, level, 0, codec)[1], { iterations, rounds: 5 });
    }
    for (const [name, codec, level] of variants) {
      const packet = Buffer.concat(encodeCompressedPacket(data, 0, level, 0, codec));
      const d = new CompressedDecoder(0xffffff, codec);
      let n = 0;
      const out = (b: Buffer) => (n += b.length);
      d.push(packet, out);
      if (n !== size) throw new Error(`zstd bench self-check: ${name} decoded ${n} of ${size} bytes`);
      bench(`codec ${label} rows: ${name} decompress`, () => (d.push(packet, out), n), { iterations, rounds: 5 });
    }
  }
}
