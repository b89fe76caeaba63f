/**
 * Shared fixture of the issue-5 regression tests: two tenants' schemas on one server, server users
 * matching the proxy users (so a direct connection is the reference a proxied session must equal),
 * and a differential runner that plays the same steps with one client directly and through a fresh
 * proxy whose backend pool is small enough that sessions share backend connections.
 */
import * as assert from 'uvu/assert';
import type { MariaDbServer } from './mariadb';
import type { AnyClient, Step, StepConn, StepResult } from './client-scripts';
import { runSteps } from './client-scripts';
import type { ProxyHandle, StartProxyOpts } from './proxy';
import { startProxy } from './proxy';

export const PW = 'pw';

/** Proxy users and the server users of the same name: name → default schema (null: none). */
export const TENANT_USERS: Record<string, string | null> = { app: 'shop', carol: 'tenant_b', nodb: null };

/** Short lock waits so a leaked lock shows as an error, not a long hang. */
export const FIXTURE_SERVER_ARGS = ['--lock-wait-timeout=2', '--innodb-lock-wait-timeout=2'];

export async function setupTenants(server: MariaDbServer): Promise<void> {
  const sql = [
    'CREATE DATABASE shop',
    'CREATE DATABASE tenant_b',
    "CREATE TABLE shop.secret (owner VARCHAR(20)) ENGINE=InnoDB",
    "INSERT INTO shop.secret VALUES ('shop-row')",
    "CREATE TABLE tenant_b.secret (owner VARCHAR(20)) ENGINE=InnoDB",
    "INSERT INTO tenant_b.secret VALUES ('tenant-b-row')",
    'CREATE TABLE shop.t (x INT) ENGINE=InnoDB',
    'CREATE TABLE tenant_b.t (x INT) ENGINE=InnoDB',
    'CREATE TABLE shop.kt (id INT PRIMARY KEY) ENGINE=InnoDB',
    'CREATE PROCEDURE shop.p_uv(x VARCHAR(20)) SET @pv = x',
    'CREATE PROCEDURE shop.p_tmp(x VARCHAR(20)) BEGIN CREATE TEMPORARY TABLE ptmp (x VARCHAR(20)); INSERT INTO ptmp VALUES (x); END',
    "CREATE PROCEDURE shop.p_lock() DO GET_LOCK('plk', 0)",
  ];
  for (const s of sql) await server.query(s);
  for (const u of Object.keys(TENANT_USERS)) {
    await server.query(`CREATE USER '${u}'@'%' IDENTIFIED BY '${PW}'`);
    await server.query(`GRANT ALL PRIVILEGES ON *.* TO '${u}'@'%'`);
  }
}

/**
 * Starts a proxy over `server` with the tenant users; default pool of 2 connections, every user
 * allowed the whole pool (max_connections_per_user = max_connections). These suites test what
 * crosses sessions on shared connections, with sessions driven one step at a time: under the
 * default fair share (max_connections - 1 per user) a user whose other session pins a connection
 * would wait for it, where a dedicated connection would not. The share is tested in pool-fairness.
 */
export function startTenantProxy(server: MariaDbServer, extra: Partial<StartProxyOpts> = {}, maxConnections = 2): Promise<ProxyHandle> {
  return startProxy({
    backends: [{ name: 'b1', port: server.port, maxConnections, maxConnectionsPerUser: maxConnections, acquireTimeoutMs: 5000 }],
    users: Object.entries(TENANT_USERS).map(([name, schema]) => ({ name, password: PW, defaultSchema: schema })),
    ...extra,
  });
}

/** A logical connection of a scenario: which user, and optionally a database named at connect. */
export interface Who {
  user: keyof typeof TENANT_USERS;
  db?: string;
  multi?: boolean;
}

/** Connection specs for a scenario, direct (server users into their schema) or through the proxy. */
export function connSpecs(who: Record<string, Who>, port: number, direct: boolean): Record<string, StepConn> {
  return Object.fromEntries(
    Object.entries(who).map(([k, w]) => [
      k,
      {
        port, user: w.user, password: PW, multi: w.multi,
        // Through the proxy the user's default schema must come from the proxy's config.
        db: w.db ?? (direct ? TENANT_USERS[w.user] : null),
      },
    ]),
  );
}

