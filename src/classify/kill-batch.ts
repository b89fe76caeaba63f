import { Q, scanQuery } from './lexer';

/**
 * A multi-statement batch that starts with `KILL [CONNECTION|QUERY] <id>`, split so the proxy can
 * answer the KILL itself (mapping the id to its own sessions, as for a lone KILL) and send only the
 * rest to a backend. mysql2's pool tests send exactly this: `KILL ?; SELECT SLEEP(0.05)`.
 */
export interface KillBatch {
  killId: number;
  killQuery: boolean;
  /** The statements after the KILL (text without the separating ';'); null when only comments/space follow. */
  rest: Buffer | null;
}

/**
 * Splits `buf[start, end)` at the end of its first statement. Returns null unless the first
 * statement is a KILL of a connection id and no other statement of the batch is a KILL (KILL USER /
 * QUERY ID, and KILL later in the batch, are not split: the caller refuses those as before).
 * Pure: no I/O, no state.
 */
export function splitKillBatch(buf: Buffer, start: number, end: number): KillBatch | null {
  const cut = firstStatementEnd(buf, start, end);
  if (cut < 0) return null;
  const first = scanQuery(buf, start, cut);
  if (!(first.flags & Q.KILL) || first.killId < 0) return null;
  const restStart = cut + 1;
  const rest = hasCode(buf, restStart, end) ? buf.subarray(restStart, end) : null;
  // A second KILL in the rest would reach the backend with a backend-side id: not split, refused.
  if (rest !== null && scanQuery(rest, 0, rest.length).flags & Q.KILL) return null;
  return { killId: first.killId, killQuery: first.killQuery, rest };
}

/** Offset of the first ';' outside strings, quoted identifiers and comments; -1 if none. */
export function firstStatementEnd(buf: Buffer, start: number, end: number): number {
  let i = start;
  while (i < end) {
    const c = buf[i];
    if (c === 0x27 || c === 0x22 || c === 0x60) {
      i = skipQuoted(buf, i, end, c);
      continue;
    }
    if (c === 0x23 || (c === 0x2d && buf[i + 1] === 0x2d && i + 2 < end && isSpace(buf[i + 2]))) {
      i = skipLine(buf, i, end);
      continue;
    }
    if (c === 0x2f && buf[i + 1] === 0x2a && i + 1 < end) {
      // /*! ... */ and /*M! ... */ are executed by the server, but a ';' inside one still does not end a statement
      i = skipBlock(buf, i, end);
      continue;
    }
    if (c === 0x3b) return i;
    i++;
  }
  return -1;
}

function skipQuoted(buf: Buffer, i: number, end: number, q: number): number {
  i++;
  while (i < end) {
    const c = buf[i];
    if (c === 0x5c && q !== 0x60) {
      i += 2;
      continue;
    }
    if (c === q) {
      if (buf[i + 1] === q && i + 1 < end) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return end;
}

function skipLine(buf: Buffer, i: number, end: number): number {
  while (i < end && buf[i] !== 0x0a) i++;
  return i;
}

function skipBlock(buf: Buffer, i: number, end: number): number {
  i += 2;
  while (i + 1 < end && !(buf[i] === 0x2a && buf[i + 1] === 0x2f)) i++;
  return Math.min(end, i + 2);
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
}

/** Whether anything but whitespace, comments and ';' lies in `buf[i, end)`. */
function hasCode(buf: Buffer, i: number, end: number): boolean {
  while (i < end) {
    const c = buf[i];
    if (isSpace(c) || c === 0x3b) {
      i++;
      continue;
    }
    if (c === 0x23 || (c === 0x2d && buf[i + 1] === 0x2d && i + 2 < end && isSpace(buf[i + 2]))) {
      i = skipLine(buf, i, end);
      continue;
    }
    if (c === 0x2f && buf[i + 1] === 0x2a && !(buf[i + 2] === 0x21 || buf[i + 2] === 0x4d)) {
      i = skipBlock(buf, i, end);
      continue;
    }
    return true;
  }
  return false;
}
