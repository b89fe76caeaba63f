/**
 * The two-cluster harness (test/helpers/clusters.ts): two GTID primaries with two replicas each,
 * replication kept inside each cluster, and a live Topology with real monitors over all six
 * servers that puts every member in rotation and routes each cluster's reads to its own replicas.
 */
import * as assert from 'uvu/assert';
import { selectBackend } from '../../src/backend/selector';
import { monitorSettings, Topology } from '../../src/backend/topology';
import { startTwoClusters, type TestClusters } from '../helpers/clusters';
import { destroyAll } from '../helpers/mariadb';
import { integrationSuite } from '../helpers/uvu';
import { waitForSnapshot } from '../helpers/topology-wait';

const test = integrationSuite('clusters-harness');
let tc: TestClusters;

test.before(async () => {
  tc = await startTwoClusters();
});

test.after(async () => {
  await tc?.destroy();
  await destroyAll();
});

test('two clusters of a primary and two replicas, with distinct server ids and names', async () => {
  assert.equal(tc.clusters.map((c) => [c.name, c.backendNames]), [
    ['c1', ['c1-primary', 'c1-replica1', 'c1-replica2']],
    ['c2', ['c2-primary', 'c2-replica1', 'c2-replica2']],
  ]);
  const servers = tc.clusters.flatMap((c) => [c.primary, ...c.replicas]);
  const ids = await Promise.all(servers.map(async (s) => Number((await s.query('SELECT @@server_id AS id'))[0].id)));
  assert.is(new Set(ids).size, 6);
  assert.equal(ids, servers.map((s) => s.serverId));
  assert.equal(tc.backendConfigs().map((b) => b.port), servers.map((s) => s.port));
});

test('replication stays inside each cluster', async () => {
  const [c1, c2] = tc.clusters;
  await c1.primary.query('CREATE TABLE only_c1 (id INT PRIMARY KEY)');
  await c2.primary.query('CREATE TABLE only_c2 (id INT PRIMARY KEY)');
  await Promise.all([c1.set.waitForReplication(), c2.set.waitForReplication()]);
  const has = async (s: (typeof c1)['primary'], t: string) =>
    Number((await s.query('SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = ? AND table_name = ?', ['test', t]))[0].n);
  for (const r of c1.replicas) assert.equal([await has(r, 'only_c1'), await has(r, 'only_c2')], [1, 0]);
  for (const r of c2.replicas) assert.equal([await has(r, 'only_c1'), await has(r, 'only_c2')], [0, 1]);
});

test('a live topology over both clusters puts all six members in rotation and keeps reads in their cluster', async () => {
  const topo = new Topology(tc.clusters.map((c) => c.clusterConfig()), tc.backendConfigs(), monitorSettings({ intervalMs: 100, timeoutMs: 2000 }));
  try {
    topo.start();
    const snap = await waitForSnapshot(topo, (s) => [...s.clusters.values()].every((c) => c.primary.state === 'up' && c.replicas.every((r) => r.inRotation)), 'every member up');
    for (const c of tc.clusters) {
      const cs = snap.clusters.get(c.name)!;
      assert.equal([cs.primary.backend, ...cs.replicas.map((r) => r.backend)], c.backendNames);
      const chosen = new Set<string>();
      for (let i = 0; i < 100; i++) {
        const sel = selectBackend({ kind: 'replica', requiredGtid: null }, cs, new Map(), () => i / 100);
        if (sel.ok) chosen.add(sel.backend);
      }
      assert.equal([...chosen].sort(), c.backendNames.slice(1));
    }
  } finally {
    topo.stop();
  }
});

test.run();
