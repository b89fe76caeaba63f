import { Q, type QueryInfo } from '../classify/lexer';
import { quote } from './session-vars';

/*
 * System variables whose value is the session's, not the backend connection's, substituted into a
 * statement the proxy sends on: @@warning_count / @@error_count (the session's captured
 * diagnostics, when the statement keeps them: it reads no table) and
 * @@session_track_system_variables (the proxy keeps '*' on its connections; the client reads back
 * what it set). Pure.
 */

/** What the session's variables read as; null fields are not substituted. */
export interface SysVarValues {
  /** The session's captured diagnostics counts (warning_count, error_count), or null. */
  diag: { warnings: number; errors: number } | null;
  /** The session's session_track_system_variables as the client sees it, or null. */
  track: string | null;
}

/**
 * The edits for `info.sysVarAt` in `payload`. `@@warning_count` becomes
 * `IF(@@warning_count, @@warning_count, CAST(n AS UNSIGNED))`: typed as the variable
 * (BIGINT(21) UNSIGNED, nullable), and read at evaluation time as on a server — the session's
 * count until the statement raises a condition of its own (the server then clears the previous
 * statement's diagnostics and counts its own; the proxy's connection, cleared first, counts the
 * same). `@@error_count`: `IF(@@warning_count, @@error_count, CAST(n AS UNSIGNED))`.
 * `@@session_track_system_variables`: see {@link trackExpr}. `@@global.` forms are left to the server.
 */
export function sysVarEdits(payload: Buffer, positions: readonly number[], v: SysVarValues): Array<{ at: number; end: number; value: string }> {
  const out: Array<{ at: number; end: number; value: string }> = [];
  for (const at of positions) {
    let e = at + 2;
    while (e < payload.length && isNameChar(payload[e])) e++;
    const full = payload.toString('latin1', at + 2, e).toLowerCase();
    const dot = full.lastIndexOf('.');
    const scope = dot >= 0 ? full.slice(0, dot) : '';
    if (scope !== '' && scope !== 'session' && scope !== 'local') continue;
    if (isSetTarget(payload, at, e)) continue;
    const name = dot >= 0 ? full.slice(dot + 1) : full;
    let value: string | null = null;
    if (name === 'warning_count' && v.diag !== null) value = `IF(@@warning_count, @@warning_count, CAST(${v.diag.warnings} AS UNSIGNED))`;
    else if (name === 'error_count' && v.diag !== null) value = `IF(@@warning_count, @@error_count, CAST(${v.diag.errors} AS UNSIGNED))`;
    else if (name === 'session_track_system_variables' && v.track !== null) value = trackExpr(v.track);
    if (value !== null) out.push({ at, end: e, value });
  }
  return out;
}

/**
 * The values to substitute for a statement of a session: diagnostics counts when it has captured
 * diagnostics and the statement keeps them (`keeps`; one reading a table clears them on a server
 * too, before it runs), the client's tracking list always. Not for a multi-statement batch (its later
 * statements would read the batch's own diagnostics or settings): null.
 */
export function sysVarValues(info: QueryInfo, diag: { warnings: number; errors: number } | null, keeps: boolean, track: string): SysVarValues | null {
  if (info.sysVarAt === null || info.flags & Q.MULTI) return null;
  return { diag: diag !== null && keeps ? { warnings: diag.warnings, errors: diag.errors } : null, track };
}

/** The session_track_system_variables value a client reads: what it set, else the server's default. */
export function clientTrackList(prefs: ReadonlyMap<string, string> | null | undefined, defaults: ReadonlyMap<string, string> | null | undefined): string {
  return prefs?.get('session_track_system_variables') ?? defaults?.get('session_track_system_variables') ?? DEFAULT_TRACK_LIST;
}

/** MariaDB 10.x's default session_track_system_variables. */
export const DEFAULT_TRACK_LIST = 'autocommit,character_set_client,character_set_connection,character_set_results,time_zone';

/**
 * The client's session_track_system_variables, typed as the variable reads (VARCHAR, nullable, its
 * length the value's, decimals 39 (NOT_FIXED_DEC), the connection's charset): `IF(1, 'value',
 * @@session_track_system_variables)` (the proxy's connections hold '*', one character: the length is
 * the value's), or for an empty list `LEFT(@@session_track_system_variables, 0)` (an empty literal
 * would type as length 0 with decimals 0).
 */
export function trackExpr(value: string): string {
  return value === '' ? 'LEFT(@@session_track_system_variables, 0)' : `IF(1, ${quote(value)}, @@session_track_system_variables)`;
}

/** `SET @@x = ...` / `SET a = 1, @@x := ...`: the variable assigned, not read. */
function isSetTarget(p: Buffer, at: number, end: number): boolean {
  let j = end;
  while (j < p.length && isSpace(p[j])) j++;
  if (!(p[j] === 0x3d || (p[j] === 0x3a && p[j + 1] === 0x3d))) return false;
  let i = at - 1;
  while (i >= 0 && isSpace(p[i])) i--;
  if (i >= 0 && p[i] === 0x2c) return /^\s*SET\b/i.test(p.toString('latin1', 0, Math.min(p.length, 64)).replace(/^[\x00-\x1f]/, ''));
  return i >= 2 && /^SET$/i.test(p.toString('latin1', i - 2, i + 1)) && (i < 3 || !isNameChar(p[i - 3]));
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function isNameChar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x24 || c === 0x2e;
}
