/**
 * Loads the YAML config into an immutable, fully defaulted `Config` snapshot.
 *
 * Validation collects every problem before failing, each with its YAML path
 * (`backends[1].port: expected a number from 1 to 65535`) and, where the YAML has it, its line,
 * so one run of `tenantgate check-config` shows everything that needs fixing.
 */
import { defaultShareCap } from '../backend/lease-share';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import type { BackendConfig, Config, UserConfig } from './types';
import { fileSchema, keysAt, type FileConfig } from './schema';
import { tenancyChecks, toTenancy } from './tenancy-checks';

/** One thing wrong with a config file. `path` is '' for problems with the file as a whole. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
  /** 1-based line in the YAML text, when the problem can be placed. */
  readonly line?: number;
}

/** Thrown by parseConfig/loadConfig; `problems` lists every problem found, in file order. */
export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  readonly sourceName: string;

  constructor(sourceName: string, problems: ConfigProblem[]) {
    const n = problems.length;
    super(`${sourceName}: ${n} config problem${n === 1 ? '' : 's'}:\n` + problems.map((p) => '  ' + formatProblem(p)).join('\n'));
    this.name = 'ConfigError';
    this.sourceName = sourceName;
    this.problems = problems;
  }
}

/** `path: message (line N)`; the form check-config prints. */
export function formatProblem(p: ConfigProblem): string {
  const where = p.line !== undefined ? ` (line ${p.line})` : '';
  return (p.path ? `${p.path}: ` : '') + p.message + where;
}

export interface ParseOptions {
  /** Directory that relative file paths (tls.*, server.rsa_private_key_file) resolve against; default cwd. */
  readonly baseDir?: string;
}

type Segment = string | number;

function formatPath(segs: readonly PropertyKey[]): string {
  let out = '';
  for (const s of segs) {
    if (typeof s === 'number') out += `[${s}]`;
    else out += (out ? '.' : '') + String(s);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Messages for zod's generic issues. Values are described by type only: a mistyped field may be a
// secret (a password written as a YAML number), and problems end up on terminals and in logs.

function describeValue(v: unknown): string {
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string':
      return 'a string';
    case 'number':
      return Number.isInteger(v) ? 'an integer' : 'a number';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      return 'a mapping';
    default:
      return typeof v;
  }
}

function describeExpected(t: string): string {
  switch (t) {
    case 'object':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'string':
      return 'a string';
    case 'number':
    case 'int':
      return 'a number';
    case 'boolean':
      return 'true or false';
    default:
      return t;
  }
}

const errorMap: z.core.$ZodErrorMap = (iss) => {
  if (iss.code === 'invalid_type') {
    if (iss.input === undefined) return 'is required';
    return `expected ${describeExpected(iss.expected)}, got ${describeValue(iss.input)}`;
  }
  if (iss.code === 'invalid_value') {
    const got = typeof iss.input === 'string' && iss.input.length <= 40 ? JSON.stringify(iss.input) : describeValue(iss.input);
    return `expected one of ${iss.values.map((v) => JSON.stringify(v)).join(', ')}; got ${got}`;
  }
  return undefined;
};

/** Field-level messages in schema.ts are also used for missing values; say "is required" instead. */
function requiredFirst(issues: readonly z.core.$ZodIssue[], data: unknown): z.core.$ZodIssue[] {
  return issues.map((iss) => {
    if (iss.code !== 'invalid_type' || iss.message === 'is required') return iss;
    return valueAt(data, iss.path) === undefined ? { ...iss, message: 'is required' } : iss;
  });
}

function valueAt(data: unknown, segs: readonly PropertyKey[]): unknown {
  let v: unknown = data;
  for (const s of segs) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[s];
  }
  return v;
}

