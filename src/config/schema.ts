/**
 * zod schemas for the YAML config file, in the file's own snake_case shape.
 *
 * Per-field checks live here; checks that span fields (references, uniqueness, min <= max,
 * files on disk) live in `load.ts`, which also maps the result onto the `Config` types.
 * Every object is strict: an unknown key is an error, so a typo never passes silently.
 */
import { z } from 'zod';

/** Node's timers overflow above this (a longer delay silently becomes 1 ms). */
const MAX_TIMER_MS = 2_147_483_647;

/** An integer in [min, max]; every failure (wrong type, fraction, range) gets the same message. */
function intIn(min: number, max: number, message: string) {
  return z.int({ error: message }).min(min, { error: message }).max(max, { error: message });
}

const port = () => intIn(1, 65535, 'expected a number from 1 to 65535');
/** Ports tenantgate listens on may be 0: any free port (tests; the Proxy reports the one it got). */
const listenPort = () => intIn(0, 65535, 'expected a number from 0 to 65535 (0 = any free port)');
const host = () => z.string().min(1, { error: 'expected a host name or IP address' });
const filePath = () => z.string().min(1, { error: 'expected a file path' });
const timeoutMs = () => intIn(1, MAX_TIMER_MS, `expected a number of milliseconds from 1 to ${MAX_TIMER_MS}`);
/** A timeout that may be turned off with 0. */
const optionalTimeoutMs = () => intIn(0, MAX_TIMER_MS, `expected a number of milliseconds from 0 (off) to ${MAX_TIMER_MS}`);

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const AUTH_PLUGINS = ['mysql_native_password', 'caching_sha2_password'] as const;

/** `*` + 40 uppercase hex, or '' for "no password". */
export const NATIVE_HASH_RE = /^(?:\*[0-9A-F]{40})?$/;
/** `$A$005$` + 20 salt chars + 43 digest chars (salt may hold any non-NUL ASCII but `$`). */
export const SHA2_HASH_RE = /^\$A\$005\$[\x01-\x23\x25-\x7f]{20}[./0-9A-Za-z]{43}$/;

export const listenSchema = z.strictObject({
  host: host().default('127.0.0.1'),
  port: listenPort().default(6033),
});

export const tlsSchema = z.strictObject({
  cert_file: filePath(),
  key_file: filePath(),
  ca_file: filePath().optional(),
});

export const loginThrottleSchema = z.strictObject({
  free_failures: intIn(0, 1_000_000, 'expected a number from 0 to 1000000').default(3),
  base_delay_ms: intIn(0, 60_000, 'expected a number of milliseconds from 0 to 60000').default(250),
  max_delay_ms: intIn(0, 60_000, 'expected a number of milliseconds from 0 to 60000').default(5000),
  block_after_failures: intIn(1, 1_000_000, 'expected a number from 1 to 1000000').default(30),
  block_ms: timeoutMs().default(300_000),
  forget_after_ms: timeoutMs().default(900_000),
});

export const serverSchema = z.strictObject({
  version: z
    .string()
    .regex(/^\d+\.\d+\.\d+/, { error: 'expected a version string starting with major.minor.patch, e.g. "8.0.36"' })
    .optional(),
  default_auth_plugin: z.enum(AUTH_PLUGINS).default('mysql_native_password'),
  max_allowed_packet: intIn(1024, 1_073_741_824, 'expected a number of bytes from 1024 to 1073741824 (1 GiB)').default(
    64 * 1024 * 1024,
  ),
  max_client_connections: intIn(1, 10_000_000, 'expected a number from 1 to 10000000').default(20000),
  rsa_key_exchange: z.boolean().default(true),
  rsa_private_key_file: filePath().optional(),
  mariadb_extended_capabilities: z.boolean().default(true),
  shutdown_timeout_ms: timeoutMs().default(30_000),
  max_handshake_connections: intIn(1, 10_000_000, 'expected a number from 1 to 10000000').default(1000),
  net_read_timeout_ms: timeoutMs().default(30000),
  max_client_buffer_bytes: intIn(1 << 20, 2 ** 40, 'expected a number of bytes from 1048576 (1 MiB) to 1099511627776 (1 TiB)').default(
    256 * 1024 * 1024,
  ),
  login_throttle: loginThrottleSchema.prefault({}),
  compression: z.boolean().default(true),
  compression_level: intIn(1, 9, 'expected a zlib level from 1 (fastest) to 9 (smallest)').default(1),
  compression_min_length: intIn(0, 65536, 'expected a number of bytes from 0 to 65536').default(1024),
  compression_zstd: z.boolean().default(true),
  compression_zstd_max_level: intIn(1, 22, 'expected a zstd level from 1 (fastest) to 22 (smallest)').default(1),
  raw_io: z.boolean().default(true),
  fast_lane: z.boolean().default(true),
  // V8 judges the allocation rate over the last 5 s: a GC sooner after the load does not shrink the heap.
  idle_gc_after_ms: intIn(0, MAX_TIMER_MS, `expected 0 (off) or a number of milliseconds from 5000 to ${MAX_TIMER_MS}`)
    .refine((v) => v === 0 || v >= 5000, { error: `expected 0 (off) or a number of milliseconds from 5000 to ${MAX_TIMER_MS}` })
    .default(10_000),
  max_prepared_statements_per_session: intIn(1, 1_048_576, 'expected a number from 1 to 1048576').default(16382),
  max_long_data_per_session: intIn(1024, 2 ** 40, 'expected a number of bytes from 1024 to 1099511627776 (1 TiB)').default(128 * 1024 * 1024),
});

