import type { QueryInfo } from '../classify/lexer';
import { Cap, Status } from '../protocol/constants';
import { Pin } from '../session/pins';

/*
 * The fast lane's decisions as pure functions (golden cases: test/fixtures/lane-cases.json): which
 * finished statements a native lane may run again without the proxy's JS, and when a session may
 * hand its client socket and backend connection to a lane. The lane (src/io/lane-native.ts, native/
 * lane/lane.cc) relays only what these approve and gives the session back on anything else.
 */

/** What a statement the proxy just ran through JS looked like (lanePlainStatement). */
export interface PlainFacts {
  /** 'query' (COM_QUERY) or 'execute' (COM_STMT_EXECUTE); anything else is never plain. */
  command: 'query' | 'execute' | 'other';
  /** The lexer's kind and flags of the statement, and the fields that ask for per-statement work. */
  kind: string;
  flags: number;
  userVars: boolean;
  lockNames: boolean;
  rowCountAt: boolean;
  connIdAt: boolean;
  schemaFnAt: boolean;
  sysVarAt: boolean;
  /** The execute ran the client's own statement (no ROW_COUNT()/schema/sysvar variant). */
  ownStmt: boolean;
  /** An execute with a cursor (flags byte != 0). */
  cursor: boolean;
  /** The response: one result set ended by a classic EOF, no error, no warnings. */
  resultSet: boolean;
  endedWithOk: boolean;
  error: boolean;
  warnings: number;
  /** Status flags of its terminator. */
  status: number;
}

/** Status flags a plain statement's terminator may carry besides the expected ones (the lane ignores them too). */
export const IGNORABLE_STATUS = Status.NO_GOOD_INDEX_USED | Status.NO_INDEX_USED | Status.QUERY_WAS_SLOW;
/** The transaction flags a lane expects unchanged on every terminator (it is attached with them). */
export const TX_STATUS = Status.AUTOCOMMIT | Status.IN_TRANS | Status.IN_TRANS_READONLY;

/**
 * Whether running this statement again (same text apart from literal values, or the same prepared
 * statement) on the same connection, in the same session state, needs nothing of the proxy beyond
 * relaying bytes: a SELECT whose lexer found nothing stateful (no user variables, locks, FOUND_ROWS(),
 * ROW_COUNT(), CONNECTION_ID(), DATABASE(), diagnostics, stored code, ...), answered with a plain
 * result set: no error, no warnings, no session-state change, no other status flag than the
 * transaction's (autocommit, in a transaction, read-only transaction: the lane checks they stay as
 * they were) and the ignorable index/slow ones.
 */
export function lanePlainStatement(f: PlainFacts): boolean {
  if (f.command === 'other' || f.kind !== 'SELECT' || f.flags !== 0) return false;
  if (f.userVars || f.lockNames || f.rowCountAt || f.connIdAt || f.schemaFnAt || f.sysVarAt) return false;
  if (f.command === 'execute' && (!f.ownStmt || f.cursor)) return false;
  if (!f.resultSet || f.endedWithOk || f.error || f.warnings !== 0) return false;
  return (f.status & ~IGNORABLE_STATUS & ~TX_STATUS) === 0;
}

/** Facts from QueryInfo for {@link PlainFacts}. */
export function infoFacts(info: QueryInfo): Pick<PlainFacts, 'kind' | 'flags' | 'userVars' | 'lockNames' | 'rowCountAt' | 'connIdAt' | 'schemaFnAt' | 'sysVarAt'> {
  return {
    kind: info.kind,
    flags: info.flags,
    userVars: info.userVars !== null,
    lockNames: info.lockNames !== null || info.lockNameUnknown,
    rowCountAt: info.rowCountAt !== null,
    connIdAt: info.connIdAt !== null,
    schemaFnAt: info.schemaFnAt !== null,
    sysVarAt: info.sysVarAt !== null,
  };
}

/** A tenant statement's route (tenantLaneRoute). */
export interface TenantRouteFacts {
  /**
   * Isolation decided it by its shape alone: a text statement whose literal-free key found (or just
   * stored) an allow-unchanged plan, or an execute of a statement checked at PREPARE.
   */
  decidedByShape: boolean;
  /** Where it ran: the tenant's primary or a replica (null: no route, e.g. a pinned connection). */
  role: 'primary' | 'replica' | null;
  /** It had to wait for a read-your-writes GTID on the replica first. */
  waitGtid: boolean;
  /** read_your_writes.scope. */
  rywScope: 'session' | 'tenant' | 'off';
}

