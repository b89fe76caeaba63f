/**
 * MariaDB GTID positions as values: parse, format, compare, merge; `last_gtid` out of an OK
 * packet's session-state block; the `MASTER_GTID_WAIT` statement and what its answer means.
 *
 * A MariaDB GTID is `domain-server-seq` (`0-1-42`). A position is a list with at most one GTID per
 * replication domain (`0-1-42,1-2-7`). With `gtid_strict_mode` sequence numbers grow monotonically
 * per domain whatever server wrote them, so "has a replica applied this?" is a per-domain comparison
 * of sequence numbers, and the server id only says who wrote it. That is also what
 * `MASTER_GTID_WAIT` compares, so {@link gtidCovers} and the server agree.
 *
 * Tracking: `last_gtid` is reported in the session-state block of the OK packet that ends an
 * autocommit write or a COMMIT when the connection's `session_track_system_variables` names it, or is
 * `*` (the proxy sets `*` on every backend connection; checked against MariaDB 10.11), so after an
 * ordinary write, DDL, COMMIT or a CALL that ends with OK the proxy does not read `@@last_gtid`.
 * Exception: a write that returns rows (`INSERT/DELETE/REPLACE ... RETURNING`) ends with an EOF on
 * the proxy's classic-EOF backend connections, and EOF carries no session state; after such a
 * statement run {@link LAST_GTID_SQL} on the same connection. A write inside an open transaction has
 * no GTID until COMMIT. `last_gtid` is read-only: session-state replay must never `SET` it (the server
 * answers 1238 "Variable 'last_gtid' is a read only variable").
 */
import { SessionTrack } from '../protocol/constants';

/** One GTID. `seq` is a bigint: MariaDB sequence numbers are unsigned 64-bit. */
export interface Gtid {
  readonly domain: number;
  readonly server: number;
  readonly seq: bigint;
}

/** A GTID position: at most one GTID per domain, keyed by domain id. Treat as immutable. */
export type GtidPos = ReadonlyMap<number, Gtid>;

/** The empty position (covered by every position). */
export const EMPTY_GTID_POS: GtidPos = new Map();

/** The session variable whose tracking carries the GTID of a session's last write. */
export const LAST_GTID_VAR = 'last_gtid';

/** Reads the GTID of the connection's last write when no OK packet reported it (see the file comment). */
export const LAST_GTID_SQL = 'SELECT @@last_gtid';

/** A malformed GTID list, from config, a server, or a store. */
export class GtidParseError extends Error {
  readonly code = 'GTID_PARSE';
}

const U32_MAX = 0xffffffff;
const U64_MAX = (1n << 64n) - 1n;
const GTID_RE = /^\s*(\d{1,10})-(\d{1,10})-(\d{1,20})\s*$/;

/**
 * Parses `0-1-42,1-2-7` (the form of `@@gtid_binlog_pos`, `@@gtid_slave_pos`, `@@last_gtid`).
 * Empty or whitespace-only text is the empty position. Two GTIDs of one domain keep the higher
 * sequence number, as the server's own positions never repeat a domain.
 * @throws GtidParseError on anything else.
 */
export function parseGtidPos(text: string): GtidPos {
  const out = new Map<number, Gtid>();
  if (text.trim() === '') return out;
  for (const part of text.split(',')) {
    const m = GTID_RE.exec(part);
    if (!m) throw new GtidParseError(`malformed GTID '${part.trim()}' in '${text}' (expected domain-server-seq)`);
    const domain = Number(m[1]);
    const server = Number(m[2]);
    const seq = BigInt(m[3]);
    if (domain > U32_MAX || server > U32_MAX || seq > U64_MAX) throw new GtidParseError(`GTID '${part.trim()}' out of range`);
    const prev = out.get(domain);
    if (!prev || seq > prev.seq) out.set(domain, { domain, server, seq });
  }
  return out;
}

/** Like {@link parseGtidPos}, but null instead of throwing (for values read from a server). */
export function tryParseGtidPos(text: string | null | undefined): GtidPos | null {
  if (text === null || text === undefined) return null;
  try {
    return parseGtidPos(text);
  } catch {
    return null;
  }
}

/** Canonical text: ordered by domain, so equal positions format equally. */
export function formatGtidPos(pos: GtidPos): string {
  if (pos.size === 0) return '';
  const domains = [...pos.keys()].sort((a, b) => a - b);
  let s = '';
  for (const d of domains) {
    const g = pos.get(d) as Gtid;
    s += (s ? ',' : '') + `${g.domain}-${g.server}-${g.seq}`;
  }
  return s;
}

/**
 * Per-domain maximum of two positions: what a reader must wait for to see the writes of both.
 * Returns `a` itself when `b` adds nothing (callers can detect "no change" by identity).
 */
export function mergeGtidPos(a: GtidPos, b: GtidPos): GtidPos {
  let out: Map<number, Gtid> | null = null;
  for (const [d, g] of b) {
    const have = a.get(d);
    if (have && have.seq >= g.seq) continue;
    out ??= new Map(a);
    out.set(d, g);
  }
  return out ?? a;
}

/** True when `have` has reached `need` in every domain `need` names (what MASTER_GTID_WAIT checks). */
export function gtidCovers(have: GtidPos, need: GtidPos): boolean {
  for (const [d, g] of need) {
    const h = have.get(d);
    if (!h || h.seq < g.seq) return false;
  }
  return true;
}

/**
 * Transactions `replica` is behind `primary`: the sum over domains of the sequence-number gap
 * (domains the replica is ahead in count 0). A count, not a time: see {@link estimateLagSeconds}.
 */
