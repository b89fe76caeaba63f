/**
 * The validated, immutable configuration snapshot the proxy runs on.
 * YAML keys are snake_case; the loader (`load.ts`) maps them to these camelCase fields
 * and fills every default, so consumers never see `undefined` for a defaulted field.
 */

/** A backend MariaDB/MySQL server and its connection pool settings. */
export interface BackendConfig {
  /** Unique name, referenced by users (`backend:`). */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Account the proxy logs in to the backend with. */
  readonly user: string;
  readonly password: string;
  /** Pool floor kept open (default 0). */
  readonly minConnections: number;
  /** Hard cap of backend connections to this server, across all pools (default 20). */
  readonly maxConnections: number;
  /**
   * Connections one user (one tenant, for tenant sessions) may hold at once, in statements or pinned
   * (undefined: no cap). The loader fills in its default (see lease-share.ts defaultShareCap).
   */
  readonly maxConnectionsPerUser?: number;
  /** Idle pooled connections above the floor are closed after this (default 60000). */
  readonly idleTimeoutMs: number;
  /** A client waiting longer than this for a backend connection gets an ERR (default 2000). */
  readonly acquireTimeoutMs: number;
  /** TCP connect + handshake timeout for one backend connection attempt (default 2000). */
  readonly connectTimeoutMs: number;
  /** Bound per backend connection of cached server-side prepared statements (default 256). */
  readonly maxPreparedPerConnection: number;
  /** A statement whose backend sends nothing for this long fails and the connection is dropped (0: off, the default). */
  readonly readTimeoutMs: number;
  /** A session idle this long with an open transaction (or other pinned state) is closed (0: off; default 300000). */
  readonly idleInTransactionTimeoutMs: number;
  /** A pooled connection idle longer than this is pinged before it is handed out (default 1000). */
  readonly validateAfterIdleMs: number;
}

/** A user that clients log in to the proxy as. */
export interface UserConfig {
  readonly name: string;
  /** mysql_native_password hash: `*` + 40 uppercase hex (SHA1(SHA1(password))), or '' for no password. */
  readonly nativeHash?: string;
  /** caching_sha2_password hash in MySQL's `$A$005$<20-byte salt><43 chars>` form. */
  readonly sha2Hash?: string;
  /**
   * Which backend this user's sessions go to (a BackendConfig name). For a user that config does not
   * give a backend (a tenant user), the primary of its tenant's cluster, or of the first cluster:
   * passthrough code keeps a valid backend while routing decides per tenant.
   */
  readonly backend: string;
  /** Schema selected when the client does not name one at connect. */
  readonly defaultSchema?: string;
  /** Refuse this user unless the client connection uses TLS (default false). */
  readonly requireTls: boolean;
}

export interface TlsConfig {
  /** PEM file paths. */
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile?: string;
}

