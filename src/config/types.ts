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
  /** Idle pooled connections above the floor are closed after this (default 60000). */
  readonly idleTimeoutMs: number;
  /** A client waiting longer than this for a backend connection gets an ERR (default 2000). */
  readonly acquireTimeoutMs: number;
  /** TCP connect + handshake timeout for one backend connection attempt (default 2000). */
  readonly connectTimeoutMs: number;
  /** Bound per backend connection of cached server-side prepared statements (default 256). */
  readonly maxPreparedPerConnection: number;
}

/** A user that clients log in to the proxy as. */
export interface UserConfig {
  readonly name: string;
  /** mysql_native_password hash: `*` + 40 uppercase hex (SHA1(SHA1(password))), or '' for no password. */
  readonly nativeHash?: string;
  /** caching_sha2_password hash in MySQL's `$A$005$<20-byte salt><43 chars>` form. */
  readonly sha2Hash?: string;
  /** Which backend this user's sessions go to (a BackendConfig name). */
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
  /** Announce CLIENT_COMPRESS: clients that ask get the zlib-compressed protocol (default true). */
  readonly compression: boolean;
  /** zlib level for what the proxy sends compressed (default 1: a quarter to a half of the CPU of 6, nearly the same size). */
  readonly compressionLevel: number;
  /** Writes shorter than this go out stored in compressed packets, not deflated (default 1024). */
  readonly compressionMinLength: number;
}

export interface AdminConfig {
  /** HTTP listener for /metrics and /health; disabled when absent. */
  readonly host: string;
  readonly port: number;
}

export interface Config {
  readonly listen: { readonly host: string; readonly port: number };
  readonly tls?: TlsConfig;
  readonly server: ServerConfig;
  readonly backends: readonly BackendConfig[];
  readonly users: readonly UserConfig[];
  readonly admin?: AdminConfig;
  readonly log: { readonly level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent' };
}
