import type { BackendConnection } from '../backend/backend-connection';
import type { Backend, BackendPool } from '../backend/pool';
import { RoutineWatch } from '../backend/routine-watch';
import { TRACKING_INIT_SQL } from './session-vars';

/**
 * Backend connection set-up the proxy installs into the pools (setConnectionInit), and the routine
 * watch poll over the backends in use.
 */

/** Polls the routine watch of every backend in use (one that made a connection), dropping those of removed backends. */
export function pollRoutineWatches(backends: Map<string, Backend>, watches: Map<Backend, RoutineWatch>): void {
  const live = new Set(backends.values());
  for (const b of watches.keys()) {
    if (!live.has(b)) watches.delete(b);
  }
  for (const b of live) {
    if (b.routinesLoadedAt === 0) continue;
    let w = watches.get(b);
    if (w === undefined) {
      w = new RoutineWatch(b);
      watches.set(b, w);
    }
    void w.poll();
  }
}

/** Minimum interval between two loads of a backend's routine definitions at connection time. */
const ROUTINES_RELOAD_MS = 10_000;

/** Learns fresh-connection defaults and collations once, then turns on session tracking. */
export async function initConnection(conn: BackendConnection, pool: BackendPool): Promise<void> {
  if (!pool.defaults) {
    const r = await conn.query('SELECT LOWER(VARIABLE_NAME), VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES');
    const m = new Map<string, string>();
    for (const row of r.rows) if (row[0]) m.set(row[0].toString('utf8'), row[1] ? row[1].toString('utf8') : '');
    pool.defaults = m;
  }
  const b = pool.backend;
  if (!b.collations) {
    const r = await conn.query('SELECT ID, COLLATION_NAME, CHARACTER_SET_NAME FROM information_schema.COLLATIONS');
    const m = new Map<number, { name: string; charset: string }>();
    for (const row of r.rows) {
      if (row[0] && row[1] && row[2]) m.set(Number(row[0].toString()), { name: row[1].toString(), charset: row[2].toString() });
    }
    b.collations = m;
  }
  // Reloaded when a connection is made, at most every few seconds: the information_schema scans are not free.
  if (Date.now() - b.routinesLoadedAt > ROUTINES_RELOAD_MS) {
    // A failed load keeps what was known (and is retried with the next connection) rather than failing the connection.
    await b.loadRoutines(conn).catch((e: Error) => pool.backend.noteRoutinesLoadFailed(e));
  }
  if (b.waitTimeout < 0) {
    // The client-side wait_timeout defaults (the proxy's own backend sessions are interactive, so their session value is no guide).
    const r = await conn.query('SELECT @@global.wait_timeout, @@global.interactive_timeout');
    const row = r.rows[0] ?? [];
    b.waitTimeout = row[0] ? Number(row[0].toString()) : 0;
    b.interactiveTimeout = row[1] ? Number(row[1].toString()) : 0;
  }
  await conn.query(TRACKING_INIT_SQL);
}