export interface ServerConfig {
  /** Version string announced in the handshake; default: copied from the first backend reached. */
  readonly version?: string;
  /** Auth plugin announced in the initial handshake (default mysql_native_password). */
  readonly defaultAuthPlugin: 'mysql_native_password' | 'caching_sha2_password';
  /** Largest client command payload accepted, bytes (default 64 MiB). */
  readonly maxAllowedPacket: number;
  /** Client connections accepted at once; more get ERR 1040 (default 20000). */
  readonly maxClientConnections: number;
  /** Offer the RSA public-key exchange for caching_sha2 full auth over plain TCP (default true). */
  readonly rsaKeyExchange: boolean;
  /** PEM private key for that exchange; generated at start when absent. */
  readonly rsaPrivateKeyFile?: string;
  /** Forward MariaDB extended capabilities (extended type metadata) to clients that ask (default true). */
  readonly mariadbExtendedCapabilities: boolean;
  /** SIGTERM: how long open transactions may run before their sessions are closed (default 30000). */
  readonly shutdownTimeoutMs: number;
  /** Connections still in the handshake/auth exchange at once; the oldest is dropped to admit a new one (default 1000). */
  readonly maxHandshakeConnections: number;
  /** A client that stops in the middle of a packet for this long is disconnected (ERR 1159), like net_read_timeout (default 30000). */
  readonly netReadTimeoutMs: number;
  /** Bytes of unfinished client packets buffered across all sessions; above it, sessions adding more are paused (default 256 MiB). */
  readonly maxClientBufferBytes: number;
  readonly loginThrottle: LoginThrottleConfig;
  /** Announce CLIENT_COMPRESS: clients that ask get the zlib-compressed protocol (default true). */
  readonly compression: boolean;
  /** zlib level for what the proxy sends compressed (default 1: a quarter to a half of the CPU of 6, nearly the same size). */
  readonly compressionLevel: number;
  /** Writes shorter than this go out stored in compressed packets, not deflated (default 1024). */
  readonly compressionMinLength: number;
  /** Also announce CLIENT_ZSTD_COMPRESSION_ALGORITHM (with `compression`, and when zstd-napi loads; default true). */
  readonly compressionZstd: boolean;
  /** Highest zstd level the proxy compresses with, whatever level the client asks for (default 1). */
  readonly compressionZstdMaxLevel: number;
  /**
   * Client sockets read with onread into a shared buffer and plain writes go straight to the socket
   * handle (default true; falls back by itself when Node's internals differ; env TENANTGATE_RAW_IO=0
   * forces it off).
   */
  readonly rawIo: boolean;
  /** Plain statements of busy sessions relayed by the native fast lane (README "Fast lane"). */
  readonly fastLane: boolean;
  /** One full GC after the event loop has been quiet this long following load, to give memory back; 0 = off (default 10000). */
  readonly idleGcAfterMs: number;
  /** Prepared statements one client session may hold at once; one more gets ERR 1461 (default 16382, like max_prepared_stmt_count). */
  readonly maxPreparedStatementsPerSession: number;
  /** COM_STMT_SEND_LONG_DATA bytes one session may buffer across its statements (default 128 MiB). */
  readonly maxLongDataPerSession: number;
}

/** Failed-login throttling, counted per client address and per user name. */
export interface LoginThrottleConfig {
  /** Failures (within forgetAfterMs) answered without delay (default 3). */
  readonly freeFailures: number;
  /** Delay of the ERR after the first failure beyond the free ones; doubles with each further failure (default 250). */
  readonly baseDelayMs: number;
  /** Cap on that delay (default 5000). */
  readonly maxDelayMs: number;
  /** After this many failures the address / user is refused without checking the password for blockMs (default 30). */
  readonly blockAfterFailures: number;
  readonly blockMs: number;
  /** Failure counts are forgotten after this long without a failure (default 900000). */
  readonly forgetAfterMs: number;
}

export interface AdminConfig {
  /** HTTP listener for /metrics and /health; disabled when absent. */
  readonly host: string;
  readonly port: number;
  /** Bearer tokens for the admin API: name (logged, recorded in config history) and SHA-256 hex of the token. */
  readonly tokens: readonly { readonly name: string; readonly tokenHash: string }[];
  /** /metrics and the health endpoints answer without a token (default true). */
  readonly openMetrics: boolean;
}

/** A primary and its replicas; every tenant tier lives on one (a separate_database cluster has only a primary). */
export interface ClusterConfig {
  readonly name: string;
  /** BackendConfig name of the primary. */
  readonly primary: string;
  readonly replicas: readonly { readonly backend: string; readonly weight: number }[];
  /** A replica lagging more than this leaves rotation (default 10). */
  readonly maxReplicationLagS: number;
  /** With no healthy replica, reads go to the primary or fail (default 'primary'). */
  readonly noHealthyReplica: 'primary' | 'fail';
}

