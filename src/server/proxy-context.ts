import type * as crypto from 'node:crypto';
import type * as tls from 'node:tls';
import type { Logger } from 'pino';
import type { Config, UserConfig } from '../config/types';
import type { BackendConnection } from '../backend/backend-connection';
import type { Backend } from '../backend/pool';
import type { ClientSession } from './client-session';
import type { BufferBudget } from './client-conn';
import type { LoginThrottle } from './login-throttle';
import type { Metrics } from '../metrics/metrics';

/** What a client session needs from the proxy that owns it. */
export interface ProxyContext {
  readonly config: Config;
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
  readonly serverVersion: string;
  readonly serverCaps: number;
  readonly serverMariaCaps: number;
  readonly serverCollation: number;
  readonly tlsContext: tls.SecureContext | null;
  readonly rsa: { publicPem: string; privateKey: crypto.KeyObject } | null;
  /** Bound on server-side prepared statements cached per backend connection. */
  maxPrepared(conn: BackendConnection): number;
  /** Runs KILL QUERY for a backend connection's thread over another connection. */
  killBackendThread(conn: BackendConnection): Promise<void>;
}
