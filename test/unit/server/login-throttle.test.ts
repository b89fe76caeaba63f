import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { LoginThrottleConfig } from '../../../src/config/types';
import { failureDelay, LoginThrottle, USER_KEY_CHARS } from '../../../src/server/login-throttle';

const CFG: LoginThrottleConfig = { freeFailures: 3, baseDelayMs: 250, maxDelayMs: 5000, blockAfterFailures: 10, blockMs: 60_000, forgetAfterMs: 600_000 };

test('failureDelay: free failures, then doubling from the base, capped', () => {
  const delays = Array.from({ length: 12 }, (_, i) => failureDelay(i + 1, CFG));
  assert.equal(delays, [0, 0, 0, 250, 500, 1000, 2000, 4000, 5000, 5000, 5000, 5000]);
  assert.is(failureDelay(1_000_000, CFG), 5000);
  assert.is(failureDelay(5, { ...CFG, freeFailures: 0, baseDelayMs: 0 }), 0);
});

test('failures count per address and per user; the larger count sets the delay', () => {
  const t = new LoginThrottle(CFG);
  for (let i = 0; i < 3; i++) assert.is(t.failed('10.0.0.1', 'app', 1000), 0);
  // same user from another address: the user's count goes on
  assert.is(t.failed('10.0.0.2', 'app', 1000), 250);
  // another user from the first address: that address's count goes on
  assert.is(t.failed('10.0.0.1', 'bob', 1000), 250);
  assert.is(t.failed('10.0.0.1', 'bob', 1000), 500);
  // a fresh address and user: free
  assert.is(t.failed('10.0.0.3', 'carol', 1000), 0);
});

test('blocked after blockAfterFailures, for blockMs, whatever the password; then counted afresh once forgotten', () => {
  const t = new LoginThrottle(CFG);
  for (let i = 0; i < 10; i++) t.failed('10.0.0.1', `u${i}`, 1000);
  assert.ok(t.blocked('10.0.0.1', 'anyone', 1000), 'address blocked');
  assert.not.ok(t.blocked('10.0.0.2', 'u1', 1000), 'other addresses and those users are not');
  assert.ok(t.blocked('10.0.0.1', 'x', 1000 + 59_999));
  assert.not.ok(t.blocked('10.0.0.1', 'x', 1000 + 60_000), 'block expires');
  // within forgetAfterMs the count continues (blocked again at once)
  t.failed('10.0.0.1', 'x', 70_000);
  assert.ok(t.blocked('10.0.0.1', 'y', 70_000));
  // after forgetAfterMs without failures and outside a block, counting starts over
  assert.is(t.failed('10.0.0.1', 'z', 70_000 + 60_000 + 600_000), 0);
});

test('a successful login clears its address and user', () => {
  const t = new LoginThrottle(CFG);
  for (let i = 0; i < 5; i++) t.failed('10.0.0.1', 'app', 1000);
  t.succeeded('10.0.0.1', 'app');
  assert.is(t.failed('10.0.0.1', 'app', 2000), 0);
});

test('memory is bounded: the oldest entries go first', () => {
  const t = new LoginThrottle(CFG, 100);
  for (let i = 0; i < 1000; i++) t.failed(`10.0.${i >> 8}.${i & 255}`, `user${i}`, 1000 + i);
  assert.is(t.size, 200);
});

test('user names are counted by their first USER_KEY_CHARS characters (client-chosen, up to 64 KiB each)', () => {
  const t = new LoginThrottle(CFG);
  const long = (tail: string) => 'x'.repeat(USER_KEY_CHARS) + tail.repeat(10_000);
  for (let i = 0; i < 10; i++) t.failed(`10.0.1.${i}`, long(String(i)), 1000);
  assert.ok(t.blocked('10.0.2.1', long('other'), 1000), 'long names alike up to the cut share one count');
  assert.is(t.size, 11, '10 addresses and one user key');
  assert.not.ok(t.blocked('10.0.2.1', 'x'.repeat(USER_KEY_CHARS - 1), 1000), 'a shorter name is its own key');
  t.succeeded('10.0.2.1', long('ok'));
  assert.not.ok(t.blocked('10.0.2.1', long('other'), 1000), 'cleared by a success under the same key');
});

test.run();
