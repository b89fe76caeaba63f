import type * as crypto from 'node:crypto';
import type * as tls from 'node:tls';
import type { Logger } from 'pino';
import type { Config, UserConfig } from '../config/types';
import type { BackendConnection } from '../backend/backend-connection';
import type { Backend } from '../backend/pool';
import type { ClientSession } from './client-session';
import type { Metrics } from '../metrics/metrics';

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
  readonly metrics: Metrics;
  readonly serverVersion: string;
  readonly serverCaps: number;
  readonly serverMariaCaps: number;
  readonly serverCollation: number;
  readonly tlsContext: tls.SecureContext | null;
  readonly rsa: { publicPem: string; privateKey: crypto.KeyObject } | null;
  /** Bound on server-side prepared statements cached per backend connection. */
  maxPrepared(conn: BackendConnection): number;
  /** A command finished: statement metrics, per-digest statistics, slow-query log. */
  noteCommand(s: ClientSession, payload: Buffer | null, ms: number, bytesIn: number, bytesOut: number, errClass: string, rows: number): void;
  /** Runs KILL QUERY for a backend connection's thread over another connection. */
  killBackendThread(conn: BackendConnection): Promise<void>;
}
