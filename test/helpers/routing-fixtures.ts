/** Loads the routing snapshots used by the golden route and isolation cases (test/fixtures/snapshots/*.yaml). */
import * as fs from 'node:fs';
import { parseConfig } from '../../src/config/load';
import { buildRoutingSnapshot, type RoutingSnapshot } from '../../src/routing/snapshot';
import { fixturePath } from './golden';

const snapshots = new Map<string, RoutingSnapshot>();

/** The snapshot in test/fixtures/snapshots/NAME.yaml, through the real config loader (version 1). */
export function snapshotNamed(name: string): RoutingSnapshot {
  let s = snapshots.get(name);
  if (!s) {
    const file = fixturePath(`snapshots/${name}.yaml`);
    s = buildRoutingSnapshot(parseConfig(fs.readFileSync(file, 'utf8'), file), 1);
    snapshots.set(name, s);
  }
  return s;
}
