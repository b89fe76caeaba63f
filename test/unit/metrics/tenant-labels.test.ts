/** The per-tenant label cap and the bounded per-digest statistics. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TenantLabels } from '../../../src/metrics/tenant-labels';
import { DigestStats } from '../../../src/metrics/digest-stats';

test('at most `cap` tenants are labelled, the busiest first; the rest are "other"; slots are kept', () => {
  const l = new TenantLabels(2);
  for (let i = 0; i < 10_000; i++) l.touch(`t${i}`);
  for (let i = 0; i < 5; i++) l.touch('busy');
  for (let i = 0; i < 3; i++) l.touch('second');
  assert.is(l.labelOf('busy'), 'other'); // labels are handed out at scrape time
  assert.equal([...l.promote()], ['busy', 'second']);
  assert.is(l.touch('busy'), 'busy');
  assert.is(l.touch('t7'), 'other');
  // A tenant that becomes busier later does not take a slot away: series stay monotonic.
  for (let i = 0; i < 100; i++) l.touch('t7');
  assert.equal([...l.promote()], ['busy', 'second']);
  assert.is(l.size, 2);
  assert.is(new TenantLabels(0).promote().size, 0);
});

test('DigestStats: count/errors/min/max/rows per (tenant, digest); bounded, least recent dropped; sort, filter, reset', () => {
  const d = new DigestStats(3);
  d.record('a', 'SELECT ?', 100, 1, false, 1000);
  d.record('a', 'SELECT ?', 300, 2, true, 2000);
  d.record('b', 'SELECT ?', 50, 0, false, 3000);
  d.record('a', 'UPDATE t SET x = ?', 1000, 0, false, 4000);
  const q = d.query({ tenant: 'a' });
  assert.equal(q.digests[0], { tenant: 'a', digest: 'UPDATE t SET x = ?', count: 1, errors: 0, sumTimeUs: 1000, minTimeUs: 1000, maxTimeUs: 1000, rowsSent: 0, firstSeen: 4000, lastSeen: 4000 });
  assert.equal(q.digests[1], { tenant: 'a', digest: 'SELECT ?', count: 2, errors: 1, sumTimeUs: 400, minTimeUs: 100, maxTimeUs: 300, rowsSent: 3, firstSeen: 1000, lastSeen: 2000 });
  assert.equal(d.query({ sort: 'count' }).digests.map((e) => e.tenant + e.count), ['a2', 'b1', 'a1']);
  d.record('a', 'SELECT ?', 1, 0, false, 5000); // a hit refreshes recency
  d.record('c', 'DELETE FROM t', 1, 0, false, 6000); // evicts the least recent: b
  assert.is(d.size, 3);
  assert.is(d.evicted, 1);
  assert.equal(d.query({ tenant: 'b' }).digests, []);
  assert.is(d.query({ limit: 1 }).digests.length, 1);
  d.reset();
  assert.is(d.size, 0);
});

test.run();
