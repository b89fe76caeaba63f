/** Waiting on a live Topology without polling: re-check a condition after every sample. */
import type { HealthSample } from '../../src/backend/health-state';
import type { Topology, TopologySnapshot } from '../../src/backend/topology';

/**
 * Resolves with the first snapshot (current or after a later sample) for which `pred` holds.
 * The deadline only keeps a broken run from hanging; it is not what the test asserts.
 */
export function waitForSnapshot(topo: Topology, pred: (s: TopologySnapshot, sample: HealthSample | null) => boolean, what: string, deadlineMs = 30_000): Promise<TopologySnapshot> {
  return new Promise((resolve, reject) => {
    if (pred(topo.snapshot(), null)) {
      resolve(topo.snapshot());
      return;
    }
    const timer = setTimeout(() => {
      off();
      const view = [...topo.snapshot().clusters.values()].map((c) => [c.primary, ...c.replicas].map((m) => `${m.backend}:${m.state}${m.inRotation ? '+' : '-'} (${m.reason})`).join(', '));
      reject(new Error(`waiting for ${what}: not reached within ${deadlineMs} ms; now ${view.join(' | ')}`));
    }, deadlineMs);
    const off = topo.onSample((sample) => {
      if (!pred(topo.snapshot(), sample)) return;
      clearTimeout(timer);
      off();
      resolve(topo.snapshot());
    });
  });
}
