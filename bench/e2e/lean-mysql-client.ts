/**
 * A deliberately small MySQL client for the idle-connections test: it connects, completes the
 * handshake with mysql_native_password (or caching_sha2_password fast auth after an auth switch),
 * and can send COM_PING. Far less memory per connection than a full driver, so 10,000 of them fit in
 * one bench process and the number measured is the proxy's memory, not the client's.
 */
import { connect, Socket } from 'node:net';
import { Cap, Com } from '../../src/protocol/constants';
import { nativeToken, sha2Token } from '../../src/protocol/auth';

const CLIENT_LONG_PASSWORD = Cap.LONG_PASSWORD;
const CLIENT_LONG_FLAG = Cap.LONG_FLAG;
const CLIENT_CONNECT_WITH_DB = Cap.CONNECT_WITH_DB;
const CLIENT_PROTOCOL_41 = Cap.PROTOCOL_41;
const CLIENT_TRANSACTIONS = Cap.TRANSACTIONS;
const CLIENT_SECURE_CONNECTION = Cap.SECURE_CONNECTION;
const CLIENT_MULTI_RESULTS = Cap.MULTI_RESULTS;
const CLIENT_PLUGIN_AUTH = Cap.PLUGIN_AUTH;
const COM_PING = Com.PING;

/** The proxy's own auth codec (src/protocol/auth.ts) computes the tokens. */
const nativeScramble = nativeToken;
const sha2Scramble = sha2Token;

function cstring(buf: Buffer, start: number): [string, number] {
  const end = buf.indexOf(0, start);
  if (end < 0) return [buf.toString('latin1', start), buf.length];
  return [buf.toString('latin1', start, end), end + 1];
}

function packet(seq: number, payload: Buffer): Buffer {
  const hdr = Buffer.allocUnsafe(4);
  hdr.writeUIntLE(payload.length, 0, 3);
  hdr[3] = seq & 0xff;
  return Buffer.concat([hdr, payload]);
}

function errMessage(payload: Buffer): string {
  // 0xff, errno(2), '#', sqlstate(5), message
  const errno = payload.length >= 3 ? payload.readUInt16LE(1) : 0;
  const msgStart = payload[3] === 0x23 ? 9 : 3;
  return `ERR ${errno}: ${payload.toString('utf8', msgStart)}`;
}

export interface LeanOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  database?: string;
  timeoutMs?: number;
}

type Phase = 'greeting' | 'auth' | 'ready' | 'ping' | 'closed';

/** One authenticated (or failed) connection. Callbacks, not promises, to keep per-connection cost low. */
export class LeanConnection {
  private readonly socket: Socket;
  private phase: Phase = 'greeting';
  private pending: Buffer | null = null;
  private seq = 0;
  private nonce: Buffer = Buffer.alloc(0);
  private onDone: ((err: Error | null) => void) | null;
  private onPing: ((err: Error | null) => void) | null = null;
  /** Set when the peer closed or reset the connection after it was ready. */
  closedWhileIdle = false;

