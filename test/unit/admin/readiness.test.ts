/** /readyz for clusters: each cluster in use needs a reachable primary as the health monitor judged it. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clusterReadiness } from '../../../src/admin/readiness';
import type { ClusterSnapshot, MemberSnapshot, TopologySnapshot } from '../../../src/backend/topology';
import type { HealthStateName } from '../../../src/backend/health-state';

const member = (backend: string, role: 'primary' | 'replica', state: HealthStateName, reason = state): MemberSnapshot => ({
  backend, role, weight: role === 'primary' ? 0 : 1, state, inRotation: state === 'up', reason, lagS: null, appliedGtid: null, since: 0,
});
const cluster = (name: string, primary: HealthStateName, replica: HealthStateName = 'up'): ClusterSnapshot => ({
  name, primary: member(`${name}-p`, 'primary', primary), replicas: [member(`${name}-r`, 'replica', replica)], maxReplicationLagS: 10, noHealthyReplica: 'primary',
});
const snap = (...cs: ClusterSnapshot[]): TopologySnapshot => ({ version: 1, clusters: new Map(cs.map((c) => [c.name, c])) });

test('ready when every used cluster has its primary up; replicas do not matter', () => {
  assert.equal(clusterReadiness(snap(cluster('a', 'up', 'down'), cluster('b', 'read_only_primary')), ['a', 'b', 'a']), []);
});

test('a used cluster whose primary is down, stopped or not probed yet is a reason; unused clusters are ignored', () => {
  const s = snap(cluster('a', 'down', 'up'), cluster('b', 'unknown'), cluster('c', 'down'));
  assert.equal(clusterReadiness(s, ['b', 'a']), ['cluster a: primary a-p is down (down)', 'cluster b: primary b-p is unknown (unknown)']);
});

test('without tenants every configured cluster counts; a tenant on an unknown cluster is a reason', () => {
  assert.equal(clusterReadiness(snap(cluster('a', 'up'), cluster('c', 'down')), []), ['cluster c: primary c-p is down (down)']);
  assert.equal(clusterReadiness(snap(cluster('a', 'up')), ['zz']), ['cluster zz is not configured']);
});

test.run();
