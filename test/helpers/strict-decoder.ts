/**
 * A strict decoder for server responses, for capability-matrix tests: every packet is decoded
 * field by field for the capabilities the client negotiated, and a missing or a trailing byte is
 * an error (real clients such as PHP mysqlnd and libmariadb are this strict; mysql2 is not).
 */
import { Cap, MariaCap, Status } from '../../src/protocol/constants';
import { PacketReader } from '../../src/protocol/packet-reader';

/** What a client negotiated that changes packet layout. */
export interface Negotiated {
  caps: number;
  mariaCaps: number;
}

/** Decoded form of one packet (enough to compare two servers' answers field by field). */
export type Decoded =
  | { t: 'ok'; header: number; affected: string; insertId: string; status: number; warnings: number; info: string; state: string | null }
  | { t: 'err'; errno: number; sqlState: string; message: string }
  | { t: 'eof'; warnings: number; status: number }
  | { t: 'count'; n: number }
  | { t: 'col'; schema: string; table: string; orgTable: string; name: string; orgName: string; ext: string | null; charset: number; length: number; type: number; flags: number; decimals: number; def?: string | null }
  | { t: 'row'; cells: (string | null)[] }
  | { t: 'binrow'; hex: string }
  | { t: 'prepare'; columns: number; params: number; warnings: number };

function done(r: PacketReader, what: string): void {
  if (r.remaining() !== 0) throw new Error(`${what}: ${r.remaining()} trailing byte(s): ${r.buf.subarray(r.pos, r.end).toString('hex')}`);
}

/** OK packet (header 0x00, or 0xFE ending a result under DEPRECATE_EOF). */
export function strictOk(p: Buffer, n: Negotiated): Decoded {
  const r = new PacketReader(p, 0, p.length);
  const header = r.u8();
  if (header !== 0 && header !== 0xfe) throw new Error(`OK: bad header 0x${header.toString(16)}`);
  const affected = String(r.lenencInt());
  const insertId = String(r.lenencInt());
  const status = r.u16();
  const warnings = r.u16();
  let info = '';
  let state: string | null = null;
  if (n.caps & Cap.SESSION_TRACK) {
    if (r.remaining() > 0) info = r.lenencString();
    if (status & Status.SESSION_STATE_CHANGED) state = r.lenencBytes().toString('hex');
  } else {
    if (status & Status.SESSION_STATE_CHANGED) throw new Error('OK: SESSION_STATE_CHANGED sent to a client without SESSION_TRACK');
    if (r.remaining() > 0) info = r.lenencString();
  }
  done(r, 'OK');
  return { t: 'ok', header, affected, insertId, status, warnings, info, state };
}

export function strictErr(p: Buffer): Decoded {
  const r = new PacketReader(p, 0, p.length);
  if (r.u8() !== 0xff) throw new Error('ERR: bad header');
  const errno = r.u16();
  if (r.u8() !== 0x23) throw new Error('ERR: no SQLSTATE marker');
  const sqlState = r.bytes(5).toString('latin1');
  const message = r.rest().toString('utf8');
  return { t: 'err', errno, sqlState, message };
}

export function strictEof(p: Buffer): Decoded {
  const r = new PacketReader(p, 0, p.length);
  if (r.u8() !== 0xfe) throw new Error('EOF: bad header');
  const warnings = r.u16();
  const status = r.u16();
  done(r, 'EOF');
  return { t: 'eof', warnings, status };
}

/** Column definition; `fieldList`: COM_FIELD_LIST adds the default value at the end. */
export function strictColumn(p: Buffer, n: Negotiated, fieldList = false): Decoded {
  const r = new PacketReader(p, 0, p.length);
  if (r.lenencString() !== 'def') throw new Error('column: catalog is not "def"');
  const schema = r.lenencString();
  const table = r.lenencString();
  const orgTable = r.lenencString();
  const name = r.lenencString();
  const orgName = r.lenencString();
  const ext = n.mariaCaps & MariaCap.EXTENDED_METADATA ? r.lenencBytes().toString('hex') : null;
  if (r.lenenc() !== 0x0c) throw new Error('column: fixed-fields length is not 0x0c');
  const charset = r.u16();
  const length = r.u32();
  const type = r.u8();
  const flags = r.u16();
  const decimals = r.u8();
  if (r.u16() !== 0) throw new Error('column: filler not zero');
  const out: Decoded = { t: 'col', schema, table, orgTable, name, orgName, ext, charset, length, type, flags, decimals };
  if (fieldList && r.remaining() > 0) out.def = r.buf[r.pos] === 0xfb ? (r.skip(1), null) : r.lenencString();
  done(r, 'column definition');
  return out;
}

export function strictTextRow(p: Buffer, columns: number): Decoded {
  const r = new PacketReader(p, 0, p.length);
  const cells: (string | null)[] = [];
  for (let i = 0; i < columns; i++) {
    const len = r.lenencOrNull();
    cells.push(len < 0 ? null : r.bytes(len).toString('utf8'));
  }
  done(r, 'text row');
  return { t: 'row', cells };
}

export function strictColumnCount(p: Buffer, n: Negotiated): Decoded {
  const r = new PacketReader(p, 0, p.length);
  const count = r.lenenc();
  // MariaDB's metadata-cache capability appends a flag byte; not negotiated by the proxy
  if (n.mariaCaps & MariaCap.CACHE_METADATA) r.u8();
  done(r, 'column count');
  return { t: 'count', n: count };
}