/**
 * Tenancy tiers. The shared tiers (`shared_schema`: tenant-prefixed tables; `shared_database`: a
 * tenant column) are planned: they will be further members of this union, with their own placement
 * fields, and the planner's rewrite step is where their statements will be scoped.
 */
export type TenantTier = 'separate_schema' | 'separate_database' | 'separate_cluster';

/** A tenant and where its data lives. */
export interface TenantConfig {
  readonly id: string;
  readonly tier: TenantTier;
  /** ClusterConfig name. */
  readonly cluster: string;
  /** Physical schema on that cluster. */
  readonly schema: string;
  /** The schema name the application uses, mapped to `schema` (none: the app uses `schema`). */
  readonly logicalSchema?: string;
  /** The tenant's own backend account, granted only its schema. */
  readonly backendUser: string;
  readonly backendPassword: string;
  /** Where reads outside transactions go (default 'replica'). */
  readonly reads: 'replica' | 'primary';
  /** Proxy users bound to this tenant (the user_map strategy). */
  readonly users: readonly string[];
  /** A connection of this tenant may switch to another tenant with USE (trusted workers; default false). */
  readonly allowUseSwitch: boolean;
}

/** How a connection's tenant is found; strategies are tried in order. */
export type TenantStrategy =
  | { readonly type: 'user_map' }
  /** `pattern` holds `{user}` and `{tenant}`, e.g. `{user}@{tenant}`; `{user}` is a proxy user (its password hash authenticates). */
  | { readonly type: 'user_pattern'; readonly pattern: string; readonly users?: readonly string[] }
  /** Connect attribute (default `tenant`) naming the tenant id. */
  | { readonly type: 'connect_attr'; readonly attribute: string; readonly users?: readonly string[] }
  /** The database named at connect (or USE) is a tenant's schema (or its unique logical schema). */
  | { readonly type: 'database'; readonly users?: readonly string[] };

export interface TenantIdentificationConfig {
  readonly strategies: readonly TenantStrategy[];
  /** Tenant for connections no strategy identifies (none by default: they are refused). */
  readonly defaultTenant?: string;
}

export interface ReadYourWritesConfig {
  /** Whose writes a read must see: the session's own, any of the tenant's sessions', or none (default 'session'). */
  readonly scope: 'session' | 'tenant' | 'off';
  /** MASTER_GTID_WAIT timeout on a replica (default 500). */
  readonly gtidWaitTimeoutMs: number;
  /** When the wait times out: read from the primary, or fail (default 'primary'). */
  readonly fallback: 'primary' | 'fail';
}

export interface PlanCacheConfig {
  /** Plans kept (LRU; default 10000). */
  readonly size: number;
  /** Statements longer than this are not given to the SQL parser on a miss (default 8192; 0: never). */
  readonly maxParseLength: number;
}

export interface Config {
  readonly listen: { readonly host: string; readonly port: number };
  readonly tls?: TlsConfig;
  readonly server: ServerConfig;
  readonly backends: readonly BackendConfig[];
  readonly users: readonly UserConfig[];
  readonly admin?: AdminConfig;
  readonly log: { readonly level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent' };
  /** Empty when no routing is configured (passthrough). */
  readonly clusters: readonly ClusterConfig[];
  /** Empty: passthrough, each user to its backend. */
  readonly tenants: readonly TenantConfig[];
  readonly tenantIdentification: TenantIdentificationConfig;
  readonly readYourWrites: ReadYourWritesConfig;
  readonly planCache: PlanCacheConfig;
  /** Directory of the config history (absolute); absent: beside the config file. */
  readonly historyDir?: string;
  /** Reload when the config file changes on disk. */
  readonly watchFile: boolean;
  /** Tenants with their own metrics label (the busiest; others are `other`). */
  readonly metrics: { readonly tenantLabelCap: number };
  /** Per (tenant, digest) statistics bound, and the slow-query log threshold (0: off). */
  readonly digests: { readonly maxEntries: number; readonly slowQueryMs: number };
}
