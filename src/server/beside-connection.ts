import type { Logger } from 'pino';
import { DEFAULT_COLLATION_ID } from '../protocol/constants';
import { BackendConnection } from '../backend/backend-connection';
import type { InternalResult } from '../backend/internal-exchange';

/**
 * KILL QUERY for a backend connection's thread, over a short-lived connection of its own so that
 * it works even when every pooled connection is busy.
 */
export async function killBackendThread(conn: BackendConnection, log: Logger): Promise<void> {
  const other = new BackendConnection(conn.cfg, 0, DEFAULT_COLLATION_ID, false);
  try {
    await other.connect();
    await other.query(`KILL QUERY ${conn.threadId}`);
  } catch (e) {
    log.debug({ err: (e as Error).message, thread: conn.threadId }, 'KILL QUERY on backend failed');
  } finally {
    other.quit();
  }
}

/** One query over a short-lived connection of its own to the same backend. */
export async function queryBeside(conn: BackendConnection, sql: string): Promise<InternalResult> {
  const other = new BackendConnection(conn.cfg, 0, DEFAULT_COLLATION_ID, false);
  try {
    await other.connect();
    return await other.query(sql);
  } finally {
    other.quit();
  }
}
