/**
 * Tenant identification: which tenant a connection belongs to, from what the client sent at login
 * (user name, connect attributes, database), by the configured strategies in order. Pure: the
 * login code calls it with the Identity and the current snapshot.
 */
import type { TenantConfig, TenantStrategy } from '../config/types';
import { accessDenied, type Refusal } from './refusal';
import type { RoutingSnapshot } from './snapshot';

/** What the client presented at login (or COM_CHANGE_USER). */
export interface Identity {
  /** The user name as sent (`app@acme` with a user_pattern strategy). */
  readonly user: string;
  readonly connectAttrs: Readonly<Record<string, string>>;
  /** Database named at connect, or null. */
  readonly database: string | null;
}

export type TenantDecision =
  | {
      readonly action: 'tenant';
      readonly tenant: string;
      /** The users[] entry whose password hash authenticates this login. */
      readonly authUser: string;
      readonly via: TenantStrategy['type'] | 'default_tenant';
    }
  /** No tenants configured: each user goes to its backend as before. */
  | { readonly action: 'passthrough'; readonly authUser: string }
  | Refusal;

/** Splits a login name by a `{user}` / `{tenant}` pattern (patterns were validated by the loader). */
export function matchUserPattern(pattern: string, login: string): { user: string; tenant: string } | null {
  const ui = pattern.indexOf('{user}');
  const ti = pattern.indexOf('{tenant}');
  const userFirst = ui < ti;
  const prefix = pattern.slice(0, Math.min(ui, ti));
  const sep = userFirst ? pattern.slice(ui + 6, ti) : pattern.slice(ti + 8, ui);
  const suffix = pattern.slice(Math.max(ui + 6, ti + 8));
  if (!login.startsWith(prefix) || !login.endsWith(suffix) || login.length < prefix.length + suffix.length) return null;
  const mid = login.slice(prefix.length, login.length - suffix.length);
  // The tenant part never contains the separator (ids are [A-Za-z0-9_.-]); split where that holds.
  const at = userFirst ? mid.lastIndexOf(sep) : mid.indexOf(sep);
  if (at <= 0 || at + sep.length >= mid.length) return null;
  const a = mid.slice(0, at);
  const b = mid.slice(at + sep.length);
  return userFirst ? { user: a, tenant: b } : { user: b, tenant: a };
}

/**
 * The users[] entry that authenticates `login`: the login itself if it is a user, else the `{user}`
 * part of the first user_pattern that matches. Null: unknown user (the login code refuses it).
 */
export function resolveLoginUser(login: string, snap: RoutingSnapshot): string | null {
  if (snap.userNames.has(login)) return login;
  for (const s of snap.config.tenantIdentification.strategies) {
    if (s.type !== 'user_pattern') continue;
    const m = matchUserPattern(s.pattern, login);
    if (m && snap.userNames.has(m.user) && snap.tenantsById.has(m.tenant)) return m.user;
  }
  return null;
}

/** The tenant whose schema (or, when unique, logical schema) is `db`. */
export function tenantForDatabase(db: string, snap: RoutingSnapshot): TenantConfig | null {
  const phys = snap.tenantsBySchema.get(db);
  if (phys && phys.length === 1) return phys[0]!;
  if (phys && phys.length > 1) return null; // same schema name on several clusters: ambiguous
  const logical = snap.tenantsByLogicalSchema.get(db);
  return logical && logical.length === 1 ? logical[0]! : null;
}

function allowed(s: { users?: readonly string[] }, user: string): boolean {
  return s.users === undefined || s.users.includes(user);
}

/**
 * Identifies the tenant of a login. A user bound to a tenant (tenants[].users) can never be
 * identified as another tenant by a later strategy: that is refused rather than resolved.
 */
export function identifyTenant(id: Identity, snap: RoutingSnapshot): TenantDecision {
  const cfg = snap.config;
  const authUser = resolveLoginUser(id.user, snap);
  if (cfg.tenants.length === 0) return { action: 'passthrough', authUser: authUser ?? id.user };
  if (authUser === null) return accessDenied(id.user, 'unknown user');
  const bound = snap.tenantByUser.get(id.user) ?? snap.tenantByUser.get(authUser) ?? null;
  const tried: string[] = [];
  for (const s of cfg.tenantIdentification.strategies) {
    let found: TenantConfig | null = null;
    switch (s.type) {
      case 'user_map':
        tried.push('user_map');
        found = snap.tenantByUser.get(id.user) ?? null;
        break;
      case 'user_pattern': {
        tried.push(`user_pattern "${s.pattern}"`);
        const m = matchUserPattern(s.pattern, id.user);
        if (m && m.user === authUser && allowed(s, authUser)) found = snap.tenantsById.get(m.tenant) ?? null;
        break;
      }
      case 'connect_attr': {
        tried.push(`connect attribute "${s.attribute}"`);
        const v = Object.prototype.hasOwnProperty.call(id.connectAttrs, s.attribute) ? id.connectAttrs[s.attribute] : undefined;
        if (v !== undefined && allowed(s, authUser)) {
          found = snap.tenantsById.get(v) ?? null;
          if (!found) return accessDenied(id.user, `connect attribute "${s.attribute}" names no tenant tenantgate knows`);
        }
        break;
      }
      case 'database':
        tried.push('database');
        if (id.database !== null && allowed(s, authUser)) found = tenantForDatabase(id.database, snap);
        break;
    }
    if (found) {
      if (bound && found.id !== bound.id) return accessDenied(id.user, `this user belongs to another tenant than the one its ${s.type.replace('_', ' ')} names`);
      return { action: 'tenant', tenant: found.id, authUser, via: s.type };
    }
  }
  const def = cfg.tenantIdentification.defaultTenant;
  if (def !== undefined && (!bound || bound.id === def)) return { action: 'tenant', tenant: def, authUser, via: 'default_tenant' };
  return accessDenied(id.user, `tenantgate could not identify a tenant for this connection (tried ${tried.join(', ')}; no default tenant)`);
}

export type UseDecision =
  | { readonly action: 'stay' }
  | { readonly action: 'switch'; readonly tenant: string };

/**
 * `USE db` on a connection of `current`: a switch to the tenant owning `db` when the current tenant
 * allows switching, the database strategy is configured for this user, and the user is not bound
 * to another tenant; otherwise the connection stays with its tenant (isolation then judges `db`).
 */
export function tenantForUse(current: string, authUser: string, login: string, db: string, snap: RoutingSnapshot): UseDecision {
  const cur = snap.tenantsById.get(current);
  if (!cur || !cur.allowUseSwitch) return { action: 'stay' };
  if (db === cur.schema || db === cur.logicalSchema) return { action: 'stay' };
  const strategy = snap.config.tenantIdentification.strategies.find((s) => s.type === 'database');
  if (!strategy || !allowed(strategy as { users?: readonly string[] }, authUser)) return { action: 'stay' };
  const bound = snap.tenantByUser.get(login) ?? snap.tenantByUser.get(authUser);
  const next = tenantForDatabase(db, snap);
  if (!next || (bound && bound.id !== next.id)) return { action: 'stay' };
  return { action: 'switch', tenant: next.id };
}
