/**
 * Wire-protocol fuzzer for the proxy (issue 5, section 3), shared by test/integration/fuzz.test.ts
 * (bounded) and scripts/fuzz.ts (long runs).
 *
 * Each case sends one mutated packet — a handshake response before login, or a command of any kind
 * after login, including prepared-statement sequences whose executes ran on two backend connections —
 * then checks the proxy answers or closes within a bound. Mutations: bit flips, truncation, extension,
 * huge/invalid length-encoded integers, filled ranges, random payloads, wrong sequence ids, frame
 * lengths past the end, empty packets, split writes, pipelined pairs. Meanwhile a canary session of
 * another user checks its own answers. The proxy runs as a child process: a crash is noticed, its
 * input recorded, and the proxy restarted.
 */
import * as net from 'node:net';
import mysql from 'mysql2/promise';
import { nativeToken } from '../../src/protocol/auth';
import { Cap, Com } from '../../src/protocol/constants';
import { buildHandshakeResponse, parseServerHandshake } from '../../src/protocol/handshake';
import { parseErrPayload } from '../../src/protocol/ok-err';
import { PacketWriter } from '../../src/protocol/packet-writer';
import { Prng } from './prng';
import type { ProxyProcess } from './proxy-process';

interface Packet {
  seq: number;
  payload: Buffer;
}

const CLOSED: Packet = { seq: -1, payload: Buffer.alloc(0) };

/** A minimal wire connection that tolerates anything the proxy sends or does. */
class Wire {
  private buf: Buffer = Buffer.alloc(0);
  private queue: Packet[] = [];
  private waiter: ((p: Packet) => void) | null = null;
  closed = false;

  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      while (this.buf.length >= 4) {
        const len = this.buf.readUIntLE(0, 3);
        if (this.buf.length < 4 + len) break;
        this.push({ seq: this.buf[3], payload: this.buf.subarray(4, 4 + len) });
        this.buf = this.buf.subarray(4 + len);
      }
    });
    sock.on('close', () => {
      this.closed = true;
      this.push(CLOSED);
    });
    sock.on('error', () => {});
  }

  private push(p: Packet): void {
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      w(p);
    } else this.queue.push(p);
  }

  static open(port: number, timeoutMs: number): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port });
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error('connect timeout'));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(t);
        resolve(new Wire(s));
      });
      s.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
  }

  /** The next packet, CLOSED once the socket closed, or null after `timeoutMs`. */
  next(timeoutMs: number): Promise<Packet | null> {
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    if (this.closed) return Promise.resolve(CLOSED);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiter = null;
        resolve(null);
      }, timeoutMs);
      this.waiter = (p) => {
        clearTimeout(t);
        resolve(p);
      };
    });
  }

  write(b: Buffer): void {
    if (!this.closed) this.sock.write(b);
  }

  end(): void {
    this.sock.end();
  }

  destroy(): void {
    this.sock.destroy();
  }
}

const CLIENT_CAPS = Cap.PROTOCOL_41 | Cap.SECURE_CONNECTION | Cap.PLUGIN_AUTH | Cap.LONG_PASSWORD | Cap.TRANSACTIONS |
  Cap.MULTI_RESULTS | Cap.PS_MULTI_RESULTS | Cap.MULTI_STATEMENTS | Cap.CONNECT_WITH_DB;

function frame(payload: Buffer, seq: number, length = payload.length): Buffer {
  const h = Buffer.alloc(4);
  h.writeUIntLE(Math.min(length, 0xffffff), 0, 3);
  h[3] = seq & 0xff;
  return Buffer.concat([h, payload]);
}

function payloadOf(w: PacketWriter): Buffer {
  return Buffer.from(w.finish(0).subarray(4));
}

/** Reads the initial handshake and returns a valid handshake-response payload for user/password. */
async function handshakeResponse(w: Wire, user: string, password: string, db: string, timeoutMs: number): Promise<Buffer | null> {
  const hs = await w.next(timeoutMs);
  if (!hs || hs.seq < 0 || hs.payload[0] !== 10) return null;
  const h = parseServerHandshake(hs.payload);
  return payloadOf(buildHandshakeResponse({
    capabilities: CLIENT_CAPS, mariaCaps: 0, collation: 45, user, authResponse: nativeToken(password, h.nonce), database: db,
    authPlugin: 'mysql_native_password',
  }));
}

