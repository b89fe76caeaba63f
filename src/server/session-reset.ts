import { Cap, Status } from '../protocol/constants';
import type { Frame } from '../protocol/framer';
import { buildEof, buildErr } from '../protocol/ok-err';
import { PacketReader } from '../protocol/packet-reader';
import { resetSessionState } from '../session/session-state';
import { S, type ClientSession } from './client-session';
import { recordVar } from './session-vars';
import { releaseStmts } from './stmt-lifetime';

/**
 * The connection-level commands that reset or reshape the session: COM_RESET_CONNECTION,
 * COM_CHANGE_USER (its reset and hand-over to the login exchange) and COM_SET_OPTION.
 */

/**
 * The sql_mode a session has after a reset, when it differs from the pool's default (undefined:
 * the default). A server rebuilds sql_mode from the global value on a reset, without the
 * IGNORE_SPACE the client's CLIENT_IGNORE_SPACE added at login; a pool of such clients has
 * IGNORE_SPACE in its default.
 */
export function sqlModeAfterReset(profileCaps: number, defaultSqlMode: string | undefined): string | undefined {
  if (!(profileCaps & Cap.IGNORE_SPACE) || defaultSqlMode === undefined) return undefined;
  return defaultSqlMode.split(',').filter((m) => m !== 'IGNORE_SPACE').join(',');
}

/** Forgets all session state, as COM_RESET_CONNECTION / COM_CHANGE_USER do on a server. */
function resetState(s: ClientSession, connReset = false): void {
  resetSessionState(s.st, connReset);
  releaseStmts(s.prepared.values(), null);
  s.prepared.clear();
  const pool = s.pool;
  const mode = pool ? sqlModeAfterReset(pool.profileCaps, pool.defaults?.get('sql_mode')) : undefined;
  if (pool && mode !== undefined) recordVar(s.st.vars, pool.defaults, 'sql_mode', mode);
}

/** COM_RESET_CONNECTION: the state is forgotten; a pinned connection is cleaned before OK. */
export function onResetConnection(s: ClientSession): void {
  const r = s.runner;
  const conn = r.conn;
  const wasPinned = s.st.pins !== 0;
  resetState(s, true);
  if (conn && wasPinned) {
    s.state = S.BUSY;
    r.cleanRelease(conn).then(() => s.guard('reset_connection', () => {
      s.sendPacket(s.okPacket(), 1);
      s.toIdle();
    }));
    return;
  }
  if (conn) r.releaseConn(conn);
  s.sendPacket(s.okPacket(), 1);
}

/** COM_CHANGE_USER: lets go of the backend connection (cleaned if pinned), resets, then authenticates anew. */
export function onChangeUser(s: ClientSession, f: Frame): void {
  const req = s.parseChangeUser(f.payload);
  const r = s.runner;
  const conn = r.conn;
  const go = () => {
    resetState(s);
    s.startChangeUser(req);
  };
  if (conn) {
    s.state = S.BUSY;
    const pinned = s.st.pins !== 0;
    (pinned ? r.cleanRelease(conn) : Promise.resolve(r.releaseConn(conn))).then(() => s.guard('change_user', go));
    return;
  }
  go();
}

/** COM_SET_OPTION: multi-statements on or off. */
export function onSetOption(s: ClientSession, p: Buffer): void {
  const opt = new PacketReader(p, 1, p.length).u16();
  if (opt !== 0 && opt !== 1) return s.sendPacket(buildErr(1047, '08S01', 'Unknown COM_SET_OPTION value'), 1);
  const st = s.st;
  st.multi = opt === 0;
  st.version++;
  if (s.clientCaps & Cap.DEPRECATE_EOF) s.sendPacket(s.okPacket(0, 0xfe), 1);
  else s.sendPacket(buildEof(0, st.lastStatus & (Status.IN_TRANS | Status.AUTOCOMMIT)), 1);
}
