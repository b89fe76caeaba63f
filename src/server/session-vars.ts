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

/** The SET the proxy runs on every new backend connection so that OK packets report state changes. */
export const TRACKING_INIT_SQL =
  "SET SESSION session_track_system_variables='*', session_track_schema=ON, session_track_state_change=OFF, session_track_transaction_info=OFF";

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
 * SQL literals that recreate user variables exactly (type and charset), from `SELECT @a, @b ...`
 * run on the connection that set them.
 */
export function userVarLiterals(res: InternalResult, collations: Map<number, CollationInfo> | null): string[] {
  const row = res.rows[0] ?? [];
  return res.columns.map((col, i) => {
    const cell = row[i] ?? null;
    if (cell === null) return 'NULL';
    const text = cell.toString('latin1');
    switch (col.type) {
      case ColumnType.LONGLONG:
      case ColumnType.LONG:
      case ColumnType.NEWDECIMAL:
      case ColumnType.DECIMAL:
        return NUMERIC.test(text) ? text : quote(text);
      case ColumnType.DOUBLE:
      case ColumnType.FLOAT:
        return /^[-+0-9.eE]+$/.test(text) ? (/[eE]/.test(text) ? text : `${text}e0`) : quote(text);
      default: {
        if (col.charset === 63) return `_binary X'${cell.toString('hex')}'`;
        const c = collations?.get(col.charset);
        if (!c) return `X'${cell.toString('hex')}'`;
        return `_${c.charset} X'${cell.toString('hex')}' COLLATE ${c.name}`;
      }
    }
  });
}

/** Backtick-quotes a user variable name for `@`name``. */
export function userVarRef(name: string): string {
  return '@`' + name.replace(/`/g, '``') + '`';
}