/** Edit distance counting a swap of two neighbours as one edit ("listne" → "listen"). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

function unknownKeyMessage(parent: readonly PropertyKey[], key: string): string {
  const isUser = parent.length === 2 && parent[0] === 'users' && typeof parent[1] === 'number';
  if (isUser && (key === 'password' || key === 'pass' || key === 'passwd')) {
    return (
      'plaintext passwords are not accepted; run `tenantgate hash-password` and put the ' +
      'password_hash / sha2_hash lines it prints here instead'
    );
  }
  const known = keysAt(parent);
  if (known.length === 0) return 'unknown key';
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  let best: string | undefined;
  let bestDist = Infinity;
  for (const k of known) {
    const d = norm(k) === norm(key) ? 0 : editDistance(key.toLowerCase(), k);
    if (d < bestDist) [best, bestDist] = [k, d];
  }
  if (best !== undefined && bestDist <= (key.length <= 4 ? 1 : 2)) return `unknown key; did you mean "${best}"?`;
  return `unknown key; expected one of: ${known.join(', ')}`;
}

// ---------------------------------------------------------------------------------------------
// Checks that span fields or touch the disk. They read the raw data defensively so they run (and
// report) even when zod found problems elsewhere.

function asList(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

interface RawProblem {
  segs: Segment[];
  message: string;
}

function crossChecks(data: unknown, baseDir: string): RawProblem[] {
  const out: RawProblem[] = [];
  const root = asRecord(data) ?? {};

  const backendNames = new Map<string, number>();
  asList(root.backends).forEach((b, i) => {
    const r = asRecord(b);
    if (!r) return;
    if (typeof r.name === 'string') {
      const first = backendNames.get(r.name);
      if (first !== undefined) out.push({ segs: ['backends', i, 'name'], message: `duplicate backend name "${r.name}" (first used at backends[${first}])` });
      else backendNames.set(r.name, i);
    }
    const min = r.min_connections;
    const max = r.max_connections ?? 20;
    if (typeof min === 'number' && typeof max === 'number' && min > max) {
      out.push({ segs: ['backends', i, 'min_connections'], message: `must not exceed max_connections (${min} > ${max})` });
    }
    const perUser = r.max_connections_per_user;
    if (typeof perUser === 'number' && typeof max === 'number' && perUser > max) {
      out.push({ segs: ['backends', i, 'max_connections_per_user'], message: `must not exceed max_connections (${perUser} > ${max})` });
    }
  });

  const userNames = new Map<string, number>();
  asList(root.users).forEach((u, i) => {
    const r = asRecord(u);
    if (!r) return;
    if (typeof r.name === 'string') {
      const first = userNames.get(r.name);
      if (first !== undefined) out.push({ segs: ['users', i, 'name'], message: `duplicate user name "${r.name}" (first used at users[${first}])` });
      else userNames.set(r.name, i);
    }
    if (typeof r.backend === 'string' && r.backend !== '' && !backendNames.has(r.backend)) {
      // (a missing backend is checked in tenancyChecks: tenant users need none)
      const known = [...backendNames.keys()];
      out.push({
        segs: ['users', i, 'backend'],
        message: `unknown backend "${r.backend}"` + (known.length ? `; defined backends: ${known.join(', ')}` : ''),
      });
    }
    const hasNative = r.password_hash !== undefined;
    const hasSha2 = r.sha2_hash !== undefined;
    if (!hasNative && !hasSha2 && !('password' in r)) {
      out.push({
        segs: ['users', i],
        message:
          'needs password_hash and/or sha2_hash (run `tenantgate hash-password` to make them), or password_hash: "" for a user without a password',
      });
    }
    if (r.password_hash === '' && hasSha2) {
      out.push({ segs: ['users', i, 'sha2_hash'], message: 'password_hash is "" (no password) but sha2_hash is set; keep only one of them' });
    }
  });

  const checkFile = (segs: Segment[], v: unknown) => {
    if (typeof v !== 'string' || v === '') return;
    const abs = path.resolve(baseDir, v);
    let st: fs.Stats;
    try {
      st = fs.statSync(abs);
    } catch {
      out.push({ segs, message: `file not found: ${abs}` });
      return;
    }
    if (!st.isFile()) {
      out.push({ segs, message: `not a regular file: ${abs}` });
      return;
    }
    try {
      fs.accessSync(abs, fs.constants.R_OK);
    } catch {
      out.push({ segs, message: `file not readable: ${abs}` });
    }
  };
  const tls = asRecord(root.tls);
  if (tls) {
    checkFile(['tls', 'cert_file'], tls.cert_file);
    checkFile(['tls', 'key_file'], tls.key_file);
    checkFile(['tls', 'ca_file'], tls.ca_file);
  }
  checkFile(['server', 'rsa_private_key_file'], asRecord(root.server)?.rsa_private_key_file);

  const admin = asRecord(root.admin);
  if (admin && typeof admin.port === 'number') {
    const listen = asRecord(root.listen) ?? {};
    const lport = typeof listen.port === 'number' ? listen.port : 6033;
    const lhost = typeof listen.host === 'string' ? listen.host : '127.0.0.1';
    const ahost = typeof admin.host === 'string' ? admin.host : '127.0.0.1';
    const wildcard = (h: string) => h === '0.0.0.0' || h === '::' || h === '';
    if (admin.port !== 0 && admin.port === lport && (ahost === lhost || wildcard(ahost) || wildcard(lhost))) {
      out.push({ segs: ['admin', 'port'], message: `conflicts with listen.port (${lport})` });
    }
  }
  out.push(...tenancyChecks(root, editDistance));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Line numbers: the deepest node of the path that exists in the YAML (for an unknown or misspelt
// key, that is the key itself).

function lineOf(doc: Document, lc: LineCounter, segs: readonly PropertyKey[]): number | undefined {
  let node: unknown = doc.contents;
  let offset: number | undefined = (node as { range?: [number, number, number] } | null)?.range?.[0];
  for (const s of segs) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === s);
      if (!pair) break;
      const keyRange = (pair.key as { range?: [number, number, number] }).range;
      if (keyRange) offset = keyRange[0];
      node = pair.value;
    } else if (isSeq(node) && typeof s === 'number') {
      const item = node.items[s] as { range?: [number, number, number] } | undefined;
      if (!item) break;
      if (item.range) offset = item.range[0];
      node = item;
    } else break;
  }
  return offset === undefined ? undefined : lc.linePos(offset).line;
}

// ---------------------------------------------------------------------------------------------

function toConfig(f: FileConfig, baseDir: string): Config {
  const abs = (p: string) => path.resolve(baseDir, p);
  const keys = shareKeysPerBackend(f);
  const backends: BackendConfig[] = f.backends.map((b) => ({
    name: b.name,
    host: b.host,
    port: b.port,
    user: b.user,
    password: b.password,
    minConnections: b.min_connections,
    maxConnections: b.max_connections,
    maxConnectionsPerUser: b.max_connections_per_user ?? defaultShareCap(b.max_connections, keys.get(b.name) ?? 0),
    idleTimeoutMs: b.idle_timeout_ms,
    acquireTimeoutMs: b.acquire_timeout_ms,
    connectTimeoutMs: b.connect_timeout_ms,
    maxPreparedPerConnection: b.max_prepared_per_connection,
    readTimeoutMs: b.read_timeout_ms,
    idleInTransactionTimeoutMs: b.idle_in_transaction_timeout_ms,
    validateAfterIdleMs: b.validate_after_idle_ms,
  }));
  const tenancy = toTenancy(f);
  const users: UserConfig[] = f.users.map((u) => ({
    name: u.name,
    ...(u.password_hash !== undefined ? { nativeHash: u.password_hash } : {}),
    ...(u.sha2_hash !== undefined ? { sha2Hash: u.sha2_hash } : {}),
    backend: u.backend ?? tenantBackend(tenancy, u.name),
    ...(u.default_schema !== undefined ? { defaultSchema: u.default_schema } : {}),
    requireTls: u.require_tls,
  }));
  const s = f.server;
  const config: Config = {
    listen: { host: f.listen.host, port: f.listen.port },
    ...(f.tls
      ? {
          tls: {
            certFile: abs(f.tls.cert_file),
            keyFile: abs(f.tls.key_file),
            ...(f.tls.ca_file !== undefined ? { caFile: abs(f.tls.ca_file) } : {}),
          },
        }
      : {}),
    server: {
      ...(s.version !== undefined ? { version: s.version } : {}),
      defaultAuthPlugin: s.default_auth_plugin,
      maxAllowedPacket: s.max_allowed_packet,
      maxClientConnections: s.max_client_connections,
      rsaKeyExchange: s.rsa_key_exchange,
      ...(s.rsa_private_key_file !== undefined ? { rsaPrivateKeyFile: abs(s.rsa_private_key_file) } : {}),
      mariadbExtendedCapabilities: s.mariadb_extended_capabilities,
      shutdownTimeoutMs: s.shutdown_timeout_ms,
      maxHandshakeConnections: s.max_handshake_connections,
      netReadTimeoutMs: s.net_read_timeout_ms,
      maxClientBufferBytes: s.max_client_buffer_bytes,
      loginThrottle: {
        freeFailures: s.login_throttle.free_failures,
        baseDelayMs: s.login_throttle.base_delay_ms,
        maxDelayMs: s.login_throttle.max_delay_ms,
        blockAfterFailures: s.login_throttle.block_after_failures,
        blockMs: s.login_throttle.block_ms,
        forgetAfterMs: s.login_throttle.forget_after_ms,
      },
      compression: s.compression,
      compressionLevel: s.compression_level,
      compressionMinLength: s.compression_min_length,
      compressionZstd: s.compression_zstd,
      compressionZstdMaxLevel: s.compression_zstd_max_level,
      rawIo: s.raw_io,
      fastLane: s.fast_lane,
      idleGcAfterMs: s.idle_gc_after_ms,
      maxPreparedStatementsPerSession: s.max_prepared_statements_per_session,
      maxLongDataPerSession: s.max_long_data_per_session,
    },
    backends,
    users,
    ...(f.admin
      ? {
          admin: {
            host: f.admin.host,
            port: f.admin.port,
            tokens: f.admin.tokens.map((t) => ({ name: t.name, tokenHash: t.token_hash })),
            openMetrics: f.admin.open_metrics,
          },
        }
      : {}),
    ...(f.history.dir !== undefined ? { historyDir: abs(f.history.dir) } : {}),
    watchFile: f.reload.watch_file,
    metrics: { tenantLabelCap: f.metrics.tenant_label_cap },
    digests: { maxEntries: f.digests.max_entries, slowQueryMs: f.digests.slow_query_ms },
    log: { level: f.log.level },
    ...tenancy,
  };
  return deepFreeze(config);
}

/**
 * How many users (tenants, when tenants are configured) can hold connections of each backend: the
 * keys its pool is shared by (see lease-share.ts).
 */
