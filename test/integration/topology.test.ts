/**
 * Health monitor, topology and selector against real GTID replication (one primary, two
 * replicas): a stopped SQL thread, a SQL thread blocked behind a row lock (lag grows while both
 * threads run), a killed replica, a network stall (every probe bounded by its timeout), a primary
 * turned read_only (the refusal carries the server's own errno and message), and the GTID
 * read-your-writes primitives (last_gtid from OK packets, MASTER_GTID_WAIT on a stopped replica).
 *
 * Hysteresis is asserted on the sequence of samples (exactly rise_count good samples before a
 * replica is back), not on elapsed time.
 */
import * as assert from 'uvu/assert';
import * as net from 'node:net';
import mysql from 'mysql2/promise';
import { BackendConnection } from '../../src/backend/backend-connection';
import { formatGtidPos, gtidCovers, interpretGtidWait, LAST_GTID_SQL, lastGtidFromSessionState, masterGtidWaitSql, parseGtidPos, trackingReportsLastGtid } from '../../src/backend/gtid';
import { HealthMonitor, type MonitoredBackend } from '../../src/backend/health-monitor';
import type { HealthStateName } from '../../src/backend/health-state';
import { MemoryRywStore, rywScopeKey } from '../../src/backend/ryw-store';
import { selectBackend, type SelectTarget } from '../../src/backend/selector';
import { type ClusterConfig, type ClusterSnapshot, type MemberSnapshot, monitorSettings, Topology } from '../../src/backend/topology';
import { TRACKING_INIT_SQL } from '../../src/server/session-vars';
import { destroyAll, startReplicaSet, type MariaDbServer, type ReplicaSet } from '../helpers/mariadb';
import { waitForSnapshot } from '../helpers/topology-wait';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('topology');
const RISE = 3;
const CLUSTER: ClusterConfig = { name: 'c', primary: 'p', replicas: [{ backend: 'r1', weight: 1 }, { backend: 'r2', weight: 1 }], maxReplicationLagS: 1, noHealthyReplica: 'primary' };
const SETTINGS = monitorSettings({ intervalMs: 100, timeoutMs: 1000, riseCount: RISE, maxBackoffMs: 400 });

let set: ReplicaSet;
let topo: Topology;

function backendOf(name: string, s: { host: string; port: number }, connectTimeoutMs = 1000): MonitoredBackend {
  return { name, host: s.host, port: s.port, user: 'root', password: '', connectTimeoutMs };
}
const server = (name: string): MariaDbServer => (name === 'p' ? set.primary : set.replicas[name === 'r1' ? 0 : 1]);
const cluster = (t: Topology = topo, name = 'c'): ClusterSnapshot => t.snapshot().clusters.get(name)!;
const member = (name: string, t: Topology = topo, c = 'c'): MemberSnapshot => {
  const cs = cluster(t, c);
  return cs.primary.backend === name ? cs.primary : cs.replicas.find((r) => r.backend === name)!;
};
const is = (name: string, state: HealthStateName, inRotation: boolean, t: Topology = topo, c = 'c') => () => {
  const m = member(name, t, c);
  return m.state === state && m.inRotation === inRotation;
};

interface Seen {
  at: number;
  trigger: string;
  state: HealthStateName;
  inRotation: boolean;
  lagS: number | null;
  reason: string;
}
/** Records the member's health after each of its samples. */
function record(name: string, t: Topology = topo, c = 'c'): { seen: Seen[]; stop: () => void } {
  const seen: Seen[] = [];
  const stop = t.onSample((s) => {
    if (s.backend !== name) return;
    const m = member(name, t, c);
    seen.push({ at: s.at, trigger: s.trigger, state: m.state, inRotation: m.inRotation, lagS: m.lagS, reason: m.reason });
  });
  return { seen, stop };
}

/** Asserts the way back: the samples before the first in-rotation one end with exactly RISE good ones. */
function assertRoseAfterExactly(seen: Seen[], rise: number): void {
  const back = seen.findIndex((s) => s.inRotation);
  assert.ok(back >= 0, 'never returned to rotation');
  let good = 0;
  for (let i = back; i >= 0 && seen[i].state === 'up'; i--) good++;
  assert.is(good, rise, `good samples before return: ${JSON.stringify(seen.slice(Math.max(0, back - rise - 1), back + 1))}`);
  for (let i = back - rise + 1; i < back; i++) assert.match(seen[i].reason, new RegExp(`returning after ${i - (back - rise)} of ${rise} good samples`));
}

