import type * as net from 'node:net';
import * as tls from 'node:tls';
import { Frame, Framer } from '../protocol/framer';
import type { PacketWriter } from '../protocol/packet-writer';
import { isRawSocket, RawReceiver, setRawReceiver, writeFast, writePending } from '../io/raw-io';
import { COMPRESS_CHUNK, CompressedTransport, CompressionSettings } from './compressed-transport';
import { Faultable, setRunning } from './safety-net';

/** What the owner of a client connection hears from it. */
export interface ClientConnHost extends Faultable {
  /** New bytes were framed: pull frames with next(). */
  onInput(): void;
  /** The client socket closed. */
  onClosed(): void;
  /** Socket error (the close follows). */
  onSocketError(e: Error): void;
  /** Something thrown while handling a socket event: ends this session only. */
  fault(e: unknown, where: string): void;
}

/** Bytes of pipelined client input buffered while a statement runs before the socket is paused. */
const CLIENT_HIGH_WATER = 1 << 20;

/** Bytes buffered by all client connections of a proxy, against server.max_client_buffer_bytes. */
export interface BufferBudget {
  bytes: number;
  readonly max: number;
  /** Connections paused because the budget was exceeded (resumed by {@link resumeWithinBudget}). */
  readonly paused: Set<ClientConn>;
}

/** Resumes connections paused for the global buffer budget while there is room again. */
export function resumeWithinBudget(b: BufferBudget): void {
  for (const c of b.paused) {
    if (b.bytes >= b.max) return;
    b.paused.delete(c);
    c.resumeFromBudget();
  }
}

/**
 * The client side of a session's I/O: socket, framer, TLS upgrade, the compressed protocol and
 * backpressure in both directions. Every byte written to the client goes through
 * {@link ClientConn.write}; after {@link ClientConn.startCompression} that is the compressed
 * transport, and input is decoded before the framer sees it.
 */
export class ClientConn implements RawReceiver {
  socket: net.Socket;
  tls = false;
  /** Reads arrive through onRawRead (the socket was accepted with onread) and plain writes skip the Writable. */
  private raw: boolean;
  readonly framer: Framer;
  /** A backend socket paused because the client could not keep up (resumed on drain). */
  private pausedBackend: net.Socket | null = null;
  /** The compressed transport, once a client that asked for compression (zlib or zstd) has logged in. */
  private z: CompressedTransport | null = null;
  /** Compressed input that could not be decoded: thrown by the next {@link next} call; later input is dropped. */
  private inputError: Error | null = null;
  /** Bytes of this connection counted in the budget. */
  private accounted = 0;
  /** When client bytes last arrived (ms). */
  lastInput = Date.now();
  /** A native fast lane reads and writes the socket now (lane-manager.ts): JS leaves it alone. */
  private laneHeld = false;

  constructor(socket: net.Socket, maxPacket: number, private readonly host: ClientConnHost, private readonly budget: BufferBudget) {
    this.socket = socket;
    this.framer = new Framer(maxPacket);
    this.raw = isRawSocket(socket);
    socket.setNoDelay(true);
    this.attach(socket);
  }

  /** The one way bytes reach the client (compressed once the session is). Returns false when the socket wants a drain. */
  write(b: Buffer): boolean {
    if (this.z) return this.z.write(b);
    return this.raw ? writeFast(this.socket, b) : this.socket.write(b);
  }

  /** Whether bytes written to the client are still queued (views of a reused buffer must not be overwritten). */
  get writePending(): boolean {
    return writePending(this.socket);
  }

  /** A plain TCP socket read through raw I/O: no TLS, no compression (what a fast lane can take over). */
  get rawPlain(): boolean {
    return this.raw && !this.tls && this.z === null && !this.socket.destroyed && !writePending(this.socket);
  }

  /** Stops reading: a fast lane takes the socket over until it gives it back ({@link releaseFromLane}). */
  holdForLane(): void {
    this.laneHeld = true;
    this.socket.pause();
  }

  /** The fast lane gave the socket back: reading again. */
  releaseFromLane(): void {
    this.laneHeld = false;
    if (!this.socket.destroyed && !this.budget.paused.has(this)) this.socket.resume();
  }

  /** Client bytes a fast lane read and did not handle: framed as if read now. */
  pushLaneBytes(b: Buffer): void {
    this.lastInput = Date.now();
    this.framer.push(b);
    this.account();
  }

  /** Whether the compressed protocol is on. */
  get compressed(): boolean {
    return this.z !== null;
  }

  /**
   * Switches to the compressed protocol, as a server does right after the OK that ends login (that
   * OK itself goes out uncompressed). Bytes the client already sent after its login are decoded.
   */
  startCompression(s: CompressionSettings): void {
    if (this.z) return;
    this.z = new CompressedTransport(this.socket, s.maxUncompressed, s.level, COMPRESS_CHUNK, s.minLength, s.codec);
    // libmariadb numbers the packets inside compressed ones 0: only the compressed sequence counts
    this.framer.checkSequence = false;
    const early = this.framer.drain();
    if (early.length > 0) this.receive(early);
  }

  /** Finishes a packet with sequence id `seq` and writes it (dropped once the socket is gone). */
  sendPacket(w: PacketWriter, seq: number): void {
    if (this.socket.destroyed) return;
    this.write(w.finish(seq));
  }

  /** Batches writes until {@link uncork} (under compression: one compressed packet per relayed backend chunk). */
  cork(): void {
    this.socket.cork();
    if (this.z) this.z.cork();
  }

  uncork(): void {
    if (this.z) this.z.uncork();
    this.socket.uncork();
  }

