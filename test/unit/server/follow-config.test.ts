/** followConfig: what a session takes from a reloaded config at a statement boundary. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { UserConfig } from '../../../src/config/types';
import { placementFor, type Placement } from '../../../src/routing/placement';
import { followConfig } from '../../../src/server/follow-config';
import { snapshotNamed } from '../../helpers/routing-fixtures';

const snap = snapshotNamed('tenant-scope');
const user = (name: string, backend: string): UserConfig => ({ name, backend }) as UserConfig;
const backends = new Map([['shared-p', 'B:shared-p'], ['solo-db', 'B:solo-db'], ['big-p', 'B:big-p'], ['direct-2', 'B:direct-2']]);
const acme = placementFor('acme', snap) as Placement;

test('pinned, or not logged in yet: wait (asked again at the next command)', () => {
  assert.equal(followConfig({ pinned: true, user: user('app', 'direct-1'), tenant: null }, new Map(), snap, backends), { action: 'wait' });
  assert.equal(followConfig({ pinned: false, user: null, tenant: null }, new Map(), snap, backends), { action: 'wait' });
});

test("passthrough: the user's new backend", () => {
  const moved = user('app', 'direct-2');
  const d = followConfig({ pinned: false, user: user('app', 'direct-1'), tenant: null }, new Map([['app', moved]]), snap, backends);
  assert.equal(d, { action: 'follow', user: moved, tenant: null, backend: 'B:direct-2' });
});

test('passthrough: a user the new config dropped keeps its entry; a backend that is gone is null (kept)', () => {
  const u = user('app', 'gone');
  assert.equal(followConfig({ pinned: false, user: u, tenant: null }, new Map(), snap, backends), { action: 'follow', user: u, tenant: null, backend: null });
});

test("tenant: its new placement and its cluster's primary", () => {
  const u = user('acme_app', 'shared-p');
  const d = followConfig({ pinned: false, user: u, tenant: { ...acme, cluster: 'old' } }, new Map(), snap, backends);
  assert.is(d.action, 'follow');
  if (d.action !== 'follow') return;
  assert.is(d.tenant?.cluster, 'shared');
  assert.is(d.backend, 'B:shared-p');
});

test('tenant no longer configured: refuse (fails closed)', () => {
  const d = followConfig({ pinned: false, user: user('acme_app', 'shared-p'), tenant: { ...acme, tenant: 'removed' } }, new Map(), snap, backends);
  assert.equal(d, { action: 'refuse' });
});

test.run();
