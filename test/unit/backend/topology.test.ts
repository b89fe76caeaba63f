/**
 * Topology without I/O: hand-made samples go through `ingest`, and the snapshot, the events, the
 * GTID lag estimate against the primary's history, and reload are checked. Also parseSlaveStatus.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatGtidPos } from '../../../src/backend/gtid';
import { parseSlaveStatus } from '../../../src/backend/health-monitor';
import type { HealthSample } from '../../../src/backend/health-state';
import { type ClusterConfig, monitorSettings, Topology, type TopologyEvent } from '../../../src/backend/topology';

const backend = (name: string) => ({ name, host: '127.0.0.1', port: 1, user: 'u', password: '', connectTimeoutMs: 100 });
const BACKENDS = ['p1', 'r1', 'r2', 'p2'].map(backend);
const C1: ClusterConfig = { name: 'c1', primary: 'p1', replicas: [{ backend: 'r1', weight: 1 }, { backend: 'r2', weight: 2 }], maxReplicationLagS: 5, noHealthyReplica: 'primary' };

function sample(name: string, at: number, over: Partial<HealthSample> = {}): HealthSample {
  const replica = name.startsWith('r');
  return {
    backend: name,
    at,
    trigger: 'interval',
    reachable: true,
    error: null,
    pingMs: 0.1,
    readOnly: replica,
    gtidCurrentPos: '0-1-10',
    gtidBinlogPos: '0-1-10',
    gtidSlavePos: replica ? '0-1-10' : '',
    replication: replica ? [{ name: '', io: 'yes', sqlRunning: true, secondsBehindMaster: 0, lastIoError: '', lastSqlError: '' }] : [],
    replicationError: null,
    gtidLagS: null,
    ...over,
  };
}

const brief = (e: TopologyEvent) => `${e.cluster}/${e.backend}(${e.role}) ${e.from.state}${e.from.inRotation ? '+' : '-'} -> ${e.to.state}${e.to.inRotation ? '+' : '-'}: ${e.reason}`;

test('snapshot before any sample: primary presumed writable, replicas out of rotation', () => {
  const t = new Topology([C1], BACKENDS, monitorSettings());
  const c = t.snapshot().clusters.get('c1')!;
  assert.equal([c.primary.state, c.primary.inRotation], ['unknown', true]);
  assert.equal(c.replicas.map((r) => [r.backend, r.weight, r.state, r.inRotation]), [['r1', 1, 'unknown', false], ['r2', 2, 'unknown', false]]);
});

test('samples update the snapshot and emit one event per change; GTID lag grows while a replica stands still', () => {
  const t = new Topology([C1], BACKENDS, monitorSettings({ intervalMs: 1000, riseCount: 2 }));
  const events: string[] = [];
  t.onEvent((e) => events.push(brief(e)));
  const v0 = t.snapshot().version;
  assert.is(t.ingest(sample('p1', 1000)), 1000);
  t.ingest(sample('r1', 1000));
  t.ingest(sample('r2', 1000));
  assert.ok(t.snapshot().version > v0);
  // The primary moves on at t=2000 and stays there; r2 stays at 0-1-10.
  t.ingest(sample('p1', 2000, { gtidBinlogPos: '0-1-12' }));
  t.ingest(sample('r2', 2500));
  assert.is(t.snapshot().clusters.get('c1')!.replicas[1].lagS, 0.5);
  t.ingest(sample('p1', 5000, { gtidBinlogPos: '0-1-12' }));
  t.ingest(sample('r2', 7000));
  assert.is(t.snapshot().clusters.get('c1')!.replicas[1].inRotation, true);
  t.ingest(sample('r2', 8000, { gtidSlavePos: '0-1-11' }));
  const r2 = t.snapshot().clusters.get('c1')!.replicas[1];
  assert.equal([r2.state, r2.inRotation, r2.lagS, formatGtidPos(r2.appliedGtid!)], ['lagging', false, 6, '0-1-11']);
  // Caught up: back after riseCount (2) good samples.
  t.ingest(sample('r2', 9000, { gtidSlavePos: '0-1-12' }));
  assert.is(t.snapshot().clusters.get('c1')!.replicas[1].inRotation, false);
  t.ingest(sample('r2', 10000, { gtidSlavePos: '0-1-12' }));
  assert.is(t.snapshot().clusters.get('c1')!.replicas[1].inRotation, true);
  assert.equal(events, [
    'c1/p1(primary) unknown+ -> up+: writable',
    'c1/r1(replica) unknown- -> up+: replicating, lag 0 s',
    'c1/r2(replica) unknown- -> up+: replicating, lag 0 s',
    'c1/r2(replica) up+ -> lagging-: lag 6 s (by GTID) > max 5 s',
    'c1/r2(replica) lagging- -> up-: replicating, lag 0 s; returning after 1 of 2 good samples',
    'c1/r2(replica) up- -> up+: replicating, lag 0 s',
  ]);
});

test('a down replica is reported with backoff; the sample listener sees every sample', () => {
  const t = new Topology([C1], BACKENDS, monitorSettings({ intervalMs: 100, maxBackoffMs: 250 }));
  const seen: string[] = [];
  t.onSample((s) => seen.push(`${s.backend}@${s.at}`));
  t.ingest(sample('r1', 1));
  const down = { reachable: false, error: 'connect ECONNREFUSED', gtidSlavePos: null, replication: null };
  assert.equal([t.ingest(sample('r1', 2, down)), t.ingest(sample('r1', 3, down)), t.ingest(sample('r1', 4, down)), t.ingest(sample('r1', 5, down))], [100, 200, 250, 250]);
  const r1 = t.snapshot().clusters.get('c1')!.replicas[0];
  assert.equal([r1.state, r1.inRotation, r1.reason], ['down', false, 'unreachable: connect ECONNREFUSED']);
  // The applied position survives an unreachable sample (it can only have grown meanwhile).
  assert.is(formatGtidPos(r1.appliedGtid!), '0-1-10');
  assert.equal(seen, ['r1@1', 'r1@2', 'r1@3', 'r1@4', 'r1@5']);
});

test('one backend in two clusters is judged in each role', () => {
  const c2: ClusterConfig = { name: 'c2', primary: 'p2', replicas: [{ backend: 'p1', weight: 1 }], maxReplicationLagS: 5, noHealthyReplica: 'fail' };
  const t = new Topology([C1, c2], BACKENDS, monitorSettings());
  t.ingest(sample('p1', 1000, { readOnly: false, replication: [] }));
  const s = t.snapshot();
  assert.equal([s.clusters.get('c1')!.primary.state, s.clusters.get('c1')!.primary.inRotation], ['up', true]);
  assert.equal([s.clusters.get('c2')!.replicas[0].state, s.clusters.get('c2')!.replicas[0].inRotation], ['stopped', false]);
});

test('reload keeps the health of members that stay, drops removed ones, refuses unknown backends', () => {
  const t = new Topology([C1], BACKENDS, monitorSettings());
  t.ingest(sample('r1', 1000));
  t.configure([{ ...C1, replicas: [{ backend: 'r1', weight: 5 }] }], BACKENDS);
  const c = t.snapshot().clusters.get('c1')!;
  assert.equal(c.replicas.map((r) => [r.backend, r.weight, r.state, r.inRotation]), [['r1', 5, 'up', true]]);
  assert.throws(() => t.configure([{ ...C1, primary: 'nope' }], BACKENDS), /cluster 'c1' names unknown backend 'nope'/);
  // The failed reload changed nothing.
  assert.is(t.snapshot().clusters.get('c1')!.replicas.length, 1);
});

test('parseSlaveStatus reads channels by column name', () => {
  const cols = ['Connection_name', 'Slave_SQL_State', 'Slave_IO_Running', 'Slave_SQL_Running', 'Last_IO_Error', 'Last_SQL_Error', 'Seconds_Behind_Master'].map((name) => ({ name }));
  const b = (s: string | null) => (s === null ? null : Buffer.from(s));
  const rows = [
    ['', 'Slave has read all relay log', 'Yes', 'Yes', '', '', '0'].map(b),
    ['eu', '', 'Connecting', 'No', "error connecting to master 'x'", 'boom', null].map(b),
  ];
  assert.equal(parseSlaveStatus({ columns: cols, rows }), [
    { name: '', io: 'yes', sqlRunning: true, secondsBehindMaster: 0, lastIoError: '', lastSqlError: '' },
    { name: 'eu', io: 'connecting', sqlRunning: false, secondsBehindMaster: null, lastIoError: "error connecting to master 'x'", lastSqlError: 'boom' },
  ]);
  assert.equal(parseSlaveStatus({ columns: cols, rows: [] }), []);
});

test.run();
