import { ColumnType } from '../protocol/column';
import type { InternalResult } from '../backend/internal-exchange';
import type { CollationInfo } from '../backend/pool';

/**
 * Variables the proxy manages itself and never copies between connections: session tracking
 * (the proxy needs '*' on every backend connection) and pseudo_thread_id (what CONNECTION_ID()
 * returns, set per statement that asks for it).
 */
export const UNMANAGED_VARS = new Set([
  'session_track_system_variables',
  'session_track_schema',
  'session_track_state_change',
  'session_track_transaction_info',
  'pseudo_thread_id',
]);

/**
 * The SET the proxy runs on every new backend connection so that OK packets report state changes.
 * session_track_state_change=ON makes the server flag (SERVER_SESSION_STATE_CHANGED, on OK and EOF
 * packets alike) every statement that changed session state, also from inside stored functions,
 * triggers and views: see session/state-change.ts. Clients see the flag only if they ask for it.
 */
export const TRACKING_INIT_SQL =
  "SET SESSION session_track_system_variables='*', session_track_schema=ON, session_track_state_change=ON, session_track_transaction_info=OFF";

/** Records `name = value` into a map of non-default values. Returns true if the map changed. */
export function recordVar(map: Map<string, string>, defaults: Map<string, string> | null, name: string, value: string): boolean {
  const def = defaults ? defaults.get(name) : undefined;
  if (def !== undefined && def === value) return map.delete(name);
  if (map.get(name) === value) return false;
  map.set(name, value);
  return true;
}

const NUMERIC = /^-?\d+(\.\d+)?$/;
const NAME = /^[a-z0-9_]+$/;
const NULLABLE = new Set(['character_set_results', 'character_set_client', 'character_set_connection']);

/** SQL for a tracked value: numbers bare, NULL for nullable charset variables, else a quoted string. */
export function sqlValue(name: string, value: string): string {
  if (NUMERIC.test(value)) return value;
  if ((value === '' || value === 'NULL') && NULLABLE.has(name)) return 'NULL';
  return quote(value);
}

export function quote(s: string): string {
  return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\0/g, '\\0') + "'";
}

function rank(name: string): number {
  if (name.startsWith('character_set')) return 0;
  if (name.startsWith('collation')) return 1;
  return 2;
}

/**
 * Assignments that turn a connection whose non-default variables are `have` into one whose are
 * `want`. Empty when they already agree.
 */
export function varAssignments(want: Map<string, string>, have: Map<string, string>, defaults: Map<string, string> | null): string[] {
  const names: string[] = [];
  for (const [k, v] of want) if (have.get(k) !== v) names.push(k);
  for (const k of have.keys()) if (!want.has(k)) names.push(k);
  if (names.length === 0) return names;
  names.sort((a, b) => rank(a) - rank(b));
  const out: string[] = [];
  for (const k of names) {
    if (!NAME.test(k)) continue;
    const v = want.get(k) ?? defaults?.get(k);
    out.push(v === undefined ? `SESSION ${k}=DEFAULT` : `SESSION ${k}=${sqlValue(k, v)}`);
  }
  return out;
}

/**
 * The query that reads user variables back exactly: each value, its bytes in hex and its collation.
 * The value's own column would be converted to (and labelled with) character_set_results, which may
 * be latin1 or binary on the session that set it: the hex and the collation are not.
 */
export function userVarReadSql(names: string[]): string {
  return `SELECT ${names.map((n) => { const r = userVarRef(n); return `${r}, HEX(${r}), COLLATION(${r})`; }).join(', ')}`;
}

/**
 * SQL literals that recreate user variables exactly (type, charset and bytes), from the result of
 * {@link userVarReadSql} run on the connection that set them. Each is a byte string (one char per
 * byte): most are ASCII; a string not well formed in its charset carries its raw bytes (see
 * rawStringLiteral).
 */
