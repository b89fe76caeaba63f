import { Cap, Status } from './constants';
import { PacketReader, U64 } from './packet-reader';
import { PacketWriter } from './packet-writer';

/** A decoded OK packet (header 0x00, or 0xFE when it ends a result set under DEPRECATE_EOF). */
export interface OkPacket {
  /** Up to 2^64-1 (MariaDB sends a negative auto-increment id as its unsigned 64-bit value). */
  affectedRows: U64;
  lastInsertId: U64;
  status: number;
  warnings: number;
  /** Human-readable info ("Records: 2  Duplicates: 0  Warnings: 0"), without its length prefix. */
  info: Buffer;
  /** Raw session-state-change block (without its length prefix), when SESSION_STATE_CHANGED is set. */
  sessionState: Buffer | null;
}

/**
 * Parses an OK payload as sent to a connection with `caps` (PROTOCOL_41 assumed: the proxy refuses
 * older clients at login). The info string is length-encoded whether or not SESSION_TRACK was
 * negotiated: that is what MariaDB and MySQL servers put on the wire (`net_store_data` in
 * `net_send_ok`), although the protocol documentation shows `string<EOF>` for the latter case.
 */
export function parseOk(payload: Buffer, caps: number): OkPacket {
  const r = new PacketReader(payload, 1, payload.length);
  const affectedRows = r.lenencInt();
  const lastInsertId = r.lenencInt();
  const status = r.u16();
  const warnings = r.u16();
  let info: Buffer = EMPTY;
  let sessionState: Buffer | null = null;
  if (r.remaining() > 0) {
    info = r.lenencBytes();
    if (caps & Cap.SESSION_TRACK && status & Status.SESSION_STATE_CHANGED && r.remaining() > 0) sessionState = r.lenencBytes();
  }
  return { affectedRows, lastInsertId, status, warnings, info, sessionState };
}

/**
 * Builds an OK packet for a client with capabilities `caps`, laid out as a MariaDB server lays it
 * out for that client: with SESSION_TRACK the info is present (possibly empty) whenever session
 * state follows; without it the info is written only when non-empty, length-encoded all the same.
 */
export function buildOk(ok: OkPacket, caps: number, header = 0x00): PacketWriter {
  const w = new PacketWriter(16 + ok.info.length);
  w.u8(header).lenenc(ok.affectedRows).lenenc(ok.lastInsertId);
  let status = ok.status;
  const withState = ok.sessionState !== null && ok.sessionState.length > 0 && (caps & Cap.SESSION_TRACK) !== 0;
  if (!withState) status &= ~Status.SESSION_STATE_CHANGED;
  w.u16(status).u16(ok.warnings);
  if (withState || ok.info.length > 0) w.lenencBytes(ok.info);
  if (withState) w.lenencBytes(ok.sessionState as Buffer);
  return w;
}

/** A decoded ERR packet. */
export interface ErrPacket {
  errno: number;
  sqlState: string;
  message: string;
}

export function parseErrPayload(payload: Buffer): ErrPacket {
  const r = new PacketReader(payload, 1, payload.length);
  const errno = r.u16();
  let sqlState = 'HY000';
  if (r.remaining() > 0 && payload[r.pos] === 0x23 /* # */) {
    r.skip(1);
    sqlState = r.bytes(5).toString('latin1');
  }
  return { errno, sqlState, message: r.rest().toString('utf8') };
}

export function buildErr(errno: number, sqlState: string, message: string): PacketWriter {
  return new PacketWriter(16 + message.length).u8(0xff).u16(errno).u8(0x23).string(sqlState.padEnd(5, '0').slice(0, 5)).string(message);
}

/** EOF packet (pre-DEPRECATE_EOF terminator). */
export function buildEof(warnings: number, status: number): PacketWriter {
  return new PacketWriter(5).u8(0xfe).u16(warnings).u16(status);
}

export function parseEof(payload: Buffer): { warnings: number; status: number } {
  if (payload.length < 5) return { warnings: 0, status: 0 };
  return { warnings: payload.readUInt16LE(1), status: payload.readUInt16LE(3) };
}

const EMPTY = Buffer.alloc(0);

/** One entry of the session-state-change block. */
export interface SessionStateEntry {
  type: number;
  /** For SYSTEM_VARIABLES: name; for SCHEMA: schema name; else ''. */
  name: string;
  /** For SYSTEM_VARIABLES: value; else the raw data as a string. */
  value: string;
  raw: Buffer;
}

/** Decodes the session-state-change block. */
export function parseSessionState(block: Buffer): SessionStateEntry[] {
  const out: SessionStateEntry[] = [];
  const r = new PacketReader(block, 0, block.length);
  while (r.remaining() > 0) {
    const start = r.pos;
    const type = r.u8();
    const data = r.lenencBytes();
    const raw = block.subarray(start, r.pos);
    const d = new PacketReader(data, 0, data.length);
    if (type === 0) {
      const name = d.lenencString();
      const value = d.remaining() > 0 ? d.lenencString() : '';
      out.push({ type, name, value, raw });
    } else if (type === 1) {
      out.push({ type, name: d.lenencString(), value: '', raw });
    } else {
      out.push({ type, name: '', value: data.toString('utf8'), raw });
    }
  }
  return out;
}

/** A session-state block entry saying the current schema is now `schema` (SESSION_TRACK_SCHEMA). */
export function schemaStateEntry(schema: string): Buffer {
  const name = new PacketWriter(schema.length + 9).lenencString(schema).finish(0).subarray(4);
  return new PacketWriter(name.length + 10).u8(1).lenencBytes(name).finish(0).subarray(4);
}