/** Logs in; resolves the wire, or null when login failed. */
async function login(port: number, user: string, password: string, db: string, timeoutMs: number): Promise<Wire | null> {
  const w = await Wire.open(port, timeoutMs);
  const resp = await handshakeResponse(w, user, password, db, timeoutMs);
  if (!resp) {
    w.destroy();
    return null;
  }
  w.write(frame(resp, 1));
  const ok = await w.next(timeoutMs);
  if (!ok || ok.payload[0] !== 0) {
    w.destroy();
    return null;
  }
  return w;
}

/** Reads one complete response of a simple command (OK/ERR, or a result set up to its last EOF). */
async function readResponse(w: Wire, timeoutMs: number): Promise<'ok' | 'err' | 'rows' | 'closed' | 'timeout'> {
  let eofs = 0;
  let first = true;
  for (;;) {
    const p = await w.next(timeoutMs);
    if (!p) return 'timeout';
    if (p.seq < 0) return 'closed';
    const b = p.payload;
    if (first && b[0] === 0x00) return 'ok';
    if (b[0] === 0xff) return 'err';
    first = false;
    if (b[0] === 0xfe && b.length < 9) {
      eofs++;
      // Column definitions end with an EOF, rows with another (MORE_RESULTS: keep reading).
      if (eofs === 2) {
        if (b.length >= 5 && (b.readUInt16LE(3) & 0x08) !== 0) {
          eofs = 0;
          first = true;
          continue;
        }
        return 'rows';
      }
    }
  }
}

async function prepareStmt(w: Wire, sql: string, timeoutMs: number): Promise<{ id: number; params: number } | null> {
  w.write(frame(payloadOf(new PacketWriter().u8(Com.STMT_PREPARE).string(sql)), 0));
  const first = await w.next(timeoutMs);
  if (!first || first.seq < 0 || first.payload[0] !== 0) return null;
  const id = first.payload.readUInt32LE(1);
  const columns = first.payload.readUInt16LE(5);
  const params = first.payload.readUInt16LE(7);
  const defs = (params > 0 ? params + 1 : 0) + (columns > 0 ? columns + 1 : 0);
  for (let i = 0; i < defs; i++) if (!(await w.next(timeoutMs))) return null;
  return { id, params };
}

/** A valid COM_STMT_EXECUTE payload for one parameter: LONGLONG, VARCHAR, or no types sent. */
function executePayload(id: number, kind: 'longlong' | 'varchar' | 'notypes', v = 7): Buffer {
  const w = new PacketWriter().u8(Com.STMT_EXECUTE).u32(id).u8(0).u32(1).u8(0);
  if (kind === 'notypes') return payloadOf(w.u8(0).u32(v).u32(0));
  if (kind === 'longlong') return payloadOf(w.u8(1).u16(8).u32(v).u32(0));
  return payloadOf(w.u8(1).u16(253).lenencString(`v${v}`));
}

