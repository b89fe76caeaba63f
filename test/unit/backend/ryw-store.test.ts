/** MemoryRywStore: per-domain merge, scope isolation, TTL expiry, eviction of the oldest scope, scope keys. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatGtidPos, parseGtidPos } from '../../../src/backend/gtid';
import { MemoryRywStore, rywScopeKey } from '../../../src/backend/ryw-store';

const P = parseGtidPos;
const req = (s: MemoryRywStore, k: string) => {
  const g = s.requiredGtid(k);
  return g === null ? null : formatGtidPos(g);
};

test('writes of one scope merge per domain; other scopes are untouched', () => {
  const s = new MemoryRywStore({ now: () => 0 });
  assert.is(req(s, 'a'), null);
  s.recordWrite('a', P('0-1-5'));
  s.recordWrite('a', P('0-1-3'));
  s.recordWrite('a', P('1-2-9'));
  assert.is(req(s, 'a'), '0-1-5,1-2-9');
  s.recordWrite('b', P('0-1-7'));
  assert.is(req(s, 'a'), '0-1-5,1-2-9');
  assert.is(req(s, 'b'), '0-1-7');
  s.recordWrite('a', P(''));
  assert.is(req(s, 'a'), '0-1-5,1-2-9');
  s.forget('a');
  assert.is(req(s, 'a'), null);
});

test('entries expire after the TTL; a write after expiry starts afresh', () => {
  let now = 1000;
  const s = new MemoryRywStore({ ttlMs: 100, now: () => now });
  s.recordWrite('a', P('0-1-5'));
  now = 1099;
  assert.is(req(s, 'a'), '0-1-5');
  now = 1100;
  assert.is(req(s, 'a'), null);
  assert.is(s.size, 0);
  s.recordWrite('a', P('0-1-6'));
  now = 1150;
  s.recordWrite('a', P('0-1-2'));
  // The merge renews the TTL.
  now = 1249;
  assert.is(req(s, 'a'), '0-1-6');
});

test('at most maxScopes are kept; the least recently written goes first', () => {
  const s = new MemoryRywStore({ maxScopes: 2, now: () => 0 });
  s.recordWrite('a', P('0-1-1'));
  s.recordWrite('b', P('0-1-2'));
  s.recordWrite('a', P('0-1-3'));
  s.recordWrite('c', P('0-1-4'));
  assert.is(s.size, 2);
  assert.is(req(s, 'b'), null);
  assert.is(req(s, 'a'), '0-1-3');
  assert.is(req(s, 'c'), '0-1-4');
});

test('scope keys separate clusters, tenants and sessions', () => {
  const keys = [
    rywScopeKey('tenant', 'c1', 'acme', 1),
    rywScopeKey('tenant', 'c2', 'acme', 1),
    rywScopeKey('tenant', 'c1', 'globex', 1),
    rywScopeKey('session', 'c1', 'acme', 1),
    rywScopeKey('session', 'c1', 'acme', 2),
  ];
  assert.is(new Set(keys).size, keys.length);
  // Per tenant, the session does not matter.
  assert.is(rywScopeKey('tenant', 'c1', 'acme', 1), rywScopeKey('tenant', 'c1', 'acme', 99));
});

test.run();
