/** Rewrites by offset, and the quoting helpers. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyRewrites, quoteIdent, quoteString, quoteStringBytes } from '../../../src/routing/rewrite';

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
  assert.equal([...quoteStringBytes(Buffer.from([0x61, 0x27, 0x5c, 0xe9]), false)], [0x27, 0x61, 0x27, 0x27, 0x5c, 0x5c, 0xe9, 0x27]);
  assert.equal([...quoteStringBytes(Buffer.from([0x5c]), true)], [0x27, 0x5c, 0x27]);
});

test('a rewrite may carry raw bytes (non-UTF-8 connection charsets)', () => {
  const buf = Buffer.from('SELECT x');
  assert.equal([...applyRewrites(buf, 0, buf.length, [{ start: 7, end: 8, text: '\u00e9', bytes: Buffer.from([0xe9]) }])].slice(-1), [0xe9]);
});

test.run();
