import { Cap, Status } from '../protocol/constants';
import { buildErr, buildOk, parseEof, parseOk } from '../protocol/ok-err';
import { ProtocolError } from '../protocol/packet-reader';
import type { BackendSink } from '../backend/backend-connection';
import { eofAsOk, setOkStatus, type RelayHost } from './relay-host';

export type { RelayHost } from './relay-host';
import { ER_MAX_PREPARED_STMT_COUNT_REACHED } from './stmt-lifetime';
import { ER_LOAD_INFILE_CAPABILITY_DISABLED, LOAD_INFILE_DISABLED_MESSAGE } from '../classify/batch-split';

/** What kind of response the relayed command produces. */
export const enum Resp {
  QUERY,
  EXECUTE,
  FETCH,
  FIELD_LIST,
  PREPARE,
  SIMPLE,
  STATISTICS,
}

const enum Ph {
  FIRST,
  COLDEFS,
  COLDEF_EOF,
  ROWS,
  PARAMS,
  PARAMS_EOF,
  PCOLS,
  PCOLS_EOF,
  FIELDS,
  STAT,
  INFILE,
  DONE,
}

/**
 * Streams one command's response from a backend connection to the client. Row and column
 * packets pass through as the bytes they arrived in (only the sequence id may be patched);
 * only the packets that end results are decoded. Translates classic EOF framing (what backend
 * connections use) to DEPRECATE_EOF for clients that asked for it, and strips session-tracking
 * data the client did not ask for.
 */
export class ResultRelay implements BackendSink {
  kind: Resp = Resp.QUERY;
  private ph: Ph = Ph.DONE;
  private remaining = 0;
  /** Added to backend sequence ids (negative after dropped EOF packets). */
  seqDelta = 0;
  /**
   * Where the next response's sequence ids start beyond the backend's (consumed by start()): the
   * proxy already answered earlier statements of a multi-statement batch itself (see batch-split.ts).
   */
  nextSeqBase = 0;
  /**
   * The next response is not the last of the client's batch (consumed by start()): its final
   * terminator reaches the client with SERVER_MORE_RESULTS_EXISTS set.
   */
  forceMore = false;
  private more = false;
  /** Last sequence id written to the client. */
  lastSeq = 0;
  /**
   * Rows relayed in the last result set (what FOUND_ROWS() would return); -1 when the response had
   * no result set (FOUND_ROWS() then keeps its value on a server).
   */
  rows = -1;
  /** The last response of the command (the last of a multi-result) was a result set: ROW_COUNT() is then -1. */
  lastWasResultSet = false;
  /** SQLSTATE class ('42', 'HY', ...) of the ERR that ended the last response, '' if none (metrics). */
  errClass = '';
  private deprecateEof = false;
  private sessionTrack = false;
  /**
   * Clear SERVER_SESSION_STATE_CHANGED where no state block explains it (EOF, OK without one):
   * backend connections track state changes for the proxy, the client sees the flag only when it
   * tracks them itself (session_track_state_change).
   */
  private maskState = true;
  private hdr = Buffer.alloc(4);
  private hdrHave = 0;
  private pendLen = -1;
  private pendSeq = 0;
  private passLeft = 0;
  private passLen = 0;
  private cont = false;
  private coll: Buffer | null = null;
  private collHave = 0;
  private collSeq = 0;
  /** For FIRST-phase 0xFB when the client may not send files: answer ERR 4166 (as MariaDB does) after the backend's reply. */
  refuseInfile = false;
  private infileRefused = false;
  /** A PREPARE refused with 1461 was retried once already. */
  private prepareRetried = false;

  constructor(private readonly host: RelayHost) {}

  /** Arms the relay for the response to a command about to be written. */
  start(kind: Resp): void {
    this.kind = kind;
    this.seqDelta = this.nextSeqBase;
    this.nextSeqBase = 0;
    this.more = this.forceMore && kind === Resp.QUERY;
    this.forceMore = false;
    this.lastSeq = this.seqDelta;
    this.rows = -1;
    this.lastWasResultSet = false;
    this.errClass = '';
    this.hdrHave = 0;
    this.pendLen = -1;
    this.passLeft = 0;
    this.cont = false;
    this.coll = null;
    this.infileRefused = false;
    this.prepareRetried = false;
    const caps = this.host.clientCaps;
    this.deprecateEof = (caps & Cap.DEPRECATE_EOF) !== 0;
    this.sessionTrack = (caps & Cap.SESSION_TRACK) !== 0;
    this.maskState = !this.host.clientStateChange;
    this.ph = kind === Resp.FETCH ? Ph.ROWS : kind === Resp.FIELD_LIST ? Ph.FIELDS : kind === Resp.STATISTICS ? Ph.STAT : Ph.FIRST;
  }