  constructor(
    private readonly opts: LeanOptions,
    done: (err: Error | null, conn: LeanConnection) => void,
  ) {
    this.onDone = (err) => done(err, this);
    this.socket = connect({ host: opts.host, port: opts.port });
    this.socket.setNoDelay(true);
    this.socket.setTimeout(opts.timeoutMs ?? 20_000, () => this.fail(new Error('handshake timeout')));
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => {
      if (this.phase === 'ready') this.closedWhileIdle = true;
      this.fail(new Error('connection closed by server'));
      this.phase = 'closed';
    });
  }

  private fail(err: Error): void {
    if (this.onDone) {
      const cb = this.onDone;
      this.onDone = null;
      this.socket.destroy();
      cb(err);
    }
    if (this.onPing) {
      const cb = this.onPing;
      this.onPing = null;
      cb(err);
    }
  }

  private onData(chunk: Buffer): void {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    while (buf.length >= 4) {
      const len = buf.readUIntLE(0, 3);
      if (buf.length < 4 + len) break;
      this.seq = (buf[3]! + 1) & 0xff;
      this.onPacket(buf.subarray(4, 4 + len));
      buf = buf.subarray(4 + len);
    }
    if (buf.length > 0) this.pending = Buffer.from(buf);
  }

  private onPacket(p: Buffer): void {
    switch (this.phase) {
      case 'greeting':
        return this.onGreeting(p);
      case 'auth':
        return this.onAuthReply(p);
      case 'ping':
        this.phase = 'ready';
        if (this.onPing) {
          const cb = this.onPing;
          this.onPing = null;
          cb(p[0] === 0x00 ? null : new Error(p[0] === 0xff ? errMessage(p) : 'unexpected reply to COM_PING'));
        }
        return;
      default:
        return;
    }
  }

  private onGreeting(p: Buffer): void {
    if (p[0] === 0xff) return this.fail(new Error(errMessage(p)));
    if (p[0] !== 10) return this.fail(new Error(`unsupported protocol version ${p[0]}`));
    let pos = 1;
    [, pos] = cstring(p, pos); // server version
    pos += 4; // connection id
    const part1 = p.subarray(pos, pos + 8);
    pos += 9; // + filler
    let caps = p.readUInt16LE(pos);
    pos += 2;
    let plugin = 'mysql_native_password';
    let part2: Buffer = Buffer.alloc(0);
    if (p.length > pos) {
      pos += 1 + 2; // charset, status
      caps |= p.readUInt16LE(pos) << 16;
      pos += 2;
      const authLen = p[pos]!;
      pos += 1 + 10; // auth data length, reserved (MariaDB: 6 filler + 4 extended caps)
      if (caps & CLIENT_SECURE_CONNECTION) {
        const n = Math.max(13, authLen - 8);
        part2 = p.subarray(pos, pos + n - 1); // without the trailing NUL
        pos += n;
      }
      if (caps & CLIENT_PLUGIN_AUTH) [plugin] = cstring(p, pos);
    }
    this.nonce = Buffer.concat([part1, part2]);
    const want =
      CLIENT_LONG_PASSWORD | CLIENT_LONG_FLAG | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS |
      CLIENT_SECURE_CONNECTION | CLIENT_MULTI_RESULTS | CLIENT_PLUGIN_AUTH |
      (this.opts.database ? CLIENT_CONNECT_WITH_DB : 0);
    const clientCaps = (want & caps) >>> 0;
    if (!(clientCaps & CLIENT_PROTOCOL_41)) return this.fail(new Error('server lacks CLIENT_PROTOCOL_41'));
    const scramble = plugin === 'caching_sha2_password'
      ? sha2Scramble(this.opts.password, this.nonce)
      : nativeScramble(this.opts.password, this.nonce);
    const usePlugin = plugin === 'caching_sha2_password' ? plugin : 'mysql_native_password';
    const parts: Buffer[] = [];
    const fixed = Buffer.alloc(32);
    fixed.writeUInt32LE(clientCaps, 0);
    fixed.writeUInt32LE(16 * 1024 * 1024, 4);
    fixed[8] = 45; // utf8mb4_general_ci
    parts.push(fixed, Buffer.from(this.opts.user + '\0', 'utf8'));
    if (clientCaps & CLIENT_SECURE_CONNECTION) parts.push(Buffer.from([scramble.length]), scramble);
    else parts.push(scramble, Buffer.from([0]));
    if (clientCaps & CLIENT_CONNECT_WITH_DB) parts.push(Buffer.from(this.opts.database + '\0', 'utf8'));
    if (clientCaps & CLIENT_PLUGIN_AUTH) parts.push(Buffer.from(usePlugin + '\0', 'latin1'));
    this.phase = 'auth';
    this.socket.write(packet(this.seq, Buffer.concat(parts)));
  }

  private onAuthReply(p: Buffer): void {
    const tag = p[0];
    if (tag === 0x00) {
      this.phase = 'ready';
      this.socket.setTimeout(0);
      const cb = this.onDone;
      this.onDone = null;
      cb?.(null);
      return;
    }
    if (tag === 0xff) return this.fail(new Error(errMessage(p)));
    if (tag === 0xfe) {
      // AuthSwitchRequest: plugin name NUL, new nonce (NUL-terminated).
      const [plugin, pos] = cstring(p, 1);
      let nonce = p.subarray(pos);
      if (nonce.length > 0 && nonce[nonce.length - 1] === 0) nonce = nonce.subarray(0, nonce.length - 1);
      this.nonce = Buffer.from(nonce);
      let reply: Buffer;
      if (plugin === 'mysql_native_password') reply = nativeScramble(this.opts.password, this.nonce);
      else if (plugin === 'caching_sha2_password') reply = sha2Scramble(this.opts.password, this.nonce);
      else return this.fail(new Error(`auth switch to unsupported plugin ${plugin}`));
      this.socket.write(packet(this.seq, reply));
      return;
    }
    if (tag === 0x01) {
      // caching_sha2_password: 0x03 fast auth succeeded (an OK follows); 0x04 full auth needed.
      if (p[1] === 0x03) return;
      return this.fail(new Error('caching_sha2_password full authentication requested (needs TLS or RSA); not supported by the lean client'));
    }
    this.fail(new Error(`unexpected auth reply 0x${(tag ?? 0).toString(16)}`));
  }

  /** True once authenticated and not closed. */
  get ready(): boolean {
    return this.phase === 'ready';
  }

  /** Sends COM_PING; calls back on the OK (or error). */
  ping(cb: (err: Error | null) => void): void {
    if (this.phase !== 'ready') return cb(new Error(`connection not ready (${this.phase})`));
    this.phase = 'ping';
    this.onPing = cb;
    this.socket.write(packet(0, Buffer.from([COM_PING])));
  }

  destroy(): void {
    this.phase = 'closed';
    this.onDone = null;
    this.onPing = null;
    this.socket.destroy();
  }
}
