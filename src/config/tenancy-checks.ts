/**
 * Cross-field checks for the routing part of the config (clusters, tenants, tenant_identification)
 * and its mapping onto the `Config` types. Like load.ts's checks, they read the raw YAML data
 * defensively so every problem is reported in one run, each with its YAML path.
 */
import type { FileConfig } from './schema';
import type { ClusterConfig, ReadYourWritesConfig, TenantConfig, TenantIdentificationConfig, TenantStrategy, PlanCacheConfig } from './types';

export interface TenancyProblem {
  segs: (string | number)[];
  message: string;
}

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** `unknown X "n"; did you mean "m"?` or the list of defined names. */
export function unknownRef(what: string, name: string, known: readonly string[], distance: (a: string, b: string) => number): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(name.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  if (best !== undefined && bestD <= (name.length <= 4 ? 1 : 2)) return `unknown ${what} "${name}"; did you mean "${best}"?`;
  return `unknown ${what} "${name}"` + (known.length ? `; defined: ${known.join(', ')}` : `; none is defined`);
}

/** Problems in clusters / tenants / tenant_identification (and users that depend on them). */
export function tenancyChecks(root: Rec, distance: (a: string, b: string) => number): TenancyProblem[] {
  const out: TenancyProblem[] = [];
  const backends = new Map<string, Rec>();
  for (const b of list(root.backends)) {
    const r = rec(b);
    const n = str(r?.name);
    if (r && n && !backends.has(n)) backends.set(n, r);
  }
  const users = new Set<string>();
  for (const u of list(root.users)) {
    const n = str(rec(u)?.name);
    if (n) users.add(n);
  }

  const clusters = new Map<string, { index: number; primary?: string; replicas: number }>();
  list(root.clusters).forEach((c, i) => {
    const r = rec(c);
    if (!r) return;
    const name = str(r.name);
    if (name) {
      const first = clusters.get(name);
      if (first) out.push({ segs: ['clusters', i, 'name'], message: `duplicate cluster name "${name}" (first used at clusters[${first.index}])` });
    }
    const primary = str(r.primary);
    if (primary && !backends.has(primary)) out.push({ segs: ['clusters', i, 'primary'], message: unknownRef('backend', primary, [...backends.keys()], distance) });
    const seen = new Set<string>();
    list(r.replicas).forEach((rep, j) => {
      const b = str(rec(rep)?.backend);
      if (!b) return;
      if (!backends.has(b)) out.push({ segs: ['clusters', i, 'replicas', j, 'backend'], message: unknownRef('backend', b, [...backends.keys()], distance) });
      else if (b === primary) out.push({ segs: ['clusters', i, 'replicas', j, 'backend'], message: `"${b}" is this cluster's primary; a backend cannot be its own replica` });
      else if (seen.has(b)) out.push({ segs: ['clusters', i, 'replicas', j, 'backend'], message: `replica "${b}" is listed twice` });
      seen.add(b);
    });
    if (name && !clusters.has(name)) clusters.set(name, { index: i, ...(primary ? { primary } : {}), replicas: list(r.replicas).length });
  });

  const tenantIds = new Map<string, number>();
  const userTenant = new Map<string, string>();
  const clusterOwner = new Map<string, { id: string; tier: string }>();
  const schemaOnServer = new Map<string, string>();
  const accountOnServer = new Map<string, string>();
  const tenants = list(root.tenants);
  tenants.forEach((t, i) => {
    const r = rec(t);
    if (!r) return;
    const id = str(r.id) ?? `#${i}`;
    if (str(r.id)) {
      const first = tenantIds.get(id);
      if (first !== undefined) out.push({ segs: ['tenants', i, 'id'], message: `duplicate tenant id "${id}" (first used at tenants[${first}])` });
      else tenantIds.set(id, i);
    }
    const tier = str(r.tier);
    const cname = str(r.cluster);
    const cluster = cname ? clusters.get(cname) : undefined;
    if (cname && !cluster) out.push({ segs: ['tenants', i, 'cluster'], message: unknownRef('cluster', cname, [...clusters.keys()], distance) });
    if (cluster && tier) {
      if (tier === 'separate_database' && cluster.replicas > 0) {
        out.push({ segs: ['tenants', i, 'cluster'], message: `a separate_database tenant's cluster has only a primary, but "${cname}" has replicas; use tier separate_cluster` });
      }
      const owner = clusterOwner.get(cname!);
      if (tier === 'separate_database' || tier === 'separate_cluster') {
        if (owner) out.push({ segs: ['tenants', i, 'cluster'], message: `tier ${tier} needs a cluster of its own, but "${cname}" is also used by tenant "${owner.id}"` });
      } else if (owner && owner.tier !== 'separate_schema') {
        out.push({ segs: ['tenants', i, 'cluster'], message: `cluster "${cname}" belongs to tenant "${owner.id}" (tier ${owner.tier})` });
      }
      if (!owner) clusterOwner.set(cname!, { id, tier });
    }
    const server = cluster?.primary;
    const schema = str(r.schema);
    if (server && schema) {
      const key = `${server}\u0000${schema}`;
      const other = schemaOnServer.get(key);
      if (other) out.push({ segs: ['tenants', i, 'schema'], message: `schema "${schema}" on backend "${server}" already belongs to tenant "${other}"` });
      else schemaOnServer.set(key, id);
    }
    const account = str(r.backend_user);
    if (server && account) {
      const key = `${server}\u0000${account}`;
      const other = accountOnServer.get(key);
      if (other) out.push({ segs: ['tenants', i, 'backend_user'], message: `backend account "${account}" on backend "${server}" already belongs to tenant "${other}"; each tenant needs its own account` });
      else accountOnServer.set(key, id);
      if (str(backends.get(server)?.user) === account) {
        out.push({ segs: ['tenants', i, 'backend_user'], message: `"${account}" is tenantgate's own login to backend "${server}"; a tenant needs its own account, granted only its schema` });
      }
    }
    list(r.users).forEach((u, j) => {
      if (typeof u !== 'string' || u === '') return;
      if (!users.has(u)) out.push({ segs: ['tenants', i, 'users', j], message: unknownRef('user', u, [...users], distance) });
      const other = userTenant.get(u);
      if (other !== undefined && other !== id) out.push({ segs: ['tenants', i, 'users', j], message: `user "${u}" is already bound to tenant "${other}"` });
      else userTenant.set(u, id);
    });
  });

  const ti = rec(root.tenant_identification);
  if (ti) {
    list(ti.strategies).forEach((s, i) => {
      const r = typeof s === 'string' ? { type: s } : rec(s);
      if (!r) return;
      const type = str(r.type);
      const at = (k: string): (string | number)[] => ['tenant_identification', 'strategies', i, k];
      if (type === 'user_pattern') {
        const p = r.pattern;
        if (p === undefined) out.push({ segs: at('pattern'), message: 'is required for user_pattern, e.g. "{user}@{tenant}"' });
        else if (typeof p === 'string') {
          const msg = patternProblem(p);
          if (msg) out.push({ segs: at('pattern'), message: msg });
        }
      } else if (r.pattern !== undefined && type) out.push({ segs: at('pattern'), message: `only applies to type user_pattern (this is ${type})` });
      if (r.attribute !== undefined && type && type !== 'connect_attr') out.push({ segs: at('attribute'), message: `only applies to type connect_attr (this is ${type})` });
      if (r.users !== undefined && type === 'user_map') out.push({ segs: at('users'), message: 'does not apply to user_map (tenants[].users binds users)' });
      list(r.users).forEach((u, j) => {
        if (typeof u === 'string' && u !== '' && !users.has(u)) {
          out.push({ segs: ['tenant_identification', 'strategies', i, 'users', j], message: unknownRef('user', u, [...users], distance) });
        }
      });
    });
    const d = str(ti.default_tenant);
    if (d && !tenantIds.has(d)) out.push({ segs: ['tenant_identification', 'default_tenant'], message: unknownRef('tenant', d, [...tenantIds.keys()], distance) });
  }

  // Passthrough users need a backend; tenant users are routed by their tenant.
  list(root.users).forEach((u, i) => {
    const r = rec(u);
    if (!r || r.backend !== undefined) return;
    if (tenants.length === 0) out.push({ segs: ['users', i, 'backend'], message: 'is required' }); // no tenants: every user is passed through to its backend
  });
  return out;
}

