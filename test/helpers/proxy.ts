/**
 * Integration-test helpers for driving an in-process tenantgate {@link Proxy} with real clients
 * (mysql2 and the `mariadb` CLI), plus small utilities the proxy-*.test.ts files share.
 *
 * The proxy runs in the test process, so nothing here may block the event loop (the CLI is spawned
 * asynchronously: a spawnSync would deadlock against the proxy it talks to).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import mysql from 'mysql2/promise';
import YAML from 'yaml';
import { parseConfig } from '../../src/config/load';
import { runProc } from './clients';
import { generateSelfSignedCert } from '../../src/config/self-signed';
import type { Config } from '../../src/config/types';
import { nativeHash, sha2CryptHash } from '../../src/protocol/auth';
import { Proxy } from '../../src/server/proxy';

export type Conn = mysql.Connection;

/** A backend entry; snake_case YAML is generated from these. */
export interface ProxyBackendOpts {
  name: string;
  port: number;
  host?: string;
  /** Backend login; default root with an empty password (what test/helpers/mariadb.ts sets up). */
  user?: string;
  password?: string;
  maxConnections?: number;
  maxConnectionsPerUser?: number;
  minConnections?: number;
  acquireTimeoutMs?: number;
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
  maxPreparedPerConnection?: number;
  readTimeoutMs?: number;
  idleInTransactionTimeoutMs?: number;
  validateAfterIdleMs?: number;
}

/** A proxy user; the password is hashed here into the config's hash fields. */
export interface ProxyUserOpts {
  name: string;
  password: string;
  /** Which hashes to put in the config; default both. */
  plugins?: ReadonlyArray<'native' | 'sha2'>;
  /** Default: the first backend. */
  backend?: string;
  /** Default `test`; null leaves default_schema out. */
  defaultSchema?: string | null;
  requireTls?: boolean;
}

export interface StartProxyOpts {
  backends: ProxyBackendOpts[];
  /** Default: a single user `app` / `app` with both hashes. */
  users?: ProxyUserOpts[];
  /** Generate a self-signed cert and configure `tls:`. */
  tls?: boolean;
  /** Extra keys for the `server:` section (snake_case). */
  server?: Record<string, unknown>;
  /** Top-level YAML keys merged over the generated document (snake_case, replaces whole sections). */
  extraYaml?: Record<string, unknown>;
  logLevel?: string;
  /** A pino logger for the proxy (e.g. one collecting lines for a test); default: from the config's log level. */
  logger?: import('pino').Logger;
}

export interface ProxyTls {
  certFile: string;
  keyFile: string;
  caFile: string;
  /** PEM text of the CA (the self-signed cert), for mysql2 `ssl: { ca }`. */
  ca: string;
}

export interface ProxyHandle {
  proxy: Proxy;
  host: string;
  port: number;
  config: Config;
  /** The YAML text the config was parsed from (handy in failure messages). */
  yaml: string;
  tls?: ProxyTls;
  /** mysql2 connection through the proxy as app/app on `test`; options override. Closed by stop(). */
  connect(opts?: mysql.ConnectionOptions): Promise<Conn>;
  /** Destroys every connection made through connect(), stops the proxy, removes the cert dir. */
  stop(): Promise<void>;
}

export const DEFAULT_USER = 'app';
export const DEFAULT_PASSWORD = 'app';