/**
 * Whether a lane may run this tenant statement's shape again on the connection it ran on: isolation
 * decided by shape, a route with no GTID wait; on a replica only when no other session's write can
 * change what this session must read there (scope 'session': this session's own writes are not
 * lane statements, so they eject it first; 'tenant': another session's write would go unseen).
 */
export function tenantLaneRoute(f: TenantRouteFacts): boolean {
  if (!f.decidedByShape || f.role === null || f.waitGtid) return false;
  return f.role === 'primary' || f.rywScope !== 'tenant';
}

/** What the selector sees of a lane's cluster (laneBackendValid). */
export interface ClusterView {
  primary: { backend: string; state: string };
  replicas: readonly { backend: string; inRotation: boolean; weight: number }[];
}

/**
 * Whether a tenant lane's backend is still one the selector could send its reads to: the cluster's
 * primary (up; a read-only primary still serves reads) for a primary lane, a replica in rotation with
 * weight for a replica lane; never a drained backend. Checked every sweep; a lane that fails it
 * gives its session back.
 */
export function laneBackendValid(role: 'primary' | 'replica', backend: string, cluster: ClusterView | null, drained: boolean): boolean {
  if (cluster === null || drained) return false;
  if (role === 'primary') return cluster.primary.backend === backend && cluster.primary.state !== 'down';
  return cluster.replicas.some((r) => r.backend === backend && r.inRotation && r.weight > 0);
}

/** What a session and the connection it just used look like when it goes idle (laneAttachBlock). */
export interface AttachFacts {
  /** The proxy has a lane module and lanes are on. */
  available: boolean;
  /** The statement just finished was approved for the lane. */
  approved: boolean;
  /** The client sent this command right after the previous one ended (it is issuing statements back to back). */
  hot: boolean;
  /**
   * 'none': a passthrough session. A tenant session: 'ok' when its statement's route lets a lane repeat
   * it on this very connection (tenantLaneRoute, and the connection is that route's pool and the
   * tenant's account), else 'no'.
   */
  tenantRoute: 'none' | 'ok' | 'no';
  /** Client socket accepted with raw I/O (onread), no TLS, no compression. */
  rawPlain: boolean;
  clientCaps: number;
  /**
   * The session holds state on a connection (transaction, locks, temporary tables, cursors...).
   * A transaction alone (Pin.TX) is fine: the lane runs on the connection the session holds.
   */
  pins: number;
  /** Server status after the last statement. */
  lastStatus: number;
  /** A split multi-statement batch is running. */
  batch: boolean;
  /** Client bytes already read and not yet handled. */
  buffered: number;
  /** The session has diagnostics captured, or the connection holds some session's. */
  diagnostics: boolean;
  /** The connection the statement ran on: still open, last used by this session, nothing ran on it since, no re-init due. */
  connReady: boolean;
  /** The statement's pool has room for other sessions (an idle connection, or it may open one) and nobody waits. */
  poolSlack: boolean;
  /** A backend connection lost with the session's state is still to be reported at the next command. */
  stateLost: boolean;
}

/**
 * Null when the session may hand its sockets to a lane now, else why not (for tests and debug logs).
 * Clients that asked for CLIENT_DEPRECATE_EOF get results translated by the JS relay (backend
 * connections use classic EOF framing), so they stay in JS.
 */
export function laneAttachBlock(f: AttachFacts): string | null {
  if (!f.available) return 'no lane';
  if (!f.approved) return 'statement not approved';
  if (!f.hot) return 'client not busy';
  if (f.tenantRoute === 'no') return 'tenant route not repeatable';
  if (!f.rawPlain) return 'client socket not plain';
  if (f.clientCaps & Cap.DEPRECATE_EOF) return 'client uses DEPRECATE_EOF';
  if (!(f.clientCaps & Cap.PROTOCOL_41)) return 'client without PROTOCOL_41';
  if (f.pins !== 0 && f.pins !== Pin.TX) return 'session pinned';
  if ((f.lastStatus & Status.IN_TRANS) !== 0 && f.pins !== Pin.TX) return 'transaction without its pin';
  if (f.batch) return 'batch running';
  if (f.buffered !== 0) return 'client input buffered';
  if (f.diagnostics) return 'diagnostics held';
  if (f.stateLost) return 'state lost';
  if (!f.connReady) return 'connection not ready';
  if (!f.poolSlack) return 'pool busy';
  return null;
}
