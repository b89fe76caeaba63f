import type * as crypto from 'node:crypto';
import type * as tls from 'node:tls';
import type { Logger } from 'pino';
import type { Config, UserConfig } from '../config/types';
import type { BackendConnection } from '../backend/backend-connection';
import type { InternalResult } from '../backend/internal-exchange';
import type { Backend } from '../backend/pool';
import type { ClientSession } from './client-session';
import type { BufferBudget } from './client-conn';
import type { LoginThrottle } from './login-throttle';
import type { Metrics } from '../metrics/metrics';
import type { PlanCache } from '../classify/plan-cache';
import type { LiteralFreeIndex } from '../classify/literal-free-key';
import type { CachedDecision } from '../routing/route';
import type { RoutingSnapshot } from '../routing/snapshot';
import type { RouteCounts } from '../metrics/ops-collectors';
import type { Topology } from '../backend/topology';
import type { RywStore } from '../backend/ryw-store';
import type { DigestKeys } from '../metrics/digest-keys';
import type { LaneManager } from './lane-manager';

/** Identity switches on borrowed backend connections (the bench reports the hit rate). */
export interface IdentityStats {
  /** Borrowed connection was already logged in as the statement's account. */
  hits: number;
  /** COM_CHANGE_USER was needed. */
  switches: number;
  /** Total milliseconds spent in those COM_CHANGE_USER round trips (incl. re-initialisation). */
  switchMs: number;
  /** COM_RESET_CONNECTION to drop another session's user variables before replay (see replay.ts 'reset_session'). */
  userVarResets: number;
  /** Total milliseconds spent in those resets (including re-initialisation). */
  userVarResetMs: number;
}

/** What a client session needs from the proxy that owns it. */
export interface ProxyContext {
  /** The current config snapshot (swapped on reload: read it per statement, don't keep it). */
  readonly config: Config;
  /** Version of that snapshot; a session re-resolves its backend pool when it changes. */
  readonly configVersion: number;
  readonly log: Logger;
  readonly users: Map<string, UserConfig>;
  readonly backends: Map<string, Backend>;
  readonly sessions: Map<number, ClientSession>;
  /** Sessions still in the handshake/auth exchange, oldest first (their own budget: max_handshake_connections). */
  readonly handshaking: Set<ClientSession>;
  /** Bytes buffered by all client connections (server.max_client_buffer_bytes). */
  readonly clientBuffer: BufferBudget;
  /** Failed-login throttling per client address and user name. */
  readonly loginThrottle: LoginThrottle;
  /**
   * Stands in for a user name that does not exist, so that an unknown user goes through the same
   * exchange and the same password check (and fails with the same error) as a wrong password.
   */
  readonly dummyUser: UserConfig;
  readonly metrics: Metrics;
  /** Tenant statements per route (plain counts, exported at scrape time). */
  readonly routes: RouteCounts;
  readonly serverVersion: string;
  readonly serverCaps: number;
  readonly serverMariaCaps: number;
  readonly serverCollation: number;
  readonly tlsContext: tls.SecureContext | null;
  /** Raw socket I/O is on (config server.raw_io, env, and Node's internals as expected): src/io/raw-io.ts. */
  readonly rawIo: boolean;
  /** The native fast lane (server.fast_lane, raw I/O, the module built): lane-manager.ts; null when off. */
  readonly lanes: LaneManager | null;
  readonly rsa: { publicPem: string; privateKey: crypto.KeyObject } | null;
  /** The routing view of the config (tenants, clusters); built once per config version. */
  readonly routing: RoutingSnapshot;
  readonly planCache: PlanCache<CachedDecision>;
  /** Statement shapes (literals cut out) whose decision the plan cache holds: skips the digest scan. */
  readonly fastPlans: LiteralFreeIndex;
  /** Live health of the configured clusters; null when no cluster is configured (passthrough). */
  readonly topology: Topology | null;
  readonly ryw: RywStore;
  /** Statements running per backend name right now (the selector prefers the least loaded replica). */
  readonly inFlight: Map<string, number>;
  readonly identity: IdentityStats;
  /**
   * Test-only: skip the proxy's isolation checks so tests can show that the server layer (each
   * tenant's own backend account) holds by itself. Never set in production.
   */
  readonly unsafeSkipProxyIsolation: boolean;
  /** The users[] entry a login name authenticates as (a plain user, or the {user} part of a user_pattern). */
  resolveUser(login: string): UserConfig | undefined;
  /** Bound on server-side prepared statements cached per backend connection. */
  maxPrepared(conn: BackendConnection): number;
  /** Backends drained by an operator (admin API): replicas among them leave rotation. */
  readonly drained: ReadonlySet<string>;
  /** A command finished: statement metrics, per-digest statistics, slow-query log. */
  noteCommand(s: ClientSession, payload: Buffer | null, ms: number, bytesIn: number, bytesOut: number, errClass: string, rows: number, now: number): void;
  /** Literal-free statement keys → digest-statistics entries (the routing path resolves its key here). */
  readonly digestKeys: DigestKeys;
  /** Runs KILL QUERY for a backend connection's thread over another connection. */
  killBackendThread(conn: BackendConnection): Promise<void>;
  /** Runs `sql` as the proxy's account on a fresh connection to `conn`'s server (SHOW EXPLAIN FOR its thread). */
  queryBeside(conn: BackendConnection, sql: string): Promise<InternalResult>;
}
