/** The idle GC decision (server.idle_gc_after_ms): one full GC per busy-then-quiet period, when it can give memory back. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IDLE_GC_START, idleGcStep, QUIET_ELU, RECLAIMABLE_BYTES, type IdleGcState } from '../../../src/server/idle-gc';

const MIB = 1024 * 1024;

/** Runs ticks of 1 s with the given utilizations; returns the ticks (1-based) at which a GC ran. */
function run(elus: number[], afterMs = 10_000, reclaimable = 30 * MIB, start: IdleGcState = IDLE_GC_START): number[] {
  let s = start;
  const gcs: number[] = [];
  elus.forEach((elu, i) => {
    const step = idleGcStep(s, elu, 1000, reclaimable, afterMs);
    s = step.state;
    if (step.gc) gcs.push(i + 1);
  });
  return gcs;
}

const busy = (n: number) => Array<number>(n).fill(0.6);
const quiet = (n: number) => Array<number>(n).fill(0.01);

test('after load, one GC once the loop has been quiet for idle_gc_after_ms, and no more while it stays quiet', () => {
  assert.equal(run([...busy(5), ...quiet(30)]), [15]);
});

test('each busy-then-quiet period gets its own GC; a busy tick restarts the quiet count', () => {
  assert.equal(run([...busy(3), ...quiet(10), ...busy(1), ...quiet(5), 0.2, ...quiet(12)]), [13, 30]);
});

test('light load (utilization at or above QUIET_ELU) is not quiet', () => {
  assert.equal(run([...busy(2), ...Array<number>(30).fill(QUIET_ELU)]), []);
  assert.equal(run([...busy(2), ...Array<number>(30).fill(QUIET_ELU * 0.9)]), [12]);
});

test('nothing to give back (committed heap close to the used heap): no GC, and none later without new load', () => {
  assert.equal(run([...busy(2), ...quiet(40)], 10_000, RECLAIMABLE_BYTES - 1), []);
  let s = IDLE_GC_START;
  for (let i = 0; i < 12; i++) s = idleGcStep(s, 0.01, 1000, 0, 10_000).state;
  assert.is(s.armed, false, 'disarmed once due');
  assert.is(idleGcStep(s, 0.01, 1000, 30 * MIB, 10_000).gc, false, 'a looser heap later without load does not trigger it');
});

test('idle_gc_after_ms 0 turns it off; the start counts as load (the startup heap is given back too)', () => {
  assert.equal(run([...busy(3), ...quiet(60)], 0), []);
  assert.equal(run(quiet(12)), [10]);
});

test.run();
