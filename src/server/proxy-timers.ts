import type { Backend } from '../backend/pool';
import { type RoutineWatch, ROUTINE_WATCH_MS } from '../backend/routine-watch';
import { type BufferBudget, resumeWithinBudget } from './client-conn';
import type { ClientSession } from './client-session';
import type { IdleGc } from './idle-gc';
import { pollRoutineWatches } from './backend-init';

/** How often session timeouts are checked: a timeout fires up to this much late. */
const SWEEP_MS = 250;

/** What the proxy's periodic work reads. */
export interface TimerHost {
  readonly sessions: Map<number, ClientSession>;
  readonly clientBuffer: BufferBudget;
  readonly backends: Map<string, Backend>;
  readonly routineWatches: Map<Backend, RoutineWatch>;
  readonly idleGc: IdleGc;
  /** The fast lanes (null: off): idle ones give their sessions back before timeouts are checked. */
  readonly lanes: { sweep(): void } | null;
}

/** The proxy's periodic work while it listens: the session sweep, the routine watch poll, idle GC. */
export class ProxyTimers {
  private sweeper: NodeJS.Timeout | null = null;
  private routineTimer: NodeJS.Timeout | null = null;

  start(host: TimerHost): void {
    this.sweeper = setInterval(() => sweep(host), SWEEP_MS);
    this.sweeper.unref();
    host.idleGc.start();
    this.routineTimer = setInterval(() => pollRoutineWatches(host.backends, host.routineWatches), ROUTINE_WATCH_MS);
    this.routineTimer.unref();
  }

  stop(host: TimerHost): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    host.idleGc.stop();
    if (this.routineTimer) clearInterval(this.routineTimer);
    this.routineTimer = null;
    host.routineWatches.clear();
  }
}

/**
 * Timeouts of all sessions in one pass instead of a timer per session (10,000 idle sessions should
 * not each carry one): login timeout, wait_timeout, read timeout of an unfinished packet. Also
 * resumes connections paused for the client buffer budget.
 */
export function sweep(host: TimerHost): void {
  if (host.lanes !== null) host.lanes.sweep();
  const now = Date.now();
  for (const s of host.sessions.values()) {
    try {
      s.checkTimeouts(now);
    } catch (e) {
      s.fault(e, 'timeouts');
    }
  }
  resumeWithinBudget(host.clientBuffer);
}
