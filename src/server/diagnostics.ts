import { Cap } from '../protocol/constants';
import { buildEof, buildOk } from '../protocol/ok-err';
import { PacketWriter } from '../protocol/packet-writer';
import type { InternalResult } from '../backend/internal-exchange';
import { buildColumnDef, ColumnType, parseTextRow } from '../protocol/column';

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

const FORMS: Record<string, DiagForm> = {
  'show warnings': 'warnings',
  'show errors': 'errors',
  'show count(*) warnings': 'count-warnings',
  'show count(*) errors': 'count-errors',
  'select @@warning_count': 'var-warnings',
  'select @@error_count': 'var-errors',
  'select @@session.warning_count': 'var-warnings',
  'select @@session.error_count': 'var-errors',
};

/** Recognises the plain forms (case and spacing insensitive, optional trailing ';'). */
export function diagForm(sql: Buffer, start: number): DiagForm | null {
  if (sql.length - start > 64) return null;
  const text = sql.toString('latin1', start).trim().replace(/;$/, '').trim().replace(/\s+/g, ' ').toLowerCase();
  return FORMS[text] ?? null;
}

/**
 * Builds the result-set packets for `form` from a capture (null capture: an empty diagnostics area).
 * `extMeta`: the client negotiated MariaDB extended type metadata, so every column definition
 * carries that field (empty here, as the server sends it for these columns); a captured SHOW
 * WARNINGS copy already has it, being taken on a backend connection negotiated the same way.
 */
export function diagnosticsResult(form: DiagForm, d: Diagnostics, clientCaps: number, status: number, varName: string, extMeta: boolean): Buffer[] {
  const out: Buffer[] = [];
  let seq = 1;
  const push = (w: PacketWriter) => out.push(w.finish(seq++));
  const deprecate = (clientCaps & Cap.DEPRECATE_EOF) !== 0;
  const eof = () => {
    if (deprecate) push(buildOk({ affectedRows: 0, lastInsertId: 0, status, warnings: 0, info: Buffer.alloc(0), sessionState: null }, clientCaps, 0xfe));
    else push(buildEof(0, status));
  };
  if (form === 'warnings' || form === 'errors') {
    push(new PacketWriter(2).lenenc(d.columns.length));
    for (const c of d.columns) push(new PacketWriter(c.length).bytes(c));
    if (!deprecate) push(buildEof(0, status));
    for (const r of d.rows) {
      if (form === 'errors' && !r.subarray(0, 6).equals(ERROR_CELL)) continue;
      push(new PacketWriter(r.length).bytes(r));
    }
    eof();
    return out;
  }
  const n = form === 'count-warnings' || form === 'var-warnings' ? d.warnings : d.errors;
  push(new PacketWriter(2).lenenc(1));
  push(buildColumnDef({ name: varName, charset: 63, length: 21, type: ColumnType.LONGLONG, flags: 0x20 | 0x80, decimals: 0 }, extMeta));
  if (!deprecate) push(buildEof(0, status));
  push(new PacketWriter(8).lenencString(String(n)));
  eof();
  return out;
}

const ERROR_CELL = Buffer.from([5, 0x45, 0x72, 0x72, 0x6f, 0x72]); // lenenc "Error"

/** Column name the server gives each count form. */
export function diagVarName(form: DiagForm, sql: Buffer, start: number): string {
  if (form === 'count-warnings') return '@@session.warning_count';
  if (form === 'count-errors') return '@@session.error_count';
  return sql.toString('latin1', start).trim().replace(/;$/, '').trim().replace(/^select\s+/i, '');
}

/** Clears a connection's diagnostics area: only a statement that reads a table does. */
export const CLEAR_DIAGNOSTICS_SQL = 'SELECT 1 FROM information_schema.CHARACTER_SETS LIMIT 0';
