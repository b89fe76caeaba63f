/** Digest statistics found by literal-free statement key; plain histograms exported at scrape time. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as client from 'prom-client';
import { DigestStats } from '../../../src/metrics/digest-stats';
import { DigestKeys } from '../../../src/metrics/digest-keys';
import { PlainHistogram } from '../../../src/metrics/plain-histogram';
import { literalFreeKey, lastKeyBytes } from '../../../src/classify/literal-free-key';

const key = (sql: string): number => {
  const b = Buffer.from('\x03' + sql, 'latin1');
  return literalFreeKey(b, 1, b.length, false, false, 0);
};

test('a statement differing only in literals finds the entry of its shape; another shape, tenant or bytes does not', () => {
  const stats = new DigestStats(10);
  const keys = new DigestKeys(10);
  const h = key("SELECT * FROM t WHERE id = 1 AND n = 'x'");
  assert.ok(h >= 0);
  assert.is(keys.get(h, 'acme'), null);
  const e = stats.entry('acme', 'SELECT * FROM `t` WHERE `id` = ? AND `n` = ?', 1000);
  keys.set(h, 'acme', e);
  assert.is(keys.get(key("SELECT * FROM t WHERE id = 42 AND n = 'other'"), 'acme'), e);
  assert.is(keys.get(key("SELECT * FROM t WHERE id = 42 AND n = 'other'"), 'globex'), null);
  assert.is(keys.get(key('SELECT * FROM u WHERE id = 42 AND n = 1'), 'acme'), null);
  // Same hash, other bytes (a collision) is not a hit: the kept bytes are compared.
  const hh = key('SELECT 1');
  keys.set(hh, 'acme', e, Buffer.from('not the key'));
  assert.is(keys.get(key('SELECT 2'), 'acme'), null);
});

test('an entry evicted from, or reset in, the statistics is no longer found by its key', () => {
  const stats = new DigestStats(1);
  const keys = new DigestKeys(10);
  const h = key('SELECT a FROM t WHERE id = 1');
  const e = stats.entry('acme', 'SELECT `a` FROM `t` WHERE `id` = ?', 1);
  keys.set(h, 'acme', e);
  stats.add(e, 10, 1, false, 2);
  stats.entry('acme', 'SELECT ?', 3); // evicts e (capacity 1)
  assert.is(stats.evicted, 1);
  key('SELECT a FROM t WHERE id = 9');
  assert.is(keys.get(h, 'acme'), null);
  const e2 = stats.entry('acme', 'SELECT `a` FROM `t` WHERE `id` = ?', 4);
  keys.set(key('SELECT a FROM t WHERE id = 9'), 'acme', e2);
  assert.is(keys.get(key('SELECT a FROM t WHERE id = 7'), 'acme'), e2);
  stats.reset();
  assert.is(keys.get(key('SELECT a FROM t WHERE id = 7'), 'acme'), null);
  assert.equal(lastKeyBytes().length > 0, true);
});

test('add() counts into the entry and query() returns copies without internal fields', () => {
  const stats = new DigestStats(5);
  const e = stats.entry('acme', 'SELECT ?', 100);
  stats.add(e, 30, 2, false, 110);
  stats.add(e, 10, 1, true, 120);
  const q = stats.query();
  assert.equal(q.digests, [{ tenant: 'acme', digest: 'SELECT ?', count: 2, errors: 1, sumTimeUs: 40, minTimeUs: 10, maxTimeUs: 30, rowsSent: 3, firstSeen: 100, lastSeen: 120 }]);
});

test('eviction drops the least recently added entry, also when the newest is added to back to back', () => {
  const stats = new DigestStats(2);
  const a = stats.entry('t', 'A', 1);
  stats.add(a, 1, 0, false, 1);
  stats.add(a, 1, 0, false, 2); // newest already: not re-inserted
  const b = stats.entry('t', 'B', 3);
  stats.add(b, 1, 0, false, 3);
  stats.add(b, 1, 0, false, 4);
  stats.add(a, 1, 0, false, 5); // a is the most recent again
  stats.add(a, 1, 0, false, 6);
  stats.entry('t', 'C', 7); // evicts b
  assert.is(b.live, false);
  assert.is(a.live, true);
  assert.is(a.count, 4);
  const c = stats.entry('t', 'C', 8);
  stats.add(c, 1, 0, false, 8);
  stats.entry('t', 'D', 9); // a is now the least recent
  assert.is(a.live, false);
  assert.is(c.live, true);
  stats.reset();
  const d = stats.entry('t', 'D', 10);
  stats.add(d, 1, 0, false, 10);
  assert.equal(stats.query().digests.map((e) => [e.digest, e.count]), [['D', 1]]);
});

test('PlainHistogram: cumulative buckets, sum and count in the exposition format', async () => {
  const reg = new client.Registry();
  const h = new PlainHistogram('x_seconds', 'help text', 'command', [0.001, 0.01], reg);
  const q = h.child('query');
  q.observe(0.0005);
  q.observe(0.001);
  q.observe(0.005);
  q.observe(2);
  const text = await reg.metrics();
  assert.ok(text.includes('# TYPE x_seconds histogram'));
  assert.ok(text.includes('x_seconds_bucket{le="0.001",command="query"} 2') || text.includes('x_seconds_bucket{command="query",le="0.001"} 2'), text);
  assert.ok(/x_seconds_bucket\{[^}]*le="0\.01"[^}]*\} 3/.test(text), text);
  assert.ok(/x_seconds_bucket\{[^}]*le="\+Inf"[^}]*\} 4/.test(text), text);
  assert.ok(text.includes('x_seconds_sum{command="query"} 2.0065'), text);
  assert.ok(text.includes('x_seconds_count{command="query"} 4'), text);
});

test.run();