/** What the tests compare of a step: rows, `ERR <errno>`, plus any protocol warnings. */
export function view(r: StepResult): unknown {
  let v: unknown;
  if (r.error) v = `ERR ${r.error.errno ?? r.error.type}`;
  else if (r.sets) v = r.sets.map((s) => (s.rows !== undefined ? s.rows : { affected: s.affected }));
  else v = r.opened ? 'opened' : r.closed ? 'closed' : r.paused ? `paused ${r.paused}` : r;
  return r.warnings ? { v, warnings: r.warnings } : v;
}

export interface DiffOpts {
  /** Called at each pause step with which side is running. */
  onPause?: (label: string, side: 'direct' | 'proxy') => Promise<void>;
  proxy?: Partial<StartProxyOpts>;
  maxConnections?: number;
}

/**
 * Plays `steps` with `client` directly, then through a fresh proxy; asserts the two transcripts are
 * equal and returns them (callers also pin the direct one to the values a server must give).
 */
export async function differential(
  server: MariaDbServer,
  client: AnyClient,
  who: Record<string, Who>,
  steps: Step[],
  opts: DiffOpts = {},
): Promise<{ direct: unknown[]; proxy: unknown[]; raw: { direct: StepResult[]; proxy: StepResult[] } }> {
  const rawDirect = await runSteps(client, connSpecs(who, server.port, true), steps, (l) => opts.onPause?.(l, 'direct') ?? Promise.resolve());
  await settle(server);
  const h = await startTenantProxy(server, opts.proxy, opts.maxConnections);
  let rawProxy: StepResult[];
  let stopError: Error | null = null;
  try {
    rawProxy = await runSteps(client, connSpecs(who, h.port, false), steps, (l) => opts.onPause?.(l, 'proxy') ?? Promise.resolve());
  } finally {
    await h.stop().catch((e: Error) => (stopError = e));
    // Whatever a failed run left on the server must not leak into the next test.
    await settle(server, true);
  }
  const direct = rawDirect.map(view);
  const proxy = rawProxy.map(view);
  const lines = steps.map((s, i) => `  ${describeStep(s)}\n    direct: ${JSON.stringify(direct[i])}\n    proxy:  ${JSON.stringify(proxy[i])}`);
  assert.equal(proxy, direct, `${client}: proxy transcript differs from the direct one:\n${lines.join('\n')}`);
  if (stopError) throw stopError;
  return { direct, proxy, raw: { direct: rawDirect, proxy: rawProxy } };
}

/**
 * Waits (bounded) until no session of the tenant users or the proxy's backend account is left on the
 * server: a server drops a closed connection's locks and temporary tables asynchronously, and the next
 * run must start from a settled server.
 */
export async function settle(server: MariaDbServer, killLeftovers = false): Promise<void> {
  const users = Object.keys(TENANT_USERS).map((u) => `'${u}'`).join(', ');
  const deadline = Date.now() + 5000;
  for (;;) {
    const rows = (await server.query(
      `SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND (USER IN (${users}) OR (USER = 'root' AND COMMAND <> 'Daemon'))`,
    )) as Array<{ ID: number }>;
    if (rows.length === 0) return;
    if (Date.now() > deadline) {
      if (killLeftovers) for (const r of rows) await server.query(`KILL ${Number(r.ID)}`).catch(() => undefined);
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function describeStep(s: Step): string {
  if ('pause' in s) return `(pause ${s.pause})`;
  if ('open' in s) return `${s.conn}: open`;
  if ('close' in s) return `${s.conn}: close`;
  return `${s.conn}: ${s.prepared ? '[prepared] ' : ''}${s.sql}`;
}

/** Step builders. */
export const open = (conn: string): Step => ({ conn, open: true });
export const close = (conn: string): Step => ({ conn, close: true });
export const q = (conn: string, sql: string): Step => ({ conn, sql });
export const x = (conn: string, sql: string): Step => ({ conn, sql, prepared: true });