/** Many selections over evenly spread rng values: which backends were chosen. */
function chosenFor(target: SelectTarget, cs: ClusterSnapshot): string[] {
  const out = new Set<string>();
  for (let i = 0; i < 500; i++) {
    const s = selectBackend(target, cs, new Map(), () => i / 500);
    out.add(s.ok ? s.backend : s.code);
  }
  return [...out].sort();
}

async function rawConnection(s: { host: string; port: number }): Promise<BackendConnection> {
  const c = new BackendConnection({ ...backendOf('raw', s), minConnections: 0, maxConnections: 1, idleTimeoutMs: 0, acquireTimeoutMs: 0, maxPreparedPerConnection: 0, readTimeoutMs: 0, idleInTransactionTimeoutMs: 0, validateAfterIdleMs: 0 }, 0, 45, false);
  await c.connect();
  await c.query('USE test');
  return c;
}

test.before(async () => {
  set = await startReplicaSet(2);
  await set.primary.query('CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)');
  await set.primary.query('INSERT INTO t VALUES (1, 0), (2, 0)');
  await set.waitForReplication();
  topo = new Topology([CLUSTER], [backendOf('p', set.primary), backendOf('r1', set.replicas[0]), backendOf('r2', set.replicas[1])], SETTINGS);
  topo.start();
  await waitForSnapshot(topo, (s) => s.clusters.get('c')!.primary.state === 'up' && s.clusters.get('c')!.replicas.every((r) => r.inRotation), 'all members up');
});

test.after(async () => {
  topo?.stop();
  await destroyAll();
});

test('healthy cluster: reads spread over both replicas, writes to the primary', () => {
  assert.equal(chosenFor({ kind: 'replica', requiredGtid: null }, cluster()), ['r1', 'r2']);
  assert.equal(chosenFor({ kind: 'primary' }, cluster()), ['p']);
  for (const r of cluster().replicas) assert.match(r.reason, /^replicating, lag [\d.]+ s$/);
});

test('stopped SQL thread: out of rotation at once, lag by GTID grows with unapplied writes, back after exactly rise_count good samples', async () => {
  const rec = record('r1');
  try {
    await server('r1').query('STOP SLAVE SQL_THREAD');
    await waitForSnapshot(topo, is('r1', 'stopped', false), 'r1 stopped');
    assert.match(member('r1').reason, /^SQL thread stopped/);
    assert.equal(chosenFor({ kind: 'replica', requiredGtid: null }, cluster()), ['r2']);
    await set.primary.query('UPDATE t SET v = v + 1 WHERE id = 2');
    const first = await waitForSnapshot(topo, () => (member('r1').lagS ?? 0) > 0, 'r1 lag > 0');
    const lag1 = first.clusters.get('c')!.replicas[0].lagS!;
    await waitForSnapshot(topo, () => (member('r1').lagS ?? 0) > lag1, 'r1 lag growing');
    assert.ok(member('r1').lagS! > lag1);
    assert.is(member('r1').state, 'stopped');
    const mark = rec.seen.length;
    await server('r1').query('START SLAVE SQL_THREAD');
    await waitForSnapshot(topo, is('r1', 'up', true), 'r1 back');
    assertRoseAfterExactly(rec.seen.slice(mark), RISE);
    assert.equal(chosenFor({ kind: 'replica', requiredGtid: null }, cluster()), ['r1', 'r2']);
  } finally {
    rec.stop();
  }
});

test('SQL thread blocked behind a row lock: both threads run, lag grows past the bound, lagging, then back after rise_count good samples', async () => {
  const rec = record('r2');
  const blocker = await mysql.createConnection({ host: set.replicas[1].host, port: set.replicas[1].port, user: 'root', database: 'test' });
  try {
    await blocker.query('BEGIN');
    await blocker.query('SELECT v FROM t WHERE id = 1 FOR UPDATE');
    await set.primary.query('UPDATE t SET v = v + 1 WHERE id = 1');
    await waitForSnapshot(topo, is('r2', 'lagging', false), 'r2 lagging');
    assert.match(member('r2').reason, /^lag [\d.]+ s \((by GTID|Seconds_Behind_Master)\) > max 1 s$/);
    const lags = rec.seen.filter((s) => s.lagS !== null).map((s) => s.lagS as number);
    assert.ok(lags[lags.length - 1] > 1, `lags ${lags.join(',')}`);
    // Lag grew while the thread was blocked: the last value is the largest seen.
    assert.is(Math.max(...lags), lags[lags.length - 1]);
    assert.equal(chosenFor({ kind: 'replica', requiredGtid: null }, cluster()), ['r1']);
    const mark = rec.seen.length;
    await blocker.query('ROLLBACK');
    await waitForSnapshot(topo, is('r2', 'up', true), 'r2 back');
    assertRoseAfterExactly(rec.seen.slice(mark), RISE);
  } finally {
    rec.stop();
    await blocker.end().catch(() => undefined);
  }
});