  /** The next complete client packet, or null. Throws ProtocolError / PacketTooLargeError. */
  next(): Frame | null {
    if (this.inputError) throw this.inputError;
    const f = this.framer.next();
    // the reply to this frame continues the compressed sequence of the packet that carried it
    if (f && this.z) this.z.frameRead(this.framer.buffered > 0);
    return f;
  }

  /** Client bytes received and not yet taken as frames (including a partial compressed packet). */
  get buffered(): number {
    return this.z ? this.framer.buffered + this.z.buffered : this.framer.buffered;
  }

  /** Stops reading client input while a statement runs and too much is already buffered. */
  throttleWhileBusy(): void {
    if (this.buffered > CLIENT_HIGH_WATER && !this.socket.isPaused()) this.socket.pause();
  }

  pauseInput(): void {
    if (!this.socket.isPaused()) this.socket.pause();
  }

  resumeInput(): void {
    if (this.laneHeld) return;
    if (this.socket.isPaused()) this.socket.resume();
  }

  /** Pauses a backend socket until the client socket drains. */
  holdBackend(b: net.Socket): void {
    if (this.pausedBackend) return;
    b.pause();
    this.pausedBackend = b;
  }

  /** Resumes `b` if it is the backend socket held for client backpressure. */
  unholdBackend(b: net.Socket): void {
    if (this.pausedBackend === b) {
      this.pausedBackend = null;
      b.resume();
    }
  }

  /** Upgrades to TLS in place (after an SSLRequest); bytes already framed are handed to TLS. */
  upgradeTls(ctx: tls.SecureContext): void {
    const raw = this.socket;
    if (this.raw) {
      // TLS takes the TCP handle over (its reads no longer reach onread); the TLS socket is a stream.
      setRawReceiver(raw, null);
      this.raw = false;
    }
    raw.removeListener('data', this.onData);
    raw.removeListener('error', this.onError);
    raw.removeListener('close', this.onClose);
    raw.removeListener('drain', this.onDrain);
    const leftover = this.framer.drain();
    const t = new tls.TLSSocket(raw, { isServer: true, secureContext: ctx });
    this.socket = t;
    this.tls = true;
    this.attach(t);
    t.on('secureConnect', () => {});
    raw.on('close', this.onClose);
    if (leftover.length > 0) raw.unshift(leftover);
  }

  /**
   * Brings this connection's share of the global buffer budget up to date (after frames were taken)
   * and, when the budget is exceeded and this connection holds an unfinished packet, stops reading it.
   */
  account(): void {
    const b = this.budget;
    const now = this.buffered;
    b.bytes += now - this.accounted;
    this.accounted = now;
    if (now > 0 && b.bytes > b.max && !this.socket.isPaused() && !b.paused.has(this)) {
      b.paused.add(this);
      this.socket.pause();
    }
  }

  /** Reading again after a pause for the global budget. */
  resumeFromBudget(): void {
    if (!this.socket.destroyed && !this.laneHeld) this.socket.resume();
  }

  /**
   * Closes the connection with a TCP reset, as MariaDB 10.11 does on wait_timeout (its client then
   * reports "server has gone away" on the next write, not "lost connection during query").
   */
  reset(): void {
    const s = this.socket;
    try {
      s.resetAndDestroy();
    } catch {
      s.destroy(); // a TLS socket has no TCP handle of its own to reset
    }
  }

  /** Ends the connection (destroyed after a grace period if the peer does not close). */
  end(): void {
    const b = this.pausedBackend;
    if (b) {
      this.pausedBackend = null;
      b.resume();
    }
    // Buffered input is dropped now, not when the socket is finally destroyed, and nothing more is read.
    this.socket.removeListener('data', this.onData);
    if (this.raw) setRawReceiver(this.socket, null);
    this.framer.clear();
    if (this.z) {
      this.z.dropInput();
      this.z.flush();
    }
    this.budget.paused.delete(this);
    this.account();
    resumeWithinBudget(this.budget);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private attach(s: net.Socket): void {
    if (this.raw) setRawReceiver(s, this);
    else s.on('data', this.onData);
    s.on('error', this.onError);
    s.on('close', this.onClose);
    s.on('drain', this.onDrain);
  }

  /** A read of a raw-accepted socket (an owned copy). */
  onRawRead(chunk: Buffer): void {
    this.onData(chunk);
  }

  // Socket event handlers: a throw here would be an uncaught exception, so each ends only this session.
  private onData = (chunk: Buffer): void => {
    const h = this.host;
    setRunning(h);
    try {
      this.lastInput = Date.now();
      if (this.z) this.receive(chunk);
      else this.framer.push(chunk);
      h.onInput();
      this.account();
    } catch (e) {
      h.fault(e, 'client_input');
    }
    setRunning(null);
  };

  private receive(chunk: Buffer): void {
    if (this.inputError) return;
    try {
      (this.z as CompressedTransport).receive(chunk, this.pushPlain);
    } catch (e) {
      this.inputError = e as Error;
    }
  }

  private pushPlain = (b: Buffer): void => this.framer.push(b);

  private onError = (e: Error): void => {
    try {
      this.host.onSocketError(e);
    } catch (x) {
      this.host.fault(x, 'client_socket_error');
    }
  };

  private onClose = (): void => {
    try {
      this.host.onClosed();
    } catch (x) {
      this.host.fault(x, 'client_close');
    }
  };

  private onDrain = (): void => {
    const b = this.pausedBackend;
    if (b) {
      this.pausedBackend = null;
      b.resume();
    }
  };
}
