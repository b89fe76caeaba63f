/**
 * The route planner: (statement scan, placement, session flags, read-your-writes config) → a
 * RoutePlan value. Writes, DDL, locking reads, side effects, anything in a transaction and anything
 * unclassifiable go to the primary; other reads to a replica, subject to the tenant's `reads`
 * setting and hints. Split in two so the plan cache can keep the statement's part:
 * `classifyRoute` (statement only) and `finishPlan` (+ session).
 */
import { S } from '../classify/digest';
import type { StatementPart, StatementScan } from '../classify/scan-types';
import type { ReadYourWritesConfig } from '../config/types';
import type { Placement } from './placement';

/** Session state the planner needs (the session keeps it; the planner never changes it). */
export interface SessionFlags {
  /** A transaction is open (explicit, or autocommit=0 after a statement). */
  readonly inTransaction: boolean;
  /** The session holds a backend connection (transaction, locks, temporary tables, ...). */
  readonly pinned: boolean;
  /** GTID of this session's last write, or null. */
  readonly lastWriteGtid: string | null;
  /** GTID of the last write by any session of the tenant (read_your_writes scope 'tenant'), or null. */
  readonly tenantLastWriteGtid?: string | null;
  /** A session-wide hint (e.g. from a connect attribute); a hint in the statement wins. */
  readonly hint?: 'primary' | 'replica' | null;
}

export interface RoutePlan {
  readonly target: 'primary' | 'replica' | 'pinned';
  readonly cluster: string;
  /** Physical schema the statement runs in. */
  readonly schema: string;
  /** Backend identity the statement runs as (its password is looked up by the pool, never put in plans). */
  readonly identity: { readonly tenant: string; readonly backendUser: string };
  /** GTID a replica must have applied before the read (MASTER_GTID_WAIT), or null. */
  readonly waitGtid: string | null;
  readonly reason: string;
}

/** What the statement alone says about routing (cacheable per digest). */
export interface StatementRoute {
  /** Every statement is a read a replica may serve. */
  readonly read: boolean;
  readonly reason: string;
  readonly hint: 'primary' | 'replica' | null;
}

const INFO_SCHEMA = 'information_schema';

function partReason(p: StatementPart): string | null {
  switch (p.kind) {
    case 'select':
      return null;
    case 'insert':
    case 'update':
    case 'delete':
    case 'replace':
    case 'load':
      return `write (${p.verb})`;
    case 'ddl':
      return `DDL (${p.verb})`;
    case 'call':
      return 'CALL (a procedure may write)';
    case 'transaction':
      return 'transaction control';
    case 'set':
    case 'use':
      return 'session state';
    case 'show':
    case 'describe':
    case 'help':
      return 'metadata read (primary sees DDL first)';
    case 'prepare':
      return 'SQL-level prepared statement';
    case 'lock':
    case 'handler':
      return `${p.verb} (connection state)`;
    case 'do':
      return 'DO (evaluated for its side effects)';
    case 'empty':
      return 'no statement';
    default:
      return `not a read (${p.verb || p.kind})`;
  }
}

/** The statement's own routing class. */
export function classifyRoute(scan: StatementScan): StatementRoute {
  const hint = scan.hint;
  const f = scan.flags;
  if (f & S.UNTERMINATED || scan.kind === 'unknown' || scan.statements.some((p) => p.kind === 'unknown')) {
    return { read: false, reason: 'unclassifiable', hint };
  }
  for (const p of scan.statements) {
    const r = partReason(p);
    if (r !== null) return { read: false, reason: r, hint };
  }
  if (scan.statements.length === 0) return { read: false, reason: 'no statement', hint };
  if (f & S.LOCKING_READ) return { read: false, reason: 'locking read', hint };
  if (f & S.SIDE_EFFECT) return { read: false, reason: `side-effect function ${scan.sideEffects?.join(', ') ?? ''}`.trim(), hint };
  if (f & S.USER_VAR_ASSIGN) return { read: false, reason: 'user variable assignment', hint };
  if (f & S.SESSION_FN) return { read: false, reason: 'per-connection function (LAST_INSERT_ID(), ROW_COUNT(), FOUND_ROWS(), LASTVAL())', hint };
  if (f & S.SQL_CALC_FOUND_ROWS) return { read: false, reason: 'SQL_CALC_FOUND_ROWS (FOUND_ROWS() follows on the same connection)', hint };
  if (f & S.INTO_FILE) return { read: false, reason: 'SELECT ... INTO', hint };
  for (const t of scan.tables) {
    if (t.schema && t.schema.name.toLowerCase() === INFO_SCHEMA) return { read: false, reason: 'metadata read (primary sees DDL first)', hint };
  }
  return { read: true, reason: 'read', hint };
}

/** Completes the plan with the session's state and the tenant's placement. */
export function finishPlan(route: StatementRoute, placement: Placement, session: SessionFlags, ryw: ReadYourWritesConfig): RoutePlan {
  const base = { cluster: placement.cluster, schema: placement.schema, identity: { tenant: placement.tenant, backendUser: placement.backendUser } };
  const hint = route.hint ?? session.hint ?? null;
  const plan = (target: RoutePlan['target'], reason: string, waitGtid: string | null = null): RoutePlan => ({ target, ...base, waitGtid, reason });
  if (session.pinned) return plan('pinned', `session pinned to its backend connection (${route.reason})`);
  if (session.inTransaction) return plan('primary', `in transaction (${route.reason})`);
  if (!route.read) return plan('primary', hint === 'replica' ? `${route.reason}; replica hint ignored` : route.reason);
  if (hint === 'primary') return plan('primary', 'read; hint primary');
  if (placement.replicaCount === 0) return plan('primary', 'read; cluster has no replicas');
  if (placement.reads === 'primary' && hint !== 'replica') return plan('primary', 'read; tenant reads from primary');
  let gtid: string | null = null;
  if (ryw.scope === 'session') gtid = session.lastWriteGtid;
  else if (ryw.scope === 'tenant') gtid = session.tenantLastWriteGtid ?? session.lastWriteGtid;
  const why = hint === 'replica' ? 'read; hint replica' : 'read';
  return plan('replica', gtid ? `${why}; wait for GTID ${gtid}` : why, gtid);
}

/** classifyRoute + finishPlan in one call. */
export function planRoute(scan: StatementScan, placement: Placement, session: SessionFlags, ryw: ReadYourWritesConfig): RoutePlan {
  return finishPlan(classifyRoute(scan), placement, session, ryw);
}