/** Why a user_pattern is unusable, or undefined. */
export function patternProblem(p: string): string | undefined {
  const count = (tok: string) => p.split(tok).length - 1;
  if (count('{user}') !== 1 || count('{tenant}') !== 1) return 'must contain {user} and {tenant} exactly once each, e.g. "{user}@{tenant}"';
  const rest = p.replace('{user}', '\u0000').replace('{tenant}', '\u0000');
  if (/[{}]/.test(rest)) return 'may only contain the placeholders {user} and {tenant}';
  const parts = rest.split('\u0000');
  if (parts[1] === '') return 'needs a separator between {user} and {tenant} (e.g. "@" or ".")';
  return undefined;
}

/** Maps the validated routing sections onto the Config types. */
export function toTenancy(f: FileConfig): {
  clusters: ClusterConfig[];
  tenants: TenantConfig[];
  tenantIdentification: TenantIdentificationConfig;
  readYourWrites: ReadYourWritesConfig;
  planCache: PlanCacheConfig;
} {
  const clusters: ClusterConfig[] = f.clusters.map((c) => ({
    name: c.name,
    primary: c.primary,
    replicas: c.replicas.map((r) => ({ backend: r.backend, weight: r.weight })),
    maxReplicationLagS: c.max_replication_lag_s,
    noHealthyReplica: c.no_healthy_replica,
  }));
  const tenants: TenantConfig[] = f.tenants.map((t) => ({
    id: t.id,
    tier: t.tier,
    cluster: t.cluster,
    schema: t.schema,
    ...(t.logical_schema !== undefined ? { logicalSchema: t.logical_schema } : {}),
    backendUser: t.backend_user,
    backendPassword: t.backend_password,
    reads: t.reads,
    users: [...t.users],
    allowUseSwitch: t.allow_use_switch,
  }));
  const strategies: TenantStrategy[] = f.tenant_identification.strategies.map((s) => {
    const users = s.users ? { users: [...s.users] } : {};
    switch (s.type) {
      case 'user_map':
        return { type: 'user_map' };
      case 'user_pattern':
        return { type: 'user_pattern', pattern: s.pattern ?? '{user}@{tenant}', ...users };
      case 'connect_attr':
        return { type: 'connect_attr', attribute: s.attribute ?? 'tenant', ...users };
      case 'database':
        return { type: 'database', ...users };
    }
  });
  const ti = f.tenant_identification;
  const ryw = f.read_your_writes;
  return {
    clusters,
    tenants,
    tenantIdentification: { strategies, ...(ti.default_tenant !== undefined ? { defaultTenant: ti.default_tenant } : {}) },
    readYourWrites: { scope: ryw.scope, gtidWaitTimeoutMs: ryw.gtid_wait_timeout_ms, fallback: ryw.fallback },
    planCache: { size: f.plan_cache.size, maxParseLength: f.plan_cache.max_parse_length },
  };
}
