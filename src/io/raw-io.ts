/**
 * Socket I/O without Node's stream machinery on the hot path (README "Raw socket I/O").
 *
 * A point select costs the proxy two reads and two writes. Through `net.Socket` each read of a
 * client socket allocates a Buffer (malloc + ArrayBuffer + backing store) and runs the Readable
 * push / 'data' / read-more path, and each write runs the Writable state machine, allocates a
 * WriteWrap and schedules an after-write tick. On this project's 2-core machine that plumbing was
 * most of the proxy's user CPU per query (bench/RESULTS.md runs 4-6). This module:
 *
 * - accepts client connections into sockets created with `onread` (Node's documented option for
 *   `net.connect`, which `net.Server` does not offer): every client socket reads into one shared
 *   scratch buffer and the bytes are copied out into a pooled Buffer per read;
 * - writes a buffer straight to the socket's handle when the Writable has nothing queued, reusing
 *   one WriteWrap while writes complete synchronously (the usual case for small responses).
 *
 * Both lean on Node internals (`server._handle.onconnection`, `process.binding('stream_wrap')`), so
 * {@link rawIoSupport} checks them once with a loopback self-test and everything falls back to the
 * plain stream paths when anything differs.
 */
import * as net from 'node:net';
import * as util from 'node:util';

/** Receives the bytes of a raw-accepted socket (the ClientConn owning it). */
export interface RawReceiver {
  onRawRead(chunk: Buffer): void;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
  kBytesWritten: number;
}

interface WriteReq {
  handle: unknown;
  oncomplete: (this: WriteReq, status: number) => void;
  async: boolean;
  bytes: number;
  buffer: Buffer | null;
  callback: null;
  error?: string;
  sock: net.Socket | null;
}

interface StreamHandle {
  writeBuffer(req: WriteReq, b: Buffer): number;
}

/** The fields of net internals this module touches (checked by {@link rawIoSupport}). */
interface SocketInternals {
  _handle: StreamHandle | null;
  _unrefTimer(): void;
  [kReceiver]?: RawReceiver | null;
  [kPending]?: number;
}

interface ServerInternals {
  _handle: { onconnection: (err: number, handle: unknown) => void } | null;
  _connections: number;
  allowHalfOpen?: boolean;
}

const kReceiver = Symbol('tenantgate.rawReceiver');
const kPending = Symbol('tenantgate.fastWritesPending');

/** Size of the scratch buffer every raw client socket reads into. */
const SCRATCH_SIZE = 64 * 1024;
let scratch: Buffer | null = null;

let binding: StreamWrapBinding | null = null;
/** A WriteWrap whose last write completed synchronously: C++ kept nothing of it. */
let spare: WriteReq | null = null;

function loadBinding(): StreamWrapBinding | null {
  try {
    const b = (process as unknown as { binding(name: string): unknown }).binding('stream_wrap') as Partial<StreamWrapBinding>;
    if (typeof b.WriteWrap !== 'function' || !(b.streamBaseState instanceof Int32Array)) return null;
    if (typeof b.kLastWriteWasAsync !== 'number' || typeof b.kBytesWritten !== 'number') return null;
    return b as StreamWrapBinding;
  } catch {
    return null;
  }
}

/** The onread callback shared by every raw client socket; `this` is the socket. */
function onRawRead(this: net.Socket, n: number, buf: Uint8Array): boolean {
  const r = (this as unknown as SocketInternals)[kReceiver];
  if (r === undefined || r === null) return true; // nobody attached (refused connection, or handed to TLS)
  // The scratch buffer is shared and reused by the next read of any socket, while frames handed
  // out are views that live as long as their statement: copy (pooled for reads below 4 KiB).
  const chunk = Buffer.allocUnsafe(n);
  chunk.set(n === buf.length ? buf : buf.subarray(0, n));
  r.onRawRead(chunk);
  return true;
}

/** Whether `s` was accepted by {@link installRawAccept} (reads go to a {@link RawReceiver}). */
export function isRawSocket(s: net.Socket): boolean {
  return kReceiver in s;
}

