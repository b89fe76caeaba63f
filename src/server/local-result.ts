/**
 * Results the proxy builds itself (diagnostics from the session's capture, a tenant's process list
 * or schema list) written to the client, alone or as one statement of a multi-statement batch the
 * proxy split (batch-run.ts): there, sequence ids continue after what the batch already sent and,
 * unless it is the batch's last statement, the result's terminators say more results follow.
 */
import { Status } from '../protocol/constants';
import type { ClientSession } from './client-session';

/** The status for the terminators of a result the proxy builds now. */
export function localStatus(s: ClientSession): number {
  const b = s.batch;
  return s.okStatus() | (b !== null && b.i < b.segs.length ? Status.MORE_RESULTS_EXISTS : 0);
}

/**
 * Writes `packets` (finished, sequence ids from 1) and, inside a split batch, ends that statement
 * (the batch goes on with the next one). Outside a batch the session never left idle.
 */
export function writeLocalResult(s: ClientSession, packets: Buffer[]): void {
  const b = s.batch;
  const c = s.client;
  c.cork();
  for (const p of packets) {
    if (b !== null) {
      p[3] = (p[3] + b.seq) & 0xff;
    }
    c.write(p);
  }
  c.uncork();
  if (b !== null) {
    if (packets.length > 0) b.seq = packets[packets.length - 1]![3]!;
    s.toIdle();
  }
}