/** The payload of a valid command of each kind (ids refer to the connection's prepared statements). */
function commandPayloads(stmt: number, stmt2: number): Array<[string, Buffer]> {
  const p = (w: PacketWriter) => payloadOf(w);
  return [
    ['COM_QUERY', p(new PacketWriter().u8(Com.QUERY).string('SELECT 1, @a, DATABASE()'))],
    ['COM_QUERY set', p(new PacketWriter().u8(Com.QUERY).string("SET @a = 'fz', SESSION sql_mode = ''"))],
    ['COM_QUERY multi', p(new PacketWriter().u8(Com.QUERY).string('SELECT 1; SELECT 2'))],
    ['COM_QUERY kill', p(new PacketWriter().u8(Com.QUERY).string('KILL QUERY 1'))],
    ['COM_QUERY warnings', p(new PacketWriter().u8(Com.QUERY).string('SHOW WARNINGS'))],
    ['COM_INIT_DB', p(new PacketWriter().u8(Com.INIT_DB).string('sa'))],
    ['COM_FIELD_LIST', p(new PacketWriter().u8(Com.FIELD_LIST).nulString('t_0').string('%'))],
    ['COM_STATISTICS', p(new PacketWriter().u8(Com.STATISTICS))],
    ['COM_PING', p(new PacketWriter().u8(Com.PING))],
    ['COM_PROCESS_KILL', p(new PacketWriter().u8(Com.PROCESS_KILL).u32(1))],
    ['COM_SET_OPTION', p(new PacketWriter().u8(Com.SET_OPTION).u16(0))],
    ['COM_RESET_CONNECTION', p(new PacketWriter().u8(Com.RESET_CONNECTION))],
    ['COM_CHANGE_USER', p(new PacketWriter().u8(Com.CHANGE_USER).nulString('fz').u8(20).zeros(20).nulString('sa').u16(45).nulString('mysql_native_password').lenenc(0))],
    ['COM_STMT_PREPARE', p(new PacketWriter().u8(Com.STMT_PREPARE).string('SELECT ?, ?'))],
    ['COM_STMT_EXECUTE longlong', executePayload(stmt, 'longlong')],
    ['COM_STMT_EXECUTE varchar', executePayload(stmt, 'varchar')],
    ['COM_STMT_EXECUTE notypes', executePayload(stmt, 'notypes')],
    ['COM_STMT_EXECUTE no params', p(new PacketWriter().u8(Com.STMT_EXECUTE).u32(stmt2).u8(0).u32(1))],
    ['COM_STMT_EXECUTE cursor', p(new PacketWriter().u8(Com.STMT_EXECUTE).u32(stmt2).u8(1).u32(1))],
    ['COM_STMT_FETCH', p(new PacketWriter().u8(Com.STMT_FETCH).u32(stmt2).u32(1))],
    ['COM_STMT_SEND_LONG_DATA', p(new PacketWriter().u8(Com.STMT_SEND_LONG_DATA).u32(stmt).u16(0).string('long data'))],
    ['COM_STMT_RESET', p(new PacketWriter().u8(Com.STMT_RESET).u32(stmt))],
    ['COM_STMT_CLOSE', p(new PacketWriter().u8(Com.STMT_CLOSE).u32(0x7fff))],
    ['COM_SHUTDOWN', p(new PacketWriter().u8(Com.SHUTDOWN).u8(0))],
    ['COM_BINLOG_DUMP', p(new PacketWriter().u8(0x12).u32(4).u16(0).u32(1))],
    ['COM_REGISTER_SLAVE', p(new PacketWriter().u8(0x15).u32(1))],
    ['COM_DAEMON', p(new PacketWriter().u8(0x1d))],
    ['COM_MULTI', p(new PacketWriter().u8(0xfe).lenenc(2).u8(Com.PING).u8(0))],
    ['unknown 0xff', p(new PacketWriter().u8(0xff))],
  ];
}

type Op = 'flip' | 'truncate' | 'extend' | 'lenenc' | 'fill' | 'random' | 'seq' | 'frame-long' | 'empty' | 'split' | 'pipeline' | 'valid';
const OPS: Op[] = ['flip', 'flip', 'flip', 'truncate', 'truncate', 'extend', 'lenenc', 'lenenc', 'fill', 'random', 'seq', 'frame-long', 'empty', 'split', 'pipeline', 'valid'];

/** Bytes to send for one mutation of `payload`; `openEnded`: the proxy may rightly wait for more. */
function mutate(r: Prng, payload: Buffer, op: Op): { bytes: Buffer; openEnded: boolean; chunks?: number[] } {
  const p = Buffer.from(payload);
  const pos = (min = 0) => (p.length > min ? min + r.int(p.length - min) : 0);
  switch (op) {
    case 'flip': {
      const n = r.range(1, 4);
      for (let i = 0; i < n && p.length > 0; i++) {
        const at = r.chance(0.1) ? 0 : pos(1);
        p[at] ^= 1 << r.int(8);
      }
      return { bytes: frame(p, 0), openEnded: false };
    }
    case 'truncate':
      return { bytes: frame(p.subarray(0, r.int(Math.max(1, p.length))), 0), openEnded: false };
    case 'extend': {
      const extra = Buffer.alloc(r.range(1, 64));
      for (let i = 0; i < extra.length; i++) extra[i] = r.int(256);
      return { bytes: frame(Buffer.concat([p, extra]), 0), openEnded: false };
    }
    case 'lenenc': {
      const at = pos(1);
      const marker = r.pick([0xfb, 0xfc, 0xfd, 0xfe, 0xff]);
      const tail = Buffer.alloc(r.int(9), 0xff);
      const out = Buffer.concat([p.subarray(0, at), Buffer.from([marker]), tail, r.chance(0.5) ? p.subarray(at + 1) : Buffer.alloc(0)]);
      return { bytes: frame(out, 0), openEnded: false };
    }
    case 'fill': {
      const a = pos(1);
      const b = Math.min(p.length, a + r.range(1, 16));
      p.fill(r.chance(0.5) ? 0x00 : 0xff, a, b);
      return { bytes: frame(p, 0), openEnded: false };
    }
    case 'random': {
      const out = Buffer.alloc(r.int(100) + 1);
      for (let i = 1; i < out.length; i++) out[i] = r.int(256);
      out[0] = p[0];
      return { bytes: frame(out, 0), openEnded: false };
    }
    case 'seq':
      return { bytes: frame(p, r.range(1, 255)), openEnded: false };
    case 'frame-long':
      return { bytes: frame(p, 0, r.chance(0.3) ? 0xffffff : p.length + r.range(1, 1000)), openEnded: true };
    case 'empty':
      return { bytes: frame(Buffer.alloc(0), 0), openEnded: false };
    case 'split': {
      const bytes = frame(p, 0);
      const cuts = [r.int(bytes.length), r.int(bytes.length)].sort((x, y) => x - y);
      return { bytes, openEnded: false, chunks: cuts };
    }
    case 'pipeline': {
      const q = Buffer.from(payload);
      if (q.length > 1) q[1 + r.int(q.length - 1)] ^= 1 << r.int(8);
      return { bytes: Buffer.concat([frame(p, 0), frame(q, 0)]), openEnded: false };
    }
    case 'valid':
      return { bytes: frame(p, 0), openEnded: false };
  }
}

