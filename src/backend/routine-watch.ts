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
 * Whether to reload the definitions: on the first poll (DDL may have happened since they were
 * loaded), and whenever the counter sum differs (it also goes down when the server restarted). Pure.
 */
export function routineDdlMoved(last: string | null, now: string | null): boolean {
  return last === null || now !== last;
}

/** The watch of one backend: poll() is called on a timer; overlapping calls are skipped. */
export class RoutineWatch {
  private conn: BackendConnection | null = null;
  private last: string | null = null;
  private busy = false;
  /** Reloads done (tests and logs). */
  reloads = 0;

  constructor(readonly backend: Backend) {}

  /** One poll; resolves true when the definitions were reloaded. Never rejects. */
  async poll(): Promise<boolean> {
    if (this.busy) return false;
    this.busy = true;
    try {
      let c = this.conn;
      if (c === null || c.closed) {
        c = new BackendConnection(this.backend.cfg, 0, DEFAULT_COLLATION_ID, false);
        this.conn = c;
        await c.connect();
      }
      const r = await c.query(ROUTINE_DDL_SQL);
      const cell = r.rows[0] ? r.rows[0][0] : null;
      const now = cell ? cell.toString('latin1') : null;
      if (!routineDdlMoved(this.last, now)) return false;
      // read before loading: DDL after the read moves the sum again and is seen at the next poll
      await this.backend.loadRoutines(c);
      this.last = now;
      this.reloads++;
      return true;
    } catch (e) {
      this.backend.noteRoutinesLoadFailed(e as Error);
      this.close();
      return false;
    } finally {
      this.busy = false;
    }
  }

  close(): void {
    const c = this.conn;
    this.conn = null;
    if (c && !c.closed) c.quit();
  }
}
