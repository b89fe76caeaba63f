import { deflateSync, inflateSync } from 'node:zlib';
import { PacketTooLargeError } from './framer';
import { ProtocolError } from './packet-reader';

/**
 * The compressed protocol (CLIENT_COMPRESS with zlib, CLIENT_ZSTD_COMPRESSION_ALGORITHM with zstd):
 * a byte stream of ordinary MySQL packets cut into compressed packets, each with a 7-byte header —
 * 3-byte length of what follows, 1-byte compressed sequence id, 3-byte length before compression
 * (0: what follows is stored, not compressed). A MySQL packet may straddle compressed packets, and
 * one compressed packet may hold many MySQL packets. The framing is the same for both algorithms;
 * only the body of a compressed (not stored) packet differs: a zlib stream or zstd frames.
 */

/** One compression algorithm of the compressed protocol, as the framing uses it. */
export interface PacketCodec {
  readonly name: 'zlib' | 'zstd';
  /** The compressed form of `payload` at `level` (it may be larger than the input). */
  compress(payload: Buffer, level: number): Buffer;
  /** The largest compressed form of `n` bytes: a packet carrying more is malformed. */
  bound(n: number): number;
  /**
   * Decompresses `body`, which must restore exactly `want` bytes. Throws (any error) on a malformed
   * body or any other length; never produces more than `want` bytes.
   */
  decompress(body: Buffer, want: number): Buffer;
}

/** Size of a compressed packet's header. */
export const COMPRESSED_HEADER_LENGTH = 7;

/** Payloads shorter than this are stored, not deflated (MariaDB's and mysql2's MIN_COMPRESS_LENGTH). */
export const MIN_COMPRESS_LENGTH = 50;

/** The most bytes one compressed packet can carry (its length fields are 3 bytes). */
export const MAX_COMPRESSED_PAYLOAD = 0xffffff;

/**
 * zlib level for what the proxy sends. MariaDB uses zlib's default (6); level 1 costs a quarter to a half of the
 * CPU for result sets and compresses them almost as well (bench/micro/compression.bench.ts: 16 KiB of
 * sysbench rows 60 µs vs 257 µs, 0.444 vs 0.424 of the size, on a quiet run).
 */
export const DEFAULT_COMPRESSION_LEVEL = 1;

/** zlib's compressBound(): the largest deflate output for `n` input bytes. */
export function deflateBound(n: number): number {
  return n + (n >>> 12) + (n >>> 14) + (n >>> 25) + 13;
}

/** zlib (CLIENT_COMPRESS), with Node's own zlib. */
export const ZLIB: PacketCodec = {
  name: 'zlib',
  compress: (payload, level) => deflateSync(payload, { level }),
  bound: deflateBound,
  decompress(body, want) {
    const plain = inflateSync(body, { maxOutputLength: want });
    if (plain.length !== want) throw new Error(`inflates to ${plain.length} bytes`);
    return plain;
  },
};

/**
 * One compressed packet carrying `payload` (at most {@link MAX_COMPRESSED_PAYLOAD} bytes) with
 * compressed sequence id `seq`: [header, body]. Short payloads, and payloads the codec would not
 * shrink, are stored with an uncompressed length of 0, as servers do.
 */
export function encodeCompressedPacket(
  payload: Buffer, seq: number, level = DEFAULT_COMPRESSION_LEVEL, minLength = MIN_COMPRESS_LENGTH, codec: PacketCodec = ZLIB,
): [Buffer, Buffer] {
  const n = payload.length;
  if (n > MAX_COMPRESSED_PAYLOAD) throw new RangeError(`compressed packet payload of ${n} bytes (max ${MAX_COMPRESSED_PAYLOAD})`);
  let body = payload;
  let uncompressed = 0;
  if (n >= minLength) {
    const z = codec.compress(payload, level);
    if (z.length < n) {
      body = z;
      uncompressed = n;
    }
  }
  const h = Buffer.allocUnsafe(COMPRESSED_HEADER_LENGTH);
  const c = body.length;
  h[0] = c & 0xff;
  h[1] = (c >>> 8) & 0xff;
  h[2] = (c >>> 16) & 0xff;
  h[3] = seq & 0xff;
  h[4] = uncompressed & 0xff;
  h[5] = (uncompressed >>> 8) & 0xff;
  h[6] = (uncompressed >>> 16) & 0xff;
  return [h, body];
}

const EMPTY = Buffer.alloc(0);