function shareKeysPerBackend(f: FileConfig): Map<string, number> {
  const n = new Map<string, number>();
  const add = (b: string) => n.set(b, (n.get(b) ?? 0) + 1);
  const tenants = f.tenants ?? [];
  if (tenants.length > 0) {
    const clusters = new Map((f.clusters ?? []).map((c) => [c.name, [c.primary, ...c.replicas.map((r) => r.backend)]]));
    for (const t of tenants) for (const b of new Set(clusters.get(t.cluster) ?? [])) add(b);
  } else for (const u of f.users) if (u.backend !== undefined) add(u.backend);
  return n;
}

/** The primary of the cluster of the tenant `user` is bound to, else of the first cluster (see UserConfig.backend). */
function tenantBackend(t: ReturnType<typeof toTenancy>, user: string): string {
  const tenant = t.tenants.find((x) => x.users.includes(user)) ?? t.tenants[0];
  const cluster = t.clusters.find((c) => c.name === tenant?.cluster) ?? t.clusters[0];
  return cluster?.primary ?? '';
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const child of Object.values(v as object)) deepFreeze(child);
  }
  return v;
}

/**
 * Parse and validate config YAML. Throws ConfigError listing every problem.
 * File paths in the result are absolute (resolved against `opts.baseDir`, default cwd), and the
 * files they name were checked to exist.
 */