export function gtidDistance(primary: GtidPos, replica: GtidPos): bigint {
  let n = 0n;
  for (const [d, g] of primary) {
    const r = replica.get(d);
    const gap = g.seq - (r ? r.seq : 0n);
    if (gap > 0n) n += gap;
  }
  return n;
}

/** A position the primary was seen at, and when (ms since the epoch). */
export interface GtidObservation {
  readonly at: number;
  readonly pos: GtidPos;
}

/**
 * Replication lag in seconds estimated from GTIDs alone: how long ago the primary was first seen at
 * a position the replica has not applied yet (0 when the replica covers the newest observation).
 * Unlike Seconds_Behind_Master it keeps growing while the SQL thread is stopped or blocked, and is
 * not fooled by an idle primary. It is a lower bound, early by at most one sampling interval: the
 * unapplied write happened between that observation and the one before it.
 * `history` is ordered oldest first; null when there is nothing to compare with.
 */
export function estimateLagSeconds(replica: GtidPos, history: readonly GtidObservation[], now: number): number | null {
  if (history.length === 0) return null;
  for (const obs of history) {
    if (!gtidCovers(replica, obs.pos)) return Math.max(0, (now - obs.at) / 1000);
  }
  return 0;
}

/**
 * The value of `last_gtid` in a session-state block (the OK packet's, without its length prefix),
 * or null when the block does not report it. Walks the block by offsets without allocating
 * entries, as it runs on every write's OK packet; a malformed block yields null, never a throw.
 */
export function lastGtidFromSessionState(block: Buffer | null): string | null {
  if (!block) return null;
  let p = 0;
  const end = block.length;
  while (p < end) {
    const type = block[p++];
    const len = lenenc(block, p, end);
    if (len === null) return null;
    p = len.next;
    const dataEnd = p + len.value;
    if (dataEnd > end) return null;
    if (type === SessionTrack.SYSTEM_VARIABLES) {
      const nameLen = lenenc(block, p, dataEnd);
      if (nameLen === null) return null;
      const nameStart = nameLen.next;
      const nameEnd = nameStart + nameLen.value;
      if (nameEnd > dataEnd) return null;
      if (nameLen.value === LAST_GTID_VAR.length && block.toString('latin1', nameStart, nameEnd) === LAST_GTID_VAR) {
        const valLen = lenenc(block, nameEnd, dataEnd);
        if (valLen === null || valLen.next + valLen.value > dataEnd) return null;
        return block.toString('latin1', valLen.next, valLen.next + valLen.value);
      }
    }
    p = dataEnd;
  }
  return null;
}

function lenenc(b: Buffer, p: number, end: number): { value: number; next: number } | null {
  if (p >= end) return null;
  const first = b[p];
  if (first < 0xfb) return { value: first, next: p + 1 };
  if (first === 0xfc && p + 3 <= end) return { value: b.readUInt16LE(p + 1), next: p + 3 };
  if (first === 0xfd && p + 4 <= end) return { value: b.readUIntLE(p + 1, 3), next: p + 4 };
  // 8-byte lengths cannot occur inside a packet the framer accepted; treat as malformed.
  return null;
}

/**
 * True when a `session_track_system_variables` value makes the server report `last_gtid`
 * (`*`, or a list naming it; the server compares names case-insensitively).
 */
export function trackingReportsLastGtid(trackedVars: string): boolean {
  const list = trackedVars.split(',').map((s) => s.trim().toLowerCase());
  return list.includes('*') || list.includes(LAST_GTID_VAR);
}

/** Longest wait the proxy will ask a replica for; longer waits belong on the primary. */
const MAX_WAIT_MS = 3_600_000;

/**
 * `SELECT MASTER_GTID_WAIT('<pos>', <seconds>)` for a replica. The position is re-formatted from
 * parsed values, so nothing a client sent is spliced into the SQL. The timeout is in seconds with
 * millisecond precision (the server accepts a decimal).
 */
export function masterGtidWaitSql(pos: GtidPos, timeoutMs: number): string {
  if (pos.size === 0) throw new GtidParseError('MASTER_GTID_WAIT needs a non-empty position');
  const ms = Math.min(MAX_WAIT_MS, Math.max(0, Math.round(timeoutMs)));
  return `SELECT MASTER_GTID_WAIT('${formatGtidPos(pos)}', ${(ms / 1000).toFixed(3)})`;
}

/** What a `MASTER_GTID_WAIT` answer means for the statement waiting on it. */
export type GtidWaitOutcome =
  /** The replica has applied the position: run the read there. */
  | { readonly kind: 'reached' }
  /** Timed out: the replica is too far behind for this read; run it on the primary. */
  | { readonly kind: 'timeout' }
  /** NULL or anything else (e.g. the wait was killed): do not trust the replica for this read. */
  | { readonly kind: 'failed'; readonly detail: string };

/**
 * Interprets the single cell a `MASTER_GTID_WAIT` returns (text protocol: `'0'`, `'-1'`, or NULL).
 */
export function interpretGtidWait(cell: string | Buffer | null): GtidWaitOutcome {
  if (cell === null) return { kind: 'failed', detail: 'MASTER_GTID_WAIT returned NULL' };
  const v = (typeof cell === 'string' ? cell : cell.toString('latin1')).trim();
  if (v === '0') return { kind: 'reached' };
  if (v === '-1') return { kind: 'timeout' };
  return { kind: 'failed', detail: `MASTER_GTID_WAIT returned '${v}'` };
}
