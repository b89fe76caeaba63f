import { Cap, Com } from '../protocol/constants';
import { Q, type QueryInfo, scanQuery } from '../classify/lexer';
import { buildEof, buildOk } from '../protocol/ok-err';
import { PacketWriter } from '../protocol/packet-writer';
import type { InternalResult } from '../backend/internal-exchange';
import { buildColumnDef, ColumnType, parseColumnDef, parseTextRow } from '../protocol/column';
import { binaryRow } from './binary-row';

/**
 * A session's diagnostics area, captured with SHOW WARNINGS on the backend connection right after
 * a statement that left warnings or an error — so the connection can go back to the pool and the
 * session can still answer SHOW WARNINGS / SHOW ERRORS / @@warning_count on its next statement.
 */
export interface Diagnostics {
  columns: Buffer[];
  rows: Buffer[];
  /** warning_count as the server reported it (may exceed rows kept under max_error_count). */
  warnings: number;
  errors: number;
}

export function captureDiagnostics(r: InternalResult, warnings: number, failed: boolean): Diagnostics {
  let errors = 0;
  for (const raw of r.rawRows) {
    const cells = parseTextRow(raw, r.columns.length);
    if (cells[0] && cells[0].toString() === 'Error') errors++;
  }
  return { columns: r.rawColumns, rows: r.rawRows, warnings: Math.max(warnings, r.rawRows.length, failed ? 1 : 0), errors };
}

/** The diagnostics statements answered from a capture; anything else goes to a backend. */
export type DiagForm = 'warnings' | 'errors' | 'count-warnings' | 'count-errors' | 'var-warnings' | 'var-errors';

/** SHOW WARNINGS / ERRORS ... LIMIT [offset,] count. */
export interface DiagLimit {
  offset: number;
  count: number;
}

/** A diagnostics statement as the proxy answers it: the form, the column name (count forms), the LIMIT. */
export interface DiagStatement {
  form: DiagForm;
  /** Column name of a count form: the variable as written, or its alias (as the server names it). */
  name: string;
  limit: DiagLimit | null;
}

const SHOW_LIST = /^show\s+(warnings|errors)(?:\s+limit\s+(\d{1,9})(?:\s*,\s*(\d{1,9})|\s+offset\s+(\d{1,9}))?)?$/i;
const SHOW_COUNT = /^show\s+count\s*\(\s*\*\s*\)\s+(warnings|errors)$/i;
const SELECT_VAR = /^select\s+(@@(?:session\.|local\.)?(warning_count|error_count))(?:\s+(?:as\s+)?(`(?:[^`]|``)+`|[a-z_][a-z0-9_$]*))?$/i;
/** Words that cannot be a bare alias (the statement is then not the plain form: a backend answers it). */
const NOT_ALIAS = new Set(['FROM', 'WHERE', 'LIMIT', 'INTO', 'UNION', 'FOR', 'HAVING', 'ORDER', 'GROUP', 'WINDOW', 'LOCK', 'PROCEDURE', 'AS']);

/**
 * Recognises the plain diagnostics statements, case and spacing insensitive, with an optional
 * trailing ';': SHOW WARNINGS|ERRORS [LIMIT [offset,] count | LIMIT count OFFSET offset],
 * SHOW COUNT(*) WARNINGS|ERRORS, SELECT @@[session.|local.]warning_count|error_count [[AS] alias].
 * Anything else (comments, other columns, FROM ...) is null: a backend answers it. Pure.
 */
export function parseDiagStatement(sql: Buffer, start: number): DiagStatement | null {
  if (sql.length - start > 160) return null;
  const text = sql.toString('latin1', start).trim().replace(/;$/, '').trim();
  let m = SHOW_LIST.exec(text);
  if (m) {
    const errors = m[1].toLowerCase() === 'errors';
    let limit: DiagLimit | null = null;
    if (m[2] !== undefined) {
      if (m[3] !== undefined) limit = { offset: Number(m[2]), count: Number(m[3]) };
      else limit = { offset: m[4] !== undefined ? Number(m[4]) : 0, count: Number(m[2]) };
    }
    return { form: errors ? 'errors' : 'warnings', name: '', limit };
  }
  m = SHOW_COUNT.exec(text);
  if (m) {
    const errors = m[1].toLowerCase() === 'errors';
    return { form: errors ? 'count-errors' : 'count-warnings', name: errors ? '@@session.error_count' : '@@session.warning_count', limit: null };
  }
  m = SELECT_VAR.exec(text);
  if (m) {
    const alias = m[3];
    if (alias !== undefined && alias[0] !== '`' && NOT_ALIAS.has(alias.toUpperCase())) return null;
    const name = alias === undefined ? m[1] : alias[0] === '`' ? alias.slice(1, -1).replace(/``/g, '`') : alias;
    return { form: m[2].toLowerCase() === 'warning_count' ? 'var-warnings' : 'var-errors', name, limit: null };
  }
  return null;
}

