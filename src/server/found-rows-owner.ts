import type { BackendConnection } from '../backend/backend-connection';

/**
 * Which backend connection's server session holds a client session's FOUND_ROWS() value. At most
 * one does: when another connection gets it (a result set ran there, or the proxy replayed it), the
 * one that held it before no longer counts as the session's — its value is stale, and a statement
 * reading FOUND_ROWS() there must get the session's value replayed first (session/replay.ts).
 */
export interface FoundRowsHolder {
  foundRowsConn: BackendConnection | null;
}

/** `conn` now holds `s`'s FOUND_ROWS() (and no other connection does). */
export function ownFoundRows(s: FoundRowsHolder, conn: BackendConnection): void {
  const prev = s.foundRowsConn;
  if (prev !== null && prev !== conn && prev.foundRowsOwner === s) prev.foundRowsOwner = null;
  conn.foundRowsOwner = s;
  s.foundRowsConn = conn;
}

/** No connection holds `s`'s FOUND_ROWS() any more (the proxy answered a statement that changed it). */
export function disownFoundRows(s: FoundRowsHolder): void {
  const prev = s.foundRowsConn;
  if (prev !== null && prev.foundRowsOwner === s) prev.foundRowsOwner = null;
  s.foundRowsConn = null;
}
