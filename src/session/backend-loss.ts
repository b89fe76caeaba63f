/**
 * What a session does when the backend connection under its statement is lost (closed, killed,
 * timed out, protocol broken).
 *
 * - `close`: the connection held session state (transaction, locks, temporary tables, cursors,
 *   routines, ...): that state is gone, so the session ends as a server's connection would —
 *   ERR 2013, then the client connection is closed. Never a silent continuation.
 * - `retry`: nothing of the statement reached the backend and the session had no state there:
 *   run it on another connection, once.
 * - `error`: the statement may have run: ERR 2013 for it, and the session goes on (it had no
 *   state on that connection to lose).
 */
export type BackendLossAction = 'close' | 'retry' | 'error';

/** The facts the decision depends on. */
export interface BackendLoss {
  /** The session's pins when the connection was lost (0: no state on it). */
  pins: number;
  /** Bytes of the statement were written to the lost connection. */
  sent: boolean;
  /** The statement already moved to another connection once. */
  retried: boolean;
  /** The statement is a cursor fetch (only meaningful on the connection that holds the cursor). */
  fetch: boolean;
}

export function onBackendLoss(l: BackendLoss): BackendLossAction {
  if (l.pins !== 0) return 'close';
  if (!l.sent && !l.retried && !l.fetch) return 'retry';
  return 'error';
}
