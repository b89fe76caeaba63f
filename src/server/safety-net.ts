/**
 * The process-level safety net. Every path a client's input can reach is meant to catch its own
 * errors and end only that session (see ClientSession.fault); this net is for the ones that still
 * escape: it keeps the process serving everyone else, logs the error at error level and counts it, so
 * a bug is visible rather than hidden, and ends the session that was running when it escaped, if known.
 */

/** A session the net can end. */
export interface Faultable {
  readonly closed: boolean;
  /** Logs, counts, tells the client if it can, and ends this session. Must not throw. */
  fault(e: unknown, where: string): void;
}

/** What owns sessions (a Proxy): told about errors no session can be named for. */
export interface NetOwner {
  onStrayError(e: unknown, origin: string): void;
}

let running: Faultable | null = null;
const owners = new Set<NetOwner>();

/**
 * Marks the session whose event handler runs now (null when it returned). An exception escaping
 * the handler leaves the mark set, which is how the net knows whose it was.
 */
export function setRunning(s: Faultable | null): void {
  running = s;
}

function onUncaught(e: unknown, origin: string): void {
  const s = origin === 'uncaughtException' ? running : null;
  running = null;
  if (s && !s.closed) {
    try {
      s.fault(e, 'uncaught_exception');
      return;
    } catch {
      /* fall through: reported below */
    }
  }
  for (const o of owners) o.onStrayError(e, origin);
}

function onRejection(e: unknown): void {
  onUncaught(e, 'unhandledRejection');
}

/** Registers an owner; the process handlers exist while at least one is registered. */
export function installSafetyNet(o: NetOwner): void {
  if (owners.size === 0) {
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onRejection);
  }
  owners.add(o);
}

/** Unregisters an owner (the handlers go with the last one). */
export function removeSafetyNet(o: NetOwner): void {
  if (!owners.delete(o) || owners.size > 0) return;
  process.removeListener('uncaughtException', onUncaught);
  process.removeListener('unhandledRejection', onRejection);
}
