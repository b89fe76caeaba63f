import { getHeapSpaceStatistics } from 'node:v8';

/** What a memory report reads of the proxy (sizes only). */
export interface MemoryParts {
  readonly sessions: ReadonlyMap<number, { readonly prepared: { readonly size: number } }>;
  readonly handshaking: { readonly size: number };
  readonly planCache: { readonly size: number };
  readonly fastPlans: { readonly size: number };
  readonly digestStats: { readonly size: number };
  readonly digestKeys: { readonly size: number };
  readonly loginThrottle: { readonly size: number };
  readonly clientBuffer: { readonly bytes: number; readonly paused: { readonly size: number } };
  readonly backends: ReadonlyMap<string, { readonly open: number }>;
}

/**
 * Resident bytes of each V8 heap space that has any, keyed `heap` + the space's name in camel case
 * (`heapNewSpace`, `heapOldSpace`, `heapCodeSpace`, `heapLargeObjectSpace`, ...): tells a new space
 * grown under allocation pressure (up to 2 × 16 MiB of semi-spaces on 64-bit) from old-space growth.
 */
export function heapSpaces(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of getHeapSpaceStatistics()) {
    if (s.physical_space_size === 0) continue;
    out[`heap${s.space_name.replace(/(^|_)([a-z])/g, (_m, _u: string, c: string) => c.toUpperCase())}`] = s.physical_space_size;
  }
  return out;
}

/**
 * Sizes of everything the proxy keeps between statements, next to the process's memory figures
 * (SIGUSR2 logs it, after a full GC when node runs with --expose-gc): what a leak hunt looks at first.
 */
export function memoryReport(p: MemoryParts, retiredBackends: number): Record<string, number> {
  const m = process.memoryUsage();
  let prepared = 0;
  for (const s of p.sessions.values()) prepared += s.prepared.size;
  let backendConnections = 0;
  for (const b of p.backends.values()) backendConnections += b.open;
  return {
    rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers,
    ...heapSpaces(),
    sessions: p.sessions.size, handshaking: p.handshaking.size, preparedStatements: prepared,
    planCache: p.planCache.size, fastPlans: p.fastPlans.size, digestStats: p.digestStats.size, digestKeys: p.digestKeys.size,
    loginThrottle: p.loginThrottle.size, retiredBackends, pausedSessions: p.clientBuffer.paused.size,
    clientBufferBytes: p.clientBuffer.bytes, backendConnections,
  };
}
