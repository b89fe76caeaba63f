/**
 * Rig for the native fast lane tests: real loopback sockets. The lane gets the proxy's two sockets
 * (accepted with pauseOnConnect, so Node never reads them); the test plays the client and the
 * backend on the other ends and compares bytes exactly. Also MySQL packet builders.
 */
import * as net from 'node:net';
import { loadLaneNative, socketFd, type LaneNative } from '../../../src/io/lane-native';

export const native: LaneNative | null = loadLaneNative();

export const BOUNDS = new Float64Array([100, 1_000, 10_000, 100_000, 1_000_000]);
export const STRIDE = 8 + BOUNDS.length;
export const SLOTS = 64;
export const stats = new Float64Array(STRIDE * SLOTS);
export const info = new Float64Array(16);

export interface Eject {
  lane: number;
  reason: number;
  clientRest: Buffer | null;
  backendRest: Buffer | null;
  cmd: Buffer | null;
  info: number[];
}

const rigs = new Map<number, Rig>();
/** Ejects of lanes no rig owns (a test bug if any show up). */
export const strayEjects: Eject[] = [];
let inited = false;

function lane(): LaneNative {
  if (!native) throw new Error('native lane not built');
  if (!inited) {
    native.init(
      (id, reason, clientRest, backendRest, cmd) => {
        const e: Eject = { lane: id, reason, clientRest, backendRest, cmd, info: Array.from(info) };
        const rig = rigs.get(id);
        if (rig) rig.onEject(e);
        else strayEjects.push(e);
      },
      info,
      stats,
      STRIDE,
      BOUNDS,
    );
    inited = true;
  }
  return native;
}

/** Zeroes a stats slot. */
export function clearSlot(slot: number): void {
  stats.fill(0, slot * STRIDE, (slot + 1) * STRIDE);
}

export function slotStats(slot: number): number[] {
  return Array.from(stats.subarray(slot * STRIDE, (slot + 1) * STRIDE));
}

/** Accumulates everything a socket receives. */
export class Collector {
  private parts: Buffer[] = [];
  length = 0;
  private waiters: { n: number; resolve: () => void }[] = [];

  constructor(readonly sock: net.Socket) {
    sock.on('data', (b: Buffer) => {
      this.parts.push(b);
      this.length += b.length;
      this.waiters = this.waiters.filter((w) => (this.length >= w.n ? (w.resolve(), false) : true));
    });
  }

  bytes(): Buffer {
    if (this.parts.length !== 1) this.parts = [Buffer.concat(this.parts)];
    return this.parts[0] ?? Buffer.alloc(0);
  }