/** One case as run: what was sent and what came of it. */
export interface CaseRecord {
  n: number;
  kind: string;
  op: Op | 'issue';
  hex: string;
  outcome: 'answered' | 'closed' | 'hang' | 'sync-error' | 'login-failed';
}

export interface FuzzFinding {
  /**
   * canary-wrong: a wrong answer to the canary (never acceptable); canary-lost: its connection died;
   * canary-error: any other error (e.g. no backend connection within acquire_timeout_ms while fuzz
   * sessions pin the small pool); session-broken: after the case, the fuzz session's own next
   * statement failed (its state could not be restored on a backend connection).
   */
  what: 'crash' | 'hang' | 'canary-wrong' | 'canary-lost' | 'canary-error' | 'session-broken';
  case: number;
  detail: string;
  /** The inputs of the last cases before the finding (exact bytes, hex). */
  inputs: Array<Pick<CaseRecord, 'n' | 'kind' | 'op' | 'hex'>>;
}

export interface FuzzOptions {
  seed: number;
  cases: number;
  /** The running proxy; replaced through `restart` after a crash. */
  proc: ProxyProcess;
  restart: () => Promise<ProxyProcess>;
  user: string;
  password: string;
  db: string;
  canary: { user: string; password: string; db: string; rows: number };
  /** Bound for each answer (default 3000 ms). */
  timeoutMs?: number;
  /** Stop restarting after this many crashes (default 5). */
  maxCrashes?: number;
  progress?: (done: number, report: FuzzReport) => void;
  /**
   * Chance that a command case first runs a few plain statements back to back (text SELECTs and
   * executes), so that a native fast lane has taken the session over when the mutated packet comes
   * (README "Fast lane"). Default 0. Decided by its own PRNG: the cases stay those of the seed.
   */
  laneWarmup?: number;
}

export interface FuzzReport {
  seed: number;
  cases: number;
  outcomes: Record<string, number>;
  /** Milliseconds spent per case kind (preauth, ps-multi, command). */
  msByKind: Record<string, number>;
  findings: FuzzFinding[];
  canaryChecks: number;
  rssKb: { baseline: number | null; peak: number | null; end: number | null };
  /**
   * The proxy's "memory" reports (SIGUSR2: process.memoryUsage() after a full GC when it runs with
   * --expose-gc, and the sizes of its long-lived maps) at the baseline (case 100), the one with the
   * largest heap among those taken every 5000 cases, and at the end (taken by the caller).
   */
  memory: { baseline: Record<string, number> | null; peak: Record<string, number> | null; end: Record<string, number> | null };
  ms: number;
}

/** The canary: another user's session whose own state must stay exact throughout. */
class Canary {
  checks = 0;
  private conn: mysql.Connection | null = null;
  private token = `canary-${Math.random().toString(36).slice(2)}`;
  private stopped = false;
  problems: Array<{ what: 'canary-wrong' | 'canary-lost' | 'canary-error'; detail: string }> = [];

