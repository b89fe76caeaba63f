/** Tenant identification strategies, placement and USE switching, on a parsed config. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfig } from '../../../src/config/load';
import { placementFor } from '../../../src/routing/placement';
import { buildRoutingSnapshot } from '../../../src/routing/snapshot';
import { identifyTenant, matchUserPattern, resolveLoginUser, tenantForUse, type Identity } from '../../../src/routing/tenant';

const BASE = `
backends:
  - { name: p1, host: 10.0.0.1, user: tenantgate }
  - { name: r1, host: 10.0.0.2, user: tenantgate }
  - { name: p2, host: 10.0.0.3, user: tenantgate }
clusters:
  - { name: shared, primary: p1, replicas: [{ backend: r1 }] }
  - { name: solo, primary: p2 }
users:
  - { name: acme_app, password_hash: "" }
  - { name: app, password_hash: "" }
  - { name: worker, password_hash: "" }
tenants:
  - { id: acme, tier: separate_schema, cluster: shared, schema: t_acme, logical_schema: app, backend_user: acme_rw, users: [acme_app] }
  - { id: globex, tier: separate_schema, cluster: shared, schema: t_globex, logical_schema: app, backend_user: globex_rw, allow_use_switch: true }
  - { id: initech, tier: separate_database, cluster: solo, schema: initech, backend_user: initech_rw }
`;

function snap(identification = '', version = 1) {
  return buildRoutingSnapshot(parseConfig(BASE + identification), version);
}
const id = (user: string, connectAttrs: Record<string, string> = {}, database: string | null = null): Identity => ({ user, connectAttrs, database });

test('user_map (the default strategy): a bound user is its tenant', () => {
  const s = snap();
  assert.equal(identifyTenant(id('acme_app'), s), { action: 'tenant', tenant: 'acme', authUser: 'acme_app', via: 'user_map' });
});

test('no tenant found: ERR 1045 naming what was tried, no default tenant', () => {
  const d = identifyTenant(id('app'), snap());
  assert.is(d.action, 'refuse');
  if (d.action !== 'refuse') return;
  assert.is(d.errno, 1045);
  assert.is(d.sqlState, '28000');
  assert.match(d.message, /could not identify a tenant .*tried user_map; no default tenant/);
});

test('unknown login: ERR 1045', () => {
  const d = identifyTenant(id('nobody'), snap());
  assert.is(d.action === 'refuse' && d.errno, 1045);
});

test('default_tenant applies to users that are not bound elsewhere', () => {
  const s = snap('tenant_identification: { strategies: [user_map], default_tenant: initech }\n');
  assert.equal(identifyTenant(id('app'), s), { action: 'tenant', tenant: 'initech', authUser: 'app', via: 'default_tenant' });
  assert.equal(identifyTenant(id('acme_app'), s), { action: 'tenant', tenant: 'acme', authUser: 'acme_app', via: 'user_map' });
});

test('user_pattern: {user}@{tenant} and {tenant}.{user}, authenticated as the shared user', () => {
  const s = snap('tenant_identification: { strategies: [user_map, { type: user_pattern, pattern: "{user}@{tenant}" }, { type: user_pattern, pattern: "{tenant}.{user}" }] }\n');
  assert.is(resolveLoginUser('app@globex', s), 'app');
  assert.is(resolveLoginUser('initech.app', s), 'app');
  assert.is(resolveLoginUser('app@nosuch', s), null);
  assert.equal(identifyTenant(id('app@globex'), s), { action: 'tenant', tenant: 'globex', authUser: 'app', via: 'user_pattern' });
  assert.equal(identifyTenant(id('initech.app'), s), { action: 'tenant', tenant: 'initech', authUser: 'app', via: 'user_pattern' });
  // a user bound to acme cannot pick another tenant through a pattern
  const d = identifyTenant(id('acme_app@globex'), s);
  assert.is(d.action, 'refuse');
});

test('matchUserPattern splits at the separator nearest the tenant part', () => {
  assert.equal(matchUserPattern('{user}@{tenant}', 'a@b@acme'), { user: 'a@b', tenant: 'acme' });
  assert.equal(matchUserPattern('{tenant}.{user}', 'acme.app.x'), { user: 'app.x', tenant: 'acme' });
  assert.equal(matchUserPattern('t_{tenant}:{user}', 't_acme:app'), { user: 'app', tenant: 'acme' });
  assert.is(matchUserPattern('{user}@{tenant}', 'app'), null);
  assert.is(matchUserPattern('{user}@{tenant}', '@acme'), null);
});

test('connect_attr: only for the users the strategy lists; an unknown tenant id is refused', () => {
  const s = snap('tenant_identification: { strategies: [user_map, { type: connect_attr, users: [worker] }] }\n');
  assert.equal(identifyTenant(id('worker', { tenant: 'globex' }), s), { action: 'tenant', tenant: 'globex', authUser: 'worker', via: 'connect_attr' });
  assert.is(identifyTenant(id('app', { tenant: 'globex' }), s).action, 'refuse');
  const d = identifyTenant(id('worker', { tenant: 'nosuch' }), s);
  assert.is(d.action === 'refuse' && d.errno, 1045);
  // a bound user's attribute naming another tenant is refused rather than obeyed
  const s2 = snap('tenant_identification: { strategies: [connect_attr, user_map] }\n');
  assert.is(identifyTenant(id('acme_app', { tenant: 'globex' }), s2).action, 'refuse');
  assert.equal(identifyTenant(id('acme_app', { tenant: 'acme' }), s2), { action: 'tenant', tenant: 'acme', authUser: 'acme_app', via: 'connect_attr' });
});

test('connect_attr with a custom attribute name', () => {
  const s = snap('tenant_identification: { strategies: [{ type: connect_attr, attribute: x-tenant }] }\n');
  assert.equal(identifyTenant(id('app', { 'x-tenant': 'initech' }), s), { action: 'tenant', tenant: 'initech', authUser: 'app', via: 'connect_attr' });
  assert.is(identifyTenant(id('app', { tenant: 'initech' }), s).action, 'refuse');
});

test('database: physical schema, or a logical schema only when one tenant uses it', () => {
  const s = snap('tenant_identification: { strategies: [user_map, database] }\n');
  assert.equal(identifyTenant(id('app', {}, 't_globex'), s), { action: 'tenant', tenant: 'globex', authUser: 'app', via: 'database' });
  assert.equal(identifyTenant(id('app', {}, 'initech'), s), { action: 'tenant', tenant: 'initech', authUser: 'app', via: 'database' });
  assert.is(identifyTenant(id('app', {}, 'app'), s).action, 'refuse'); // 'app' is acme's and globex's logical name
  assert.is(identifyTenant(id('app', {}, null), s).action, 'refuse');
});

test('passthrough when no tenants are configured', () => {
  const s = buildRoutingSnapshot(parseConfig('backends: [{ name: b, host: h, user: u }]\nusers: [{ name: app, password_hash: "", backend: b }]\n'), 1);
  assert.equal(identifyTenant(id('app'), s), { action: 'passthrough', authUser: 'app' });
});

test('placement: tier, cluster, schemas, account, replicas, shared server', () => {
  const s = snap();
  assert.equal(placementFor('acme', s), {
    tenant: 'acme', tier: 'separate_schema', cluster: 'shared', schema: 't_acme', logicalSchema: 'app',
    backendUser: 'acme_rw', reads: 'replica', replicaCount: 1, sharedServer: true,
  });
  assert.equal(placementFor('initech', s), {
    tenant: 'initech', tier: 'separate_database', cluster: 'solo', schema: 'initech', logicalSchema: null,
    backendUser: 'initech_rw', reads: 'replica', replicaCount: 0, sharedServer: false,
  });
  const gone = placementFor('removed', s);
  assert.is('errno' in gone && gone.errno, 1045);
});

test('USE switches tenant only where allowed', () => {
  const s = snap('tenant_identification: { strategies: [user_map, { type: database, users: [app] }] }\n');
  // globex allows switching; app may use the database strategy
  assert.equal(tenantForUse('globex', 'app', 'app', 'initech', s), { action: 'switch', tenant: 'initech' });
  assert.equal(tenantForUse('globex', 'app', 'app', 'app', s), { action: 'stay' }); // its own logical name
  assert.equal(tenantForUse('globex', 'worker', 'worker', 'initech', s), { action: 'stay' }); // not allowed the strategy
  assert.equal(tenantForUse('acme', 'acme_app', 'acme_app', 't_globex', s), { action: 'stay' }); // acme does not allow switching
  assert.equal(tenantForUse('globex', 'acme_app', 'acme_app', 't_acme', s), { action: 'stay' }); // not allowed the strategy
});

test.run();
