import * as net from 'node:net';
import { Cap, Com } from '../../src/protocol/constants';
import { Framer } from '../../src/protocol/framer';
import { CompressedDecoder, encodeCompressedPacket, MAX_COMPRESSED_PAYLOAD, PacketCodec, ZLIB } from '../../src/protocol/compression';
import { zstdCodec } from '../../src/protocol/zstd';
import { buildHandshakeResponse, parseServerHandshake, ServerHandshake } from '../../src/protocol/handshake';
import { parseEof, parseErrPayload, parseOk, ErrPacket, OkPacket } from '../../src/protocol/ok-err';
import { PacketWriter } from '../../src/protocol/packet-writer';
import { nativeToken } from '../../src/protocol/auth';
import { parseColumnDef, parseTextRow, ColumnDef } from '../../src/protocol/column';

/** Capabilities RawClient.connect asks for unless told otherwise. */
export const DEFAULT_CAPS = Cap.PROTOCOL_41 | Cap.SECURE_CONNECTION | Cap.PLUGIN_AUTH | Cap.LONG_PASSWORD | Cap.TRANSACTIONS |
  Cap.MULTI_RESULTS | Cap.PS_MULTI_RESULTS;

/** One decoded response to a raw command. */
export interface RawResult {
  ok: OkPacket | null;
  err: ErrPacket | null;
  columns: ColumnDef[];
  rows: (string | null)[][];
  /** Every packet of the response as received: [seq, payload]. */
  packets: [number, Buffer][];
  /** Status of the terminator (EOF or OK). */
  status: number;
}

/**
 * A deliberately small MySQL client speaking the wire protocol directly, so tests can use
 * capabilities and commands no driver here offers (DEPRECATE_EOF, cursors, COM_FIELD_LIST,
 * unknown commands, malformed packets).
 */
export class RawClient {
  private framer = new Framer(1 << 30);
  private waiters: ((f: { seq: number; payload: Buffer }) => void)[] = [];
  private queue: { seq: number; payload: Buffer }[] = [];
  handshake!: ServerHandshake;
  /** Set once a compressed login completed: incoming bytes are decoded, sends are compressed. */
  decoder: CompressedDecoder | null = null;
  /** The compression algorithm of a compressed session (zlib, or zstd when only its flag was sent). */
  codec: PacketCodec = ZLIB;
  /** Level of what this client compresses (its zstd level, or zlib level 1). */
  level = 1;
  /** Compressed sequence ids of the compressed packets received, in order. */
  compressedSeqs: number[] = [];
  closed = false;
  /** The OK packet that ended the login (payload). */
  loginOk: Buffer = Buffer.alloc(0);
  /** MariaDB extended capabilities asked for at login (extended metadata changes column definitions). */
  mariaCaps = 0;

  private constructor(readonly socket: net.Socket, readonly caps: number) {
    socket.on('data', (c: Buffer) => {
      if (this.decoder) this.decoder.push(c, (b) => this.framer.push(b));
      else this.framer.push(c);
      for (let f = this.framer.next(); f; f = this.framer.next()) {
        const item = { seq: f.seq, payload: Buffer.from(f.payload) };
        const w = this.waiters.shift();
        if (w) w(item);
        else this.queue.push(item);
      }
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w({ seq: -1, payload: Buffer.alloc(0) });
    });
    socket.on('error', () => {});
  }