  /**
   * Arms the relay for a response a native fast lane relayed in part (lane-adopt.ts): at a packet
   * boundary in lane phase `phase` (1 first packet, 2 column definitions with `remaining` to come,
   * 3 the EOF after them, 4 rows, `rows` relayed), the last sequence id sent being `lastSeq`.
   */
  resumeAt(kind: Resp, phase: number, remaining: number, rows: number, lastSeq: number): void {
    this.start(kind);
    if (phase <= 1) return;
    this.rows = phase === 4 ? rows : 0;
    this.lastWasResultSet = true;
    this.lastSeq = lastSeq;
    if (phase === 2) {
      this.remaining = remaining;
      this.ph = Ph.COLDEFS;
    } else this.ph = phase === 3 ? Ph.COLDEF_EOF : Ph.ROWS;
  }

  get done(): boolean {
    return this.ph === Ph.DONE;
  }

  /** After the client finished sending a LOCAL INFILE file, the backend answers OK/ERR. */
  infileSent(): void {
    this.ph = Ph.FIRST;
  }

  /**
   * Part of a packet was passed to the client (a row relayed as it arrives, or a packet of more
   * than 16 MiB whose continuation is due): the client's stream is inside a packet, where no packet
   * the proxy answers itself (an ERR) can follow.
   */
  get midPacket(): boolean {
    return this.passLeft > 0 || this.cont;
  }

  onBackendClose(err: Error | null): void {
    if (this.ph === Ph.DONE) return;
    this.ph = Ph.DONE;
    this.host.onRelayFailed(err ?? new Error('backend closed the connection'));
  }

  onBackendData(chunk: Buffer): void {
    try {
      this.consume(chunk);
    } catch (e) {
      this.ph = Ph.DONE;
      this.ck = EMPTY;
      this.flushWrites();
      this.host.onRelayFailed(e as Error);
    }
  }

  /** Current chunk and the start of the run of its bytes to pass through unchanged (-1: none). */
  private ck: Buffer = EMPTY;
  private ps = -1;
  /** Header offset of a control packet being decided in place inside `ck` (-1: not in place). */
  private inlineAt = -1;

  /** Writes the pending pass-through run up to `end`. */
  private flushTo(end: number): void {
    if (this.ps >= 0) {
      if (end > this.ps) this.write(this.ck.subarray(this.ps, end));
      this.ps = -1;
    }
  }