  constructor(private readonly opts: FuzzOptions['canary']) {}

  async start(port: number): Promise<void> {
    this.conn = await mysql.createConnection({ host: '127.0.0.1', port, user: this.opts.user, password: this.opts.password, database: this.opts.db });
    this.conn.on('error', () => {});
    await this.conn.query('SET @canary = ?', [this.token]);
    this.stopped = false;
    this.dead = false;
  }

  private inFlight: Promise<void> | null = null;
  private dead = false;
  private i = 0;

  isDead(): boolean {
    return this.dead;
  }

  /** Starts one check unless one is still running: the canary runs alongside the fuzz cases. */
  kick(): void {
    if (this.inFlight || this.dead || this.stopped || !this.conn) return;
    this.inFlight = this.check(this.conn).finally(() => (this.inFlight = null));
  }

  private async check(c: mysql.Connection): Promise<void> {
    const i = ++this.i;
    const execute = i % 2 === 1;
    try {
      // CONNECTION_ID() only over text: its prepared form is a separate known defect (session-isolation).
      const sql = execute
        ? 'SELECT @canary AS c, DATABASE() AS db, COUNT(*) AS n, ? AS echo FROM canary_t'
        : 'SELECT @canary AS c, DATABASE() AS db, COUNT(*) AS n, ? AS echo, CONNECTION_ID() AS id FROM canary_t';
      const [rows] = execute ? await c.execute(sql, [i]) : await c.query(sql, [i]);
      const got = (rows as Array<Record<string, unknown>>)[0];
      const want: Record<string, unknown> = { c: this.token, db: this.opts.db, n: this.opts.rows, echo: i };
      if (!execute) want.id = c.threadId;
      const norm = { ...got, n: Number(got.n), echo: Number(got.echo), ...(execute ? {} : { id: Number(got.id) }) };
      if (JSON.stringify(norm) !== JSON.stringify(want)) this.problems.push({ what: 'canary-wrong', detail: `got ${JSON.stringify(norm)}, want ${JSON.stringify(want)}` });
      this.checks++;
    } catch (e) {
      if (this.stopped) return;
      const fatal = (e as { fatal?: boolean }).fatal === true;
      this.problems.push({ what: fatal ? 'canary-lost' : 'canary-error', detail: (e as Error).message });
      // A canary whose connection died is restarted by the fuzzer.
      if (fatal) this.dead = true;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.inFlight?.catch(() => undefined);
    this.conn?.destroy();
    this.conn = null;
  }
}

/** Runs the fuzz cases; never throws for proxy misbehaviour, reports it. */
export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const t0 = Date.now();
  const r = new Prng(o.seed);
  const rw = new Prng((o.seed ^ 0x3c6ef372) >>> 0);
  const timeoutMs = o.timeoutMs ?? 3000;
  const report: FuzzReport = { seed: o.seed, cases: 0, outcomes: {}, msByKind: {}, findings: [], canaryChecks: 0, rssKb: { baseline: null, peak: null, end: null }, memory: { baseline: null, peak: null, end: null }, ms: 0 };
  const recent: CaseRecord[] = [];
  let proc = o.proc;
  let crashes = 0;
  const canary = new Canary(o.canary);
  await canary.start(proc.port);
  let session: { w: Wire; stmt: number; stmt2: number } | null = null;