/**
 * Streaming decoder of compressed packets. Stored payloads are handed on as they arrive (views of
 * the pushed chunks, no copy); a compressed payload is collected whole (at most 16 MiB, and no more
 * than the codec could have produced from the announced length) and decompressed once. Memory is
 * bounded by `maxUncompressed`: a packet announcing more, or decompressing to anything but what it
 * announced, is refused before or while decompressing, so a decompression bomb costs at most that much.
 */
export class CompressedDecoder {
  private hdr = Buffer.alloc(COMPRESSED_HEADER_LENGTH);
  private hdrHave = 0;
  /** Stored bytes still to pass through, or compressed bytes still to collect. */
  private left = 0;
  /** Announced decompressed length of the compressed body being collected (0: a stored packet). */
  private rawLen = 0;
  private body: Buffer | null = null;
  private bodyHave = 0;
  /** Compressed sequence id of the last packet whose header was read (-1: none yet). */
  lastSeq = -1;
  /** Called with each compressed packet's header fields as it is read (tests and tracing). */
  onHeader: ((seq: number, length: number, uncompressed: number) => void) | null = null;

  /**
   * @param maxUncompressed the most bytes one compressed packet may carry once decompressed (≤ 16 MiB − 1)
   * @param codec the negotiated algorithm (zlib unless the client asked for zstd)
   */
  constructor(public maxUncompressed: number, readonly codec: PacketCodec = ZLIB) {}

  /** Bytes held that were not yet handed on (a partial header or compressed body). */
  get buffered(): number {
    return this.hdrHave + this.bodyHave;
  }

  /** Drops what is held (a partial header or compressed body); the stream cannot be continued after this. */
  clear(): void {
    this.hdrHave = 0;
    this.left = 0;
    this.rawLen = 0;
    this.body = null;
    this.bodyHave = 0;
  }

  /**
   * Decodes `chunk`, calling `out` with each run of plain bytes in order. Throws ProtocolError
   * (PacketTooLargeError for an oversized packet) on malformed input; after that the decoder is
   * unusable, like the session it belongs to.
   */
  push(chunk: Buffer, out: (plain: Buffer) => void): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.left === 0) {
        // header
        const k = Math.min(COMPRESSED_HEADER_LENGTH - this.hdrHave, n - i);
        chunk.copy(this.hdr, this.hdrHave, i, i + k);
        this.hdrHave += k;
        i += k;
        if (this.hdrHave < COMPRESSED_HEADER_LENGTH) return;
        this.hdrHave = 0;
        this.startPacket();
        continue;
      }
      const k = Math.min(this.left, n - i);
      if (this.rawLen === 0) {
        out(chunk.subarray(i, i + k));
        this.left -= k;
        i += k;
        continue;
      }
      if (this.body === null && this.bodyHave === 0 && k === this.left) {
        // the whole compressed body is in this chunk: decompress the view, no copy
        this.left = 0;
        this.finishCompressed(chunk.subarray(i, i + k), out);
        i += k;
        continue;
      }
      const body = (this.body ??= Buffer.allocUnsafe(this.left + this.bodyHave));
      chunk.copy(body, this.bodyHave, i, i + k);
      this.bodyHave += k;
      this.left -= k;
      i += k;
      if (this.left === 0) {
        this.body = null;
        this.bodyHave = 0;
        this.finishCompressed(body, out);
      }
    }
  }

  private startPacket(): void {
    const h = this.hdr;
    const len = h[0] | (h[1] << 8) | (h[2] << 16);
    const seq = h[3];
    const raw = h[4] | (h[5] << 8) | (h[6] << 16);
    this.lastSeq = seq;
    if (this.onHeader) this.onHeader(seq, len, raw);
    if (raw > this.maxUncompressed) throw new PacketTooLargeError(raw, this.maxUncompressed, seq);
    if (raw === 0) {
      // stored; an empty compressed packet is harmless and carries nothing
      this.rawLen = 0;
      this.left = len;
      return;
    }
    if (len === 0) throw new ProtocolError(`compressed packet ${seq} announces ${raw} bytes but carries none`);
    if (len > this.codec.bound(raw)) {
      throw new ProtocolError(`compressed packet ${seq} carries ${len} bytes, more than ${this.codec.name} makes of ${raw}`);
    }
    this.rawLen = raw;
    this.left = len;
  }

  private finishCompressed(body: Buffer, out: (plain: Buffer) => void): void {
    const want = this.rawLen;
    this.rawLen = 0;
    let plain: Buffer;
    try {
      plain = this.codec.decompress(body, want);
    } catch (e) {
      throw new ProtocolError(`compressed packet ${this.lastSeq} does not ${this.codec.name}-decompress to the announced ${want} bytes: ${(e as Error).message}`);
    }
    out(plain.length === 0 ? EMPTY : plain);
  }
}
