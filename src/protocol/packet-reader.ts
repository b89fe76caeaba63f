/**
 * Bounds-checked readers over a payload held in a Buffer between `start` and `end`.
 * Every read that would run past `end` throws {@link ProtocolError}; callers at the session
 * boundary turn it into an ERR for that session only.
 */

/** An unsigned 64-bit protocol integer: a number up to 2^53-1, a bigint above (see {@link PacketReader.lenencInt}). */
export type U64 = number | bigint;

/** A malformed packet. `code` is stable; the message says what was wrong. */
export class ProtocolError extends Error {
  readonly code = 'PROTOCOL_ERROR';
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** A cursor over one payload. Reads return views (subarray), never copies. */
export class PacketReader {
  pos: number;
  constructor(readonly buf: Buffer, start: number, readonly end: number) {
    if (start < 0 || end > buf.length || start > end) throw new ProtocolError('packet bounds out of range');
    this.pos = start;
  }

  remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.end) throw new ProtocolError(`truncated packet reading ${what}`);
  }

  u8(): number {
    this.need(1, 'u8');
    return this.buf[this.pos++];
  }

  u16(): number {
    this.need(2, 'u16');
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u24(): number {
    this.need(3, 'u24');
    const v = this.buf.readUIntLE(this.pos, 3);
    this.pos += 3;
    return v;
  }

  u32(): number {
    this.need(4, 'u32');
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /**
   * Length-encoded integer used as a length. A length of 2^53 or more can never fit in a payload,
   * so it is reported as a truncated packet (the same as any length past the end).
   */
  lenenc(): number {
    const v = this.lenencInt();
    if (typeof v === 'bigint') throw new ProtocolError('truncated packet: length-encoded length past the end');
    return v;
  }

  /**
   * Length-encoded integer used as a value (affected rows, insert id): the whole 0..2^64-1 range.
   * A number when it is a safe integer, else a bigint, so the same value always has the same
   * representation and `===` compares values.
   */
  lenencInt(): U64 {
    const first = this.u8();
    if (first < 0xfb) return first;
    if (first === 0xfc) return this.u16();
    if (first === 0xfd) return this.u24();
    if (first === 0xfe) {
      this.need(8, 'lenenc u64');
      const lo = this.buf.readUInt32LE(this.pos);
      const hi = this.buf.readUInt32LE(this.pos + 4);
      this.pos += 8;
      if (hi <= 0x1fffff) return hi * 0x100000000 + lo;
      return (BigInt(hi) << 32n) | BigInt(lo);
    }
    throw new ProtocolError(`bad length-encoded integer prefix 0x${first.toString(16)}`);
  }

  /** Length-encoded integer where 0xFB means NULL (returns -1). */
  lenencOrNull(): number {
    if (this.pos < this.end && this.buf[this.pos] === 0xfb) {
      this.pos++;
      return -1;
    }
    return this.lenenc();
  }

  bytes(n: number): Buffer {
    if (n < 0) throw new ProtocolError('negative length');
    this.need(n, `${n} bytes`);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  skip(n: number): void {
    this.need(n, `${n} bytes`);
    this.pos += n;
  }

  lenencBytes(): Buffer {
    return this.bytes(this.lenenc());
  }

  lenencString(): string {
    return this.lenencBytes().toString('utf8');
  }

  /** NUL-terminated bytes; a missing NUL is a protocol error. */
  nulBytes(): Buffer {
    const i = this.buf.indexOf(0, this.pos);
    if (i < 0 || i >= this.end) throw new ProtocolError('missing NUL terminator');
    const v = this.buf.subarray(this.pos, i);
    this.pos = i + 1;
    return v;
  }

  nulString(): string {
    return this.nulBytes().toString('utf8');
  }

  /** NUL-terminated if a NUL is present, else the rest of the payload (some clients omit the last NUL). */
  nulOrRestString(): string {
    const i = this.buf.indexOf(0, this.pos);
    if (i < 0 || i >= this.end) return this.rest().toString('utf8');
    return this.nulString();
  }

  rest(): Buffer {
    const v = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return v;
  }
}