  const inputs = () => recent.slice(-3).map(({ n, kind, op, hex }) => ({ n, kind, op, hex }));
  const record = (c: CaseRecord) => {
    recent.push(c);
    if (recent.length > 10) recent.shift();
    report.outcomes[c.outcome] = (report.outcomes[c.outcome] ?? 0) + 1;
  };
  const freshSession = async (): Promise<{ w: Wire; stmt: number; stmt2: number } | null> => {
    const w = await login(proc.port, o.user, o.password, o.db, timeoutMs).catch(() => null);
    if (!w) return null;
    const a = await prepareStmt(w, 'SELECT ?', timeoutMs);
    const b = await prepareStmt(w, 'SELECT id, v FROM t_0', timeoutMs);
    if (!a || !b) {
      w.destroy();
      return null;
    }
    return { w, stmt: a.id, stmt2: b.id };
  };
  /** Sends the sync query; resolves when its row came back, the socket closed, or the bound passed. */
  const syncErrors: string[] = [];
  const sync = async (w: Wire, n: number): Promise<'answered' | 'closed' | 'hang' | 'sync-error'> => {
    const tok = `zz${n}sync`;
    w.write(frame(payloadOf(new PacketWriter().u8(Com.QUERY).string(`SELECT '${tok}'`)), 0));
    const row = Buffer.concat([Buffer.from([tok.length]), Buffer.from(tok)]);
    let last: Buffer | null = null;
    for (;;) {
      const p = await w.next(timeoutMs);
      // Answers that end in an ERR and then silence: the sync query itself failed (the session is
      // broken, e.g. its state cannot be restored): the proxy did answer, but that is worth a report.
      if (!p) {
        if (last && last[0] === 0xff) {
          syncErrors.push(parseErrPayload(last).message);
          return 'sync-error';
        }
        return 'hang';
      }
      if (p.seq < 0) return 'closed';
      last = p.payload;
      if (p.payload.equals(row)) {
        const end = await w.next(timeoutMs);
        return end === null ? 'hang' : end.seq < 0 ? 'closed' : 'answered';
      }
    }
  };
  const waitClose = async (w: Wire): Promise<'closed' | 'hang'> => {
    w.end();
    for (;;) {
      const p = await w.next(timeoutMs);
      if (!p) return 'hang';
      if (p.seq < 0) return 'closed';
    }
  };

  for (let n = 1; n <= o.cases; n++) {
    if (n === 100) {
      report.rssKb.baseline = proc.rssKb();
      report.memory.baseline = await proc.memory();
    } else if (n % 5000 === 0 && n < o.cases) {
      // Not at the last case: a forced GC just before the load stops keeps V8 from shrinking the heap later.
      const m = await proc.memory();
      if (m && (report.memory.peak === null || m.heapUsed > report.memory.peak.heapUsed)) report.memory.peak = m;
    }
    canary.kick();
    const caseStart = Date.now();
    const roll = r.next();
    let rec: CaseRecord;
    if (roll < 0.12) {
      // Pre-auth: a mutated handshake response on a fresh connection, then our side closes.
      const op = r.pick(OPS);
      const w = await Wire.open(proc.port, timeoutMs).catch(() => null);
      const valid = w ? await handshakeResponse(w, o.user, o.password, o.db, timeoutMs) : null;
      if (!w || !valid) {
        w?.destroy();
        rec = { n, kind: 'preauth', op, hex: '', outcome: 'login-failed' };
      } else {
        const m = mutate(r, valid, op);
        // The handshake response has sequence id 1.
        const bytes = op === 'seq' ? m.bytes : Buffer.concat([m.bytes.subarray(0, 3), Buffer.from([1]), m.bytes.subarray(4)]);
        w.write(bytes);
        // A frame announcing more bytes than sent may rightly wait for them: close our side instead.
        const first = m.openEnded ? null : await w.next(timeoutMs);
        const outcome = m.openEnded ? await waitClose(w) : first === null ? 'hang' : first.seq < 0 ? 'closed' : 'answered';
        w.destroy();
        rec = { n, kind: 'preauth', op, hex: bytes.toString('hex'), outcome };
      }
    } else if (roll < 0.15) {
      rec = await psMultiCase(n);
    } else {
      if (!session || session.w.closed) {
        session?.w.destroy();
        session = await freshSession();
      }
      const kinds = session ? commandPayloads(session.stmt, session.stmt2) : [];
      const op = r.pick(OPS);
      const [kind, payload] = kinds.length ? r.pick(kinds) : ['none', Buffer.alloc(0)];
      if (!session) rec = { n, kind, op, hex: '', outcome: 'login-failed' };
      else {
        const m = mutate(r, payload, op);
        const w = session.w;
        if (o.laneWarmup !== undefined && rw.chance(o.laneWarmup)) await laneWarmup(w, session.stmt, session.stmt2, n);
        if (m.chunks) {
          const [a, b] = m.chunks;
          w.write(m.bytes.subarray(0, a));
          await new Promise((res) => setImmediate(res));
          w.write(m.bytes.subarray(a, b));
          w.write(m.bytes.subarray(b));
        } else w.write(m.bytes);
        const outcome = m.openEnded ? await waitClose(w) : await sync(w, n);
        if (outcome !== 'answered') {
          w.destroy();
          session = null;
        }
        rec = { n, kind, op, hex: m.bytes.toString('hex'), outcome };
      }
    }
    record(rec);
    if (process.env.FUZZ_TRACE) console.log(`#${n} ${rec.kind} / ${rec.op} -> ${rec.outcome}: ${rec.hex.slice(0, 200)}`);
    const k = rec.kind === 'preauth' ? `preauth ${rec.op}` : rec.kind === 'ps-multi' ? rec.kind : rec.outcome === 'answered' ? 'command' : 'command+relogin';
    report.msByKind[k] = (report.msByKind[k] ?? 0) + Date.now() - caseStart;
    report.cases = n;
    const rss = proc.rssKb();
    if (rss !== null && (report.rssKb.peak === null || rss > report.rssKb.peak)) report.rssKb.peak = rss;
    if (!proc.alive()) {
      crashes++;
      report.findings.push({ what: 'crash', case: n, detail: `proxy exited ${JSON.stringify(proc.exit)}\n${proc.output().slice(-3000)}`, inputs: inputs() });
      session = null;
      await canary.stop();
      if (crashes >= (o.maxCrashes ?? 5)) break;
      proc = await o.restart();
      await canary.start(proc.port);
    } else if (rec.outcome === 'sync-error') {
      report.findings.push({ what: 'session-broken', case: n, detail: `the next statement failed: ${syncErrors.splice(0).join('; ')}`, inputs: inputs() });
    } else if (rec.outcome === 'hang') {
      report.findings.push({ what: 'hang', case: n, detail: `no answer and no close within ${timeoutMs} ms`, inputs: inputs() });
    }
    for (const p of canary.problems.splice(0)) {
      report.findings.push({ what: p.what, case: n, detail: p.detail, inputs: inputs() });
      if (proc.alive() && canary.isDead()) {
        await canary.stop();
        await canary.start(proc.port).catch(() => undefined);
      }
    }
    report.canaryChecks = canary.checks;
    o.progress?.(n, report);
  }
  session?.w.destroy();
  report.canaryChecks = canary.checks;
  await canary.stop();
  for (const p of canary.problems.splice(0)) report.findings.push({ what: p.what, case: report.cases, detail: p.detail, inputs: inputs() });
  report.ms = Date.now() - t0;
  (o as { proc: ProxyProcess }).proc = proc;
  return report;