  /** Opens a TCP connection without logging in. */
  static open(port: number, caps: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new RawClient(s, caps)));
      s.once('error', reject);
    });
  }

  /**
   * Connects and logs in with mysql_native_password. `collation`: the handshake's collation id.
   * `mariaCaps`: MariaDB extended capabilities to ask for (LONG_PASSWORD is then cleared, which is
   * how a client says they follow). `baseCaps` replaces the default capability set (for
   * capability-matrix tests). `zstdLevel`: the zstd_compression_level byte to end the handshake
   * response with (send it with Cap.ZSTD_COMPRESSION_ALGORITHM in `extraCaps`, as MySQL 8 clients do).
   */
  static async connect(
    port: number, user: string, password: string, db: string | null, extraCaps = 0, collation = 45, mariaCaps = 0, baseCaps = DEFAULT_CAPS,
    zstdLevel?: number,
  ): Promise<RawClient> {
    let caps = baseCaps | (db ? Cap.CONNECT_WITH_DB : 0) | extraCaps;
    if (mariaCaps !== 0) caps &= ~Cap.LONG_PASSWORD;
    const c = await RawClient.open(port, caps);
    c.mariaCaps = mariaCaps;
    const hs = await c.read();
    c.handshake = parseServerHandshake(hs.payload);
    const w = buildHandshakeResponse({
      capabilities: caps, mariaCaps, collation, user, authResponse: nativeToken(password, c.handshake.nonce),
      database: db, authPlugin: 'mysql_native_password', zstdLevel,
    });
    c.socket.write(w.finish(1));
    const r = await c.read();
    if (r.payload[0] !== 0) throw new Error(`login failed: ${parseErrPayload(r.payload).message}`);
    c.loginOk = r.payload;
    // as libmysqlclient: zlib when CLIENT_COMPRESS was sent (even with the zstd flag too), else zstd
    const zlib = (caps & Cap.COMPRESS) !== 0;
    if (zlib || caps & Cap.ZSTD_COMPRESSION_ALGORITHM) {
      if (!zlib) {
        c.codec = zstdCodec() as PacketCodec;
        c.level = zstdLevel ?? 3;
      }
      c.decoder = new CompressedDecoder(0xffffff, c.codec);
      c.decoder.onHeader = (seq) => c.compressedSeqs.push(seq);
    }
    return c;
  }

  /** Next packet (seq -1 and empty payload once the connection closed). */
  read(timeoutMs = 10000): Promise<{ seq: number; payload: Buffer }> {
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    if (this.closed) return Promise.resolve({ seq: -1, payload: Buffer.alloc(0) });
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for a packet')), timeoutMs);
      this.waiters.push((f) => {
        clearTimeout(t);
        resolve(f);
      });
    });
  }

  /** Sends a command payload with sequence id 0. */
  send(payload: Buffer | PacketWriter, seq = 0): void {
    const b = payload instanceof PacketWriter ? payload.finish(seq) : new PacketWriter(payload.length).bytes(payload).finish(seq);
    if (this.decoder) {
      // a command starts a new compressed sequence at 0, as clients do; more than 16 MiB goes in several
      let cseq = 0;
      for (let at = 0; at < b.length || at === 0; at += MAX_COMPRESSED_PAYLOAD) {
        const piece = b.subarray(at, Math.min(b.length, at + MAX_COMPRESSED_PAYLOAD));
        for (const part of encodeCompressedPacket(piece, cseq++, this.level, 50, this.codec)) this.socket.write(part);
      }
    } else this.socket.write(b);
  }

  get deprecateEof(): boolean {
    return (this.caps & Cap.DEPRECATE_EOF) !== 0;
  }

  private isTerminator(p: Buffer): boolean {
    return p.length > 0 && p[0] === 0xfe && (this.deprecateEof ? p.length < 0xffffff : p.length < 9);
  }

  private terminatorStatus(p: Buffer): number {
    return this.deprecateEof ? parseOk(p, this.caps).status : parseEof(p).status;
  }

  /** Reads a text (binary=false) or binary result set, or an OK/ERR. Follows MORE_RESULTS and returns the last. */
  async readResult(binary = false): Promise<RawResult> {
    const res: RawResult = { ok: null, err: null, columns: [], rows: [], packets: [], status: 0 };
    const take = async () => {
      const f = await this.read();
      if (f.seq < 0) throw new Error('connection closed');
      res.packets.push([f.seq, f.payload]);
      return f.payload;
    };
    for (;;) {
      const p = await take();
      if (p[0] === 0x00 && !binaryRowStart(res, binary)) {
        res.ok = parseOk(p, this.caps);
        res.status = res.ok.status;
        if (res.ok.status & 0x08) continue;
        return res;
      }
      if (p[0] === 0xff) {
        res.err = parseErrPayload(p);
        return res;
      }
      const n = p[0];
      res.columns = [];
      res.rows = [];
      for (let i = 0; i < n; i++) res.columns.push(parseColumnDef(await take(), (this.mariaCaps & 8) !== 0));
      if (!this.deprecateEof) {
        const e = await take();
        if (!(e[0] === 0xfe && e.length < 9)) throw new Error('expected EOF after column definitions');
        if (parseEof(e).status & 0x40) {
          res.status = parseEof(e).status;
          return res; // cursor opened: no rows follow
        }
      }
      for (;;) {
        const r = await take();
        if (r[0] === 0xff) {
          res.err = parseErrPayload(r);
          return res;
        }
        if (this.isTerminator(r)) {
          res.status = this.terminatorStatus(r);
          break;
        }
        res.rows.push(binary ? decodeBinaryRow(r, res.columns) : parseTextRow(r, n).map((c) => (c ? c.toString('utf8') : null)));
      }
      if (res.status & 0x08) continue;
      return res;
    }
  }

  async query(sql: string): Promise<RawResult> {
    this.send(new PacketWriter(sql.length + 1).u8(Com.QUERY).string(sql));
    return this.readResult();
  }

  /** COM_STMT_PREPARE; returns the statement id and counts, reading all definitions. */
  async prepare(sql: string): Promise<{ id: number; params: number; columns: number; packets: number }> {
    this.send(new PacketWriter(sql.length + 1).u8(Com.STMT_PREPARE).string(sql));
    const first = await this.read();
    if (first.payload[0] === 0xff) throw new Error(parseErrPayload(first.payload).message);
    const id = first.payload.readUInt32LE(1);
    const columns = first.payload.readUInt16LE(5);
    const params = first.payload.readUInt16LE(7);
    let packets = 1;
    const defs = (params > 0 ? params + (this.deprecateEof ? 0 : 1) : 0) + (columns > 0 ? columns + (this.deprecateEof ? 0 : 1) : 0);
    for (let i = 0; i < defs; i++) {
      await this.read();
      packets++;
    }
    return { id, params, columns, packets };
  }

  /** COM_STMT_EXECUTE with integer parameters (as LONGLONG); flags 1 opens a read-only cursor. */
  async execute(id: number, params: number[], flags = 0): Promise<RawResult> {
    const w = new PacketWriter(32).u8(Com.STMT_EXECUTE).u32(id).u8(flags).u32(1);
    if (params.length > 0) {
      w.zeros((params.length + 7) >> 3).u8(1);
      for (let i = 0; i < params.length; i++) w.u16(8);
      for (const v of params) w.u32(v).u32(0);
    }
    this.send(w);
    return this.readResult(true);
  }

  async fetch(id: number, rows: number, columns: ColumnDef[]): Promise<RawResult> {
    this.send(new PacketWriter(12).u8(Com.STMT_FETCH).u32(id).u32(rows));
    const res: RawResult = { ok: null, err: null, columns, rows: [], packets: [], status: 0 };
    for (;;) {
      const f = await this.read();
      res.packets.push([f.seq, f.payload]);
      const p = f.payload;
      if (p[0] === 0xff) {
        res.err = parseErrPayload(p);
        return res;
      }
      if (this.isTerminator(p)) {
        res.status = this.terminatorStatus(p);
        return res;
      }
      res.rows.push(decodeBinaryRow(p, columns));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

function binaryRowStart(res: RawResult, binary: boolean): boolean {
  return binary && res.columns.length > 0 && false;
}

/** Decodes a binary-protocol row for the few types the tests use (integers and strings). */
function decodeBinaryRow(p: Buffer, columns: ColumnDef[]): (string | null)[] {
  const n = columns.length;
  const nullBytes = (n + 7 + 2) >> 3;
  let pos = 1 + nullBytes;
  const out: (string | null)[] = [];
  for (let i = 0; i < n; i++) {
    const bit = i + 2;
    if (p[1 + (bit >> 3)] & (1 << (bit & 7))) {
      out.push(null);
      continue;
    }
    const t = columns[i].type;
    if (t === 8) {
      out.push(p.readBigInt64LE(pos).toString());
      pos += 8;
    } else if (t === 3) {
      out.push(String(p.readInt32LE(pos)));
      pos += 4;
    } else {
      let len = p[pos++];
      if (len === 0xfc) {
        len = p.readUInt16LE(pos);
        pos += 2;
      }
      out.push(p.toString('utf8', pos, pos + len));
      pos += len;
    }
  }
  return out;
}