/** Builds the YAML text for {@link startProxy}; exported so a test can inspect or tweak it. */
export function buildProxyYaml(opts: StartProxyOpts, tls?: ProxyTls): string {
  const backends = opts.backends.map((b) => {
    const out: Record<string, unknown> = {
      name: b.name,
      host: b.host ?? '127.0.0.1',
      port: b.port,
      user: b.user ?? 'root',
      password: b.password ?? '',
    };
    if (b.minConnections !== undefined) out.min_connections = b.minConnections;
    if (b.maxConnections !== undefined) out.max_connections = b.maxConnections;
    if (b.maxConnectionsPerUser !== undefined) out.max_connections_per_user = b.maxConnectionsPerUser;
    if (b.idleTimeoutMs !== undefined) out.idle_timeout_ms = b.idleTimeoutMs;
    if (b.acquireTimeoutMs !== undefined) out.acquire_timeout_ms = b.acquireTimeoutMs;
    if (b.connectTimeoutMs !== undefined) out.connect_timeout_ms = b.connectTimeoutMs;
    if (b.maxPreparedPerConnection !== undefined) out.max_prepared_per_connection = b.maxPreparedPerConnection;
    if (b.readTimeoutMs !== undefined) out.read_timeout_ms = b.readTimeoutMs;
    if (b.idleInTransactionTimeoutMs !== undefined) out.idle_in_transaction_timeout_ms = b.idleInTransactionTimeoutMs;
    if (b.validateAfterIdleMs !== undefined) out.validate_after_idle_ms = b.validateAfterIdleMs;
    return out;
  });
  const users = (opts.users ?? [{ name: DEFAULT_USER, password: DEFAULT_PASSWORD }]).map((u) => {
    const plugins = u.plugins ?? ['native', 'sha2'];
    const out: Record<string, unknown> = { name: u.name, backend: u.backend ?? opts.backends[0].name };
    if (plugins.includes('native')) out.password_hash = nativeHash(u.password);
    if (plugins.includes('sha2')) out.sha2_hash = sha2CryptHash(u.password);
    const schema = u.defaultSchema === undefined ? 'test' : u.defaultSchema;
    if (schema !== null) out.default_schema = schema;
    if (u.requireTls) out.require_tls = true;
    return out;
  });
  const doc: Record<string, unknown> = {
    listen: { host: '127.0.0.1', port: 0 },
    backends,
    users,
    log: { level: opts.logLevel ?? process.env.TG_TEST_LOG_LEVEL ?? 'silent' },
  };
  if (opts.server) doc.server = opts.server;
  if (tls) doc.tls = { cert_file: tls.certFile, key_file: tls.keyFile, ca_file: tls.caFile };
  Object.assign(doc, opts.extraYaml ?? {});
  return YAML.stringify(doc);
}

/** Starts a proxy on a random port in this process. */
export async function startProxy(opts: StartProxyOpts): Promise<ProxyHandle> {
  let tls: ProxyTls | undefined;
  let certDir: string | undefined;
  if (opts.tls) {
    certDir = mkdtempSync(join(tmpdir(), 'tg-test-tls-'));
    const c = generateSelfSignedCert(certDir);
    tls = { ...c, ca: readFileSync(c.caFile, 'utf8') };
  }
  const yaml = buildProxyYaml(opts, tls);
  const config = parseConfig(yaml);
  const proxy = new Proxy(config, opts.logger ? { logger: opts.logger } : {});
  await proxy.start();
  const conns = new Set<Conn>();
  const handle: ProxyHandle = {
    proxy,
    host: proxy.host,
    port: proxy.port,
    config,
    yaml,
    tls,
    async connect(o = {}) {
      const c = await mysql.createConnection({
        host: '127.0.0.1',
        port: proxy.port,
        user: DEFAULT_USER,
        password: DEFAULT_PASSWORD,
        database: 'test',
        connectTimeout: 10_000,
        ...o,
      });
      // A connection killed by the server/proxy emits 'error'; without a listener that would crash the run.
      c.on('error', () => {});
      conns.add(c);
      return c;
    },
    async stop() {
      for (const c of conns) c.destroy();
      conns.clear();
      await withTimeout(proxy.stop(), 10_000, 'proxy.stop()');
      if (certDir) rmSync(certDir, { recursive: true, force: true });
    },
  };
  return handle;
}

/** A mysql2 connection straight to a server as root (the differential reference). */
export async function connectDirect(port: number, opts: mysql.ConnectionOptions = {}): Promise<Conn> {
  const c = await mysql.createConnection({
    host: '127.0.0.1',
    port,
    user: 'root',
    password: '',
    database: 'test',
    connectTimeout: 10_000,
    ...opts,
  });
  c.on('error', () => {});
  return c;
}