  private consume(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    this.ck = chunk;
    this.ps = -1;
    const host = this.host;
    this.doneSignal = false;
    while (i < n) {
      if (this.ph === Ph.DONE) throw new ProtocolError('backend sent bytes after the end of the response');
      if (this.passLeft > 0) {
        const k = Math.min(this.passLeft, n - i);
        if (this.ps < 0) this.ps = i;
        i += k;
        this.passLeft -= k;
        if (this.passLeft === 0) this.afterPass();
        continue;
      }
      const coll = this.coll;
      if (coll !== null) {
        const k = Math.min(coll.length - 4 - this.collHave, n - i);
        chunk.copy(coll, 4 + this.collHave, i, i + k);
        this.collHave += k;
        i += k;
        if (this.collHave === coll.length - 4) {
          this.coll = null;
          this.onPacket(coll, this.collSeq);
        }
        continue;
      }
      // header
      let len: number;
      let seq: number;
      let hdrAt = -1;
      if (this.pendLen >= 0) {
        len = this.pendLen;
        seq = this.pendSeq;
        this.pendLen = -1;
      } else if (this.hdrHave === 0 && i + 4 <= n) {
        len = chunk[i] | (chunk[i + 1] << 8) | (chunk[i + 2] << 16);
        seq = chunk[i + 3];
        hdrAt = i;
        i += 4;
      } else {
        // The header straddles chunks: what was passed through so far ends here.
        this.flushTo(i);
        const k = Math.min(4 - this.hdrHave, n - i);
        chunk.copy(this.hdr, this.hdrHave, i, i + k);
        this.hdrHave += k;
        i += k;
        if (this.hdrHave < 4) break;
        this.hdrHave = 0;
        len = this.hdr[0] | (this.hdr[1] << 8) | (this.hdr[2] << 16);
        seq = this.hdr[3];
      }
      let pass: boolean;
      if (this.cont) pass = true;
      else {
        const ph = this.ph;
        if (ph === Ph.COLDEFS || ph === Ph.PARAMS || ph === Ph.PCOLS || ph === Ph.STAT) pass = true;
        else if (ph === Ph.ROWS || ph === Ph.FIELDS) {
          if (len === 0) pass = true;
          else if (i >= n) {
            // need the first payload byte to tell a row from a terminator
            if (hdrAt >= 0) this.flushTo(hdrAt);
            this.pendLen = len;
            this.pendSeq = seq;
            break;
          } else {
            const f = chunk[i];
            pass = !((f === 0xfe && len < 9) || f === 0xff);
          }
        } else pass = false;
      }
      if (pass) {
        const s = (seq + this.seqDelta) & 0xff;
        this.lastSeq = s;
        if (hdrAt >= 0) {
          chunk[hdrAt + 3] = s;
          if (this.ps < 0) this.ps = hdrAt;
        } else {
          this.flushTo(i);
          const h = Buffer.allocUnsafe(4);
          h[0] = len & 0xff;
          h[1] = (len >> 8) & 0xff;
          h[2] = (len >> 16) & 0xff;
          h[3] = s;
          this.write(h);
          this.ps = i;
        }
        this.passLen = len;
        this.passLeft = len;
        if (len === 0) this.afterPass();
      } else {
        if (len >= 0xffffff) throw new ProtocolError('oversized control packet from backend');
        if (hdrAt >= 0 && i + len <= n) {
          // The whole control packet is in this chunk: decide in place, so that an unchanged
          // packet stays part of the pass-through run (one write for a whole small result).
          i += len;
          if (this.passInPlace(chunk, hdrAt, len, seq)) continue;
          this.inlineAt = hdrAt;
          try {
            this.onPacket(chunk.subarray(hdrAt, i), seq);
          } finally {
            this.inlineAt = -1;
          }
          continue;
        }
        this.flushTo(hdrAt >= 0 ? hdrAt : i);
        const b = Buffer.allocUnsafe(4 + len);
        this.collSeq = seq;
        this.collHave = 0;
        if (len === 0) this.onPacket(b, seq);
        else this.coll = b;
      }
    }
    this.flushTo(i);
    this.ck = EMPTY;
    this.flushWrites();
    if (this.doneSignal) {
      this.doneSignal = false;
      this.flowing = true;
      host.onRelayDone(this.doneErr);
      return;
    }
    if (!this.flowing) host.onClientBackpressure();
    this.flowing = true;
  }

  private flowing = true;
  /** Client writes produced by the current backend chunk, sent together at its end (views into the chunk). */
  private pend: Buffer[] = [];
  private pendBytes = 0;

  private write(b: Buffer): void {
    this.pend.push(b);
    this.pendBytes += b.length;
  }

  private writeNow(b: Buffer): void {
    if (!this.host.writeClient(b)) this.flowing = false;
  }

  /**
   * Sends what the current chunk produced, before anyone else may write to the client: one write
   * (the usual small result relayed in place); pieces of a small response copied into one buffer
   * (a DEPRECATE_EOF client's result, split where the relay dropped or rebuilt an EOF): a copy of a
   * few hundred bytes costs less than the Writable's cork buffering and writev; larger output corked
   * into one writev.
   */
  private flushWrites(): void {
    const pend = this.pend;
    const n = pend.length;
    if (n === 0) return;
    const bytes = this.pendBytes;
    this.pendBytes = 0;
    // pop(), not `length = 0`: setting an array's length goes through a runtime call (~0.1 µs per
    // result here, visible in profiles); the usual small result is one buffer.
    if (n === 1) return this.writeNow(pend.pop() as Buffer);
    if (bytes <= COALESCE_MAX) this.writeNow(Buffer.concat(pend, bytes));
    else {
      this.host.corkClient();
      for (let i = 0; i < n; i++) this.writeNow(pend[i] as Buffer);
      this.host.uncorkClient();
    }
    pend.length = 0;
  }

