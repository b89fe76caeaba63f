import { createHash } from 'node:crypto';
import type { BackendConfig, ClusterConfig, Config, TenantConfig, UserConfig } from './types';

/**
 * What changed between two config snapshots, as plain data: readable in the history file and in
 * `tenantgate config diff`, and the input of the reload's pool plan. Pure; secrets never appear
 * (a changed password shows as the field name only).
 */
export interface ConfigDiff {
  readonly backends: EntityDiff;
  readonly clusters: EntityDiff;
  readonly tenants: EntityDiff;
  readonly users: EntityDiff;
  /** Settings that changed but only take effect at restart (listener address, TLS, admin listener). */
  readonly restartRequired: readonly string[];
  /** Other top-level sections that changed (applied live). */
  readonly other: readonly string[];
}

/** Added and removed names; changed names with `field: old → new` lines. */
export interface EntityDiff {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly { readonly name: string; readonly fields: readonly string[] }[];
}

const SECRET_FIELDS = new Set(['password', 'backendPassword', 'nativeHash', 'sha2Hash', 'tokenHash']);

/** Hash of every setting a backend pool is built from: equal hash → the pool is kept across a reload. */
export function backendSettingsHash(b: BackendConfig): string {
  return createHash('sha256').update(stableJson(b)).digest('hex').slice(0, 16);
}

/** JSON with object keys sorted, so equal values give equal text. */
export function stableJson(v: unknown): string {
  return JSON.stringify(sortKeys(v));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

function show(field: string, v: unknown): string {
  if (SECRET_FIELDS.has(field)) return '(secret)';
  return v === undefined ? '-' : typeof v === 'string' ? v : JSON.stringify(v);
}

function fieldChanges(a: object, b: object): string[] {
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(ra), ...Object.keys(rb)])].sort();
  const out: string[] = [];
  for (const k of keys) {
    if (stableJson(ra[k]) === stableJson(rb[k])) continue;
    out.push(SECRET_FIELDS.has(k) ? `${k} changed` : `${k}: ${show(k, ra[k])} → ${show(k, rb[k])}`);
  }
  return out;
}

function entityDiff<T extends object>(a: readonly T[], b: readonly T[], key: (x: T) => string): EntityDiff {
  const ma = new Map(a.map((x) => [key(x), x]));
  const mb = new Map(b.map((x) => [key(x), x]));
  const added = [...mb.keys()].filter((k) => !ma.has(k)).sort();
  const removed = [...ma.keys()].filter((k) => !mb.has(k)).sort();
  const changed: { name: string; fields: string[] }[] = [];
  for (const [k, x] of ma) {
    const y = mb.get(k);
    if (!y) continue;
    const fields = fieldChanges(x, y);
    if (fields.length > 0) changed.push({ name: k, fields });
  }
  changed.sort((p, q) => (p.name < q.name ? -1 : p.name > q.name ? 1 : 0));
  return { added, removed, changed };
}

const RESTART_KEYS: readonly (keyof Config)[] = ['listen', 'tls', 'admin'];
const ENTITY_KEYS: readonly (keyof Config)[] = ['backends', 'clusters', 'tenants', 'users'];

/** The difference from snapshot `a` to snapshot `b`. */
export function diffConfigs(a: Config, b: Config): ConfigDiff {
  const restartRequired: string[] = [];
  const other: string[] = [];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort() as (keyof Config)[];
  for (const k of keys) {
    if (ENTITY_KEYS.includes(k)) continue;
    if (stableJson(a[k]) === stableJson(b[k])) continue;
    if (RESTART_KEYS.includes(k)) restartRequired.push(k);
    else other.push(k);
  }
  return {
    backends: entityDiff<BackendConfig>(a.backends, b.backends, (x) => x.name),
    clusters: entityDiff<ClusterConfig>(a.clusters, b.clusters, (x) => x.name),
    tenants: entityDiff<TenantConfig>(a.tenants, b.tenants, (x) => x.id),
    users: entityDiff<UserConfig>(a.users, b.users, (x) => x.name),
    restartRequired,
    other,
  };
}

/** True when the diff records no change at all. */
export function isEmptyDiff(d: ConfigDiff): boolean {
  const empty = (e: EntityDiff) => e.added.length === 0 && e.removed.length === 0 && e.changed.length === 0;
  return empty(d.backends) && empty(d.clusters) && empty(d.tenants) && empty(d.users) && d.restartRequired.length === 0 && d.other.length === 0;
}

/** The diff as lines for people: `+ backend b2`, `~ tenant acme: cluster: c1 → c2`, ... */
export function formatDiff(d: ConfigDiff): string[] {
  const lines: string[] = [];
  const add = (what: string, e: EntityDiff) => {
    for (const n of e.added) lines.push(`+ ${what} ${n}`);
    for (const n of e.removed) lines.push(`- ${what} ${n}`);
    for (const c of e.changed) for (const f of c.fields) lines.push(`~ ${what} ${c.name}: ${f}`);
  };
  add('backend', d.backends);
  add('cluster', d.clusters);
  add('tenant', d.tenants);
  add('user', d.users);
  for (const k of d.other) lines.push(`~ ${k}`);
  for (const k of d.restartRequired) lines.push(`~ ${k} (takes effect at restart)`);
  return lines;
}

/** What a reload does with backend pools: by name, comparing {@link backendSettingsHash}. */
export interface PoolPlan {
  /** Same settings: the running pools are kept. */
  readonly keep: readonly string[];
  /** Same name, other settings: new pools; the old ones drain and close. */
  readonly replace: readonly string[];
  readonly add: readonly string[];
  /** Gone from the config: their pools drain and close. */
  readonly remove: readonly string[];
}

/** Pure: the pool plan from the old to the new backend list. */
export function planPools(oldBackends: readonly BackendConfig[], newBackends: readonly BackendConfig[]): PoolPlan {
  const oldHash = new Map(oldBackends.map((b) => [b.name, backendSettingsHash(b)]));
  const keep: string[] = [];
  const replace: string[] = [];
  const add: string[] = [];
  for (const b of newBackends) {
    const h = oldHash.get(b.name);
    if (h === undefined) add.push(b.name);
    else if (h === backendSettingsHash(b)) keep.push(b.name);
    else replace.push(b.name);
  }
  const names = new Set(newBackends.map((b) => b.name));
  const remove = oldBackends.filter((b) => !names.has(b.name)).map((b) => b.name);
  return { keep, replace, add, remove };
}

/** The snapshot with secrets replaced by `(redacted)`, for GET /config. */
export function redactConfig(c: Config): unknown {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = SECRET_FIELDS.has(k) && x !== '' ? '(redacted)' : walk(x);
      return out;
    }
    return v;
  };
  return walk(c);
}