export function parseConfig(yamlText: string, sourceName = '<config>', opts: ParseOptions = {}): Config {
  const baseDir = opts.baseDir ?? process.cwd();
  const lc = new LineCounter();
  const doc = parseDocument(yamlText, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      sourceName,
      doc.errors.map((e) => ({
        path: '',
        message: `YAML syntax error: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
        ...(e.linePos ? { line: e.linePos[0].line } : {}),
      })),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ConfigError(sourceName, [{ path: '', message: `YAML error: ${(e as Error).message}` }]);
  }
  if (data === null || data === undefined) throw new ConfigError(sourceName, [{ path: '', message: 'the config is empty' }]);
  if (asRecord(data) === undefined) throw new ConfigError(sourceName, [{ path: '', message: 'the config must be a YAML mapping (key: value lines)' }]);

  const raw: RawProblem[] = [];
  const parsed = fileSchema.safeParse(data, { error: errorMap });
  if (!parsed.success) {
    for (const iss of requiredFirst(parsed.error.issues, data)) {
      const segs = iss.path.filter((s): s is Segment => typeof s !== 'symbol');
      if (iss.code === 'unrecognized_keys') {
        for (const key of iss.keys) raw.push({ segs: [...segs, key], message: unknownKeyMessage(segs, key) });
      } else raw.push({ segs, message: iss.message });
    }
  }
  const seen = new Set(raw.map((p) => formatPath(p.segs)));
  for (const p of crossChecks(data, baseDir)) {
    // A field zod already rejected needs no second message.
    if (!seen.has(formatPath(p.segs))) raw.push(p);
  }

  if (raw.length > 0 || !parsed.success) {
    const problems = raw.map((p) => {
      const line = lineOf(doc, lc, p.segs);
      return { path: formatPath(p.segs), message: p.message, ...(line !== undefined ? { line } : {}) };
    });
    problems.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
    throw new ConfigError(sourceName, problems);
  }
  return toConfig(parsed.data, baseDir);
}

/** Read and parse a config file; relative file paths inside it resolve against its directory. */
export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'file not found' : err.code === 'EACCES' ? 'permission denied' : err.message;
    throw new ConfigError(file, [{ path: '', message: `cannot read config: ${why}` }]);
  }
  return parseConfig(text, file, { baseDir: path.dirname(path.resolve(file)) });
}

function bytes(n: number): string {
  if (n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

const MAX_LISTED_USERS = 10;

/** A few human-readable lines describing the config. Never includes passwords or hashes. */
export function summarizeConfig(c: Config): string {
  const lines: string[] = [];
  lines.push(`listen: ${c.listen.host}:${c.listen.port}` + (c.tls ? `, TLS on (cert ${c.tls.certFile})` : ', TLS off'));
  const s = c.server;
  lines.push(
    `server: handshake plugin ${s.defaultAuthPlugin}, version ${s.version ?? 'copied from backend'}, ` +
      `max packet ${bytes(s.maxAllowedPacket)}, max client connections ${s.maxClientConnections}, ` +
      `RSA key exchange ${s.rsaKeyExchange ? (s.rsaPrivateKeyFile ? `on (key ${s.rsaPrivateKeyFile})` : 'on (key generated at start)') : 'off'}`,
  );
  lines.push(`backends (${c.backends.length}):`);
  for (const b of c.backends) {
    lines.push(`  ${b.name}: ${b.user}@${b.host}:${b.port}, pool ${b.minConnections}..${b.maxConnections}, acquire timeout ${b.acquireTimeoutMs} ms`);
  }
  lines.push(`users (${c.users.length}):`);
  for (const u of c.users.slice(0, MAX_LISTED_USERS)) {
    const auth =
      u.nativeHash === '' ? 'no password' : [u.nativeHash ? 'native' : '', u.sha2Hash ? 'caching_sha2' : ''].filter(Boolean).join(' + ');
    const extra = [u.defaultSchema ? `schema ${u.defaultSchema}` : '', u.requireTls ? 'TLS required' : ''].filter(Boolean);
    lines.push(`  ${u.name} -> ${u.backend} (${auth}${extra.length ? ', ' + extra.join(', ') : ''})`);
  }
  if (c.users.length > MAX_LISTED_USERS) lines.push(`  ... and ${c.users.length - MAX_LISTED_USERS} more`);
  if (c.tenants.length > 0) {
    lines.push(`clusters (${c.clusters.length}): ` + c.clusters.map((k) => `${k.name} (primary ${k.primary}, ${k.replicas.length} replica${k.replicas.length === 1 ? '' : 's'})`).join(', '));
    const tiers = new Map<string, number>();
    for (const t of c.tenants) tiers.set(t.tier, (tiers.get(t.tier) ?? 0) + 1);
    lines.push(`tenants (${c.tenants.length}): ` + [...tiers].map(([t, n]) => `${n} ${t}`).join(', '));
    lines.push(
      `tenant identification: ${c.tenantIdentification.strategies.map((s) => s.type).join(' → ')}` +
        (c.tenantIdentification.defaultTenant ? `, default tenant ${c.tenantIdentification.defaultTenant}` : ', no default tenant'),
    );
    lines.push(`read-your-writes: ${c.readYourWrites.scope}, GTID wait ${c.readYourWrites.gtidWaitTimeoutMs} ms, then ${c.readYourWrites.fallback}`);
  } else lines.push('routing: passthrough (no tenants)');
  lines.push(`admin: ${c.admin ? `${c.admin.host}:${c.admin.port}` : 'off'}`);
  lines.push(`log level: ${c.log.level}`);
  return lines.join('\n');
}