  /** Plain statements back to back (answers not checked: the sync query after the case is). */
  async function laneWarmup(w: Wire, stmt: number, stmt2: number, n: number): Promise<void> {
    const k = rw.range(2, 5);
    for (let i = 0; i < k; i++) {
      const pick = rw.int(3);
      if (pick === 0) w.write(frame(payloadOf(new PacketWriter().u8(Com.QUERY).string(`SELECT 'w${n}' AS a, ${i} AS b`)), 0));
      else if (pick === 1) w.write(frame(executePayload(stmt, 'longlong', i), 0));
      else w.write(frame(payloadOf(new PacketWriter().u8(Com.STMT_EXECUTE).u32(stmt2).u8(0).u32(1)), 0));
      const res = await readResponse(w, timeoutMs);
      if (res === 'closed' || res === 'timeout') return;
    }
  }

  /**
   * The issue's crash sequence, generalised: prepare `SELECT ?`, execute with LONGLONG, pin the
   * backend connection it used with another session's BEGIN, execute with VARCHAR (so it runs on the
   * other backend connection), release, then a mutated execute (one time in three the exact 11-byte
   * truncated COM_STMT_EXECUTE of the issue).
   */
  async function psMultiCase(n: number): Promise<CaseRecord> {
    const issue = r.chance(0.33);
    const op: Op = r.pick(OPS.filter((x) => x !== 'frame-long'));
    const variant = r.pick(['longlong', 'varchar', 'notypes'] as const);
    const w = await login(proc.port, o.user, o.password, o.db, timeoutMs).catch(() => null);
    const holder = await login(proc.port, o.user, o.password, o.db, timeoutMs).catch(() => null);
    const st = w ? await prepareStmt(w, 'SELECT ?', timeoutMs) : null;
    if (!w || !holder || !st) {
      w?.destroy();
      holder?.destroy();
      return { n, kind: 'ps-multi', op: issue ? 'issue' : op, hex: '', outcome: 'login-failed' };
    }
    w.write(frame(executePayload(st.id, 'longlong', 1), 0));
    await readResponse(w, timeoutMs);
    holder.write(frame(payloadOf(new PacketWriter().u8(Com.QUERY).string('BEGIN')), 0));
    await readResponse(holder, timeoutMs);
    w.write(frame(executePayload(st.id, 'varchar', 2), 0));
    await readResponse(w, timeoutMs);
    holder.write(frame(payloadOf(new PacketWriter().u8(Com.QUERY).string('COMMIT')), 0));
    await readResponse(holder, timeoutMs);
    holder.destroy();
    let bytes: Buffer;
    if (issue) {
      const p = Buffer.from('17' + '01000000' + '00' + '01000000' + '00', 'hex');
      p.writeUInt32LE(st.id, 1);
      bytes = frame(p, 0);
    } else bytes = mutate(r, executePayload(st.id, variant, 3), op).bytes;
    w.write(bytes);
    const outcome = await sync(w, n);
    w.destroy();
    return { n, kind: 'ps-multi', op: issue ? 'issue' : op, hex: bytes.toString('hex'), outcome };
  }
}