  /**
   * The control packets of every small result, decided on the chunk's bytes without views or
   * parsed objects: a column count, the EOF after the column definitions, the EOF after the rows
   * (classic EOF framing on both sides). Returns false for anything else, which onPacket handles.
   */
  private passInPlace(c: Buffer, at: number, len: number, seq: number): boolean {
    if (len === 0) return false;
    const f = c[at + 4];
    const ph = this.ph;
    if (ph === Ph.FIRST) {
      if (f === 0 || f >= 0xfb || len !== 1 || this.kind === Resp.PREPARE) return false;
      this.remaining = f;
      this.rows = 0;
      this.lastWasResultSet = true;
      this.ph = Ph.COLDEFS;
    } else if (f !== 0xfe || this.deprecateEof) {
      return false;
    } else if (ph === Ph.COLDEF_EOF) {
      if (len >= 5) {
        const status = c.readUInt16LE(at + 7);
        if (this.kind === Resp.EXECUTE && status & Status.CURSOR_EXISTS) return false;
        // (the server's EOF after the column definitions already says whether more results follow)
        if (this.more || (status & Status.SESSION_STATE_CHANGED && this.maskState)) c.writeUInt16LE(this.clientStatus(status), at + 7);
      }
      this.ph = Ph.ROWS;
    } else if (ph === Ph.ROWS) {
      const warnings = len >= 5 ? c.readUInt16LE(at + 5) : 0;
      const status = len >= 5 ? c.readUInt16LE(at + 7) : 0;
      this.host.onTerminator(status, warnings, null);
      if (status & Status.SESSION_STATE_CHANGED && this.maskState) c.writeUInt16LE(status & ~Status.SESSION_STATE_CHANGED, at + 7);
      if (status & Status.MORE_RESULTS_EXISTS) this.ph = Ph.FIRST;
      else {
        if (this.more && len >= 5) c.writeUInt16LE(this.clientStatus(status), at + 7);
        this.finish(false);
      }
    } else return false;
    const s = (seq + this.seqDelta) & 0xff;
    this.lastSeq = s;
    c[at + 3] = s;
    if (this.ps < 0) this.ps = at;
    return true;
  }

  /** A terminator's status as the client gets it: MORE_RESULTS for a batch the proxy splits, SESSION_STATE_CHANGED masked. */
  private clientStatus(status: number): number {
    if (this.more) status |= Status.MORE_RESULTS_EXISTS;
    if (this.maskState) status &= ~Status.SESSION_STATE_CHANGED;
    return status;
  }

  /** Writes a complete packet held in `b` (4 header bytes reserved) with backend sequence `seq`. */
  private emit(b: Buffer, seq: number): void {
    const s = (seq + this.seqDelta) & 0xff;
    this.lastSeq = s;
    if (this.inlineAt >= 0) {
      // b is a view of the packet in the current chunk: patch the sequence id and keep it in the run
      b[3] = s;
      if (this.ps < 0) this.ps = this.inlineAt;
      return;
    }
    const len = b.length - 4;
    b[0] = len & 0xff;
    b[1] = (len >> 8) & 0xff;
    b[2] = (len >> 16) & 0xff;
    b[3] = s;
    this.write(b);
  }

  private emitBuilt(w: { finish(seq: number): Buffer }, seq: number): void {
    if (this.inlineAt >= 0) this.flushTo(this.inlineAt);
    const s = (seq + this.seqDelta) & 0xff;
    this.lastSeq = s;
    this.write(w.finish(s));
  }

  private drop(): void {
    if (this.inlineAt >= 0) this.flushTo(this.inlineAt);
    this.seqDelta--;
  }

