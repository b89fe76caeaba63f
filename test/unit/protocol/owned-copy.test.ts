/** ownedCopy: the bytes in their own ArrayBuffer (never a slice of Node's 8 KiB pool), independent of the source. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ownedCopy } from '../../../src/protocol/owned-copy';

test('a small copy is not carved out of the shared pool, and does not alias its source', () => {
  const src = Buffer.from('0123456789');
  const pooled = Buffer.from(src.subarray(2, 6));
  assert.ok(pooled.buffer.byteLength > pooled.length, 'Buffer.from of a small view is pooled (what this avoids)');
  const c = ownedCopy(src, 2, 6);
  assert.is(c.toString(), '2345');
  assert.is(c.buffer.byteLength, 4);
  src[2] = 0x78;
  assert.is(c.toString(), '2345');
  assert.is(ownedCopy(src).toString(), '01x3456789');
  assert.is(ownedCopy(src, 3, 3).length, 0);
});

test.run();
