/** The plan cache's LRU behaviour and key. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PlanCache } from '../../../src/classify/plan-cache';
import { parserSchemas, parseStats } from '../../../src/classify/sql-parser';

test('evicts the least recently used entry; a hit refreshes an entry', () => {
  const c = new PlanCache<number>(3);
  c.set('a', 1);
  c.set('b', 2);
  c.set('c', 3);
  assert.is(c.get('a'), 1); // a is now the youngest
  c.set('d', 4); // evicts b
  assert.is(c.get('b'), undefined);
  assert.is(c.get('a'), 1);
  assert.is(c.get('c'), 3);
  assert.is(c.get('d'), 4);
  assert.is(c.size, 3);
  assert.is(c.hits, 4);
  assert.is(c.misses, 1);
  assert.is(c.evictions, 1);
  c.set('a', 5); // replacing an entry evicts nothing
  assert.is(c.evictions, 1);
});

test('parse failures of the second-opinion parser are counted', () => {
  const n = parseStats.failures;
  assert.is(parserSchemas('SELECT FROM WHERE ))(', 10_000), null);
  assert.is(parseStats.failures, n + 1);
  assert.ok(parserSchemas('SELECT a FROM s.t', 10_000) !== null);
  assert.is(parserSchemas('SELECT 1', 3), null); // too long: not parsed, not a failure
  assert.is(parseStats.failures, n + 1);
});

test('overwriting a key does not grow the cache', () => {
  const c = new PlanCache<number>(2);
  c.set('a', 1);
  c.set('a', 2);
  c.set('b', 3);
  assert.is(c.size, 2);
  assert.is(c.get('a'), 2);
});

test('the key separates config versions, tenants, scan options and digests', () => {
  const keys = new Set([
    PlanCache.key(1, 'acme', 0, 'SELECT ?'),
    PlanCache.key(2, 'acme', 0, 'SELECT ?'),
    PlanCache.key(1, 'globex', 0, 'SELECT ?'),
    PlanCache.key(1, 'acme', 2, 'SELECT ?'),
    PlanCache.key(1, 'acme', 0, 'SELECT ? '),
  ]);
  assert.is(keys.size, 5);
});

test('capacity must be positive', () => {
  assert.throws(() => new PlanCache<number>(0), /at least 1/);
});

test.run();
