/**
 * Bounds on COM_STMT_SEND_LONG_DATA, which the proxy buffers until the statement's next EXECUTE
 * (the statement is prepared on whichever backend connection runs it). Pure decisions.
 *
 * As MariaDB 10.11 does it: one parameter's long data beyond `max_allowed_packet` puts the
 * statement in an error state; every EXECUTE then answers ERR 1105 (HY000) with the server's message
 * until COM_STMT_RESET (or close). The proxy also bounds what one session buffers across all its
 * statements and parameters (`server.max_long_data_per_session`), so a client cannot make it hold
 * max_allowed_packet per parameter of thousands of statements; beyond it, the same error state.
 */

/** Bytes charged per chunk on top of its data: a stream of empty chunks must not be free to buffer. */
export const LONG_DATA_CHUNK_COST = 64;

/** keep: buffer the chunk; 'param': the parameter went past max_allowed_packet; 'session': the session's budget is spent. */
export type LongDataVerdict = 'keep' | 'param' | 'session';

/**
 * What to do with a chunk of `n` data bytes for a parameter already holding `paramBytes` data bytes,
 * in a session whose statements hold `sessionCost` charged bytes (data plus LONG_DATA_CHUNK_COST per chunk).
 */
export function longDataVerdict(paramBytes: number, sessionCost: number, n: number, maxAllowedPacket: number, maxSession: number): LongDataVerdict {
  if (paramBytes + n > maxAllowedPacket) return 'param';
  if (sessionCost + n + LONG_DATA_CHUNK_COST > maxSession) return 'session';
  return 'keep';
}

/** The ERR every EXECUTE of a statement in a long-data error state gets (until COM_STMT_RESET). */
export function longDataErr(kind: 'param' | 'session', maxSession: number): { errno: number; sqlState: string; message: string } {
  if (kind === 'param') {
    return { errno: 1105, sqlState: 'HY000', message: "Parameter of prepared statement which is set through mysql_send_long_data() is longer than 'max_allowed_packet' bytes" };
  }
  return {
    errno: 1105,
    sqlState: 'HY000',
    message:
      `Parameters of prepared statements set through mysql_send_long_data() hold more than ${maxSession} bytes in this session ` +
      `(tenantgate server.max_long_data_per_session); execute or reset the statements holding long data first, or raise that setting`,
  };
}

/** ER_MAX_PREPARED_STMT_COUNT_REACHED for a session holding `max` prepared statements (the server's own text). */
export function tooManyPreparedErr(max: number): { errno: number; sqlState: string; message: string } {
  return { errno: 1461, sqlState: '42000', message: `Can't create more than max_prepared_stmt_count statements (current value: ${max})` };
}
