import type * as net from 'node:net';
import * as tls from 'node:tls';
import { Frame, Framer } from '../protocol/framer';
import type { PacketWriter } from '../protocol/packet-writer';
import { COMPRESS_CHUNK, CompressedTransport } from './compressed-transport';

/** What the owner of a client connection hears from it. */
export interface ClientConnHost {
  /** New bytes were framed: pull frames with next(). */
  onInput(): void;
  /** The client socket closed. */
  onClosed(): void;
  /** Socket error (the close follows). */
  onSocketError(e: Error): void;
}

/** Bytes of pipelined client input buffered while a statement runs before the socket is paused. */
const CLIENT_HIGH_WATER = 1 << 20;

/**
 * The client side of a session's I/O: socket, framer, TLS upgrade, the compressed protocol and
 * backpressure in both directions. Every byte written to the client goes through
 * {@link ClientConn.write}; after {@link ClientConn.startCompression} that is the compressed
 * transport, and input is decoded before the framer sees it.
 */
export class ClientConn {
  socket: net.Socket;
  tls = false;
  readonly framer: Framer;
  /** A backend socket paused because the client could not keep up (resumed on drain). */
  private pausedBackend: net.Socket | null = null;
  /** The compressed transport, once a client that asked for CLIENT_COMPRESS has logged in. */
  private z: CompressedTransport | null = null;
  /** Compressed input that could not be decoded: thrown by the next {@link next} call; later input is dropped. */
  private inputError: Error | null = null;

  constructor(socket: net.Socket, maxPacket: number, private readonly host: ClientConnHost) {
    this.socket = socket;
    this.framer = new Framer(maxPacket);
    socket.setNoDelay(true);
    this.attach(socket);
  }

  /** The one way bytes reach the client (compressed once the session is). Returns false when the socket wants a drain. */
  write(b: Buffer): boolean {
    return this.z ? this.z.write(b) : this.socket.write(b);
  }

  /** Whether the compressed protocol is on. */
  get compressed(): boolean {
    return this.z !== null;
  }

  /**
   * Switches to the compressed protocol, as a server does right after the OK that ends login (that
   * OK itself goes out uncompressed). Bytes the client already sent after its login are decoded.
   * @param maxUncompressed most bytes one incoming compressed packet may inflate to
   */
  startCompression(maxUncompressed: number, level: number, minLength: number): void {
    if (this.z) return;
    this.z = new CompressedTransport(this.socket, maxUncompressed, level, COMPRESS_CHUNK, minLength);
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

  /** Stops reading client input while a statement runs and too much is already buffered. */
  throttleWhileBusy(): void {
    const buffered = this.framer.buffered + (this.z ? this.z.buffered : 0);
    if (buffered > CLIENT_HIGH_WATER && !this.socket.isPaused()) this.socket.pause();
  }

  pauseInput(): void {
    if (!this.socket.isPaused()) this.socket.pause();
  }

  resumeInput(): void {
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

  /** Ends the connection (destroyed after a grace period if the peer does not close). */
  end(): void {
    const b = this.pausedBackend;
    if (b) {
      this.pausedBackend = null;
      b.resume();
    }
    if (this.z) this.z.flush();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private attach(s: net.Socket): void {
    s.on('data', this.onData);
    s.on('error', this.onError);
    s.on('close', this.onClose);
    s.on('drain', this.onDrain);
  }

  private onData = (chunk: Buffer): void => {
    if (this.z) this.receive(chunk);
    else this.framer.push(chunk);
    this.host.onInput();
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
    this.host.onSocketError(e);
  };

  private onClose = (): void => {
    this.host.onClosed();
  };

  private onDrain = (): void => {
    const b = this.pausedBackend;
    if (b) {
      this.pausedBackend = null;
      b.resume();
    }
  };
}