test('killed replica: down by the first probe after the kill, the selector never returns it, it returns after restart', async () => {
  const rec = record('r2');
  try {
    const mark = rec.seen.length;
    await server('r2').kill();
    // The process is gone now; probes that started earlier may still have been answered.
    const deadAt = Date.now();
    await waitForSnapshot(topo, is('r2', 'down', false), 'r2 down');
    const after = rec.seen.slice(mark);
    // At most the one probe in flight at the kill can still report up; the next one is down.
    assert.ok(after.filter((s) => s.state === 'up').length <= 1, JSON.stringify(after));
    assert.ok(after.filter((s) => s.at >= deadAt).every((s) => s.state === 'down'), JSON.stringify(after));
    assert.match(after.find((s) => s.state === 'down')!.reason, /^unreachable: /);
    assert.equal(chosenFor({ kind: 'replica', requiredGtid: null }, cluster()), ['r1']);
    // With r1 stopped too, reads fall back to the primary, never to the dead replica.
    await server('r1').query('STOP SLAVE SQL_THREAD');
    await waitForSnapshot(topo, is('r1', 'stopped', false), 'r1 stopped');
    assert.equal(chosenFor({ kind: 'replica', requiredGtid: null }, cluster()), ['p']);
    const failing = { ...cluster(), noHealthyReplica: 'fail' as const };
    assert.equal(chosenFor({ kind: 'replica', requiredGtid: null }, failing), ['NO_HEALTHY_REPLICA']);
    await server('r1').query('START SLAVE SQL_THREAD');
    const restartMark = rec.seen.length;
    await server('r2').start();
    await waitForSnapshot(topo, is('r2', 'up', true), 'r2 back after restart');
    assertRoseAfterExactly(rec.seen.slice(restartMark), RISE);
    await waitForSnapshot(topo, is('r1', 'up', true), 'r1 back');
  } finally {
    rec.stop();
  }
});

