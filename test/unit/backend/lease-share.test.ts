/**
 * Per-user (per-tenant) share of a backend pool: the default cap, the key, the lease decision, the
 * client's error (1226 / 42000, naming the user or tenant, the backend and the setting to raise),
 * and the waiting queue (a returned connection lets the first waiter retry; the others time out).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultShareCap, LeaseShare, mayLease, shareKey, shareLimitError } from '../../../src/backend/lease-share';
import { errPacket, ProxyError } from '../../../src/errors';
import { parseErrPayload } from '../../../src/protocol/ok-err';

test('defaultShareCap: the whole pool for a lone key, else one connection left for the others', () => {
  assert.is(defaultShareCap(20, 0), 20);
  assert.is(defaultShareCap(20, 1), 20);
  assert.is(defaultShareCap(20, 2), 19);
  assert.is(defaultShareCap(3, 50), 2);
  assert.is(defaultShareCap(2, 2), 1);
  assert.is(defaultShareCap(1, 2), 1, 'never 0: a lone connection is still shared, first come first served');
});

test('shareKey: tenant when tenant-aware (all users of a tenant share one cap), else the user', () => {
  assert.is(shareKey('app', null), 'user:app');
  assert.is(shareKey('app', 'acme'), 'tenant:acme');
  assert.is(shareKey('worker', 'acme'), shareKey('app', 'acme'));
  assert.is.not(shareKey('acme', null), shareKey('x', 'acme'), 'a user named like a tenant is another key');
});

test('mayLease: below the cap only; no cap, always', () => {
  assert.ok(mayLease(0, 1));
  assert.not.ok(mayLease(1, 1));
  assert.ok(mayLease(1, 2));
  assert.not.ok(mayLease(5, 2));
  assert.ok(mayLease(1000, undefined));
});

test('shareLimitError: ER_USER_LIMIT_REACHED 1226 / 42000 with an actionable message', () => {
  const e = shareLimitError('user:fz', 'b1', 2, 3, 3001);
  assert.instance(e, ProxyError);
  assert.is(e.code, 'USER_LIMIT');
  const p = parseErrPayload(Buffer.from(errPacket(e).finish(1).subarray(4)));
  assert.is(p.errno, 1226);
  assert.is(p.sqlState, '42000');
  assert.match(p.message, /^User 'fz' has exceeded the 'max_connections_per_user' resource \(current value: 2\)/);
  assert.match(p.message, /backend 'b1''s 3 connections/);
  assert.match(p.message, /backends\[\]\.max_connections_per_user/);
  const t = shareLimitError('tenant:acme', 'p1', 19, 20, 2000);
  assert.match(t.message, /^Tenant 'acme' has exceeded/);
  assert.equal(t.ids, { tenant: 'acme', backend: 'p1' });
});

test('LeaseShare: a returned connection\'s slot goes to the first waiter, then the next', async () => {
  const s = new LeaseShare('user:a');
  s.held = 2;
  const events: string[] = [];
  s.wait(10_000, () => events.push('retry 1'), () => events.push('fail 1'));
  s.wait(30, () => events.push('retry 2'), () => events.push('fail 2'));
  assert.is(s.waiting, 2);
  s.returned();
  assert.is(s.held, 2, 'handed over to the waiter, not freed for whoever comes next');
  assert.equal(events, [], 'the retry runs outside the caller\'s stack');
  await new Promise((r) => process.nextTick(r));
  assert.equal(events, ['retry 1'], 'first come, first served');
  assert.is(s.waiting, 1);
  s.returned(); // another of A's leases ends: its slot goes to the second waiter
  await new Promise((r) => setTimeout(r, 80));
  assert.is(s.held, 2, 'the second waiter got that slot');
  s.returned();
  s.returned();
  assert.is(s.held, 0);
  assert.equal(events, ['retry 1', 'retry 2']);
  assert.is(s.waiting, 0);
  assert.is(s.refused, 0);
});

test('LeaseShare: a waiter not woken within its timeout fails and leaves the count alone', async () => {
  const s = new LeaseShare('user:a');
  s.held = 1;
  const events: string[] = [];
  s.wait(20, () => events.push('retry'), () => events.push('fail'));
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(events, ['fail']);
  assert.is(s.waiting, 0);
  assert.is(s.refused, 1);
  assert.is(s.held, 1);
  s.returned();
  assert.is(s.held, 0, 'with nobody waiting a return only counts down');
});

test.run();
