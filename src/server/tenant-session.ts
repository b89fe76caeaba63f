import { tryParseGtidPos } from '../backend/gtid';
import type { Refusal } from '../routing/refusal';
import type { ClientSession } from './client-session';
import { primaryChoice, rywKey, type RouteChoice } from './tenant-statement';

/** A write of a tenant session reported `last_gtid` (OK packet or read back): remembered for read-your-writes. */
export function recordWriteGtid(s: ClientSession, value: string): void {
  const t = s.tenant;
  if (!t) return;
  const k = rywKey(s, t);
  if (k === null) return;
  const pos = tryParseGtidPos(value);
  if (pos && pos.size > 0) s.ctx.ryw.recordWrite(k, pos);
}

/** The tenant's backend account and password (null: passthrough). */
export function tenantAccount(s: ClientSession): { account: string; password: string } | null {
  const t = s.tenant;
  if (!t) return null;
  const cfg = s.ctx.routing.tenantsById.get(t.tenant);
  return { account: t.backendUser, password: cfg ? cfg.backendPassword : '' };
}

/** Where a command with no plan of its own runs (tenant sessions: the primary, as the tenant's account; null: passthrough). */
export function defaultRoute(s: ClientSession): RouteChoice | Refusal | null {
  return s.tenant ? primaryChoice(s, s.tenant) : null;
}