export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export const backendSchema = z.strictObject({
  name: z.string().regex(NAME_RE, { error: 'expected a name made of letters, digits, "_", "." and "-"' }),
  host: host(),
  port: port().default(3306),
  user: z.string().min(1, { error: 'expected a user name' }),
  password: z.string().default(''),
  min_connections: intIn(0, 100_000, 'expected a number from 0 to 100000').default(0),
  max_connections: intIn(1, 100_000, 'expected a number from 1 to 100000').default(20),
  max_connections_per_user: intIn(1, 100_000, 'expected a number from 1 to 100000').optional(),
  idle_timeout_ms: timeoutMs().default(60000),
  acquire_timeout_ms: timeoutMs().default(2000),
  connect_timeout_ms: timeoutMs().default(2000),
  max_prepared_per_connection: intIn(1, 1_000_000, 'expected a number from 1 to 1000000').default(256),
  read_timeout_ms: optionalTimeoutMs().default(0),
  idle_in_transaction_timeout_ms: optionalTimeoutMs().default(300000),
  validate_after_idle_ms: intIn(0, MAX_TIMER_MS, `expected a number of milliseconds from 0 to ${MAX_TIMER_MS}`).default(1000),
});

export const userSchema = z.strictObject({
  name: z.string().min(1, { error: 'expected a user name' }),
  password_hash: z
    .string()
    .regex(NATIVE_HASH_RE, {
      error: 'expected "*" followed by 40 uppercase hex digits (mysql_native_password form), or "" for no password',
    })
    .optional(),
  sha2_hash: z
    .string()
    .regex(SHA2_HASH_RE, { error: 'expected "$A$005$" followed by 63 characters (caching_sha2_password form)' })
    .optional(),
  /** Required for passthrough users; tenant users are routed by their tenant's cluster instead. */
  backend: z.string().min(1, { error: 'expected a backend name' }).optional(),
  default_schema: z
    .string()
    .min(1, { error: 'expected a schema name of 1 to 64 characters' })
    .max(64, { error: 'expected a schema name of 1 to 64 characters' })
    .optional(),
  require_tls: z.boolean().default(false),
});

/** Schema (database) names tenantgate maps and compares: plain names only, so no quoting trick can alias one. */
export const SCHEMA_NAME_RE = /^[A-Za-z0-9_$]{1,64}$/;
const schemaName = () =>
  z.string().regex(SCHEMA_NAME_RE, { error: 'expected a schema name of 1 to 64 letters, digits, "_" or "$"' });
const refName = (what: string) => z.string().min(1, { error: `expected a ${what} name` });

export const NO_HEALTHY_REPLICA = ['primary', 'fail'] as const;

export const clusterSchema = z.strictObject({
  name: z.string().regex(NAME_RE, { error: 'expected a name made of letters, digits, "_", "." and "-"' }),
  primary: refName('backend'),
  replicas: z
    .array(
      z.strictObject({
        backend: refName('backend'),
        weight: intIn(1, 1000, 'expected a number from 1 to 1000').default(1),
      }),
    )
    .default([]),
  max_replication_lag_s: intIn(0, 86_400, 'expected a number of seconds from 0 to 86400').default(10),
  no_healthy_replica: z.enum(NO_HEALTHY_REPLICA).default('primary'),
});

/** Tiers accepted today; `shared_schema` / `shared_database` are reserved for a later release. */
export const TENANT_TIERS = ['separate_schema', 'separate_database', 'separate_cluster'] as const;
export const TENANT_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const tenantSchema = z.strictObject({
  id: z.string().regex(TENANT_ID_RE, { error: 'expected a tenant id of 1 to 64 letters, digits, "_", "." and "-"' }),
  tier: z.enum(TENANT_TIERS),
  cluster: refName('cluster'),
  schema: schemaName(),
  logical_schema: schemaName().optional(),
  backend_user: z
    .string()
    .min(1, { error: 'expected a backend account name of 1 to 80 characters' })
    .max(80, { error: 'expected a backend account name of 1 to 80 characters' }),
  backend_password: z.string().default(''),
  reads: z.enum(['replica', 'primary']).default('replica'),
  users: z.array(refName('user')).default([]),
  allow_use_switch: z.boolean().default(false),
});

export const STRATEGY_TYPES = ['user_map', 'user_pattern', 'connect_attr', 'database'] as const;

