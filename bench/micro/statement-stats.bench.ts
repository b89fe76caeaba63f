/**
 * Per-statement recording at the end of a statement (metrics + digest statistics), as it was after
 * the ops merge ("before": prom-client children per statement, a second digest scan, a string key per
 * statement) and as it is now ("after": plain fields and typed-array buckets, the literal-free key
 * finding the digest entry). One op = one point-select statement of a tenant.
 */
import * as client from 'prom-client';
import { scanStatement } from '../../src/classify/digest';
import { literalFreeKey } from '../../src/classify/literal-free-key';
import { DigestKeys } from '../../src/metrics/digest-keys';
import { DigestStats } from '../../src/metrics/digest-stats';
import { Metrics } from '../../src/metrics/metrics';
import { bench } from './harness';

const VARIANTS = [1, 77, 4242, 9999].map((n) => Buffer.from(`\x03SELECT c FROM sbtest1 WHERE id=${n}`, 'latin1'));
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

// before: what Metrics.recordStatement and Proxy.noteCommand did per statement after the ops merge
const reg = new client.Registry();
const hist = new client.Histogram({ name: 'b_seconds', help: 'h', labelNames: ['command'], buckets: BUCKETS, registers: [reg] }).labels('query');
const bIn = new client.Counter({ name: 'b_in', help: 'h', registers: [reg] });
const bOut = new client.Counter({ name: 'b_out', help: 'h', registers: [reg] });
const tStat = new client.Counter({ name: 'b_t', help: 'h', labelNames: ['tenant'], registers: [reg] }).labels('acme');
const tDur = new client.Histogram({ name: 'b_td', help: 'h', labelNames: ['tenant'], buckets: BUCKETS, registers: [reg] }).labels('acme');
const tIn = new client.Counter({ name: 'b_ti', help: 'h', labelNames: ['tenant'], registers: [reg] }).labels('acme');
const tOut = new client.Counter({ name: 'b_to', help: 'h', labelNames: ['tenant'], registers: [reg] }).labels('acme');
const seen = new Map<string, number>();
const beforeStats = new DigestStats(1000);
let i = 0;
function before(): number {
  const p = VARIANTS[i++ & 3]!;
  const s = 0.0003;
  hist.observe(s);
  bIn.inc(40);
  bOut.inc(120);
  seen.set('acme', (seen.get('acme') ?? 0) + 1);
  tStat.inc();
  tDur.observe(s);
  tIn.inc(40);
  tOut.inc(120);
  const digest = scanStatement(p, 1, p.length).digest;
  beforeStats.record('acme', digest, 300, 1, false, Date.now());
  return digest.length;
}

// after: Metrics.recordStatement + Proxy.digestEntry's common path (a statement of a known shape)
const metrics = new Metrics({ sessions: () => 0, backends: () => [] });
const stats = new DigestStats(1000);
const keys = new DigestKeys(1000);
const now = Date.now();
function after(): number {
  const p = VARIANTS[i++ & 3]!;
  metrics.recordStatement('query', 'acme', 0.0003, 40, 120, '');
  const h = literalFreeKey(p, 1, p.length, false, false, 0);
  let e = keys.get(h, 'acme');
  if (e === null) {
    e = stats.entry('acme', scanStatement(p, 1, p.length).digest, now);
    keys.set(h, 'acme', e);
  }
  stats.add(e, 300, 1, false, now);
  return e.count;
}

// after, tenant routing path: the key was already resolved by routing, so only the entry is updated
const routed = stats.entry('acme', 'SELECT `c` FROM `sbtest1` WHERE `id` = ?', now);
function afterRouted(): number {
  metrics.recordStatement('query', 'acme', 0.0003, 40, 120, '');
  const e = routed.live && routed.tenant === 'acme' ? routed : stats.entry('acme', '?', now);
  stats.add(e, 300, 1, false, now);
  return e.count;
}

bench('statement recording: before (prom-client children + digest scan + string key)', before, { iterations: 20000 });
bench('statement recording: after (plain fields + literal-free key lookup)', after, { iterations: 20000 });
bench('statement recording: after, routed (key resolved by routing; metrics + entry add)', afterRouted, { iterations: 20000 });