  private afterPass(): void {
    if (this.passLen === 0xffffff) {
      this.cont = true;
      return;
    }
    this.cont = false;
    switch (this.ph) {
      case Ph.COLDEFS:
        if (--this.remaining === 0) this.ph = Ph.COLDEF_EOF;
        break;
      case Ph.ROWS:
        this.rows++;
        break;
      case Ph.PARAMS:
        if (--this.remaining === 0) this.ph = Ph.PARAMS_EOF;
        break;
      case Ph.PCOLS:
        if (--this.remaining === 0) this.ph = Ph.PCOLS_EOF;
        break;
      case Ph.STAT:
        this.finish(false);
        break;
    }
  }

  private finish(err: boolean): void {
    this.ph = Ph.DONE;
    this.doneSignal = true;
    this.doneErr = err;
  }

  private doneSignal = false;
  private doneErr = false;

  /** A complete control packet: b[4..] is the payload. */
  private onPacket(b: Buffer, seq: number): void {
    const p = b.subarray(4);
    const first = p.length > 0 ? p[0] : -1;
    const host = this.host;
    if (first === 0xff) {
      if (this.kind === Resp.PREPARE && this.ph === Ph.FIRST && !this.prepareRetried && p.length >= 3 && p.readUInt16LE(1) === ER_MAX_PREPARED_STMT_COUNT_REACHED) {
        this.prepareRetried = true;
        if (host.retryPrepare()) {
          if (this.inlineAt >= 0) this.flushTo(this.inlineAt);
          return;
        }
      }
      // ERR: 0xff, errno(2), '#', SQLSTATE(5); the class is its first two characters.
      this.errClass = p.length >= 6 && p[3] === 0x23 ? p.toString('latin1', 4, 6) : 'HY';
      this.emit(b, seq);
      this.finish(true);
      return;
    }
    switch (this.ph) {
      case Ph.FIRST:
        if (first === 0x00 && this.kind === Resp.PREPARE) {
          const backendId = p.readUInt32LE(1);
          const cols = p.readUInt16LE(5);
          const params = p.readUInt16LE(7);
          const warnings = p.length >= 12 ? p.readUInt16LE(10) : 0;
          const vid = host.onPrepareOk(backendId, cols, params, warnings);
          p.writeUInt32LE(vid >>> 0, 1);
          this.emit(b, seq);
          this.pcols = cols;
          if (params > 0) {
            this.remaining = params;
            this.ph = Ph.PARAMS;
          } else this.afterParams(cols);
          return;
        }
        if (first === 0x00) {
          this.lastWasResultSet = false;
          this.onOk(b, seq, 0x00);
          return;
        }
        if (first === 0xfb) {
          if (this.refuseInfile) {
            this.infileRefused = true;
            // The client never sees the request nor the empty file the session answers with: the
            // backend's reply (at seq+2) takes the request's place (seq 1 for a lone statement).
            if (this.inlineAt >= 0) this.flushTo(this.inlineAt);
            this.seqDelta -= 2;
            this.ph = Ph.INFILE;
            host.onLocalInfile(seq);
            return;
          }
          this.emit(b, seq);
          this.ph = Ph.INFILE;
          host.onLocalInfile(seq);
          return;
        }
        if (first === 0xfe && p.length < 9) {
          this.onEof(p, seq, true);
          return;
        }
        // column count
        this.remaining = first < 0xfb ? first : first === 0xfc ? p.readUInt16LE(1) : p.readUIntLE(1, 3);
        this.rows = 0;
        this.lastWasResultSet = true;
        this.emit(b, seq);
        this.ph = this.remaining > 0 ? Ph.COLDEFS : Ph.COLDEF_EOF;
        return;
      case Ph.COLDEF_EOF: {
        const e = parseEof(p);
        if (this.kind === Resp.EXECUTE && e.status & Status.CURSOR_EXISTS) {
          host.onTerminator(e.status, e.warnings, null);
          const status = this.clientStatus(e.status & ~Status.MORE_RESULTS_EXISTS) | (e.status & Status.MORE_RESULTS_EXISTS);
          if (this.deprecateEof) this.emitBuilt(eofAsOk(e.warnings, status, host.clientCaps), seq);
          else {
            if (p.length >= 5) p.writeUInt16LE(status, 3);
            this.emit(b, seq);
          }
          this.finish(false);
          return;
        }
        if (this.deprecateEof) this.drop();
        else {
          if (p.length >= 5) p.writeUInt16LE(this.clientStatus(e.status), 3);
          this.emit(b, seq);
        }
        this.ph = Ph.ROWS;
        return;
      }
      case Ph.ROWS:
      case Ph.FIELDS:
        this.onEof(p, seq, false, b);
        return;
      case Ph.PARAMS_EOF:
        if (this.deprecateEof) this.drop();
        else this.emit(b, seq);
        this.afterParams(this.pcols);
        return;
      case Ph.PCOLS_EOF:
        if (this.deprecateEof) this.drop();
        else this.emit(b, seq);
        this.finish(false);
        return;
      case Ph.INFILE:
      default:
        throw new ProtocolError(`unexpected packet 0x${first.toString(16)} from backend`);
    }
  }

