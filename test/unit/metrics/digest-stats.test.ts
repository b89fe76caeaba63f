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

test.run();