export function strictPrepareOk(p: Buffer): Decoded {
  const r = new PacketReader(p, 0, p.length);
  if (r.u8() !== 0) throw new Error('PREPARE_OK: bad header');
  r.u32();
  const columns = r.u16();
  const params = r.u16();
  if (r.u8() !== 0) throw new Error('PREPARE_OK: filler not zero');
  const warnings = r.u16();
  done(r, 'PREPARE_OK');
  return { t: 'prepare', columns, params, warnings };
}

/** Is this a result terminator for the client (EOF, or OK with 0xFE under DEPRECATE_EOF)? */
export function isTerminator(p: Buffer, n: Negotiated): boolean {
  return p.length > 0 && p[0] === 0xfe && (n.caps & Cap.DEPRECATE_EOF ? p.length < 0xffffff : p.length < 9);
}

function terminator(p: Buffer, n: Negotiated): Decoded {
  return n.caps & Cap.DEPRECATE_EOF ? strictOk(p, n) : strictEof(p);
}

function statusOf(d: Decoded): number {
  return d.t === 'ok' || d.t === 'eof' ? d.status : 0;
}

/** Reads one packet: [seq, payload]; seq -1 when the connection closed. */
export type ReadPacket = () => Promise<{ seq: number; payload: Buffer }>;

/** What response shape a command expects. */
export type Shape = 'result' | 'binary' | 'prepare' | 'fieldlist' | 'ok' | 'cursor' | 'fetch';

/**
 * Reads and strictly decodes the whole response to one command (following MORE_RESULTS), checking
 * sequence ids run 1, 2, 3, ... Returns the decoded packets plus the raw ones.
 */
export async function readStrict(read: ReadPacket, n: Negotiated, shape: Shape): Promise<{ decoded: Decoded[]; raw: [number, Buffer][] }> {
  const decoded: Decoded[] = [];
  const raw: [number, Buffer][] = [];
  let expectSeq = 1;
  const take = async (): Promise<Buffer> => {
    const f = await read();
    if (f.seq < 0) throw new Error('connection closed mid-response');
    if (f.seq !== (expectSeq & 0xff)) throw new Error(`sequence id ${f.seq}, expected ${expectSeq & 0xff}`);
    expectSeq++;
    raw.push([f.seq, f.payload]);
    return f.payload;
  };
  const push = (d: Decoded) => {
    decoded.push(d);
    return d;
  };
  const deprecate = (n.caps & Cap.DEPRECATE_EOF) !== 0;
  if (shape === 'prepare') {
    const p = await take();
    if (p[0] === 0xff) return push(strictErr(p)), { decoded, raw };
    const ok = push(strictPrepareOk(p)) as { columns: number; params: number };
    for (const count of [ok.params, ok.columns]) {
      if (count === 0) continue;
      for (let i = 0; i < count; i++) push(strictColumn(await take(), n));
      if (!deprecate) push(strictEof(await take()));
    }
    return { decoded, raw };
  }
  if (shape === 'cursor') {
    // EXECUTE that opened a cursor: column count, definitions, then one terminator and no rows
    const p = await take();
    if (p[0] === 0xff) return push(strictErr(p)), { decoded, raw };
    const cols = (push(strictColumnCount(p, n)) as { n: number }).n;
    for (let i = 0; i < cols; i++) push(strictColumn(await take(), n));
    push(terminator(await take(), n));
    return { decoded, raw };
  }
  if (shape === 'fetch') {
    for (;;) {
      const p = await take();
      if (p[0] === 0xff) return push(strictErr(p)), { decoded, raw };
      if (isTerminator(p, n)) return push(terminator(p, n)), { decoded, raw };
      push({ t: 'binrow', hex: p.toString('hex') });
    }
  }
  if (shape === 'fieldlist') {
    for (;;) {
      const p = await take();
      if (p[0] === 0xff) return push(strictErr(p)), { decoded, raw };
      if (isTerminator(p, n)) return push(terminator(p, n)), { decoded, raw };
      push(strictColumn(p, n, true));
    }
  }
  for (;;) {
    const p = await take();
    if (p[0] === 0xff) return push(strictErr(p)), { decoded, raw };
    if (p[0] === 0x00) {
      const ok = push(strictOk(p, n));
      if (shape !== 'ok' && statusOf(ok) & Status.MORE_RESULTS_EXISTS) continue;
      return { decoded, raw };
    }
    if (shape === 'ok') throw new Error(`expected OK/ERR, got 0x${p[0].toString(16)}`);
    if (isTerminator(p, n)) {
      // a bare terminator as the whole answer (COM_SET_OPTION): EOF, or OK with 0xFE under DEPRECATE_EOF
      push(terminator(p, n));
      return { decoded, raw };
    }
    const cols = (push(strictColumnCount(p, n)) as { n: number }).n;
    for (let i = 0; i < cols; i++) push(strictColumn(await take(), n));
    if (!deprecate) push(strictEof(await take()));
    let end: Decoded;
    for (;;) {
      const r = await take();
      if (r[0] === 0xff) return push(strictErr(r)), { decoded, raw };
      if (isTerminator(r, n)) {
        end = push(terminator(r, n));
        break;
      }
      push(shape === 'binary' ? { t: 'binrow', hex: r.toString('hex') } : strictTextRow(r, cols));
    }
    if (statusOf(end) & Status.MORE_RESULTS_EXISTS) continue;
    return { decoded, raw };
  }
}
