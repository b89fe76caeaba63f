/**
 * Notices routine, trigger and view DDL made on a backend server by anyone (not only through the
 * proxy) and reloads the definitions the classifier uses (Backend.loadRoutines). One cheap query
 * per poll on a connection of its own: the sum of the server's global DDL statement counters,
 * which MariaDB 10.11 moves at once for statements of every connection (Com_create_function counts
 * CREATE [OR REPLACE] FUNCTION, Com_create_view also ALTER VIEW, ...). RENAME / ALTER / DROP TABLE
 * are counted too: they move or drop a table's triggers.
 */
import { DEFAULT_COLLATION_ID } from '../protocol/constants';
import { BackendConnection } from './backend-connection';
import type { Backend } from './pool';

const COUNTERS = [
  'CREATE_FUNCTION', 'CREATE_PROCEDURE', 'CREATE_TRIGGER', 'CREATE_VIEW', 'CREATE_PACKAGE', 'CREATE_PACKAGE_BODY',
  'ALTER_FUNCTION', 'ALTER_PROCEDURE', 'DROP_FUNCTION', 'DROP_PROCEDURE', 'DROP_TRIGGER', 'DROP_VIEW', 'DROP_PACKAGE',
  'DROP_PACKAGE_BODY', 'RENAME_TABLE', 'ALTER_TABLE', 'DROP_TABLE', 'DROP_DB', 'CREATE_DB',
];

/** The poll query: one number that moves whenever routine, trigger or view definitions may have changed. */
export const ROUTINE_DDL_SQL = `SELECT SUM(VARIABLE_VALUE) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN (${COUNTERS.map((c) => `'COM_${c}'`).join(', ')})`;

/** How often each backend in use is polled. */
export const ROUTINE_WATCH_MS = 1000;

/**
 * Whether to reload the definitions: when the counter sum differs from the one read just before
 * they were last loaded (it also goes down when the server restarted), or that one is unknown. Pure.
 */
export function routineDdlMoved(last: string | null, now: string | null): boolean {
  return last === null || now !== last;
}

/**
 * The watch of one backend: poll() is called on a timer; overlapping calls are skipped. The counter
 * is read on an idle pooled connection of the hot list when there is one (no new connection; it is
 * put back with its idle time, and its FOUND_ROWS() and diagnostics marked as not any session's),
 * else on a short-lived one within max_connections (none while every slot holds a connection,
 * busy or cooled into generic-pool: the tick is skipped). A reload, rare, runs on a short-lived connection as the backend's own
 * account (a pooled one may be logged in as a tenant, which sees only its own routines), making
 * room by closing an idle pooled connection when the pool is full. With no room the tick is
 * skipped and the next one tries again. Every load of the definitions (at connection time, after
 * DDL through the proxy, here) records the sum read just before it, so the first tick reloads nothing.
 */
export class RoutineWatch {
  private busy = false;
  /** Reloads done (tests and logs). */
  reloads = 0;

  constructor(readonly backend: Backend) {}

  /** One poll; resolves true when the definitions were reloaded. Never rejects. */
  async poll(): Promise<boolean> {
    if (this.busy || Date.now() < this.backend.nextAttemptAt) return false;
    this.busy = true;
    try {
      const now = await this.readCounters();
      if (now === undefined || !routineDdlMoved(this.backend.routinesDdlSum, now)) return false;
      // (loadRoutines reads the sum again before loading: DDL after that read is seen at the next poll)
      if (!(await this.withOwnConnection((c) => this.backend.loadRoutines(c), true))) return false;
      this.reloads++;
      return true;
    } catch (e) {
      this.backend.noteRoutinesLoadFailed(e as Error);
      return false;
    } finally {
      this.busy = false;
    }
  }

  /** The counter sum (null: the server returned none), or undefined when there was no connection to ask. */
  private async readCounters(): Promise<string | null | undefined> {
    for (const p of this.backend.pools.values()) {
      // the least recently used idle connection, put back untouched (it still idles out)
      const c = p.hot.length > 0 ? p.hot[0] : undefined;
      if (c === undefined || !p.takeIfIdle(c)) continue;
      const lastUsed = c.lastUsed;
      try {
        const r = await c.query(ROUTINE_DDL_SQL);
        c.noteDiagOwner(null);
        p.returnUntouched(c, lastUsed);
        return cellText(r.rows[0] ? r.rows[0][0] : null);
      } catch (e) {
        p.discard(c);
        throw e;
      }
    }
    let out: string | null | undefined;
    await this.withOwnConnection(async (c) => {
      const r = await c.query(ROUTINE_DDL_SQL);
      out = cellText(r.rows[0] ? r.rows[0][0] : null);
    }, false);
    return out;
  }

  /** Runs `fn` on a short-lived connection counted under max_connections; false when there was no room. */
  private async withOwnConnection(fn: (c: BackendConnection) => Promise<void>, makeRoom: boolean): Promise<boolean> {
    const b = this.backend;
    if (b.open >= b.cfg.maxConnections && makeRoom) {
      for (const p of b.pools.values()) if (p.evictOneIdle()) break;
      // (the evicted connection gives its slot back when it has closed)
      for (let i = 0; i < 10 && b.open >= b.cfg.maxConnections; i++) await new Promise((r) => setTimeout(r, 10));
    }
    if (b.open >= b.cfg.maxConnections) return false;
    b.open++;
    const c = new BackendConnection(b.cfg, 0, DEFAULT_COLLATION_ID, false);
    try {
      await c.connect();
      await fn(c);
      return true;
    } finally {
      if (!c.closed) c.quit();
      b.open--;
    }
  }
}

function cellText(cell: Buffer | null): string | null {
  return cell ? cell.toString('latin1') : null;
}