export function userVarLiterals(res: InternalResult, collations: Map<number, CollationInfo> | null): string[] {
  // no row (the read failed): nothing known, the variables are dropped from the session's state
  const row = res.rows[0] ?? null;
  const byName = new Map<string, CollationInfo>();
  if (collations) for (const c of collations.values()) byName.set(c.name.toLowerCase(), c);
  const out: string[] = [];
  for (let i = 0; i + 2 < res.columns.length; i += 3) {
    const col = res.columns[i];
    if (row === null) {
      out.push('NULL');
      continue;
    }
    const cell = row[i] ?? null;
    if (cell === null) {
      out.push(typedNull(col.type, col.flags, (row[i + 2] ?? Buffer.alloc(0)).toString('latin1').toLowerCase(), byName));
      continue;
    }
    const text = cell.toString('latin1');
    switch (col.type) {
      case ColumnType.LONGLONG:
      case ColumnType.LONG:
      case ColumnType.NEWDECIMAL:
      case ColumnType.DECIMAL:
        out.push(NUMERIC.test(text) ? text : quote(text));
        continue;
      case ColumnType.DOUBLE:
      case ColumnType.FLOAT:
        out.push(/^[-+0-9.eE]+$/.test(text) ? (/[eE]/.test(text) ? text : `${text}e0`) : quote(text));
        continue;
    }
    const bytes = Buffer.from((row[i + 1] ?? Buffer.alloc(0)).toString('latin1'), 'hex');
    const collName = (row[i + 2] ?? Buffer.alloc(0)).toString('latin1').toLowerCase();
    if (collName === 'binary') {
      out.push(`_binary X'${bytes.toString('hex')}'`);
      continue;
    }
    const c = byName.get(collName);
    if (!c) out.push(`X'${bytes.toString('hex')}'`);
    else if (c.charset.startsWith('utf8') && !isWellFormedUtf8(bytes)) out.push(rawStringLiteral(bytes, c));
    else out.push(`_${c.charset} X'${bytes.toString('hex')}' COLLATE ${c.name}`);
  }
  return out;
}

/**
 * A NULL that gives a user variable the type it had: MariaDB keeps a variable's type when it is set
 * to NULL (`SET @v = 5; SET @v = NULL` leaves a BIGINT NULL, seen in result metadata and in
 * CREATE TABLE ... AS SELECT), while a plain `NULL` on a fresh connection would make it a binary
 * string (and keep whatever type a stale copy of the variable had there). `coll` is COLLATION(@v)
 * (which a string variable keeps when NULL).
 */
function typedNull(type: number, flags: number, coll: string, byName: Map<string, CollationInfo>): string {
  switch (type) {
    case ColumnType.LONGLONG:
    case ColumnType.LONG:
      return flags & UNSIGNED_FLAG ? 'CAST(NULL AS UNSIGNED)' : 'CAST(NULL AS SIGNED)';
    case ColumnType.NEWDECIMAL:
    case ColumnType.DECIMAL:
      return 'CAST(NULL AS DECIMAL(65,38))';
    case ColumnType.DOUBLE:
    case ColumnType.FLOAT:
      return 'CAST(NULL AS DOUBLE)';
  }
  const c = coll === 'binary' ? undefined : byName.get(coll);
  return c ? `CAST(NULL AS CHAR CHARACTER SET ${c.charset}) COLLATE ${c.name}` : 'CAST(NULL AS BINARY)';
}

const UNSIGNED_FLAG = 0x20;

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function isWellFormedUtf8(b: Buffer): boolean {
  try {
    UTF8.decode(b);
    return true;
  } catch {
    return false;
  }
}

/**
 * A literal for a string whose bytes are not well formed in its character set (the server accepts
 * such a string from a client's quoted literal and keeps it byte for byte, but refuses
 * `_utf8mb4 X'..'` with ERR 1300). Returned as a byte string (one char per byte, see
 * {@link sqlBytes}): quoted runs of the raw bytes with an introducer; quote and backslash bytes go
 * into hex pieces, so no escape is needed and no multi-byte client charset can swallow one.
 */
function rawStringLiteral(cell: Buffer, c: CollationInfo): string {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i <= cell.length; i++) {
    const b = cell[i];
    if (i < cell.length && b !== 0x27 && b !== 0x5c) continue;
    if (i > start) parts.push(`_${c.charset}'${cell.toString('latin1', start, i)}'`);
    if (i < cell.length) parts.push(`_${c.charset} X'${b.toString(16)}'`);
    start = i + 1;
  }
  if (parts.length === 0) parts.push(`_${c.charset}''`);
  return `${parts.length === 1 ? parts[0] : `CONCAT(${parts.join(', ')})`} COLLATE ${c.name}`;
}

/** Encodes a byte string (one char per byte, as user variable literals are kept) to send as SQL. */
export function sqlBytes(byteString: string): Buffer {
  return Buffer.from(byteString, 'latin1');
}

/** The byte string of text SQL (UTF-8 bytes, one char per byte), to join with user variable literals. */
export function utf8ByteString(text: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(text) ? text : Buffer.from(text, 'utf8').toString('latin1');
}

/** Backtick-quotes a user variable name for `@`name``. */
export function userVarRef(name: string): string {
  return '@`' + name.replace(/`/g, '``') + '`';
}
