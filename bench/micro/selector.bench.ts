/**
 * Per-statement costs of replica selection and read-your-writes bookkeeping: selectBackend over a
 * primary + 3 replicas (plain read, read with a GTID to see, write), last_gtid out of a write's
 * session-state block, and the RYW store round (parse + record + lookup).
 */
import { bench } from './harness';
import { lastGtidFromSessionState, parseGtidPos } from '../../src/backend/gtid';
import { MemoryRywStore } from '../../src/backend/ryw-store';
import { selectBackend } from '../../src/backend/selector';
import type { ClusterSnapshot, MemberSnapshot } from '../../src/backend/topology';
import { PacketWriter } from '../../src/protocol/packet-writer';

const m = (backend: string, role: 'primary' | 'replica', weight: number, gtid: string | null): MemberSnapshot => ({
  backend, role, weight, state: 'up', inRotation: true, reason: '', lagS: 0, appliedGtid: gtid ? parseGtidPos(gtid) : null, since: 0,
});
const cluster: ClusterSnapshot = {
  name: 'c1',
  primary: m('p', 'primary', 0, null),
  replicas: [m('r1', 'replica', 1, '0-1-100'), m('r2', 'replica', 2, '0-1-90'), m('r3', 'replica', 1, '0-1-120')],
  maxReplicationLagS: 5,
  noHealthyReplica: 'primary',
};
const inFlight = new Map([['r1', 2], ['r2', 3], ['r3', 1]]);
let seed = 1;
const rng = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const read = { kind: 'replica' as const, requiredGtid: null };
const ryw = { kind: 'replica' as const, requiredGtid: parseGtidPos('0-1-110') };
const write = { kind: 'primary' as const };

bench('selectBackend: read, 3 replicas', () => selectBackend(read, cluster, inFlight, rng), { iterations: 200_000 });
bench('selectBackend: read needing a GTID, 3 replicas', () => selectBackend(ryw, cluster, inFlight, rng), { iterations: 200_000 });
bench('selectBackend: write', () => selectBackend(write, cluster, inFlight, rng), { iterations: 200_000 });

const w = new PacketWriter(64);
for (const [n, v] of [['autocommit', 'ON'], ['last_gtid', '0-1-4242']]) {
  const d = new PacketWriter(32).lenencString(n).lenencString(v).finish(0).subarray(4);
  w.u8(0).lenencBytes(d);
}
const block = Buffer.from(w.finish(0).subarray(4));
bench('lastGtidFromSessionState (2 entries)', () => lastGtidFromSessionState(block), { iterations: 200_000 });

const store = new MemoryRywStore();
let seq = 0;
bench('RYW: parse last_gtid + recordWrite + requiredGtid', () => {
  store.recordWrite('t\0c1\0acme', parseGtidPos(`0-1-${++seq}`));
  return store.requiredGtid('t\0c1\0acme');
}, { iterations: 200_000 });
