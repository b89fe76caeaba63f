/**
 * Splitting a COM_QUERY at its top-level statements, for the statements the proxy must answer
 * itself inside a multi-statement batch: `KILL [HARD|SOFT] [CONNECTION|QUERY] <id>` (the id is the
 * proxy's, mapped like a lone KILL) and, for a client without CLIENT_LOCAL_FILES, `LOAD DATA|XML
 * LOCAL INFILE` (refused with 4166 before the server runs it, as a server does). Everything else
 * runs on a backend, in runs of consecutive statements sent as they were written. Pure: no I/O.
 */

import { skipQuoted } from './lexer';

/** One top-level statement: `buf[start, end)` (without its terminating ';'). */
export interface BatchPart {
  start: number;
  end: number;
  /** A KILL of a connection id: the id and whether only the query is killed. */
  kill: { id: number; query: boolean } | null;
  /** LOAD DATA / LOAD XML ... LOCAL INFILE. */
  loadLocal: boolean;
  /** Holds code (false: only space or comments, an empty statement). */
  code: boolean;
}

/**
 * `none`: nothing the proxy must answer itself (send the batch as it is); `refuse`: a KILL the
 * proxy cannot map (KILL USER, KILL QUERY ID, an expression, a KILL inside procedural text or an
 * executable comment); `split`: the top-level statements.
 */
export type BatchSplit = { t: 'none' } | { t: 'refuse' } | { t: 'split'; parts: BatchPart[] };

/** What the session runs, in order: backend SQL, a KILL the proxy answers, or an error that ends the batch. */
export type BatchSegment =
  | { t: 'sql'; start: number; end: number }
  | { t: 'kill'; id: number; query: boolean }
  | { t: 'err'; errno: number; sqlState: string; message: string };

const PROGRAM_OBJECTS = new Set(['PROCEDURE', 'FUNCTION', 'TRIGGER', 'EVENT', 'PACKAGE']);
/** First words of MariaDB's compound statements outside stored programs (besides BEGIN NOT ATOMIC). */
const COMPOUND_FIRST = new Set(['IF', 'CASE', 'LOOP', 'WHILE', 'REPEAT', 'FOR']);
const MODIFIERS = new Set(['HARD', 'SOFT']);
const KILL_TYPES = new Set(['CONNECTION', 'QUERY']);

/** A code token of a statement: a word (upper-case), a number, or one punctuation character. */
interface Tok {
  w: string;
  /** Inside a /*! or /*M! executable comment. */
  exec: boolean;
}

/**
 * Splits `buf[start, end)` at its top-level ';' (outside strings, quoted names and comments; a ';'
 * inside an executable comment does not end a statement, as on the server, which rejects it).
 * A statement that is procedural text (CREATE PROCEDURE/FUNCTION/TRIGGER/EVENT, BEGIN NOT ATOMIC,
 * IF/CASE/LOOP/WHILE/REPEAT/FOR, a label) holds ';' of its own that this does not parse: such a
 * batch is not split, and any KILL word in it is refused.
 */
export function splitBatch(buf: Buffer, start: number, end: number, noBackslashEscapes = false): BatchSplit {
  const { parts, procedural, killWord, refuse } = scanParts(buf, start, end, noBackslashEscapes);
  if (procedural) return killWord ? { t: 'refuse' } : { t: 'none' };
  if (refuse) return { t: 'refuse' };
  if (!parts.some((p) => p.kill !== null || p.loadLocal)) return { t: 'none' };
  return { t: 'split', parts };
}

/** The top-level statements of a batch, or null when it holds procedural text (BEGIN ... END) whose ';' do not split it. */
export function statementParts(buf: Buffer, start: number, end: number, noBackslashEscapes = false): BatchPart[] | null {
  const r = scanParts(buf, start, end, noBackslashEscapes);
  return r.procedural ? null : r.parts.filter((p) => p.code);
}

function scanParts(buf: Buffer, start: number, end: number, noBackslashEscapes: boolean): { parts: BatchPart[]; procedural: boolean; killWord: boolean; refuse: boolean } {
  const parts: BatchPart[] = [];
  let procedural = false;
  let killWord = false;
  let refuse = false;
  let i = start;
  let partStart = start;
  let toks: Tok[] = [];
  let inExec = false;
  const close = (at: number) => {
    const p = classifyPart(toks);
    parts.push({ start: partStart, end: at, kill: p.kill, loadLocal: p.loadLocal, code: toks.length > 0 });
    if (p.procedural) procedural = true;
    if (p.killWord) killWord = true;
    if (p.refuse) refuse = true;
    toks = [];
  };
  while (i < end) {
    const c = buf[i];
    if (c === 0x27 || c === 0x22 || c === 0x60) {
      const e = skipQuoted(buf, i + 1, end, c, noBackslashEscapes);
      if (c === 0x60) toks.push({ w: '`', exec: inExec });
      else toks.push({ w: "'", exec: inExec });
      i = e;
      continue;
    }
    if (c === 0x23 || (c === 0x2d && buf[i + 1] === 0x2d && i + 2 <= end && (i + 2 === end || isSpace(buf[i + 2])))) {
      while (i < end && buf[i] !== 0x0a) i++;
      continue;
    }
    if (c === 0x2f && i + 1 < end && buf[i + 1] === 0x2a) {
      if (i + 2 < end && buf[i + 2] === 0x21) {
        i += 3;
        while (i < end && isDigit(buf[i])) i++;
        inExec = true;
        continue;
      }
      if (i + 3 < end && buf[i + 2] === 0x4d && buf[i + 3] === 0x21) {
        i += 4;
        while (i < end && isDigit(buf[i])) i++;
        inExec = true;
        continue;
      }
      const e = buf.indexOf('*/', i + 2, 'latin1');
      i = e < 0 || e >= end ? end : e + 2;
      continue;
    }
    if (c === 0x2a && inExec && buf[i + 1] === 0x2f && i + 1 < end) {
      inExec = false;
      i += 2;
      continue;
    }
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (c === 0x3b && !inExec) {
      close(i);
      i++;
      partStart = i;
      continue;
    }
    if (isWord(c) || isDigit(c)) {
      const s = i;
      while (i < end && (isWord(buf[i]) || isDigit(buf[i]))) i++;
      toks.push({ w: buf.toString('latin1', s, i).toUpperCase(), exec: inExec });
      continue;
    }
    toks.push({ w: String.fromCharCode(c), exec: inExec });
    i++;
  }
  if (toks.length > 0) close(end);
  // Empty statements at the end (';' followed by nothing but space and comments) are no statements.
  while (parts.length > 0 && !parts[parts.length - 1]!.code) parts.pop();
  return { parts, procedural, killWord, refuse };
}