/** Routes the reads of a raw socket to `r` (null: dropped, e.g. after a TLS upgrade took the handle over). */
export function setRawReceiver(s: net.Socket, r: RawReceiver | null): void {
  (s as unknown as SocketInternals)[kReceiver] = r;
}

/**
 * Makes `server` (listening) create its sockets with `onread` into the shared scratch buffer, as
 * Node's own onconnection would otherwise do without it. Returns false (nothing changed) when the
 * listening handle does not look as expected.
 */
export function installRawAccept(server: net.Server): boolean {
  const srv = server as unknown as ServerInternals;
  const h = srv._handle;
  if (!h || typeof h.onconnection !== 'function' || typeof srv._connections !== 'number') return false;
  const original = h.onconnection;
  const buffer = (scratch ??= Buffer.allocUnsafe(SCRATCH_SIZE));
  h.onconnection = function (this: unknown, err: number, clientHandle: unknown): void {
    if (err || !clientHandle) {
      original.call(this, err, clientHandle);
      return;
    }
    if (server.maxConnections && srv._connections >= server.maxConnections) {
      (clientHandle as { close(): void }).close();
      server.emit('drop');
      return;
    }
    const opts = { handle: clientHandle, allowHalfOpen: srv.allowHalfOpen === true, readable: true, writable: true, onread: { buffer, callback: onRawRead } };
    const socket = new net.Socket(opts as net.SocketConstructorOpts);
    (socket as unknown as SocketInternals)[kReceiver] = null;
    socket.setNoDelay(true); // the proxy's listener is created with noDelay; nothing else uses this hook
    srv._connections++;
    (socket as unknown as { server: net.Server; _server: net.Server }).server = server;
    (socket as unknown as { _server: net.Server })._server = server;
    server.emit('connection', socket);
  };
  return true;
}

function onFastWriteDone(this: WriteReq, status: number): void {
  const sock = this.sock as net.Socket;
  this.sock = null;
  this.buffer = null;
  this.handle = null;
  const s = sock as unknown as SocketInternals;
  s[kPending] = (s[kPending] as number) - 1;
  if (sock.destroyed) return;
  if (status < 0) {
    sock.destroy(writeError(status, this.error));
    return;
  }
  // What a Writable emits once its queued writes are done: owners waiting for room resume.
  if (s[kPending] === 0) sock.emit('drain');
}

function writeError(status: number, detail?: string): Error {
  let name = `E${-status}`;
  try {
    name = util.getSystemErrorName(status);
  } catch {
    // unknown code: keep the number
  }
  const e = new Error(`write ${name}${detail ? ` (${detail})` : ''}`) as NodeJS.ErrnoException;
  e.code = name;
  e.errno = status;
  e.syscall = 'write';
  return e;
}

/**
 * Writes `b` to a plain TCP socket: straight to its handle when nothing is queued before it (no
 * Writable bookkeeping, no new WriteWrap, no after-write tick), else through `socket.write`. Same
 * contract as `socket.write(b)`: false means wait for 'drain' (here also whenever the kernel did
 * not take all of `b` at once, which keeps a view of a reused read buffer from being overwritten).
 * Only for sockets whose `_handle` is their own TCP handle (not TLS) and when
 * {@link rawIoSupport} said yes.
 */