  private pcols = 0;

  private afterParams(cols: number): void {
    this.pcols = cols;
    if (cols > 0) {
      this.remaining = cols;
      this.ph = Ph.PCOLS;
    } else this.finish(false);
  }

  private onEof(p: Buffer, seq: number, first: boolean, raw?: Buffer): void {
    const e = parseEof(p);
    this.host.onTerminator(e.status, e.warnings, null);
    const status = this.clientStatus(e.status);
    if (status !== e.status && raw && p.length >= 5) p.writeUInt16LE(status, 3);
    if (this.deprecateEof) this.emitBuilt(eofAsOk(e.warnings, status, this.host.clientCaps), seq);
    else if (raw) this.emit(raw, seq);
    else this.emitBuilt({ finish: (s: number) => Buffer.from([5, 0, 0, s, 0xfe, e.warnings & 0xff, e.warnings >> 8, status & 0xff, status >> 8]) }, seq);
    if (!first && this.kind !== Resp.FIELD_LIST && e.status & Status.MORE_RESULTS_EXISTS) {
      this.ph = Ph.FIRST;
      return;
    }
    this.finish(false);
  }

  private onOk(b: Buffer, seq: number, header: number): void {
    const p = b.subarray(4);
    const ok = parseOk(p, Cap.SESSION_TRACK);
    const host = this.host;
    host.onTerminator(ok.status, ok.warnings, ok);
    if (this.infileRefused) {
      this.infileRefused = false;
      this.errClass = 'HY';
      this.emitBuilt(buildErr(ER_LOAD_INFILE_CAPABILITY_DISABLED, 'HY000', LOAD_INFILE_DISABLED_MESSAGE), seq);
      this.finish(true);
      return;
    }
    if (this.more && !(ok.status & Status.MORE_RESULTS_EXISTS)) {
      // Not the batch's last result: the client must read on (the proxy answers what follows).
      setOkStatus(p, ok.status | Status.MORE_RESULTS_EXISTS);
      ok.status |= Status.MORE_RESULTS_EXISTS;
      this.finish(false);
      if (ok.sessionState === null) {
        if (ok.status & Status.SESSION_STATE_CHANGED && this.maskState) setOkStatus(p, ok.status & ~Status.SESSION_STATE_CHANGED);
        this.emit(b, seq);
      } else {
        if (this.sessionTrack) ok.sessionState = host.filterSessionState(ok.sessionState);
        this.emitBuilt(buildOk(ok, host.clientCaps, header), seq);
      }
      return;
    }
    // Without session state the backend's bytes are already what this client expects: the info
    // string is length-encoded with or without SESSION_TRACK.
    if (ok.sessionState === null) {
      if (ok.status & Status.SESSION_STATE_CHANGED && this.maskState) setOkStatus(p, ok.status & ~Status.SESSION_STATE_CHANGED);
      this.emit(b, seq);
    } else {
      if (ok.sessionState !== null && this.sessionTrack) ok.sessionState = host.filterSessionState(ok.sessionState);
      this.emitBuilt(buildOk(ok, host.clientCaps, header), seq);
    }
    if (ok.status & Status.MORE_RESULTS_EXISTS) this.ph = Ph.FIRST;
    else this.finish(false);
  }
}

const EMPTY = Buffer.alloc(0);

/** Largest output of one backend chunk that is copied into one buffer rather than corked (bytes). */
const COALESCE_MAX = 4096;