/** Setup SQL for the fuzz server: the fuzz user's schema and the canary's. */
export const FUZZ_SETUP_SQL = [
  'CREATE DATABASE sa',
  'CREATE TABLE sa.t_0 (id INT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL)',
  'INSERT INTO sa.t_0 (v) VALUES (1), (2), (3)',
  'CREATE DATABASE sb',
  'CREATE TABLE sb.canary_t (id INT PRIMARY KEY)',
  'INSERT INTO sb.canary_t VALUES (1), (2), (3)',
];

/** Proxy options for the fuzz run over a server on `port`: a pool of 3, the fuzz user and the canary. */
export function fuzzProxyOpts(port: number): import('./proxy').StartProxyOpts {
  return {
    // Three: the multi-connection prepared-statement cases pin one and need another, the canary a third.
    backends: [{ name: 'b1', port, maxConnections: 3, acquireTimeoutMs: 3000 }],
    // Mutated logins fail by the thousand from one address: throttling them would block every later case
    // (and the canary) and turn the fuzz run into a test of the login throttle.
    server: { login_throttle: { free_failures: 1_000_000, block_after_failures: 1_000_000 } },
    users: [
      { name: 'fz', password: 'fz', defaultSchema: 'sa' },
      { name: 'canary', password: 'canary', defaultSchema: 'sb' },
    ],
  };
}

export const FUZZ_USERS = {
  user: 'fz', password: 'fz', db: 'sa',
  canary: { user: 'canary', password: 'canary', db: 'sb', rows: 3 },
} as const;

/** A human-readable summary of a report (printed by the script and on test failure). */
export function formatReport(rep: FuzzReport): string {
  const lines = [
    `seed ${rep.seed}: ${rep.cases} cases in ${rep.ms} ms; outcomes ${JSON.stringify(rep.outcomes)}; ms by kind ${JSON.stringify(rep.msByKind)}; canary checks ${rep.canaryChecks}`,
    `RSS KiB: baseline ${rep.rssKb.baseline}, peak ${rep.rssKb.peak}, end ${rep.rssKb.end}`,
    `memory (after GC) baseline: ${memLine(rep.memory.baseline)}`,
    `memory (after GC) peak heap: ${memLine(rep.memory.peak)}`,
    `memory (after GC) end: ${memLine(rep.memory.end)}`,
    `findings: ${rep.findings.length}`,
  ];
  for (const f of rep.findings.slice(0, 20)) {
    lines.push(`- ${f.what} at case ${f.case}: ${f.detail.split('\n').slice(0, 12).join('\n    ')}`);
    for (const i of f.inputs) lines.push(`    input #${i.n} ${i.kind} / ${i.op}: ${i.hex.slice(0, 400)}`);
  }
  return lines.join('\n');
}

const MIB = ['rss', 'heapUsed', 'heapTotal', 'external', 'arrayBuffers'];

/** One memory report: the byte figures in MiB, then the proxy's counts. */
function memLine(m: Record<string, number> | null): string {
  if (m === null) return 'none';
  const mib = MIB.map((k) => `${k} ${(m[k] / 1048576).toFixed(1)} MiB`);
  const skip = new Set([...MIB, 'level', 'time', 'pid', 'hostname', 'msg']);
  const counts = Object.entries(m).filter(([k]) => !skip.has(k)).map(([k, v]) => `${k} ${v}`);
  return [...mib, ...counts].join(', ');
}