export function writeFast(sock: net.Socket, b: Buffer): boolean {
  const s = sock as unknown as SocketInternals;
  const h = s._handle;
  const bd = binding;
  if (bd === null || h === null || (s[kPending] as number) > 0 || sock.writableLength !== 0 || sock.writableCorked !== 0 || sock.writableEnded || sock.destroyed || sock.connecting) {
    return sock.write(b);
  }
  let req = spare;
  spare = null;
  if (req === null) {
    req = new bd.WriteWrap();
    req.oncomplete = onFastWriteDone;
    req.async = false;
    req.bytes = 0;
    req.buffer = null;
    req.callback = null;
    req.sock = null;
  }
  req.handle = h;
  const err = h.writeBuffer(req, b);
  if (err !== 0) {
    req.handle = null;
    spare = req;
    sock.destroy(writeError(err, req.error));
    return false;
  }
  s._unrefTimer(); // a socket timeout counts from the last write, as with socket.write
  if (bd.streamBaseState[bd.kLastWriteWasAsync] === 0) {
    req.handle = null;
    spare = req;
    return true;
  }
  // The rest is queued in libuv (which keeps later writes behind it); C++ owns req until oncomplete.
  req.buffer = b;
  req.sock = sock;
  s[kPending] = ((s[kPending] as number) | 0) + 1;
  return false;
}

/** Whether bytes written to `sock` are still waiting to be sent (by the Writable or by {@link writeFast}). */
export function writePending(sock: net.Socket): boolean {
  return sock.writableLength > 0 || ((sock as unknown as SocketInternals)[kPending] as number) > 0;
}

let support: Promise<string | null> | null = null;
let warned = false;

/**
 * Why a proxy should not use raw I/O, or null to use it: `server.raw_io` false, env TENANTGATE_RAW_IO
 * 0/off/false, or the self-test failed (`warn` on the first such answer in the process only).
 */
export async function rawIoOff(configured: boolean): Promise<{ reason: string; warn: boolean } | null> {
  if (!configured) return { reason: 'server.raw_io is false', warn: false };
  const env = process.env.TENANTGATE_RAW_IO;
  if (env === '0' || env === 'off' || env === 'false') return { reason: `TENANTGATE_RAW_IO=${env}`, warn: false };
  const why = await rawIoSupport();
  if (why === null) return null;
  const warn = !warned;
  warned = true;
  return { reason: `Node internals not as expected: ${why}`, warn };
}

/** {@link writeFast} when `fast`, else `socket.write`. */
export function writeMaybeFast(sock: net.Socket, b: Buffer, fast: boolean): boolean {
  return fast ? writeFast(sock, b) : sock.write(b);
}

/**
 * Checks once per process that the internals this module uses are there and behave: a loopback
 * connection accepted through {@link installRawAccept}, bytes each way, a fast write. Resolves to
 * null when raw I/O can be used, else to the reason it cannot.
 */
export function rawIoSupport(): Promise<string | null> {
  return (support ??= selfTest().then((reason) => {
    if (reason !== null) binding = null;
    return reason;
  }));
}

async function selfTest(): Promise<string | null> {
  const b = loadBinding();
  if (b === null) return "process.binding('stream_wrap') does not provide WriteWrap and streamBaseState";
  binding = b;
  const server = net.createServer();
  const sockets: net.Socket[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    if (!installRawAccept(server)) return 'net.Server has no _handle.onconnection to take over';
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    sockets.push(client);
    client.on('error', () => {});
    const sock = await withTimeout(accepted, 'no connection accepted');
    sockets.push(sock);
    sock.on('error', () => {});
    if (!isRawSocket(sock) || (sock as unknown as SocketInternals)._handle === null) return 'accepted socket has no handle';
    const got: Buffer[] = [];
    const received = new Promise<void>((resolve) => {
      setRawReceiver(sock, { onRawRead: (c) => (got.push(c), resolve()) });
    });
    client.write('ping');
    await withTimeout(received, 'onread callback never called');
    if (Buffer.concat(got).toString() !== 'ping') return 'onread delivered other bytes than were sent';
    const back = new Promise<Buffer>((resolve) => client.once('data', resolve));
    writeFast(sock, Buffer.from('pong'));
    if ((await withTimeout(back, 'fast write never arrived')).toString() !== 'pong') return 'fast write sent other bytes';
    if (sock.bytesWritten !== 4) return `bytesWritten is ${sock.bytesWritten} after a 4-byte fast write`;
    return null;
  } catch (e) {
    return (e as Error).message;
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
  }
}

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(what)), 2000);
    }),
  ]).finally(() => clearTimeout(t));
}
