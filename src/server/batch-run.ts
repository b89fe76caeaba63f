/**
 * Runs a multi-statement COM_QUERY that the proxy split (see classify/batch-split.ts): backend
 * segments relayed in turn, KILLs answered by the proxy, a refusal that ends the batch. The client
 * sees one response, as from a server: sequence ids continue across segments, every result but the
 * last carries SERVER_MORE_RESULTS_EXISTS, and the first error ends the batch.
 */
import { Com } from '../protocol/constants';
import { buildErr } from '../protocol/ok-err';
import { scanQuery } from '../classify/lexer';
import type { BatchSegment } from '../classify/batch-split';
import type { ClientSession } from './client-session';
import { routeQuery } from './query-route';
import { killSession } from './kill';

/** A split batch in progress on a session. */
export interface BatchRun {
  readonly segs: readonly BatchSegment[];
  /** The client's COM_QUERY payload (segments are offsets into it). */
  readonly payload: Buffer;
  /** Index of the next segment. */
  i: number;
  /** Last sequence id written to the client for this command (0: nothing yet). */
  seq: number;
  /** A segment ended with an error: the rest of the batch does not run. */
  failed: boolean;
}

/** Starts running `segs` of the COM_QUERY `payload`. */
export function runBatch(s: ClientSession, segs: readonly BatchSegment[], payload: Buffer): void {
  s.batch = { segs, payload, i: 0, seq: 0, failed: false };
  s.toBusy();
  step(s, s.batch);
}

/**
 * Called when a segment is done (the session would go idle): runs the next one and returns true,
 * or ends the batch (after the last segment, an error, or a closed session) and returns false.
 */
export function continueBatch(s: ClientSession): boolean {
  const b = s.batch as BatchRun;
  if (!b.failed && b.i < b.segs.length && !s.closed) {
    step(s, b);
    return true;
  }
  s.batch = null;
  s.runner.armSegment(0, false);
  return false;
}

function step(s: ClientSession, b: BatchRun): void {
  const seg = b.segs[b.i++] as BatchSegment;
  const more = b.i < b.segs.length;
  switch (seg.t) {
    case 'sql': {
      const payload = Buffer.concat([Buffer.from([Com.QUERY]), b.payload.subarray(seg.start, seg.end)]);
      const frame = { payload, seq: 0, lastSeq: 0, raw: null };
      const info = scanQuery(payload, 1, payload.length, s.routines);
      s.runner.armSegment(b.seq, more);
      routeQuery(s, frame, info);
      // Refused at once (isolation, no route): no statement started, so nothing else ends the command.
      if (s.batch === b && b.failed && !s.runner.busy && !s.closed) s.toIdle();
      return;
    }
    case 'kill':
      killSession(s, seg.id, seg.query, more);
      return;
    case 'err':
      s.sendPacket(buildErr(seg.errno, seg.sqlState, seg.message), 1);
      s.toIdle();
      return;
  }
}
