import { Cap } from './constants';
import { PacketReader, ProtocolError } from './packet-reader';
import { PacketWriter } from './packet-writer';
import { parseErrPayload } from './ok-err';

/** The server's initial handshake (protocol v10). */
export interface ServerHandshake {
  serverVersion: string;
  connectionId: number;
  /** The 20-byte auth nonce ("scramble"). */
  nonce: Buffer;
  capabilities: number;
  /** MariaDB extended capabilities (0 when the server is MySQL). */
  mariaCaps: number;
  collation: number;
  status: number;
  authPlugin: string;
}

/** Builds a HandshakeV10 payload. */
export function buildServerHandshake(h: ServerHandshake): PacketWriter {
  const w = new PacketWriter(128);
  w.u8(10).nulString(h.serverVersion).u32(h.connectionId);
  w.bytes(h.nonce.subarray(0, 8)).u8(0);
  w.u16(h.capabilities & 0xffff).u8(h.collation).u16(h.status).u16((h.capabilities >>> 16) & 0xffff);
  w.u8(h.capabilities & Cap.PLUGIN_AUTH ? h.nonce.length + 1 : 0);
  w.zeros(6);
  // MariaDB announces its extended capabilities here when it clears the CLIENT_MYSQL (LONG_PASSWORD) bit.
  w.u32(h.capabilities & Cap.LONG_PASSWORD ? 0 : h.mariaCaps);
  w.bytes(h.nonce.subarray(8)).u8(0);
  if (h.capabilities & Cap.PLUGIN_AUTH) w.nulString(h.authPlugin);
  return w;
}

/** Parses a server's HandshakeV10 (backend side). */
export function parseServerHandshake(payload: Buffer): ServerHandshake {
  const r = new PacketReader(payload, 0, payload.length);
  const proto = r.u8();
  if (proto === 0xff) {
    r.pos = 0;
    const err = parseErrPayload(payload);
    throw new ProtocolError(`server refused the connection: ${err.errno} ${err.message}`);
  }
  if (proto !== 10) throw new ProtocolError(`unsupported handshake protocol version ${proto}`);
  const serverVersion = r.nulString();
  const connectionId = r.u32();
  const part1 = r.bytes(8);
  r.u8();
  let capabilities = r.u16();
  let collation = 0;
  let status = 0;
  let mariaCaps = 0;
  let authPlugin = 'mysql_native_password';
  let nonce: Buffer = Buffer.from(part1);
  if (r.remaining() > 0) {
    collation = r.u8();
    status = r.u16();
    capabilities |= r.u16() << 16;
    capabilities >>>= 0;
    const authLen = r.u8();
    r.skip(6);
    const ext = r.u32();
    if (!(capabilities & Cap.LONG_PASSWORD)) mariaCaps = ext;
    if (capabilities & Cap.SECURE_CONNECTION) {
      const n = Math.max(13, authLen - 8);
      const part2 = r.bytes(Math.min(n, r.remaining()));
      const p2 = part2[part2.length - 1] === 0 ? part2.subarray(0, part2.length - 1) : part2;
      nonce = Buffer.concat([part1, p2]);
    }
    if (capabilities & Cap.PLUGIN_AUTH && r.remaining() > 0) authPlugin = r.nulOrRestString();
  }
  return { serverVersion, connectionId, nonce, capabilities, mariaCaps, collation, status, authPlugin };
}

/** A client's HandshakeResponse41 (or the SSLRequest prefix of it). */
export interface HandshakeResponse {
  capabilities: number;
  mariaCaps: number;
  maxPacket: number;
  collation: number;
  /** True for the 32-byte SSLRequest: the rest comes after the TLS handshake. */
  sslRequest: boolean;
  user: string;
  authResponse: Buffer;
  database: string | null;
  authPlugin: string | null;
  /** Connection attributes (key → value). */
  attrs: Map<string, string>;
  /**
   * The `zstd_compression_level` byte that ends the packet when the client set
   * CLIENT_ZSTD_COMPRESSION_ALGORITHM (MySQL 8.0.18+), unchecked; null when the flag is not set or
   * the byte is missing.
   */
  zstdLevel: number | null;
}

