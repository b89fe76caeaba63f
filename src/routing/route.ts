/**
 * One statement's whole routing decision, composed from the pure parts: isolation (allow with
 * rewrites / refuse / answer) then the planner, through the plan cache. This is what the session
 * calls per COM_QUERY, with the config snapshot it took for the statement.
 */
import { PlanCache } from '../classify/plan-cache';
import type { ScanOptions, StatementScan } from '../classify/scan-types';
import { parserSchemas } from '../classify/sql-parser';
import { checkIsolation, type IsolationContext, type ProxyAnswer } from './isolation';
import type { Placement } from './placement';
import { classifyRoute, finishPlan, type RoutePlan, type SessionFlags, type StatementRoute } from './planner';
import { dbAccessDenied, type Refusal } from './refusal';
import type { Rewrite } from './rewrite';
import type { RoutingSnapshot } from './snapshot';

export type StatementDecision =
  | { readonly action: 'route'; readonly plan: RoutePlan; readonly rewrites: readonly Rewrite[] }
  | { readonly action: 'answer'; readonly answer: ProxyAnswer }
  | Refusal;

/** Digests longer than this are not cached (bounded memory per cache entry). */
export const MAX_CACHED_DIGEST = 16_384;

/** The per-digest part of a decision. */
export interface CachedDecision {
  readonly verdict: 'allow' | { readonly action: 'answer'; readonly answer: ProxyAnswer } | Refusal;
  /** Allowed with rewrites: their offsets are recomputed for each statement. */
  readonly needsRewrite: boolean;
  readonly route: StatementRoute;
}

/** Bits of the scan options that change how bytes are read (part of the cache key). */
export function optionBits(o: ScanOptions): number {
  const cs = (o.charset ?? '').toLowerCase();
  const mb = cs === 'gbk' ? 1 : cs === 'big5' ? 2 : cs === 'sjis' || cs === 'cp932' ? 3 : cs === 'gb18030' ? 4 : 0;
  return (o.noBackslashEscapes ? 1 : 0) | (o.ansiQuotes ? 2 : 0) | (mb << 2);
}

function computeCached(scan: StatementScan, buf: Buffer, start: number, end: number, placement: Placement, ctx: IsolationContext, snap: RoutingSnapshot): CachedDecision {
  const route = classifyRoute(scan);
  const iso = checkIsolation(scan, buf, placement, ctx);
  if (iso.action !== 'allow') return { verdict: iso, needsRewrite: false, route };
  // Second opinion on a miss: a schema the parser sees in a table position that the scanner did not.
  const max = snap.config.planCache.maxParseLength;
  if (max > 0 && end - start <= max) {
    const schemas = parserSchemas(buf.toString('utf8', start, end), max);
    if (schemas) {
      for (const s of schemas) {
        if (s === placement.schema || s === placement.logicalSchema || s.toLowerCase() === 'information_schema') continue;
        if (!scan.schemaRefs.some((r) => r.name === s)) return { verdict: dbAccessDenied(ctx.user, s), needsRewrite: false, route };
      }
    }
  }
  return { verdict: 'allow', needsRewrite: iso.rewrites.length > 0, route };
}

/** Whether isolation reads literal values of this statement (see {@link decideStatement}). */
export function literalDependent(scan: StatementScan): boolean {
  if (scan.dynamicSql !== null) return true;
  for (const r of scan.schemaRefs) if (r.name.toLowerCase() === 'information_schema') return true;
  for (const r of scan.unresolvedQualifiers) if (r.name.toLowerCase() === 'information_schema') return true;
  return false;
}

/**
 * Decides one statement. `scan` covers `buf[start:end)`; `cache` may be null (no caching).
 */
export function decideStatement(
  scan: StatementScan,
  buf: Buffer,
  start: number,
  end: number,
  placement: Placement,
  session: SessionFlags,
  ctx: IsolationContext,
  snap: RoutingSnapshot,
  cache: PlanCache<CachedDecision> | null,
): StatementDecision {
  let cached: CachedDecision | undefined;
  let key = '';
  // A huge digest (a statement nothing folds) would pin its size in the cache: decide it uncached.
  // So is a statement whose decision reads a literal's value, which the digest folds to `?`: SQL
  // inside PREPARE ... FROM '...' / EXECUTE IMMEDIATE '...', and information_schema filters naming
  // schemas as strings. Cached, the first such statement would decide for every later one.
  if (cache !== null && scan.digest.length <= MAX_CACHED_DIGEST && !literalDependent(scan)) {
    key = PlanCache.key(snap.version, placement.tenant, optionBits(ctx.scanOptions), scan.digest);
    cached = cache.get(key);
  }
  if (cached === undefined) {
    cached = computeCached(scan, buf, start, end, placement, ctx, snap);
    if (key !== '') cache!.set(key, cached);
  }
  const v = cached.verdict;
  if (v !== 'allow') return v;
  let rewrites: readonly Rewrite[] = [];
  if (cached.needsRewrite) {
    const iso = checkIsolation(scan, buf, placement, ctx);
    if (iso.action !== 'allow') return iso; // cannot differ for one digest; kept fail-closed anyway
    rewrites = iso.rewrites;
  }
  return { action: 'route', plan: finishPlan(cached.route, placement, session, snap.config.readYourWrites), rewrites };
}