function classifyPart(toks: Tok[]): { kill: BatchPart['kill']; loadLocal: boolean; procedural: boolean; killWord: boolean; refuse: boolean } {
  const out = { kill: null as BatchPart['kill'], loadLocal: false, procedural: false, killWord: false, refuse: false };
  if (toks.length === 0) return out;
  for (const t of toks) {
    if (t.w !== 'KILL') continue;
    out.killWord = true;
    // what an executable comment holds is not split or parsed here
    if (t.exec) out.refuse = true;
  }
  const w0 = toks[0]!.w;
  const w1 = toks[1]?.w;
  if (w1 === ':' && toks[2]?.w !== '=') out.procedural = true; // label: BEGIN NOT ATOMIC / LOOP ...
  else if (COMPOUND_FIRST.has(w0)) out.procedural = true;
  else if (w0 === 'BEGIN' && w1 === 'NOT') out.procedural = true;
  else if (w0 === 'CREATE' && toks.some((t) => PROGRAM_OBJECTS.has(t.w))) out.procedural = true;
  if (out.procedural) return out;
  if (w0 === 'KILL') {
    const k = parseKill(toks);
    if (k === null) out.refuse = true;
    else out.kill = k;
  } else if (w0 === 'LOAD') {
    for (const t of toks) {
      if (t.w === 'INFILE') break;
      if (t.w === 'LOCAL') out.loadLocal = true;
    }
  }
  return out;
}

/** `KILL [HARD|SOFT] [CONNECTION|QUERY] <digits>` and nothing else (no executable comment); null otherwise. */
function parseKill(toks: Tok[]): { id: number; query: boolean } | null {
  if (toks.some((t) => t.exec)) return null;
  let k = 1;
  if (toks[k] && MODIFIERS.has(toks[k]!.w)) k++;
  let query = false;
  if (toks[k] && KILL_TYPES.has(toks[k]!.w)) {
    query = toks[k]!.w === 'QUERY';
    k++;
  }
  const id = toks[k];
  if (!id || !/^[0-9]{1,10}$/.test(id.w) || k + 1 !== toks.length) return null;
  const n = Number(id.w);
  return n <= 0xffffffff ? { id: n, query } : null;
}

/**
 * The segments a split batch runs as: each ordinary statement is a backend segment of its own
 * (its original text; empty statements before it, with their separators, go with it), so the
 * session handles it as a lone COM_QUERY (diagnostics statements answered from the session's
 * capture, tenant statements the proxy answers itself); a KILL is answered by the proxy; a LOAD ... LOCAL
 * INFILE from a client that may not send files (`refuseLocal`) ends the batch with ERR 4166 where
 * it stands. Returns null when the batch needs nothing of the proxy (one backend segment).
 */
export function planBatch(parts: readonly BatchPart[], refuseLocal: boolean): BatchSegment[] | null {
  const out: BatchSegment[] = [];
  let sqlStart = -1;
  let sqlEnd = -1;
  /** The pending segment holds a statement with code (the next one starts a segment of its own). */
  let sqlCode = false;
  let special = false;
  const flush = () => {
    if (sqlStart >= 0) out.push({ t: 'sql', start: sqlStart, end: sqlEnd });
    sqlStart = -1;
    sqlCode = false;
  };
  for (const p of parts) {
    if (p.kill) {
      flush();
      out.push({ t: 'kill', id: p.kill.id, query: p.kill.query });
      special = true;
      continue;
    }
    if (p.loadLocal && refuseLocal) {
      flush();
      out.push({ t: 'err', errno: ER_LOAD_INFILE_CAPABILITY_DISABLED, sqlState: 'HY000', message: LOAD_INFILE_DISABLED_MESSAGE });
      return out;
    }
    if (sqlCode) flush();
    if (sqlStart < 0) sqlStart = p.start;
    sqlEnd = p.end;
    sqlCode = p.code;
  }
  flush();
  return special ? out : null;
}

/** What MariaDB answers a LOAD DATA LOCAL from a client without CLIENT_LOCAL_FILES. */
export const ER_LOAD_INFILE_CAPABILITY_DISABLED = 4166;
export const LOAD_INFILE_DISABLED_MESSAGE = 'The used command is not allowed because the MariaDB server or client has disabled the local infile capability';

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isWord(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x24 || c >= 0x80;
}
