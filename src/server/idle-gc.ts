/**
 * Gives memory back once load goes away (server.idle_gc_after_ms).
 *
 * Under load V8 grows its new space up to 2 × 16 MiB of semi-spaces and keeps it: neither its memory
 * reducer (which only acts when the heap has grown by 10 MiB since its last run) nor a later full GC
 * taken while allocation is still high shrinks it. One full GC once the event loop has been quiet for
 * a while does: V8 sees a low allocation rate and shrinks the new space back to 1 MiB (heap and RSS
 * drop by up to ~30 MiB; the GC itself takes a few ms on this proxy's heap, and only runs when idle).
 * V8 takes that rate over the last 5 s, so the quiet time must be at least that (the config says so).
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { runInNewContext } from 'node:vm';

/** Event-loop utilization below which a tick counts as quiet (an idle proxy measures under 0.03). */
export const QUIET_ELU = 0.05;
/** Committed heap beyond the used heap worth a GC: less than this and there is nothing to give back. */
export const RECLAIMABLE_BYTES = 8 * 1024 * 1024;
const TICK_MS = 1000;

export interface IdleGcState {
  /** Quiet time since the last busy tick. */
  readonly quietMs: number;
  /** There was load since the last idle GC (or since the start). */
  readonly armed: boolean;
}

export const IDLE_GC_START: IdleGcState = { quietMs: 0, armed: true };

/**
 * One tick of the decision: `elu` is the event-loop utilization over the tick, `reclaimableBytes` the
 * committed heap beyond the used heap. A GC runs once per busy-then-quiet period, after `afterMs` of
 * quiet, and only when there is memory to give back; `afterMs` 0 turns it off.
 */
export function idleGcStep(s: IdleGcState, elu: number, tickMs: number, reclaimableBytes: number, afterMs: number): { state: IdleGcState; gc: boolean } {
  if (elu >= QUIET_ELU) return { state: { quietMs: 0, armed: true }, gc: false };
  const quietMs = s.quietMs + tickMs;
  if (!s.armed || afterMs <= 0 || quietMs < afterMs) return { state: { quietMs, armed: s.armed }, gc: false };
  // Due: disarm either way, so a heap that stays loose (fragmentation) is not collected every tick.
  return { state: { quietMs, armed: false }, gc: reclaimableBytes >= RECLAIMABLE_BYTES };
}

/**
 * The GC function: node's own when started with --expose-gc, else one taken from a context created
 * while the flag is briefly on (the flag is turned off again, so no other context gets `gc`).
 */
function gcFunction(): (() => void) | null {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return exposed;
  try {
    setFlagsFromString('--expose-gc');
    const fn: unknown = runInNewContext('gc');
    setFlagsFromString('--no-expose-gc');
    return typeof fn === 'function' ? (fn as () => void) : null;
  } catch {
    return null;
  }
}

/** Runs idleGcStep every second (unref'd timer); `afterMs` is read at each tick, so a reload applies. */
export class IdleGc {
  private timer: NodeJS.Timeout | null = null;
  private state = IDLE_GC_START;
  private elu: EventLoopUtilization = performance.eventLoopUtilization();
  private gc: (() => void) | null | undefined;
  /** Idle GCs run so far. */
  runs = 0;

  constructor(
    private readonly afterMs: () => number,
    private readonly onGc: (before: { heapTotal: number; heapUsed: number }, after: { heapTotal: number; heapUsed: number }, ms: number) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    const now = performance.eventLoopUtilization();
    const elu = performance.eventLoopUtilization(now, this.elu).utilization;
    this.elu = now;
    const h = getHeapStatistics();
    const step = idleGcStep(this.state, elu, TICK_MS, h.total_heap_size - h.used_heap_size, this.afterMs());
    this.state = step.state;
    if (!step.gc) return;
    if (this.gc === undefined) this.gc = gcFunction();
    if (this.gc === null) return;
    const t0 = performance.now();
    this.gc();
    const ms = performance.now() - t0;
    this.runs++;
    const a = getHeapStatistics();
    this.onGc({ heapTotal: h.total_heap_size, heapUsed: h.used_heap_size }, { heapTotal: a.total_heap_size, heapUsed: a.used_heap_size }, ms);
  }
}