/** Parses HandshakeResponse41 / SSLRequest. Throws ProtocolError on malformed input. */
export function parseHandshakeResponse(payload: Buffer): HandshakeResponse {
  const r = new PacketReader(payload, 0, payload.length);
  const capabilities = r.u32();
  if (!(capabilities & Cap.PROTOCOL_41)) throw new ProtocolError('client does not support protocol 4.1');
  const maxPacket = r.u32();
  const collation = r.u8();
  r.skip(19);
  const ext = r.u32();
  const mariaCaps = capabilities & Cap.LONG_PASSWORD ? 0 : ext;
  const res: HandshakeResponse = {
    capabilities, mariaCaps, maxPacket, collation, sslRequest: false, user: '', authResponse: Buffer.alloc(0),
    database: null, authPlugin: null, attrs: new Map(), zstdLevel: null,
  };
  if (r.remaining() === 0) {
    if (!(capabilities & Cap.SSL)) throw new ProtocolError('handshake response truncated');
    res.sslRequest = true;
    return res;
  }
  res.user = r.nulString();
  if (capabilities & Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA) res.authResponse = r.lenencBytes();
  else if (capabilities & Cap.SECURE_CONNECTION) res.authResponse = r.bytes(r.u8());
  else res.authResponse = r.nulBytes();
  if (capabilities & Cap.CONNECT_WITH_DB && r.remaining() > 0) res.database = r.nulOrRestString();
  if (capabilities & Cap.PLUGIN_AUTH && r.remaining() > 0) res.authPlugin = r.nulOrRestString();
  if (capabilities & Cap.CONNECT_ATTRS && r.remaining() > 0) {
    const total = r.lenenc();
    const end = r.pos + total;
    if (end > r.end) throw new ProtocolError('connection attributes run past the packet');
    while (r.pos < end) {
      const k = r.lenencString();
      const v = r.lenencString();
      res.attrs.set(k, v);
    }
  }
  // MySQL's server reads it right after the attributes (after the plugin name without CONNECT_ATTRS)
  if (capabilities & Cap.ZSTD_COMPRESSION_ALGORITHM && r.remaining() > 0) res.zstdLevel = r.u8();
  if (res.database === '') res.database = null;
  return res;
}

/**
 * Builds a HandshakeResponse41 (backend side; tests use it as a client). `zstdLevel`, when given,
 * is appended as the `zstd_compression_level` byte whatever the capabilities say.
 */
export function buildHandshakeResponse(o: {
  capabilities: number; mariaCaps: number; collation: number; user: string; authResponse: Buffer;
  database: string | null; authPlugin: string; attrs?: Record<string, string>; zstdLevel?: number;
}): PacketWriter {
  const w = new PacketWriter(128);
  w.u32(o.capabilities).u32(0x40000000).u8(o.collation).zeros(19);
  w.u32(o.capabilities & Cap.LONG_PASSWORD ? 0 : o.mariaCaps);
  w.nulString(o.user);
  if (o.capabilities & Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA) w.lenencBytes(o.authResponse);
  else w.u8(o.authResponse.length).bytes(o.authResponse);
  if (o.capabilities & Cap.CONNECT_WITH_DB) w.nulString(o.database ?? '');
  if (o.capabilities & Cap.PLUGIN_AUTH) w.nulString(o.authPlugin);
  if (o.capabilities & Cap.CONNECT_ATTRS) {
    const a = new PacketWriter(64);
    for (const [k, v] of Object.entries(o.attrs ?? {})) a.lenencString(k).lenencString(v);
    const body = a.finish(0).subarray(4);
    w.lenencBytes(body);
  }
  if (o.zstdLevel !== undefined) w.u8(o.zstdLevel);
  return w;
}

/** AuthSwitchRequest: 0xFE, plugin name, plugin data. */
export function buildAuthSwitch(plugin: string, data: Buffer): PacketWriter {
  return new PacketWriter(64).u8(0xfe).nulString(plugin).bytes(data).u8(0);
}

/** AuthMoreData: 0x01 + data. */
export function buildAuthMoreData(data: Buffer): PacketWriter {
  return new PacketWriter(data.length + 1).u8(0x01).bytes(data);
}

/** Parses an AuthSwitchRequest payload (starts with 0xFE). */
export function parseAuthSwitch(payload: Buffer): { plugin: string; data: Buffer } {
  const r = new PacketReader(payload, 1, payload.length);
  const plugin = r.nulOrRestString();
  let data = r.rest();
  if (data.length > 0 && data[data.length - 1] === 0) data = data.subarray(0, data.length - 1);
  return { plugin, data: Buffer.from(data) };
}