/**
 * Builds the result-set packets for `ds` from a capture. `extMeta`: the client negotiated MariaDB
 * extended type metadata, so every column definition carries that field (empty here, as the server
 * sends it for these columns); a captured SHOW WARNINGS copy already has it, being taken on a
 * backend connection negotiated the same way. `binary`: the answer to a COM_STMT_EXECUTE, with rows
 * in the binary protocol (column definitions are the same as for the text statement, as a server
 * sends them).
 */
export function diagnosticsResult(ds: DiagStatement, d: Diagnostics, clientCaps: number, status: number, extMeta: boolean, binary = false): Buffer[] {
  const out: Buffer[] = [];
  let seq = 1;
  const push = (w: PacketWriter) => out.push(w.finish(seq++));
  const deprecate = (clientCaps & Cap.DEPRECATE_EOF) !== 0;
  const eof = () => {
    if (deprecate) push(buildOk({ affectedRows: 0, lastInsertId: 0, status, warnings: 0, info: Buffer.alloc(0), sessionState: null }, clientCaps, 0xfe));
    else push(buildEof(0, status));
  };
  const form = ds.form;
  if (form === 'warnings' || form === 'errors') {
    push(new PacketWriter(2).lenenc(d.columns.length));
    for (const c of d.columns) push(new PacketWriter(c.length).bytes(c));
    if (!deprecate) push(buildEof(0, status));
    const types = binary ? d.columns.map((c) => parseColumnDef(c, extMeta).type) : null;
    const rows = d.rows.filter((r) => form === 'warnings' || r.subarray(0, 6).equals(ERROR_CELL));
    const from = ds.limit ? ds.limit.offset : 0;
    const to = ds.limit ? Math.min(rows.length, from + ds.limit.count) : rows.length;
    for (let i = from; i < to; i++) {
      const r = types ? binaryRow(rows[i], types) : rows[i];
      push(new PacketWriter(r.length).bytes(r));
    }
    eof();
    return out;
  }
  const n = form === 'count-warnings' || form === 'var-warnings' ? d.warnings : d.errors;
  push(new PacketWriter(2).lenenc(1));
  push(buildColumnDef({ name: ds.name, charset: 63, length: 21, type: ColumnType.LONGLONG, flags: 0x20 | 0x80, decimals: 0 }, extMeta));
  if (!deprecate) push(buildEof(0, status));
  if (binary) push(new PacketWriter(10).u8(0).u8(0).u32(n).u32(0));
  else push(new PacketWriter(8).lenencString(String(n)));
  eof();
  return out;
}

const ERROR_CELL = Buffer.from([5, 0x45, 0x72, 0x72, 0x6f, 0x72]); // lenenc "Error"

/**
 * keepsDiagnostics for the command in `payload`: for COM_STMT_EXECUTE the executed statement's SQL
 * (`stmtSql`) and scan (`info`) decide; for COM_STMT_PREPARE the SQL in the packet.
 */
export function commandKeepsDiagnostics(payload: Buffer, info: QueryInfo | null, stmtSql: Buffer | null): boolean {
  const cmd = payload[0];
  if (cmd === Com.STMT_EXECUTE) return stmtSql !== null && keepsDiagnostics(cmd, stmtSql, info, 0);
  if (cmd === Com.STMT_PREPARE) return keepsDiagnostics(cmd, payload, scanQuery(payload, 1, payload.length), 1);
  return keepsDiagnostics(cmd, payload, info);
}

/** Clears a connection's diagnostics area: only a statement that reads a table does. */
export const CLEAR_DIAGNOSTICS_SQL = 'SELECT 1 FROM information_schema.CHARACTER_SETS LIMIT 0';

/** Statement kinds that never open a table by themselves (a subquery or stored function still might). */
const TABLELESS_KINDS = new Set(['SELECT', 'DO', 'SET', 'BEGIN', 'COMMIT', 'ROLLBACK', 'START', 'USE', 'SAVEPOINT', 'RELEASE']);

/** Words that mean a table (or a routine that may read one) is involved. */
const TABLE_WORDS = new Set(['FROM', 'JOIN', 'INTO', 'TABLE', 'UPDATE', 'CALL', 'ROUTINE', 'PROCEDURE', 'FUNCTION']);

