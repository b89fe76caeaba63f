/**
 * What the fast lane did in a proxy (README "Fast lane"): statements relayed natively and ejects by
 * reason — for random tests to show (and assert) that lanes engaged.
 */
import type { Proxy } from '../../src/server/proxy';
import type { LaneManager } from '../../src/server/lane-manager';
import { type Conn, type ProxyHandle, startProxy } from './proxy';

export interface LaneSummary {
  on: boolean;
  statements: number;
  ejects: Record<string, number>;
}

export function laneSummary(p: Proxy): LaneSummary {
  const l = p.lanes;
  if (l === null) return { on: false, statements: 0, ejects: {} };
  l.fold();
  const ejects: Record<string, number> = {};
  for (const [k, n] of l.ejectCounts()) if (n > 0) ejects[k] = n;
  return { on: true, statements: l.statements, ejects };
}

export function formatLaneSummary(s: LaneSummary): string {
  if (!s.on) return 'fast lane: off';
  const e = Object.entries(s.ejects).map(([k, n]) => `${k}=${n}`).join(' ');
  return `fast lane: ${s.statements} statements relayed natively; ejects: ${e || 'none'}`;
}

/** The proxy's lane manager; throws when the proxy runs without lanes although a test needs them. */
export function laneManager(p: Proxy): LaneManager {
  const l = p.lanes;
  if (l === null) throw new Error('the proxy runs without the fast lane although the module is built');
  return l;
}

/** Statements the proxy's lanes relayed so far (counters folded). */
export function laneStatementCount(p: Proxy): number {
  const l = laneManager(p);
  l.fold();
  return l.statements;
}

/** Polls `fn` every 20 ms until it holds; throws naming `what` after `ms`. */
export async function waitUntil(what: string, fn: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A backend account the proxy of a lane test logs in as (its connections can be told apart in PROCESSLIST). */
export async function createBackendAccount(direct: Conn, user: string, password: string): Promise<void> {
  await direct.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
  await direct.query(`GRANT ALL ON *.* TO '${user}'@'%'`);
}

/**
 * A proxy with users `app`/`app` and `app2`/`app2` (schema `test`) in front of one backend logged in as
 * `backend`, with at most `maxConnections` connections (`perUser`: max_connections_per_user).
 */
export function startTwoUserProxy(port: number, backend: { user: string; password: string }, maxConnections: number, opts: { perUser?: number; acquireTimeoutMs?: number; extraYaml?: Record<string, unknown> } = {}): Promise<ProxyHandle> {
  return startProxy({
    backends: [{ name: 'b1', port, user: backend.user, password: backend.password, maxConnections, maxConnectionsPerUser: opts.perUser, acquireTimeoutMs: opts.acquireTimeoutMs ?? 20_000 }],
    users: [
      { name: 'app', password: 'app', defaultSchema: 'test' },
      { name: 'app2', password: 'app2', defaultSchema: 'test' },
    ],
    extraYaml: opts.extraYaml,
  });
}
