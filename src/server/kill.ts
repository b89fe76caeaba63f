/** KILL [HARD|SOFT] [QUERY|CONNECTION] id and COM_PROCESS_KILL, with the proxy's own connection ids. */
import { Status } from '../protocol/constants';
import { buildErr, buildOk } from '../protocol/ok-err';
import type { PacketWriter } from '../protocol/packet-writer';
import { S, type ClientSession } from './client-session';

const EMPTY = Buffer.alloc(0);

/**
 * Kills session `id` (its statement only, with `queryOnly`) if `s` may: a tenant only its own
 * tenant's sessions (another tenant's id is unknown, 1094), a passthrough user only its user's
 * (1095). `more`: a statement of a split multi-statement batch with more after it (batch-run.ts).
 */
export function killSession(s: ClientSession, id: number, queryOnly: boolean, more = false): void {
  const target = s.ctx.sessions.get(id);
  // Run from a split batch, the session is busy: an error ends the batch and the command.
  const fail = (w: PacketWriter) => {
    s.runner.noteLocalResult(null); // ROW_COUNT() -1 after an error; FOUND_ROWS() kept
    s.sendPacket(w, 1);
    if (s.batch !== null) s.toIdle();
  };
  // A tenant never learns whether another tenant's connection id exists.
  if (!target || (s.tenant && target.tenant?.tenant !== s.tenant.tenant)) return fail(buildErr(1094, 'HY000', `Unknown thread id: ${id}`));
  const other = s.tenant ? target.tenant?.tenant !== s.tenant.tenant : target.user?.name !== s.user?.name;
  if (other) return fail(buildErr(1095, 'HY000', `You are not owner of thread ${id}`));
  // A server's KILL QUERY of the very connection interrupts that KILL statement (and the rest of its batch).
  if (target === s && queryOnly) return fail(buildErr(1317, '70100', 'Query execution was interrupted'));
  if (target === s && !queryOnly) {
    s.sendPacket(buildErr(1927, '70100', 'Connection was killed'), 1);
    s.close('killed itself');
    return;
  }
  s.toBusy();
  const done = () => {
    // the OK of a KILL: ROW_COUNT() 0 (FOUND_ROWS() kept), as on a server
    s.runner.noteLocalResult(null, 0);
    // inside a multi-statement batch with statements after it: an OK saying more results follow
    const ok = { affectedRows: 0, lastInsertId: 0, status: s.okStatus() | Status.MORE_RESULTS_EXISTS, warnings: 0, info: EMPTY, sessionState: null };
    s.sendPacket(more ? buildOk(ok, s.clientCaps) : s.okPacket(), 1);
    s.toIdle();
  };
  const after = () =>
    s.guard('kill', () => {
      if (!queryOnly) target.close('killed');
      done();
    });
  killQuery(target).then(after, after);
}

/** Interrupts the statement session `s` is running on its backend, if any. */
export function killQuery(s: ClientSession): Promise<void> {
  // A statement a fast lane is relaying becomes the session's own (busy) first.
  if (s.lane !== null) s.ctx.lanes?.detach(s);
  const conn = s.heldConn;
  if (!conn || (s.state !== S.BUSY && s.state !== S.INFILE)) return Promise.resolve();
  return s.ctx.killBackendThread(conn);
}