/** One identification strategy; a bare string (`- user_map`) is short for `{ type: user_map }`. */
export const strategySchema = z.preprocess(
  (v) => (typeof v === 'string' ? { type: v } : v),
  z.strictObject({
    type: z.enum(STRATEGY_TYPES),
    pattern: z.string().optional(),
    attribute: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: 'expected a connect attribute name of letters, digits, "_", "." and "-"' })
      .optional(),
    users: z.array(refName('user')).optional(),
  }),
);

export const tenantIdentificationSchema = z.strictObject({
  strategies: z.array(strategySchema).min(1, { error: 'at least one strategy is required' }).default([{ type: 'user_map' }]),
  default_tenant: refName('tenant').optional(),
});

export const readYourWritesSchema = z.strictObject({
  scope: z.enum(['session', 'tenant', 'off']).default('session'),
  gtid_wait_timeout_ms: timeoutMs().default(500),
  fallback: z.enum(['primary', 'fail']).default('primary'),
});

export const planCacheSchema = z.strictObject({
  size: intIn(16, 10_000_000, 'expected a number from 16 to 10000000').default(10_000),
  max_parse_length: intIn(0, 1_048_576, 'expected a number of characters from 0 to 1048576').default(8192),
});

/** SHA-256 of an admin bearer token, 64 hex digits (`tenantgate hash-token` prints it). */
export const TOKEN_HASH_RE = /^[0-9a-f]{64}$/;

export const adminTokenSchema = z.strictObject({
  name: z.string().regex(NAME_RE, { error: 'expected a token name (letters, digits, _ . -)' }),
  token_hash: z.string().regex(TOKEN_HASH_RE, { error: 'expected the SHA-256 of the token as 64 lower-case hex digits (tenantgate hash-token)' }),
});

export const adminSchema = z.strictObject({
  host: host().default('127.0.0.1'),
  port: listenPort(),
  tokens: z.array(adminTokenSchema).default([]),
  /** /metrics, /healthz, /readyz, /health without a token (default true). */
  open_metrics: z.boolean().default(true),
});

export const historySchema = z.strictObject({
  /** Directory of the config history JSONL (default: beside the config file). */
  dir: filePath().optional(),
});

export const metricsSchema = z.strictObject({
  /** At most this many tenants get their own `tenant` label; the rest are `other` (default 100). */
  tenant_label_cap: intIn(0, 100_000, 'expected a number from 0 to 100000').default(100),
});

export const digestsSchema = z.strictObject({
  /** Bound of (tenant, digest) entries kept for GET /digests (0: off; default 10000). */
  max_entries: intIn(0, 10_000_000, 'expected a number from 0 to 10000000').default(10_000),
  /** Statements slower than this are logged with their digest (0: off; default 1000). */
  slow_query_ms: intIn(0, MAX_TIMER_MS, `expected a number of milliseconds from 0 (off) to ${MAX_TIMER_MS}`).default(1000),
});

export const reloadSchema = z.strictObject({
  /** Reload when the config file changes on disk (default false). */
  watch_file: z.boolean().default(false),
});

export const logSchema = z.strictObject({
  level: z.enum(LOG_LEVELS).default('info'),
});

export const fileSchema = z.strictObject({
  listen: listenSchema.default({ host: '127.0.0.1', port: 6033 }),
  tls: tlsSchema.optional(),
  server: serverSchema.prefault({}),
  backends: z.array(backendSchema).min(1, { error: 'at least one backend is required' }),
  users: z.array(userSchema).min(1, { error: 'at least one user is required' }),
  admin: adminSchema.optional(),
  history: historySchema.prefault({}),
  reload: reloadSchema.prefault({}),
  metrics: metricsSchema.prefault({}),
  digests: digestsSchema.prefault({}),
  log: logSchema.prefault({}),
  clusters: z.array(clusterSchema).default([]),
  tenants: z.array(tenantSchema).default([]),
  tenant_identification: tenantIdentificationSchema.prefault({}),
  read_your_writes: readYourWritesSchema.prefault({}),
  plan_cache: planCacheSchema.prefault({}),
});

export type FileConfig = z.infer<typeof fileSchema>;

/**
 * The keys a strict object at `path` accepts, found by walking the schema; used to suggest a fix
 * for an unknown key. Returns [] where the path does not lead to an object.
 */
export function keysAt(path: readonly PropertyKey[]): string[] {
  let s: z.ZodType = fileSchema;
  const unwrap = (t: z.ZodType): z.ZodType => {
    for (;;) {
      if (t instanceof z.ZodOptional || t instanceof z.ZodDefault || t instanceof z.ZodPrefault || t instanceof z.ZodNullable) {
        t = t.unwrap() as z.ZodType;
      } else if (t instanceof z.ZodPipe) {
        t = t.out as z.ZodType; // z.preprocess
      } else return t;
    }
  };
  for (const seg of path) {
    s = unwrap(s);
    if (typeof seg === 'number' && s instanceof z.ZodArray) s = s.element as z.ZodType;
    else if (typeof seg === 'string' && s instanceof z.ZodObject) {
      const next = (s.shape as Record<string, z.ZodType>)[seg];
      if (!next) return [];
      s = next;
    } else return [];
  }
  s = unwrap(s);
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}