  /** Resolves once `n` bytes arrived in total; rejects after `ms` (a hang guard, not a timing check). */
  waitFor(n: number, ms = 10_000): Promise<Buffer> {
    if (this.length >= n) return Promise.resolve(this.bytes());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${n} bytes (have ${this.length})`)), ms);
      this.waiters.push({
        n,
        resolve: () => {
          clearTimeout(t);
          resolve(this.bytes());
        },
      });
    });
  }
}

async function pausedPair(): Promise<{ proxySide: net.Socket; peer: net.Socket }> {
  const server = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const peer = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  peer.on('error', () => {});
  await new Promise<void>((r, j) => {
    peer.once('connect', r);
    peer.once('error', j);
  });
  const proxySide = await accepted;
  proxySide.on('error', () => {});
  server.close();
  peer.setNoDelay(true);
  return { proxySide, peer };
}

let nextLaneId = 100;

export interface AttachOpts {
  table?: number;
  expectStatus?: number;
  slowUs?: number;
}

/** One client/proxy/backend triangle and one lane id. */
export class Rig {
  readonly ejects: Eject[] = [];
  private ejectWaiters: ((e: Eject) => void)[] = [];
  /** Called for each eject before it is queued (e.g. to re-attach inside onEject). */
  onEjectHook: ((e: Eject) => void) | null = null;
  readonly toClient: Collector;
  readonly toBackend: Collector;

  private constructor(
    readonly id: number,
    readonly client: net.Socket,
    readonly backend: net.Socket,
    readonly pc: net.Socket,
    readonly pb: net.Socket,
  ) {
    this.toClient = new Collector(client);
    this.toBackend = new Collector(backend);
    rigs.set(id, this);
  }

  static async create(): Promise<Rig> {
    const c = await pausedPair();
    const b = await pausedPair();
    return new Rig(nextLaneId++, c.peer, b.peer, c.proxySide, b.proxySide);
  }

  get lane(): LaneNative {
    return lane();
  }

  attach(opts: AttachOpts = {}): boolean {
    return lane().attach(this.id, socketFd(this.pc), socketFd(this.pb), opts.table ?? 0, opts.expectStatus ?? 0x0002, opts.slowUs ?? 0);
  }

  onEject(e: Eject): void {
    this.onEjectHook?.(e);
    const w = this.ejectWaiters.shift();
    if (w) w(e);
    else this.ejects.push(e);
  }

  /** The next eject of this lane (hang guard `ms`). */
  nextEject(ms = 10_000): Promise<Eject> {
    const e = this.ejects.shift();
    if (e) return Promise.resolve(e);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`lane ${this.id}: no eject within ${ms} ms`)), ms);
      this.ejectWaiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  }

  close(): void {
    if (native && inited) native.detach(this.id);
    rigs.delete(this.id);
    for (const s of [this.client, this.backend, this.pc, this.pb]) s.destroy();
  }
}

/** Lets the loop run a few turns (the lane works in poll callbacks). */
export async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---- MySQL packets -------------------------------------------------------------------------

export function pkt(seq: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUIntLE(payload.length, 0, 3);
  h[3] = seq & 0xff;
  return Buffer.concat([h, payload]);
}

/** Packets with consecutive sequence ids from `seq`. */
export function seqPackets(seq: number, payloads: Buffer[]): Buffer {
  return Buffer.concat(payloads.map((p, i) => pkt(seq + i, p)));
}

function lenencStr(s: string): Buffer {
  const b = Buffer.from(s, 'latin1');
  return Buffer.concat([Buffer.from([b.length]), b]);
}

export function colDef(name: string, type = 0x03): Buffer {
  return Buffer.concat([
    lenencStr('def'),
    lenencStr('db'),
    lenencStr('t'),
    lenencStr('t'),
    lenencStr(name),
    lenencStr(name),
    Buffer.from([0x0c, 0x3f, 0x00, 0x0b, 0x00, 0x00, 0x00, type, 0x00, 0x00, 0x00, 0x00, 0x00]),
  ]);
}

export function eofPayload(status: number, warnings = 0): Buffer {
  const b = Buffer.alloc(5);
  b[0] = 0xfe;
  b.writeUInt16LE(warnings, 1);
  b.writeUInt16LE(status, 3);
  return b;
}

export function okPayload(status = 0x0002): Buffer {
  return Buffer.from([0x00, 0x00, 0x00, status & 0xff, status >> 8, 0x00, 0x00]);
}

export function errPayload(code: number, msg: string): Buffer {
  const b = Buffer.alloc(3);
  b[0] = 0xff;
  b.writeUInt16LE(code, 1);
  return Buffer.concat([b, Buffer.from('#HY000' + msg, 'latin1')]);
}

/** A text-protocol row of string values. */
export function textRow(...vals: string[]): Buffer {
  return Buffer.concat(vals.map(lenencStr));
}

/** Result set payloads: column count, defs, EOF, rows, EOF(status). */
export function resultPayloads(cols: number, rows: Buffer[], status = 0x0002, coldefStatus = status): Buffer[] {
  const out: Buffer[] = [Buffer.from([cols])];
  for (let i = 0; i < cols; i++) out.push(colDef(`c${i}`));
  out.push(eofPayload(coldefStatus));
  out.push(...rows);
  out.push(eofPayload(status));
  return out;
}

/** The whole response (sequence ids from 1). */
export function resultSet(cols: number, rows: Buffer[], status = 0x0002): Buffer {
  return seqPackets(1, resultPayloads(cols, rows, status));
}

/** COM_STMT_EXECUTE payload; `params` = [type u16 LE bytes, value bytes] when bound = 1. */
export function execPayload(id: number, opts: { flags?: number; numParams?: number; bound?: number; types?: number[]; values?: Buffer } = {}): Buffer {
  const head = Buffer.alloc(10);
  head[0] = 0x17;
  head.writeUInt32LE(id >>> 0, 1);
  head[5] = opts.flags ?? 0;
  head.writeUInt32LE(1, 6);
  const n = opts.numParams ?? 0;
  if (n === 0) return head;
  const nullMap = Buffer.alloc((n + 7) >> 3);
  const bound = opts.bound ?? 1;
  return Buffer.concat([head, nullMap, Buffer.from([bound]), Buffer.from(bound === 1 ? (opts.types ?? []) : []), opts.values ?? Buffer.alloc(0)]);
}

export function queryPayload(sql: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x03]), typeof sql === 'string' ? Buffer.from(sql, 'latin1') : sql]);
}

/** The same packet with the statement id at payload[1..4] replaced. */
export function withId(packet: Buffer, id: number): Buffer {
  const b = Buffer.from(packet);
  b.writeUInt32LE(id >>> 0, 5);
  return b;
}
