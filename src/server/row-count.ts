/**
 * ROW_COUNT() answers for the connection's previous statement. When a session's statement runs on a
 * backend connection whose previous statement was someone else's, the proxy substitutes the value
 * the session's own previous statement produced. A bare select item keeps its column name through
 * an alias, so `SELECT ROW_COUNT()` still returns a column named `ROW_COUNT()`.
 */
export function substituteRowCount(payload: Buffer, positions: number[], value: number | bigint): Buffer {
  return substituteCalls(payload, positions.map((at) => ({ at, value: rowCountExpr(value) })), 9);
}

/**
 * What replaces a ROW_COUNT() call: `COALESCE(value, ROW_COUNT())`, which keeps the call's type too
 * (BIGINT(21) NOT NULL; a bare `-1` is INT(2), seen in result metadata and in CREATE TABLE ... AS
 * SELECT). The server never evaluates the call there (COALESCE stops at its first non-NULL argument).
 */
export function rowCountExpr(value: number | bigint): string {
  return `COALESCE(${value}, ROW_COUNT())`;
}

/**
 * CONNECTION_ID() of a tenant session (whose backend account may not set pseudo_thread_id) as the
 * proxy's session id `id`, typed as the call is: INT(10) UNSIGNED NOT NULL in result metadata and in
 * CREATE TABLE ... AS SELECT (a bare literal is INT(n) signed, n its digits). Kept under the call's
 * column name when it is a select item.
 */
export function substituteConnectionId(payload: Buffer, positions: number[], id: number): Buffer {
  return substituteCalls(payload, positions.map((at) => ({ at, value: connectionIdExpr(id) })), 13);
}

/** `COALESCE(CAST(id AS UNSIGNED), CONNECTION_ID())`: the server never evaluates the call there. */
export function connectionIdExpr(id: number): string {
  return `COALESCE(CAST(${id} AS UNSIGNED), CONNECTION_ID())`;
}

/**
 * Replaces calls `NAME()` at the given byte offsets (in increasing order; NAME's length `nameLen`,
 * or the word found there; or the token up to `end` where given) by their `value`, kept under the call's column name when it is a select
 * item. Several functions in one pass: ROW_COUNT() and DATABASE()/SCHEMA() of one statement.
 */
export function substituteCalls(payload: Buffer, calls: Array<{ at: number; value: string; end?: number }>, nameLen = 0): Buffer {
  const parts: Buffer[] = [];
  let last = 0;
  const n = payload.length;
  for (const { at: pos, value, end: tokenEnd } of calls) {
    if (pos < last) continue;
    let end: number;
    if (tokenEnd !== undefined) end = tokenEnd; // a token that is not a call (a system variable)
    else {
      let j = pos + nameLen;
      if (nameLen === 0) while (j < n && isWordChar(payload[j])) j++;
      while (j < n && isSpace(payload[j])) j++;
      if (payload[j] !== 0x28) continue;
      j++;
      while (j < n && isSpace(payload[j])) j++;
      if (payload[j] !== 0x29) continue;
      end = j + 1;
    }
    const original = payload.toString('latin1', pos, end);
    const text = isSelectItem(payload, pos, end) ? `${value} AS \`${original.replace(/`/g, '``')}\`` : `(${value})`;
    parts.push(payload.subarray(last, pos), Buffer.from(text, 'latin1'));
    last = end;
  }
  if (parts.length === 0) return payload;
  parts.push(payload.subarray(last));
  return Buffer.concat(parts);
}

function isWordChar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x24;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function isSelectItem(p: Buffer, start: number, end: number): boolean {
  let i = start - 1;
  while (i >= 0 && isSpace(p[i])) i--;
  const before = i >= 0 ? p[i] : -1;
  const prevIsSelect = i >= 5 && p.toString('latin1', i - 5, i + 1).toUpperCase() === 'SELECT' && (i < 6 || !/[A-Za-z0-9_]/.test(String.fromCharCode(p[i - 6])));
  if (before !== 0x2c && !prevIsSelect) return false;
  let j = end;
  while (j < p.length && isSpace(p[j])) j++;
  if (j >= p.length || p[j] === 0x2c || p[j] === 0x3b) return true;
  return /^FROM\b/i.test(p.toString('latin1', j, j + 5));
}
