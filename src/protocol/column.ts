import { PacketReader } from './packet-reader';
import { PacketWriter } from './packet-writer';

/** The parts of a column definition the proxy itself needs (internal queries only; relayed ones stay bytes). */
export interface ColumnDef {
  name: string;
  charset: number;
  length: number;
  type: number;
  flags: number;
  decimals: number;
}

/** Parses a ColumnDefinition41 payload. `extendedMetadata`: the connection negotiated MariaDB extended metadata. */
export function parseColumnDef(payload: Buffer, extendedMetadata: boolean): ColumnDef {
  const r = new PacketReader(payload, 0, payload.length);
  r.lenencBytes(); // catalog
  r.lenencBytes(); // schema
  r.lenencBytes(); // table
  r.lenencBytes(); // org_table
  const name = r.lenencString();
  r.lenencBytes(); // org_name
  if (extendedMetadata) r.lenencBytes();
  r.lenenc(); // length of fixed fields (0x0c)
  const charset = r.u16();
  const length = r.u32();
  const type = r.u8();
  const flags = r.u16();
  const decimals = r.u8();
  return { name, charset, length, type, flags, decimals };
}

/**
 * Builds a ColumnDefinition41 payload for a result the proxy answers itself (catalog `def`, no
 * schema or table, as the server sends for an expression column). `extendedMetadata`: the client
 * negotiated MariaDB extended type metadata, whose (here empty) field follows org_name — a client
 * that negotiated it rejects a definition without it (libmariadb: 2027 malformed packet).
 */
export function buildColumnDef(c: ColumnDef, extendedMetadata: boolean): PacketWriter {
  const w = new PacketWriter(48 + c.name.length);
  w.lenencString('def').lenencString('').lenencString('').lenencString('').lenencString(c.name).lenencString('');
  if (extendedMetadata) w.lenenc(0);
  return w.u8(0x0c).u16(c.charset).u32(c.length).u8(c.type).u16(c.flags).u8(c.decimals).u16(0);
}

/** Column type codes used by the proxy. */
export const ColumnType = {
  DECIMAL: 0x00, TINY: 0x01, SHORT: 0x02, LONG: 0x03, FLOAT: 0x04, DOUBLE: 0x05, NULL: 0x06,
  TIMESTAMP: 0x07, LONGLONG: 0x08, INT24: 0x09, DATE: 0x0a, TIME: 0x0b, DATETIME: 0x0c, YEAR: 0x0d,
  VARCHAR: 0x0f, BIT: 0x10, JSON: 0xf5, NEWDECIMAL: 0xf6, ENUM: 0xf7, SET: 0xf8, TINY_BLOB: 0xf9,
  MEDIUM_BLOB: 0xfa, LONG_BLOB: 0xfb, BLOB: 0xfc, VAR_STRING: 0xfd, STRING: 0xfe, GEOMETRY: 0xff,
} as const;

/** Decodes a text-protocol row into raw cell buffers (null for SQL NULL). */
export function parseTextRow(payload: Buffer, columns: number): (Buffer | null)[] {
  const r = new PacketReader(payload, 0, payload.length);
  const out: (Buffer | null)[] = new Array(columns);
  for (let i = 0; i < columns; i++) {
    const n = r.lenencOrNull();
    out[i] = n < 0 ? null : r.bytes(n);
  }
  return out;
}