/** The callback-style mysql2 connection under a promise wrapper (for `.stream`, `.query().stream()`). */
export interface CoreConnection {
  stream: import('node:net').Socket | TLSSocket;
  threadId: number;
  query(sql: string, values?: unknown): { stream(opts?: { highWaterMark?: number }): import('node:stream').Readable };
  /** mysql2 emits 'warn' with "got packets out of order" when a sequence id is wrong. */
  on(event: 'warn', listener: (err: Error) => void): unknown;
}
export function coreOf(c: Conn): CoreConnection {
  return (c as unknown as { connection: CoreConnection }).connection;
}

/** True when the client socket of a mysql2 connection is a TLS socket with an established session. */
export function isTls(c: Conn): boolean {
  const s = coreOf(c).stream as Partial<TLSSocket>;
  return s.encrypted === true && typeof s.getCipher === 'function' && !!s.getCipher()?.name;
}

/** The MySQL error fields the tests compare. */
export interface SqlError {
  errno?: number;
  sqlState?: string;
  code?: string;
  message: string;
  fatal?: boolean;
}

/** Awaits `p` expecting a rejection; returns the error's MySQL fields (throws if `p` resolved). */
export async function sqlError(p: Promise<unknown>): Promise<SqlError> {
  try {
    await p;
  } catch (e) {
    const err = e as SqlError & { sqlMessage?: string };
    return { errno: err.errno, sqlState: err.sqlState, code: err.code, message: err.sqlMessage ?? err.message, fatal: err.fatal };
  }
  throw new Error('expected the statement to fail, it succeeded');
}

export function sha1(b: Buffer | string): string {
  return createHash('sha1').update(b).digest('hex');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, rej) => {
        t = setTimeout(() => rej(new Error(`${what} did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    if (t) clearTimeout(t);
  }
}

/** The mysql2 field metadata worth comparing between a direct and a proxied result. */
export function fieldMeta(fields: unknown): unknown {
  if (!Array.isArray(fields)) return fields;
  return fields.map((f) => {
    if (Array.isArray(f)) return fieldMeta(f);
    if (f === null || typeof f !== 'object') return f;
    const x = f as Record<string, unknown>;
    return {
      name: x.name,
      orgName: x.orgName,
      table: x.table,
      orgTable: x.orgTable,
      db: x.db,
      type: x.columnType,
      charset: x.characterSet,
      length: x.columnLength,
      flags: x.flags,
      decimals: x.decimals,
    };
  });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  user?: string;
  password?: string;
  database?: string;
  /** Written to the CLI's stdin (then closed). */
  input?: string;
  timeoutMs?: number;
}

/**
 * Runs the `mariadb` CLI against 127.0.0.1:`port` as app/app on `test` in batch/raw mode.
 * `sql` goes to `-e` (null: read statements from `opts.input`); `args` come last and can override.
 */
export function cli(port: number, sql: string | null, args: string[] = [], opts: CliOptions = {}): Promise<CliResult> {
  const argv = [
    '--no-defaults',
    '--protocol=TCP',
    '-h127.0.0.1',
    `-P${port}`,
    `--user=${opts.user ?? DEFAULT_USER}`,
    `--password=${opts.password ?? DEFAULT_PASSWORD}`,
    `--database=${opts.database ?? 'test'}`,
    '--batch',
    '--raw',
    '--connect-timeout=10',
    ...(sql !== null ? ['-e', sql] : []),
    ...args,
  ];
  return runProc('mariadb', argv, { input: opts.input, timeoutMs: opts.timeoutMs ?? 30_000 });
}

/**
 * Wraps a uvu test body with a deadline: uvu has no per-test timeout, and a proxy that never answers
 * would otherwise hang the whole run instead of failing one test.
 */
export function timed(fn: () => Promise<void>, ms = 30_000): () => Promise<void> {
  return () => withTimeout(fn(), ms, 'test');
}

export type Mode = 'query' | 'execute';

/** `c.query` (text protocol) or `c.execute` (binary protocol, prepared) by name; resolves [rows, fields]. */
export function run(c: Conn, mode: Mode, sql: string, params?: unknown[]): Promise<[unknown, unknown]> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const values = params as any;
  return mode === 'query' ? c.query(sql, values) : c.execute(sql, values);
}