/** Built-in functions known not to read tables; any other call may be a stored function that does. */
const BUILTINS = new Set([
  'DATABASE', 'SCHEMA', 'USER', 'CURRENT_USER', 'SESSION_USER', 'SYSTEM_USER', 'CURRENT_ROLE', 'CONNECTION_ID', 'VERSION',
  'LAST_INSERT_ID', 'FOUND_ROWS', 'ROW_COUNT', 'NOW', 'CURRENT_TIMESTAMP', 'SYSDATE', 'UNIX_TIMESTAMP', 'UTC_TIMESTAMP',
  'CURDATE', 'CURTIME', 'CURRENT_DATE', 'CURRENT_TIME', 'SLEEP', 'CONCAT', 'CONCAT_WS', 'IF', 'IFNULL', 'COALESCE', 'NULLIF',
  'CAST', 'CONVERT', 'LENGTH', 'CHAR_LENGTH', 'UPPER', 'LOWER', 'SUBSTRING', 'SUBSTR', 'REPLACE', 'TRIM', 'ABS', 'ROUND',
  'FLOOR', 'CEIL', 'MOD', 'RAND', 'UUID', 'MD5', 'SHA1', 'SHA2', 'HEX', 'UNHEX', 'GET_LOCK', 'RELEASE_LOCK', 'IS_FREE_LOCK',
  'IS_USED_LOCK', 'BENCHMARK', 'DATE_FORMAT', 'STR_TO_DATE', 'FROM_UNIXTIME', 'JSON_OBJECT', 'JSON_ARRAY', 'JSON_EXTRACT',
]);

/** Keywords a '(' may follow without being a function call. */
const KEYWORDS_BEFORE_PAREN = new Set(['SELECT', 'DO', 'SET', 'AND', 'OR', 'NOT', 'IN', 'IS', 'AS', 'WHEN', 'THEN', 'ELSE', 'CASE', 'XOR', 'DIV', 'MOD', 'LIKE', 'BETWEEN']);

/**
 * Whether a statement that finished without warnings or error leaves the session's previous
 * diagnostics in place. A server clears its warning list only for statements that use tables
 * (`mysql_execute_command`: `if (all_tables) clear_warning_info`), so after `SELECT 1/0` a
 * `SELECT DATABASE(), USER()` (the mariadb CLI's `\s`), `SET ...`, `BEGIN`, `USE` or COM_PING /
 * COM_INIT_DB / COM_STATISTICS, `SELECT @@warning_count` still says 1. Conservative: anything
 * that might touch a table (FROM, INTO, a call that is not a known built-in, a multi-statement
 * batch) clears, as before. The same holds for COM_STMT_PREPARE and COM_STMT_EXECUTE of such a
 * statement (MariaDB 10.11: `SELECT 1/0`, then PREPARE and EXECUTE of `SELECT 1` leave
 * @@warning_count 1; a PREPARE of a statement naming a table clears). Pure; `info` is the lexer's
 * scan of `sql`, whose statement text begins at `start`.
 */
export function keepsDiagnostics(command: number, sql: Buffer, info: { kind: string; flags: number } | null, start = 1): boolean {
  if (command === Com.PING || command === Com.INIT_DB || command === Com.STATISTICS) return true;
  const statement = command === Com.QUERY || command === Com.STMT_PREPARE || command === Com.STMT_EXECUTE;
  if (!statement || info === null || info.flags & Q.MULTI || !TABLELESS_KINDS.has(info.kind)) return false;
  const n = sql.length;
  let i = start;
  while (i < n) {
    const c = sql[i];
    if (c === 0x27 || c === 0x22 || c === 0x60) {
      // skip a quoted string or identifier (doubled quotes and backslash escapes)
      i++;
      while (i < n && sql[i] !== c) i += sql[i] === 0x5c && c !== 0x60 ? 2 : 1;
      i++;
      continue;
    }
    if (isWordStart(c)) {
      const s = i;
      while (i < n && isWordChar(sql[i])) i++;
      const w = sql.toString('latin1', s, i).toUpperCase();
      let j = i;
      while (j < n && (sql[j] === 0x20 || sql[j] === 0x09 || sql[j] === 0x0a || sql[j] === 0x0d)) j++;
      if (TABLE_WORDS.has(w)) {
        // FROM DUAL names no table
        if (w === 'FROM' && sql.toString('latin1', j, j + 4).toUpperCase() === 'DUAL' && !(j + 4 < n && isWordChar(sql[j + 4]))) {
          i = j + 4;
          continue;
        }
        return false;
      }
      if (sql[j] === 0x28 && !BUILTINS.has(w) && !KEYWORDS_BEFORE_PAREN.has(w) && (s === 0 || sql[s - 1] !== 0x40)) return false;
      continue;
    }
    i++;
  }
  return true;
}

function isWordStart(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
}

function isWordChar(c: number): boolean {
  return isWordStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x24;
}
