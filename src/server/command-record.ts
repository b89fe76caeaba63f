import type * as net from 'node:net';
import type { UserConfig } from '../config/types';
import type { DigestEntry } from '../metrics/digest-stats';
import { Com } from '../protocol/constants';
import type { ClientStmt } from './prepared';

const COMMAND_NAMES: Record<number, string> = {
  [Com.QUERY]: 'query',
  [Com.STMT_PREPARE]: 'stmt_prepare',
  [Com.STMT_EXECUTE]: 'stmt_execute',
  [Com.STMT_FETCH]: 'stmt_fetch',
  [Com.INIT_DB]: 'init_db',
  [Com.PING]: 'ping',
};

/**
 * The command a session is serving, as data: what GET /sessions shows of it, and what its metrics,
 * per-digest statistics and slow-query log record when its response is complete (proxy.ts
 * noteCommand). One per session, reused for every command: no allocation per command.
 */
export class CommandRecord {
  /** The command's payload (a view, read only while busy; dropped at the end) and start time. */
  payload: Buffer | null = null;
  startedAt = 0;
  /** performance.now() at the command's arrival, 0 between commands (statement metrics). */
  t0 = 0;
  /** Set by {@link end}: the command's duration and client bytes in and out. */
  ms = 0;
  bytesIn = 0;
  bytesOut = 0;
  private inMark = 0;
  private outMark = 0;
  /** SQLSTATE class of an ERR the proxy itself sent during the command ('' if none). */
  proxyErrClass = '';
  /**
   * Digest statistics of the current COM_QUERY, filled by the routing path when it computed the
   * statement's literal-free key (see tenant-statement.ts): the entry that key found, or on a miss a
   * copy of the key and its hash, and the digest of a full scan it ran.
   */
  statsEntry: DigestEntry | null = null;
  statsKeyHash = -1;
  statsKeyBytes: Buffer | null = null;
  statsDigest: string | null = null;
  /** The current COM_STMT_EXECUTE's statement (its payload's id becomes the backend's: executePacket). */
  statsStmt: ClientStmt | null = null;
  /** ms between the end of the previous command and this one's arrival (a fast lane attaches to busy clients). */
  gapMs = Infinity;
  private lastEnd = 0;
  /**
   * A tenant's COM_QUERY was decided by its shape alone (the literal-free key's remembered plan: allowed
   * unchanged, no literal read): a fast lane may relay statements of that shape (lane-manager.ts).
   */
  shapeDecided = false;
  /** The digest-statistics entry noteCommand recorded this command in (null: none). */
  lastEntry: DigestEntry | null = null;
  /** Result of the statement's relay, set by the runner's release step (rows sent, ERR SQLSTATE class). */
  resultRows = 0;
  resultErrClass = '';
  private userFor: UserConfig | null = null;
  private userKeyValue = '';

  /** A fast lane ran commands for this session; the last ended at `at` (performance.now() time). */
  markEnded(at: number): void {
    if (at > this.lastEnd) this.lastEnd = at;
  }

  /** A command arrived. */
  begin(payload: Buffer): void {
    this.payload = payload;
    this.startedAt = Date.now();
    this.t0 = performance.now();
    this.gapMs = this.lastEnd === 0 ? Infinity : this.t0 - this.lastEnd;
    this.lastEntry = null;
    this.shapeDecided = false;
    this.proxyErrClass = '';
    this.statsEntry = null;
    this.statsKeyBytes = null;
    this.statsDigest = null;
    this.statsStmt = null;
    this.resultRows = 0;
    this.resultErrClass = '';
  }

  /** Its response is complete: sets ms, bytesIn, bytesOut (counted on `sock` since the previous end). */
  end(sock: net.Socket): void {
    const now = performance.now();
    this.ms = now - this.t0;
    this.lastEnd = now;
    this.t0 = 0;
    const read = sock.bytesRead; // once each: bytesWritten copies the Writable's buffer list
    const written = sock.bytesWritten;
    this.bytesIn = read - this.inMark;
    this.bytesOut = written - this.outMark;
    this.inMark = read;
    this.outMark = written;
  }

  /** After {@link end} was recorded: no view of a client read kept while idle (raw I/O reads are pool slices). */
  clear(): void {
    this.payload = null;
    this.statsStmt = null;
  }

  /** The SQLSTATE class the command ended with ('' if none): the proxy's own ERR, else the relayed one. */
  get errClass(): string {
    return this.proxyErrClass || this.resultErrClass;
  }

  /** The command in progress (`busy`: the session is running it): COM_* name, COM_QUERY text, start time. */
  current(busy: boolean): { command: string; sql: Buffer | null; startedAt: number } | null {
    const p = this.payload;
    if (!p || p.length === 0 || !busy) return null;
    const cmd = p[0]!;
    return { command: COMMAND_NAMES[cmd] ?? `0x${cmd.toString(16)}`, sql: cmd === Com.QUERY ? p : null, startedAt: this.startedAt };
  }

  /** The digest-statistics key of a session without a tenant (`user:NAME`), built once per user. */
  userKey(u: UserConfig | null): string {
    if (u === null) return '';
    if (this.userFor !== u) {
      this.userFor = u;
      this.userKeyValue = `user:${u.name}`;
    }
    return this.userKeyValue;
  }
}
