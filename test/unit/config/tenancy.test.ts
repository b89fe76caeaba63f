/**
 * Config for routing: clusters, tenants, tenant_identification, read_your_writes, plan_cache —
 * defaults, the exact shapes other modules rely on, and every cross-field problem with its YAML
 * path and line. Passthrough configs stay valid and unchanged.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { ConfigError, loadConfig, parseConfig, summarizeConfig, type ConfigProblem } from '../../../src/config/load';
import { fixturePath } from '../../helpers/golden';

const BASE = `
backends:
  - { name: p1, host: 10.0.0.1, user: tenantgate }
  - { name: r1, host: 10.0.0.2, user: tenantgate }
  - { name: p2, host: 10.0.0.3, user: tenantgate }
users:
  - { name: acme_app, password_hash: "" }
  - { name: app, password_hash: "" }
`;

function problems(yaml: string): ConfigProblem[] {
  try {
    parseConfig(yaml, 'test.yaml');
  } catch (e) {
    assert.instance(e, ConfigError);
    return (e as ConfigError).problems;
  }
  assert.unreachable('expected a ConfigError');
  return [];
}

function expectProblem(ps: ConfigProblem[], path: string, message: RegExp, line?: number): void {
  const hit = ps.find((p) => p.path === path && message.test(p.message));
  assert.ok(hit, `no problem at ${path} matching ${message}; got:\n${ps.map((p) => `${p.path}: ${p.message} (line ${p.line})`).join('\n')}`);
  if (line !== undefined) assert.is(hit!.line, line, `line of ${path}`);
}

test('routing sections map onto the agreed shapes, with defaults', () => {
  const c = parseConfig(
    BASE +
      `clusters:
  - { name: shared, primary: p1, replicas: [{ backend: r1 }] }
  - { name: solo, primary: p2, max_replication_lag_s: 3, no_healthy_replica: fail }
tenants:
  - { id: acme, tier: separate_schema, cluster: shared, schema: t_acme, logical_schema: app, backend_user: acme_rw, backend_password: s3, users: [acme_app] }
  - { id: initech, tier: separate_database, cluster: solo, schema: initech, backend_user: initech_rw, reads: primary, allow_use_switch: true }
`,
  );
  assert.equal(c.clusters, [
    { name: 'shared', primary: 'p1', replicas: [{ backend: 'r1', weight: 1 }], maxReplicationLagS: 10, noHealthyReplica: 'primary' },
    { name: 'solo', primary: 'p2', replicas: [], maxReplicationLagS: 3, noHealthyReplica: 'fail' },
  ]);
  assert.equal(c.tenants[0], {
    id: 'acme', tier: 'separate_schema', cluster: 'shared', schema: 't_acme', logicalSchema: 'app',
    backendUser: 'acme_rw', backendPassword: 's3', reads: 'replica', users: ['acme_app'], allowUseSwitch: false,
  });
  assert.equal(c.tenants[1], {
    id: 'initech', tier: 'separate_database', cluster: 'solo', schema: 'initech',
    backendUser: 'initech_rw', backendPassword: '', reads: 'primary', users: [], allowUseSwitch: true,
  });
  assert.equal(c.tenantIdentification, { strategies: [{ type: 'user_map' }] });
  assert.equal(c.readYourWrites, { scope: 'session', gtidWaitTimeoutMs: 500, fallback: 'primary' });
  assert.equal(c.planCache, { size: 10000, maxParseLength: 8192 });
  // tenant users without a backend get their tenant's primary (passthrough code keeps working)
  assert.is(c.users.find((u) => u.name === 'acme_app')!.backend, 'p1');
  assert.match(summarizeConfig(c), /tenants \(2\): 1 separate_schema, 1 separate_database/);
});

test('max_connections_per_user default counts the tenants on each backend (primary and replicas)', () => {
  const c = parseConfig(
    BASE +
      `clusters:
  - { name: shared, primary: p1, replicas: [{ backend: r1 }] }
  - { name: solo, primary: p2 }
tenants:
  - { id: acme, tier: separate_schema, cluster: shared, schema: t_acme, backend_user: acme_rw, users: [acme_app] }
  - { id: globex, tier: separate_schema, cluster: shared, schema: t_globex, backend_user: globex_rw }
  - { id: initech, tier: separate_database, cluster: solo, schema: initech, backend_user: initech_rw }
`,
  );
  const cap = (name: string) => c.backends.find((b) => b.name === name)!.maxConnectionsPerUser;
  assert.is(cap('p1'), 19, 'two tenants on the shared primary');
  assert.is(cap('r1'), 19, 'and on its replica');
  assert.is(cap('p2'), 20, 'one tenant alone on its server');
});

test('strategies: bare names, objects, defaults for pattern and attribute', () => {
  const c = parseConfig(
    BASE +
      `clusters: [{ name: solo, primary: p2 }]
tenants: [{ id: acme, tier: separate_database, cluster: solo, schema: t_acme, backend_user: acme_rw }]
tenant_identification:
  strategies: [user_map, { type: user_pattern, pattern: "{user}@{tenant}", users: [app] }, connect_attr, { type: database }]
  default_tenant: acme
read_your_writes: { scope: tenant, gtid_wait_timeout_ms: 250, fallback: fail }
plan_cache: { size: 100, max_parse_length: 0 }
`,
  );
  assert.equal(c.tenantIdentification, {
    strategies: [{ type: 'user_map' }, { type: 'user_pattern', pattern: '{user}@{tenant}', users: ['app'] }, { type: 'connect_attr', attribute: 'tenant' }, { type: 'database' }],
    defaultTenant: 'acme',
  });
  assert.equal(c.readYourWrites, { scope: 'tenant', gtidWaitTimeoutMs: 250, fallback: 'fail' });
  assert.equal(c.planCache, { size: 100, maxParseLength: 0 });
});

test('passthrough configs: no routing sections, empty lists, users keep their backend', () => {
  const c = parseConfig(BASE.replace(/password_hash: "" }/g, 'password_hash: "", backend: p1 }'));
  assert.equal(c.clusters, []);
  assert.equal(c.tenants, []);
  assert.is(c.users[0]!.backend, 'p1');
  assert.match(summarizeConfig(c), /routing: passthrough/);
});

test('cross-field problems, each with its path and line', () => {
  const yaml =
    BASE +
    `clusters:
  - { name: shared, primary: p9, replicas: [{ backend: p1 }, { backend: r2 }] }
  - { name: shared, primary: p2 }
  - { name: big, primary: p1, replicas: [{ backend: r1 }, { backend: r1 }] }
  - { name: solo, primary: p2, replicas: [{ backend: p2 }] }
tenants:
  - { id: acme, tier: separate_schema, cluster: shard, schema: t_acme, backend_user: acme_rw, users: [acme_app, nobody] }
  - { id: acme, tier: separate_database, cluster: big, schema: x, backend_user: tenantgate }
  - { id: globex, tier: separate_cluster, cluster: big, schema: x, backend_user: other_rw, users: [acme_app] }
  - { id: initech, tier: separate_schema, cluster: solo, schema: i, backend_user: i_rw }
  - { id: hooli, tier: separate_schema, cluster: solo, schema: i, backend_user: i_rw }
tenant_identification:
  strategies: [{ type: user_pattern, pattern: "{user}{tenant}" }, { type: user_pattern }, { type: connect_attr, pattern: x }, { type: user_map, users: [app] }, { type: database, users: [ghost] }]
  default_tenant: acm
`;
  const ps = problems(yaml);
  expectProblem(ps, 'clusters[0].primary', /unknown backend "p9"; did you mean "p1"\?/, 10);
  expectProblem(ps, 'clusters[3].replicas[0].backend', /a backend cannot be its own replica/);
  expectProblem(ps, 'clusters[0].replicas[1].backend', /unknown backend "r2"; did you mean "r1"\?/);
  expectProblem(ps, 'clusters[1].name', /duplicate cluster name "shared"/, 11);
  expectProblem(ps, 'clusters[2].replicas[1].backend', /listed twice/);
  expectProblem(ps, 'tenants[0].cluster', /unknown cluster "shard"; did you mean "shared"\?/, 15);
  expectProblem(ps, 'tenants[0].users[1]', /unknown user "nobody"/);
  expectProblem(ps, 'tenants[1].id', /duplicate tenant id "acme"/);
  expectProblem(ps, 'tenants[1].cluster', /separate_database tenant's cluster has only a primary/);
  expectProblem(ps, 'tenants[1].backend_user', /tenantgate's own login/);
  expectProblem(ps, 'tenants[2].cluster', /needs a cluster of its own/);
  expectProblem(ps, 'tenants[2].users[0]', /already bound to tenant "acme"/);
  expectProblem(ps, 'tenants[4].schema', /already belongs to tenant "initech"/);
  expectProblem(ps, 'tenants[4].backend_user', /each tenant needs its own account/);
  expectProblem(ps, 'tenant_identification.strategies[0].pattern', /needs a separator/);
  expectProblem(ps, 'tenant_identification.strategies[1].pattern', /is required for user_pattern/);
  expectProblem(ps, 'tenant_identification.strategies[2].pattern', /only applies to type user_pattern/);
  expectProblem(ps, 'tenant_identification.strategies[3].users', /does not apply to user_map/);
  expectProblem(ps, 'tenant_identification.strategies[4].users[0]', /unknown user "ghost"/);
  expectProblem(ps, 'tenant_identification.default_tenant', /unknown tenant "acm"; did you mean "acme"\?/);
});

test('field problems: tiers, schema names, unknown keys with suggestions', () => {
  const ps = problems(
    BASE +
      `clusters: [{ name: solo, primary: p2, replicas: [{ backend: r1, weight: 0 }], max_replication_lag: 5 }]
tenants:
  - { id: acme, tier: shared_database, cluster: solo, schema: "t-acme", backend_user: a }
  - { id: "bad id!", tier: separate_schema, cluster: solo, schema: ok, logical_schema: "a b", backend_user: b, read: primary }
read_your_writes: { scope: always }
tenant_identification: { strategies: [{ type: cookie }] }
`,
  );
  expectProblem(ps, 'clusters[0].replicas[0].weight', /from 1 to 1000/);
  expectProblem(ps, 'clusters[0].max_replication_lag', /did you mean "max_replication_lag_s"/);
  expectProblem(ps, 'tenants[0].tier', /expected one of "separate_schema", "separate_database", "separate_cluster"; got "shared_database"/);
  expectProblem(ps, 'tenants[0].schema', /schema name of 1 to 64 letters/);
  expectProblem(ps, 'tenants[1].id', /tenant id/);
  expectProblem(ps, 'tenants[1].logical_schema', /schema name/);
  expectProblem(ps, 'tenants[1].read', /did you mean "reads"/);
  expectProblem(ps, 'read_your_writes.scope', /expected one of "session", "tenant", "off"/);
  expectProblem(ps, 'tenant_identification.strategies[0].type', /expected one of "user_map"/);
});

test('a user without a backend is an error only when there are no tenants', () => {
  const ps = problems(BASE);
  expectProblem(ps, 'users[0].backend', /^is required$/);
});

test('config/examples/multi-tenant.yaml loads', () => {
  const file = fixturePath('../../config/examples/multi-tenant.yaml');
  assert.ok(fs.existsSync(file));
  const c = loadConfig(file);
  assert.ok(c.tenants.length >= 3);
  assert.equal(new Set(c.tenants.map((t) => t.tier)), new Set(['separate_schema', 'separate_database', 'separate_cluster']));
});

test.run();
