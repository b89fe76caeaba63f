import { MAX_PACKET_PAYLOAD } from './constants';
import { ProtocolError } from './packet-reader';

/** One logical message: a payload (multi-packet messages reassembled) and its sequence ids. */
export interface Frame {
  /** The payload bytes (a view into the received chunk when it arrived in one piece). */
  payload: Buffer;
  /** Sequence id of the first physical packet. */
  seq: number;
  /** Sequence id of the last physical packet (differs from seq for messages of 16 MiB and more). */
  lastSeq: number;
  /** Header + payload exactly as received, for single-packet messages; null when reassembled. */
  raw: Buffer | null;
}

const EMPTY = Buffer.alloc(0);

/**
 * Splits a byte stream into MySQL packets and reassembles multi-packet messages.
 * Chunks are kept as received (never copied unless a packet straddles chunks), so views handed
 * out stay valid after later pushes.
 */
export class Framer {
  private chunks: Buffer[] = [];
  private head = 0;
  private total = 0;
  private parts: Buffer[] | null = null;
  private partsLen = 0;
  private firstSeq = 0;
  private lastSeq = 0;

  /**
   * Whether the packets of a multi-packet message must be numbered consecutively. Off under the
   * compressed protocol, where libmariadb numbers every packet it sends 0 (the compressed packets
   * carry the sequence) and servers do not check.
   */
  checkSequence = true;

  /** @param maxPayload largest logical message accepted; larger is a ProtocolError (ER_NET_PACKET_TOO_LARGE). */
  constructor(public maxPayload: number) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /** Bytes received but not yet returned as frames. */
  get buffered(): number {
    return this.total + this.partsLen;
  }

  /** Returns everything buffered and resets (used when a socket changes hands, e.g. TLS upgrade). */
  drain(): Buffer {
    const out = this.total === 0 ? EMPTY : this.take(this.total);
    this.chunks = [];
    this.head = 0;
    this.total = 0;
    return out;
  }

  /** Forgets everything buffered, including the parts of an unfinished multi-packet message. */
  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.total = 0;
    this.parts = null;
    this.partsLen = 0;
  }

  /** The next complete message, or null when more bytes are needed. Throws ProtocolError. */
  next(): Frame | null {
    for (;;) {
      if (this.total < 4) return null;
      let len: number;
      let seq: number;
      const c0 = this.chunks[0];
      if (c0.length - this.head >= 4) {
        len = c0[this.head] | (c0[this.head + 1] << 8) | (c0[this.head + 2] << 16);
        seq = c0[this.head + 3];
      } else {
        const h = this.peek(4);
        len = h[0] | (h[1] << 8) | (h[2] << 16);
        seq = h[3];
      }
      if (this.partsLen + len > this.maxPayload) {
        throw new PacketTooLargeError(this.partsLen + len, this.maxPayload, seq);
      }
      if (this.total < 4 + len) return null;
      const raw = this.take(4 + len);
      const payload = raw.subarray(4);
      if (this.parts === null) {
        if (len < MAX_PACKET_PAYLOAD) return { payload, seq, lastSeq: seq, raw };
        this.parts = [payload];
        this.partsLen = len;
        this.firstSeq = seq;
        this.lastSeq = seq;
        continue;
      }
      if (this.checkSequence && seq !== ((this.lastSeq + 1) & 0xff)) {
        throw new ProtocolError(`packets out of order: expected sequence ${(this.lastSeq + 1) & 0xff}, got ${seq}`);
      }
      this.parts.push(payload);
      this.partsLen += len;
      this.lastSeq = seq;
      if (len < MAX_PACKET_PAYLOAD) {
        const whole = Buffer.concat(this.parts, this.partsLen);
        const first = this.firstSeq;
        this.parts = null;
        this.partsLen = 0;
        return { payload: whole, seq: first, lastSeq: seq, raw: null };
      }
    }
  }

  private peek(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    let off = this.head;
    for (let i = 0; got < n && i < this.chunks.length; i++) {
      const c = this.chunks[i];
      const k = Math.min(n - got, c.length - off);
      c.copy(out, got, off, off + k);
      got += k;
      off = 0;
    }
    return out;
  }

  private take(n: number): Buffer {
    const c0 = this.chunks[0];
    this.total -= n;
    if (this.head === 0 && c0.length === n) {
      // The whole chunk (one packet per read, the usual case for commands): no new view.
      this.chunks.shift();
      return c0;
    }
    if (c0.length - this.head >= n) {
      const v = c0.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === c0.length) {
        this.chunks.shift();
        this.head = 0;
      }
      return v;
    }
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const c = this.chunks[0];
      const k = Math.min(n - got, c.length - this.head);
      c.copy(out, got, this.head, this.head + k);
      got += k;
      this.head += k;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    return out;
  }
}

/** A message larger than the configured max_allowed_packet. */
export class PacketTooLargeError extends ProtocolError {
  constructor(readonly size: number, readonly limit: number, readonly seq = 0) {
    super(`Got a packet bigger than 'max_allowed_packet' bytes (${size} > ${limit})`);
  }
}
