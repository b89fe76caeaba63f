import { buildErr } from '../protocol/ok-err';
import { BackendConnection } from '../backend/backend-connection';
import { interpretGtidWait, masterGtidWaitSql } from '../backend/gtid';
import type { RouteChoice } from './tenant-statement';
import { TRACKING_INIT_SQL } from './session-vars';
import { defaultRoute } from './tenant-session';
import { onReady, restoreFailed } from './statement-restore';
import type { StatementRunner, Current } from './statement';

/*
 * The lease stage of a statement, after a connection was taken from the pool: the read-your-writes
 * GTID wait on a replica, and the switch of the connection to the tenant's backend account.
 */

/** Read-your-writes on a replica: MASTER_GTID_WAIT, else the configured fallback. */
export function waitGtid(run: StatementRunner, conn: BackendConnection, cur: Current, route: RouteChoice): void {
  const ryw = run.s.ctx.routing.config.readYourWrites;
  conn.query(masterGtidWaitSql(route.waitGtid as NonNullable<RouteChoice['waitGtid']>, ryw.gtidWaitTimeoutMs)).then(
    (r) => {
      if (run.s.closed) return;
      const cell = r.rows[0] ? r.rows[0][0] : null;
      const outcome = interpretGtidWait(cell ?? null);
      const next: RouteChoice = { ...route, waitGtid: null };
      cur.route = next;
      if (outcome.kind === 'reached') {
        if (conn.account !== next.account) return switchIdentity(run, conn, cur, next);
        run.s.ctx.identity.hits++;
        return onReady(run, conn, cur);
      }
      run.releaseConn(conn);
      if (ryw.fallback === 'fail') {
        run.s.sendPacket(buildErr(9004, 'HY000', `tenantgate: replica '${route.backend}' did not apply this session's last write within ${ryw.gtidWaitTimeoutMs} ms (read_your_writes.fallback is 'fail')`), 1);
        return run.finishStatement();
      }
      const primary = run.s.tenant ? defaultRoute(run.s) : null;
      if (primary === null || 'action' in primary) {
        run.s.sendPacket(buildErr(primary ? primary.errno : 9001, primary ? primary.sqlState : 'HY000', primary ? primary.message : 'tenantgate: no primary'), 1);
        return run.finishStatement();
      }
      cur.route = primary;
      run.s.pool = primary.pool;
      run.s.backend = primary.pool.backend;
      run.withConn(run.onConn, false, primary.account);
    },
    (e: Error) => restoreFailed(run, conn, e),
  );
}

/** COM_CHANGE_USER to the tenant's backend account; the session's state is replayed afterwards. */
export function switchIdentity(run: StatementRunner, conn: BackendConnection, cur: Current, route: RouteChoice): void {
  const ctx = run.s.ctx;
  ctx.identity.switches++;
  const t0 = performance.now();
  conn.changeUser(route.account, route.password, TRACKING_INIT_SQL).then(
    () => {
      ctx.identity.switchMs += performance.now() - t0;
      if (run.s.closed) return;
      onReady(run, conn, cur);
    },
    (e: Error) => restoreFailed(run, conn, e),
  );
}
