/** Rewrites by offset, and the quoting helpers. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyRewrites, quoteIdent, quoteString } from '../../../src/routing/rewrite';

test('applies non-overlapping rewrites in any order, inside a larger buffer', () => {
  const buf = Buffer.from('\x03SELECT * FROM app.a JOIN `app`.b');
  const out = applyRewrites(buf, 1, buf.length, [
    { start: 26, end: 31, text: '`t_x`' },
    { start: 15, end: 18, text: '`t_x`' },
  ]);
  assert.is(out.toString(), 'SELECT * FROM `t_x`.a JOIN `t_x`.b');
});

test('no rewrites: the original bytes (a view, not a copy)', () => {
  const buf = Buffer.from('xSELECT 1');
  const out = applyRewrites(buf, 1, buf.length, []);
  assert.is(out.toString(), 'SELECT 1');
  assert.is(out.buffer, buf.buffer);
});

test('overlapping or out-of-range rewrites throw', () => {
  const buf = Buffer.from('SELECT 1');
  assert.throws(() => applyRewrites(buf, 0, 8, [{ start: 0, end: 4, text: 'x' }, { start: 2, end: 5, text: 'y' }]), RangeError);
  assert.throws(() => applyRewrites(buf, 0, 8, [{ start: 6, end: 9, text: 'x' }]), RangeError);
});

test('quoting', () => {
  assert.is(quoteIdent('a`b'), '`a``b`');
  assert.is(quoteString("it's \\", false), "'it''s \\\\'");
  assert.is(quoteString("it's \\", true), "'it''s \\'");
});

test.run();
