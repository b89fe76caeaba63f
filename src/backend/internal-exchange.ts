import { Status } from '../protocol/constants';
import { ColumnDef, parseColumnDef, parseTextRow } from '../protocol/column';
import { Framer } from '../protocol/framer';
import { ErrPacket, OkPacket, parseEof, parseErrPayload, parseOk } from '../protocol/ok-err';
import { ProtocolError } from '../protocol/packet-reader';

/** What a command the proxy sends on its own account (not relayed) is expected to answer. */
export type ResponseKind = 'ok' | 'query' | 'prepare' | 'none';

/** The decoded answer to an internal command. Small by construction: internal queries are the proxy's own. */
export interface InternalResult {
  ok: OkPacket | null;
  err: ErrPacket | null;
  columns: ColumnDef[];
  rows: (Buffer | null)[][];
  /** Column definition and row payloads exactly as received (copies), for replaying a result. */
  rawColumns: Buffer[];
  rawRows: Buffer[];
  /** Status flags of the last terminator (OK or EOF). */
  status: number;
  warnings: number;
  prepare: { stmtId: number; numColumns: number; numParams: number } | null;
}

/**
 * Parses the response to one internal command from raw backend bytes (classic EOF framing,
 * as the proxy's backend connections never negotiate DEPRECATE_EOF).
 */
export class InternalResponseParser {
  private framer = new Framer(1 << 30);
  private phase: 'first' | 'cols' | 'colsEof' | 'rows' | 'params' | 'paramsEof' | 'pcols' | 'pcolsEof' = 'first';
  private remaining = 0;
  private result: InternalResult = { ok: null, err: null, columns: [], rows: [], rawColumns: [], rawRows: [], status: 0, warnings: 0, prepare: null };

  constructor(private readonly kind: ResponseKind, private readonly caps: number, private readonly extMeta: boolean) {}

  /** Feeds bytes; returns the result once complete, else null. Throws ProtocolError. */
  push(chunk: Buffer): InternalResult | null {
    this.framer.push(chunk);
    for (let f = this.framer.next(); f; f = this.framer.next()) {
      if (this.onPacket(f.payload)) {
        if (this.framer.buffered > 0) throw new ProtocolError('unexpected bytes after the response');
        return this.result;
      }
    }
    return null;
  }

  private onPacket(p: Buffer): boolean {
    const r = this.result;
    const first = p.length > 0 ? p[0] : -1;
    switch (this.phase) {
      case 'first':
        if (first === 0xff) {
          r.err = parseErrPayload(p);
          return true;
        }
        if (first === 0x00 && this.kind === 'prepare') {
          r.prepare = { stmtId: p.readUInt32LE(1), numColumns: p.readUInt16LE(5), numParams: p.readUInt16LE(7) };
          r.warnings = p.length >= 12 ? p.readUInt16LE(10) : 0;
          return this.afterPrepareParams(r.prepare.numParams);
        }
        if (first === 0x00) {
          r.ok = parseOk(p, this.caps);
          r.status = r.ok.status;
          r.warnings = r.ok.warnings;
          return !(r.status & Status.MORE_RESULTS_EXISTS);
        }
        if (first === 0xfe && p.length < 9) {
          const e = parseEof(p);
          r.status = e.status;
          r.warnings = e.warnings;
          return true;
        }
        if (first === 0xfb) throw new ProtocolError('unexpected LOCAL INFILE request to an internal query');
        // column count
        r.columns = [];
        r.rows = [];
        r.rawColumns = [];
        r.rawRows = [];
        this.remaining = p[0] < 0xfb ? p[0] : p.readUInt16LE(1);
        this.phase = 'cols';
        return false;
      case 'cols':
        r.columns.push(parseColumnDef(p, this.extMeta));
        r.rawColumns.push(Buffer.from(p));
        if (--this.remaining === 0) this.phase = 'colsEof';
        return false;
      case 'colsEof':
        this.phase = 'rows';
        return false;
      case 'rows':
        if (first === 0xff) {
          r.err = parseErrPayload(p);
          return true;
        }
        if (first === 0xfe && p.length < 9) {
          const e = parseEof(p);
          r.status = e.status;
          r.warnings = e.warnings;
          if (e.status & Status.MORE_RESULTS_EXISTS) {
            this.phase = 'first';
            return false;
          }
          return true;
        }
        r.rows.push(parseTextRow(p, r.columns.length).map((c) => (c ? Buffer.from(c) : null)));
        r.rawRows.push(Buffer.from(p));
        return false;
      case 'params':
        if (--this.remaining === 0) this.phase = 'paramsEof';
        return false;
      case 'paramsEof':
        return this.afterPrepareCols();
      case 'pcols':
        if (--this.remaining === 0) this.phase = 'pcolsEof';
        return false;
      case 'pcolsEof':
        return true;
    }
  }

  private afterPrepareParams(numParams: number): boolean {
    if (numParams > 0) {
      this.remaining = numParams;
      this.phase = 'params';
      return false;
    }
    return this.afterPrepareCols();
  }

  private afterPrepareCols(): boolean {
    const n = this.result.prepare ? this.result.prepare.numColumns : 0;
    if (n > 0) {
      this.remaining = n;
      this.phase = 'pcols';
      return false;
    }
    return true;
  }
}
