import type { BackendConnection } from '../backend/backend-connection';
import type { ReplayStep } from '../session/replay';
import { Pin } from '../session/pins';
import { buildErr } from '../protocol/ok-err';
import type { PacketWriter } from '../protocol/packet-writer';
import { CLEAR_DIAGNOSTICS_SQL } from './diagnostics';
import { sqlBytes, TRACKING_INIT_SQL } from './session-vars';
import type { ClientSession } from './client-session';
import { tenantAccount } from './tenant-session';
import { ownFoundRows } from './found-rows-owner';

/**
 * A statement that leaves FOUND_ROWS() at `n`. The Sequence engine's seq_1_to_N needs a current
 * schema (unqualified) and is a table, which LOCK TABLES refuses (1100); without a schema or under
 * LOCK TABLES (`sequence` false) a JSON_TABLE of n elements does.
 */
export function foundRowsSql(n: number, sequence: boolean): string {
  if (n <= 0) return 'SELECT SQL_CALC_FOUND_ROWS 1 FROM DUAL WHERE 0 LIMIT 0';
  if (sequence) return `SELECT SQL_CALC_FOUND_ROWS 1 FROM seq_1_to_${n} LIMIT 0`;
  return `SELECT SQL_CALC_FOUND_ROWS 1 FROM JSON_TABLE(CONCAT('[', REPEAT('0,', ${n - 1}), '0]'), '$[*]' COLUMNS(x INT PATH '$')) AS t LIMIT 0`;
}

/** What COM_RESET_CONNECTION does to the database character set on MariaDB (the schema stays). */
export const DB_CHARSET_DEFAULT_SQL = 'SET SESSION character_set_database = @@global.character_set_database, SESSION collation_database = @@global.collation_database';

/**
 * Leaves `conn` with no current schema (and nothing else of any session): COM_CHANGE_USER without a
 * database — for a tenant session to the tenant's own account, never the proxy's.
 */
export async function resetToNoSchema(s: ClientSession, conn: BackendConnection): Promise<void> {
  const acct = tenantAccount(s);
  if (acct) await conn.changeUser(acct.account, acct.password, TRACKING_INIT_SQL);
  else await conn.resetToNoSchema(TRACKING_INIT_SQL);
}

/**
 * Executes replay steps (see session/replay.ts replaySteps) on `conn` for session `s`, recording
 * each on the connection. Resolves with an ERR packet for the client when a step is refused (the
 * session's schema cannot be selected), else null; rejects when the connection fails.
 */
export async function runReplaySteps(s: ClientSession, conn: BackendConnection, steps: ReplayStep[]): Promise<PacketWriter | null> {
  const st = s.st;
  for (const step of steps) {
    switch (step.t) {
      case 'reset':
        await resetToNoSchema(s, conn);
        break;
      case 'reset_session': {
        const t0 = performance.now();
        await conn.resetSession(TRACKING_INIT_SQL);
        s.ctx.identity.userVarResets++;
        s.ctx.identity.userVarResetMs += performance.now() - t0;
        break;
      }
      case 'init_db': {
        const e = await conn.initDb(step.schema);
        if (e) return buildErr(e.errno, e.sqlState, e.message);
        break;
      }
      case 'db_charset_default':
        await conn.query(DB_CHARSET_DEFAULT_SQL);
        conn.noteDbCharsetDefault();
        break;
      case 'set_option':
        await conn.setMultiStatements(step.multi);
        break;
      case 'set':
        await conn.query(sqlBytes(step.sql));
        conn.noteReplaySet(st.vars, st.userVars.size > 0 ? st.userVars.keys() : null, st.userVarToken, step.pseudoThreadId);
        break;
      case 'last_insert_id':
        await conn.query(`DO LAST_INSERT_ID(${step.value})`);
        conn.noteLastInsertId(step.value);
        break;
      case 'found_rows':
        await conn.query(foundRowsSql(step.n, conn.schema !== null && !(st.pins & Pin.LOCK_TABLES)));
        ownFoundRows(s, conn);
        break;
      case 'clear_diag':
        await conn.query(CLEAR_DIAGNOSTICS_SQL);
        conn.noteDiagOwner(null);
        break;
    }
  }
  return null;
}