/** A TCP relay that can black-hole traffic in both directions, like a network partition. */
async function startRelay(target: { host: string; port: number }) {
  let frozen = false;
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((client) => {
    const up = net.connect(target.port, target.host);
    sockets.add(client).add(up);
    client.on('data', (d) => frozen || up.write(d));
    up.on('data', (d) => frozen || client.write(d));
    const close = () => {
      client.destroy();
      up.destroy();
      sockets.delete(client);
      sockets.delete(up);
    };
    client.on('error', close).on('close', close);
    up.on('error', close).on('close', close);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    host: '127.0.0.1',
    port: (srv.address() as net.AddressInfo).port,
    freeze: () => (frozen = true),
    thaw: () => (frozen = false),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

test('a stalled network: every probe ends at its timeout, the replica is down, and returns when traffic flows again', async () => {
  const relay = await startRelay(set.replicas[0]);
  const cl: ClusterConfig = { ...CLUSTER, name: 'x', replicas: [{ backend: 'r1-via-relay', weight: 1 }] };
  const t = new Topology([cl], [backendOf('p', set.primary), backendOf('r1-via-relay', relay, 5000)], monitorSettings({ intervalMs: 100, timeoutMs: 300, riseCount: 2, maxBackoffMs: 400 }));
  const rec = record('r1-via-relay', t, 'x');
  try {
    t.start();
    await waitForSnapshot(t, is('r1-via-relay', 'up', true, t, 'x'), 'relay replica up');
    relay.freeze();
    await waitForSnapshot(t, is('r1-via-relay', 'down', false, t, 'x'), 'relay replica down');
    // Both a stalled query on the kept connection and a stalled login end at the probe timeout
    // (300 ms; a login's own timer is cut to what is left of it), not the backend's 5000 ms
    // connect timeout.
    await waitForSnapshot(t, () => rec.seen.filter((s) => s.state === 'down').length >= 3, 'three down samples');
    const downs = rec.seen.filter((s) => s.state === 'down');
    for (const d of downs) assert.match(d.reason, /^unreachable: (probe timed out after 300 ms|timed out after (299|300) ms connecting to 127\.0\.0\.1:\d+)$/);
    const mark = rec.seen.length;
    relay.thaw();
    await waitForSnapshot(t, is('r1-via-relay', 'up', true, t, 'x'), 'relay replica back');
    assertRoseAfterExactly(rec.seen.slice(mark), 2);
  } finally {
    rec.stop();
    t.stop();
    await relay.close();
  }
});

test('the monitor waits at least the delay its listener asks for before the next probe (backoff is applied)', async () => {
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const asked = [40, 80, 160, 20];
  const seen: { at: number; error: string | null }[] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const mon = new HealthMonitor(backendOf('nowhere', { host: '127.0.0.1', port }), { timeoutMs: 500 }, (s) => {
    seen.push({ at: s.at, error: s.error });
    if (seen.length === asked.length + 1) done();
    return asked[seen.length - 1] ?? 10_000;
  });
  mon.start();
  await finished;
  mon.stop();
  for (const s of seen) assert.match(String(s.error), /ECONNREFUSED/);
  // A lower bound only (a timer never fires early; Date.now() rounding may show 1 ms less).
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i].at - seen[i - 1].at >= asked[i - 1] - 1, `probe ${i} came ${seen[i].at - seen[i - 1].at} ms after the previous one; asked ${asked[i - 1]}`);
});

test('a monitor account without SLAVE MONITOR sees replicas as stopped with the server\'s reason; granting it brings them up', async () => {
  await set.primary.query("CREATE USER 'mon'@'%' IDENTIFIED BY 'mon-pw'");
  await set.waitForReplication();
  const t = new Topology([CLUSTER], [backendOf('p', set.primary), backendOf('r1', set.replicas[0]), backendOf('r2', set.replicas[1])], { ...SETTINGS, user: 'mon', password: 'mon-pw' });
  try {
    t.start();
    await waitForSnapshot(t, (s) => s.clusters.get('c')!.replicas.every((r) => r.state === 'stopped') && s.clusters.get('c')!.primary.state === 'up', 'replicas stopped for lack of privilege');
    for (const r of cluster(t).replicas) assert.match(r.reason, /^replication status unreadable: 1227 .*SLAVE MONITOR/);
    await set.primary.query("GRANT SLAVE MONITOR ON *.* TO 'mon'@'%'");
    await waitForSnapshot(t, (s) => s.clusters.get('c')!.replicas.every((r) => r.inRotation), 'replicas up once granted');
  } finally {
    t.stop();
  }
});

test('primary turned read_only: reported, writes refused with the errno and message the server itself gives, reads unaffected', async () => {
  await set.primary.query("CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'");
  await set.primary.query("GRANT SELECT, INSERT ON test.* TO 'app'@'%'");
  await set.primary.query('SET GLOBAL read_only = 1');
  const app = await mysql.createConnection({ host: set.primary.host, port: set.primary.port, user: 'app', password: 'app-pw', database: 'test' });
  try {
    await waitForSnapshot(topo, is('p', 'read_only_primary', false), 'primary read_only');
    assert.is(member('p').reason, 'primary has read_only=ON');
    const sel = selectBackend({ kind: 'primary' }, cluster(), new Map(), () => 0);
    const serverErr = await app.query('INSERT INTO t VALUES (99, 0)').then(
      () => null,
      (e: { errno: number; sqlState: string; sqlMessage: string }) => e,
    );
    assert.ok(serverErr, 'the server accepted a write with read_only=ON');
    assert.ok(!sel.ok);
    if (!sel.ok) {
      assert.is(sel.code, 'PRIMARY_READ_ONLY');
      assert.is(sel.errno, serverErr!.errno);
      assert.is(sel.sqlState, serverErr!.sqlState);
      assert.ok(sel.message.startsWith(serverErr!.sqlMessage), `proxy: ${sel.message}\nserver: ${serverErr!.sqlMessage}`);
    }
    assert.equal(chosenFor({ kind: 'replica', requiredGtid: null }, cluster()), ['r1', 'r2'], JSON.stringify(cluster().replicas));
    await set.primary.query('SET GLOBAL read_only = 0');
    await waitForSnapshot(topo, is('p', 'up', true), 'primary writable');
    assert.equal(chosenFor({ kind: 'primary' }, cluster()), ['p']);
  } finally {
    await app.end().catch(() => undefined);
    await set.primary.query('SET GLOBAL read_only = 0');
  }
});

test('GTID: last_gtid comes in the OK packet of an autocommit write and of COMMIT; MASTER_GTID_WAIT times out on a stopped replica and succeeds after START SLAVE', async () => {
  const p = await rawConnection(set.primary);
  const r1 = await rawConnection(set.replicas[0]);
  try {
    // With the server's default tracking list the OK packet does not carry last_gtid...
    const dflt = (await p.query('SELECT @@session.session_track_system_variables')).rows[0][0]!.toString();
    assert.not.ok(trackingReportsLastGtid(dflt), dflt);
    const plain = await p.query('INSERT INTO t VALUES (10, 0)');
    assert.is(lastGtidFromSessionState(plain.ok!.sessionState), null);
    // ...with the proxy's '*' it does, and it is exactly @@last_gtid and the primary's binlog position.
    await p.query(TRACKING_INIT_SQL);
    const w1 = await p.query('INSERT INTO t VALUES (11, 0)');
    const g1 = lastGtidFromSessionState(w1.ok!.sessionState);
    assert.ok(g1 && /^0-\d+-\d+$/.test(g1), String(g1));
    assert.is((await p.query('SELECT @@last_gtid')).rows[0][0]!.toString(), g1);
    assert.is(formatGtidPos(parseGtidPos((await set.primary.query('SELECT @@gtid_binlog_pos AS g'))[0].g)), g1);
    // Inside a transaction the GTID exists only at COMMIT.
    await p.query('BEGIN');
    const inTx = await p.query('INSERT INTO t VALUES (12, 0)');
    assert.is(lastGtidFromSessionState(inTx.ok!.sessionState), null);
    const commit = await p.query('COMMIT');
    const g2 = parseGtidPos(lastGtidFromSessionState(commit.ok!.sessionState)!);
    assert.is(g2.get(0)!.seq, parseGtidPos(g1!).get(0)!.seq + 1n);
    // A write returning rows ends with EOF, which carries no session state: last_gtid must be read.
    const returning = await p.query('INSERT INTO t VALUES (14, 0) RETURNING id');
    assert.is(returning.ok, null);
    assert.is(returning.rows[0][0]!.toString(), '14');
    const gRet = parseGtidPos((await p.query(LAST_GTID_SQL)).rows[0][0]!.toString());
    assert.is(gRet.get(0)!.seq, g2.get(0)!.seq + 1n);
    // A read must see g2; per tenant, recorded through one session, required by another.
    const store = new MemoryRywStore();
    store.recordWrite(rywScopeKey('tenant', 'c', 'acme', 1), g2);
    assert.is(formatGtidPos(store.requiredGtid(rywScopeKey('tenant', 'c', 'acme', 2))!), formatGtidPos(g2));

    await r1.query('STOP SLAVE SQL_THREAD');
    const w3 = await p.query('INSERT INTO t VALUES (13, 0)');
    const g3 = parseGtidPos(lastGtidFromSessionState(w3.ok!.sessionState)!);
    store.recordWrite(rywScopeKey('tenant', 'c', 'acme', 1), g3);
    const need = store.requiredGtid(rywScopeKey('tenant', 'c', 'acme', 3))!;
    const waitShort = await r1.query(masterGtidWaitSql(need, 300));
    assert.equal(interpretGtidWait(waitShort.rows[0][0]), { kind: 'timeout' });
    // The row is not there yet: the wait was right to time out.
    assert.is((await r1.query('SELECT COUNT(*) FROM t WHERE id = 13')).rows[0][0]!.toString(), '0');
    await r1.query('START SLAVE SQL_THREAD');
    const waitLong = await r1.query(masterGtidWaitSql(need, 20_000));
    assert.equal(interpretGtidWait(waitLong.rows[0][0]), { kind: 'reached' });
    assert.is((await r1.query('SELECT COUNT(*) FROM t WHERE id = 13')).rows[0][0]!.toString(), '1');
    // Once the monitor has seen a replica apply it, the selector needs no wait for that replica.
    await waitForSnapshot(topo, () => cluster().replicas.some((r) => r.inRotation && r.appliedGtid !== null && gtidCovers(r.appliedGtid, need)), 'a replica shown to cover the GTID');
    const sel = selectBackend({ kind: 'replica', requiredGtid: need }, cluster(), new Map(), () => 0);
    assert.ok(sel.ok && sel.role === 'replica' && sel.waitGtid === null, JSON.stringify(sel));
  } finally {
    p.quit();
    r1.quit();
  }
});

test.run();
