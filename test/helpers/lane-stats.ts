/**
 * What the fast lane did in a proxy (README "Fast lane"): statements relayed natively and ejects by
 * reason — for random tests to show (and assert) that lanes engaged.
 */
import type { Proxy } from '../../src/server/proxy';
import type { LaneManager } from '../../src/server/lane-manager';

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
