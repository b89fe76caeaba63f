/** Digest statistics stay bounded in size as well as in number: long digest texts are cut (and flattened). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { boundedDigest, DigestStats, MAX_DIGEST_TEXT } from '../../../src/metrics/digest-stats';

test('a digest longer than MAX_DIGEST_TEXT is kept cut, ending in "..."; statements alike up to the cut share the entry', () => {
  const s = new DigestStats(10);
  const cols = Array.from({ length: 100_000 }, (_, i) => `c${i}`).join(', ');
  const a = s.entry('t', `SELECT ${cols} FROM a`, 1);
  assert.is(a.digest.length, MAX_DIGEST_TEXT);
  assert.ok(a.digest.endsWith('...'));
  assert.ok(a.digest.startsWith('SELECT c0, c1, '));
  assert.ok(a.key.length < MAX_DIGEST_TEXT + 10, 'the map key is bounded too');
  assert.is(s.entry('t', `SELECT ${cols} FROM b`, 2), a);
  const short = 'SELECT ? FROM t';
  assert.is(s.entry('t', short, 3).digest, short, 'short digests are kept as they are');
  assert.is(boundedDigest(short), short);
  assert.is(boundedDigest('x'.repeat(MAX_DIGEST_TEXT)).length, MAX_DIGEST_TEXT);
  assert.ok(boundedDigest('x'.repeat(MAX_DIGEST_TEXT + 1)).endsWith('...'));
});

test('least recently used entries are evicted first; hits in turn over four shapes keep the exact LRU order', () => {
  const s = new DigestStats(4);
  const e = ['a', 'b', 'c', 'd'].map((d, i) => s.entry('t', d, i));
  for (const x of e) s.add(x, 1, 1, false, 10);
  for (const i of [3, 0, 2, 1, 0, 3]) s.add(e[i]!, 1, 1, false, 11);
  assert.equal(s.recencyOrder(), ['t\u0000c', 't\u0000b', 't\u0000a', 't\u0000d']);
  const f = s.entry('t', 'f', 12); // evicts c, the least recent
  assert.is(e[2]!.live, false);
  assert.is(s.evicted, 1);
  assert.equal(s.recencyOrder(), ['t\u0000b', 't\u0000a', 't\u0000d', 't\u0000f']);
  s.add(e[1]!, 1, 1, false, 13);
  s.entry('t', 'g', 14); // evicts a
  assert.equal(s.recencyOrder(), ['t\u0000d', 't\u0000f', 't\u0000b', 't\u0000g']);
  assert.equal(s.query({ sort: 'count' }).digests.map((x) => [x.digest, x.count]), [['b', 3], ['d', 3], ['f', 0], ['g', 0]]);
  assert.is(f.live, true);
  s.reset();
  assert.equal(s.recencyOrder(), []);
  assert.is(f.live, false);
  assert.is(f.older, null, 'no links kept after a reset');
  const h = s.entry('t', 'h', 15);
  s.add(h, 1, 1, false, 15);
  assert.equal(s.recencyOrder(), ['t\u0000h']);
});

test.run();
