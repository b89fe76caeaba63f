/**
 * What the fast lane did in a proxy (README "Fast lane"): statements relayed natively and ejects by
 * reason — for random tests to show (and assert) that lanes engaged.
 */
import type { Proxy } from '../../src/server/proxy';

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
