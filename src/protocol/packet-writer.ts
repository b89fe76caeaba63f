import { MAX_PACKET_PAYLOAD } from './constants';

/**
 * Builds one payload and frames it. The first 4 bytes are reserved for the header so a payload
 * below 16 MiB is framed without a copy; larger payloads are split into 0xFFFFFF-byte packets.
 */
export class PacketWriter {
  private buf: Buffer;
  private pos = 4;

  constructor(initial = 64) {
    this.buf = Buffer.allocUnsafe(initial + 4);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  get length(): number {
    return this.pos - 4;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16LE(v & 0xffff, this.pos);
    this.pos += 2;
    return this;
  }

  u24(v: number): this {
    this.ensure(3);
    this.buf.writeUIntLE(v & 0xffffff, this.pos, 3);
    this.pos += 3;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }

  /** Length-encoded integer; a bigint is written exactly (values up to 2^64-1). */
  lenenc(v: number | bigint): this {
    if (typeof v === 'bigint') {
      if (v <= 0xffffffn) return this.lenenc(Number(v));
      this.ensure(9);
      this.buf[this.pos++] = 0xfe;
      this.buf.writeBigUInt64LE(BigInt.asUintN(64, v), this.pos);
      this.pos += 8;
      return this;
    }
    if (v < 0xfb) return this.u8(v);
    if (v <= 0xffff) return this.u8(0xfc).u16(v);
    if (v <= 0xffffff) return this.u8(0xfd).u24(v);
    this.ensure(9);
    this.buf[this.pos++] = 0xfe;
    this.buf.writeUInt32LE(v % 0x100000000, this.pos);
    this.buf.writeUInt32LE(Math.floor(v / 0x100000000), this.pos + 4);
    this.pos += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  zeros(n: number): this {
    this.ensure(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
    return this;
  }

  string(s: string): this {
    const n = Buffer.byteLength(s);
    this.ensure(n);
    this.buf.write(s, this.pos);
    this.pos += n;
    return this;
  }

  nulString(s: string): this {
    return this.string(s).u8(0);
  }

  lenencString(s: string): this {
    return this.lenenc(Buffer.byteLength(s)).string(s);
  }

  lenencBytes(b: Uint8Array): this {
    return this.lenenc(b.length).bytes(b);
  }

  /** Frames the payload with sequence id `seq`; returns header+payload bytes ready to write. */
  finish(seq: number): Buffer {
    const len = this.pos - 4;
    if (len < MAX_PACKET_PAYLOAD) {
      this.buf.writeUIntLE(len, 0, 3);
      this.buf[3] = seq & 0xff;
      return this.buf.subarray(0, this.pos);
    }
    return framePayload(this.buf.subarray(4, this.pos), seq);
  }
}

/** Frames an arbitrary payload (splitting at 16 MiB; a trailing empty packet when it is an exact multiple). */
export function framePayload(payload: Buffer, seq: number): Buffer {
  const n = payload.length;
  const packets = Math.floor(n / MAX_PACKET_PAYLOAD) + 1;
  const out = Buffer.allocUnsafe(n + packets * 4);
  let src = 0;
  let dst = 0;
  for (let i = 0; i < packets; i++) {
    const len = Math.min(MAX_PACKET_PAYLOAD, n - src);
    out.writeUIntLE(len, dst, 3);
    out[dst + 3] = (seq + i) & 0xff;
    payload.copy(out, dst + 4, src, src + len);
    src += len;
    dst += 4 + len;
  }
  return out;
}

/** Number of physical packets a payload of `n` bytes takes. */
export function packetCount(n: number): number {
  return Math.floor(n / MAX_PACKET_PAYLOAD) + 1;
}
