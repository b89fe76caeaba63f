/** Use-stamped LRU order: hits stamp, settleUseOrder re-inserts least recent first, only when needed. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { settleUseOrder, touch, UseStamped } from '../../../src/cache/use-order';

test('settleUseOrder puts entries least recently used first; never-used ones first, in their order', () => {
  const m = new Map<string, UseStamped>([['a', {}], ['b', {}], ['c', {}], ['d', {}]]);
  touch(m.get('c')!);
  touch(m.get('a')!);
  touch(m.get('c')!);
  settleUseOrder(m);
  assert.equal([...m.keys()], ['b', 'd', 'a', 'c']);
});

test('settleUseOrder leaves a map already in order as it is (no re-insertion)', () => {
  const m = new Map<string, UseStamped>();
  for (const k of ['x', 'y', 'z']) {
    const v = {};
    touch(v);
    m.set(k, v);
  }
  const before = [...m.entries()];
  let sets = 0;
  const set = m.set.bind(m);
  m.set = (k, v) => {
    sets++;
    return set(k, v);
  };
  settleUseOrder(m);
  assert.is(sets, 0);
  assert.equal([...m.entries()], before);
});

test.run();
