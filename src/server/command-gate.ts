import { buildErr } from '../protocol/ok-err';
import { BackendTimeoutError } from '../backend/backend-connection';
import { S, type ClientSession } from './client-session';
import { followConfig } from './follow-config';

/**
 * The pinned backend connection died while the session was idle: like a server's connection, the
 * session is over. An idle-in-transaction timeout closes it now; otherwise the client's next
 * command gets ERR 2013 (see {@link admitCommand}) and then the connection closes.
 */
export function backendStateLost(s: ClientSession, err: Error | null): void {
  if (s.state === S.CLOSED) return;
  s.st.pins = 0;
  s.ctx.metrics.errors.inc({ kind: 'backend_lost' });
  s.log.warn({ err: err?.message }, 'backend connection holding session state lost while idle');
  if (err instanceof BackendTimeoutError) {
    s.close('idle in transaction timeout');
    return;
  }
  s.stateLost = true;
}

/**
 * Before a command of an idle session: whether it may run. Not when the backend connection holding
 * the session's state died while it was idle (ERR 2013, as a server's connection would end), nor
 * when a config reload removed its tenant (ERR 1045, fails closed); after a reload it first follows
 * the new config (follow-config.ts). False: the session was closed.
 */
export function admitCommand(s: ClientSession): boolean {
  if (s.stateLost) {
    s.sendPacket(buildErr(2013, 'HY000', "Lost connection to server during query (the backend connection holding this session's transaction, locks or temporary tables is gone)"), 1);
    s.close('backend connection with session state lost');
    return false;
  }
  if (s.poolVersion !== s.ctx.configVersion && !applyConfig(s)) {
    s.sendPacket(buildErr(1045, '28000', 'Access denied: this tenant is no longer configured'), 1);
    s.close('tenant removed from the config');
    return false;
  }
  return true;
}

/** Applies {@link followConfig}; false when the session's tenant is gone. */
function applyConfig(s: ClientSession): boolean {
  const ctx = s.ctx;
  const d = followConfig({ pinned: s.st.pins !== 0, user: s.user, tenant: s.tenant }, ctx.users, ctx.routing, ctx.backends);
  if (d.action !== 'follow') return d.action === 'wait';
  s.user = d.user;
  if (s.tenant) s.tenant = d.tenant;
  const backend = d.backend;
  if (!backend) return true; // the user's backend is gone; keep the old one until the user is reconfigured
  if (backend !== s.backend) {
    s.backend = backend;
    s.pool = backend.pool(s.profileCaps, s.collation, s.extMeta);
  }
  s.poolVersion = ctx.configVersion;
  return true;
}
