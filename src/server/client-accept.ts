import type * as net from 'node:net';
import { buildErr } from '../protocol/ok-err';
import { Err } from '../errors';
import { ClientSession } from './client-session';
import type { ProxyContext } from './proxy-context';
import { evictUnauthenticated } from './session-faults';

/** What accepting a client needs of the proxy. */
export interface AcceptHost extends ProxyContext {
  readonly isStopping: boolean;
  readonly loggedIn: number;
  nextId: number;
}

/**
 * A new client socket: refused while stopping or at max_client_connections (ERR 1040); when the
 * handshake budget is full the oldest unauthenticated connection makes room; then a session with
 * the next free connection id.
 */
export function acceptClient(host: AcceptHost, socket: net.Socket): void {
  socket.on('error', () => {});
  if (host.isStopping) {
    socket.destroy();
    return;
  }
  const srv = host.config.server;
  if (host.loggedIn >= srv.maxClientConnections) {
    socket.end(buildErr(Err.TOO_MANY_CONNECTIONS.errno, Err.TOO_MANY_CONNECTIONS.sqlState, 'Too many connections').finish(0));
    return;
  }
  // Unauthenticated connections have their own, smaller budget. When it is full the oldest one makes
  // room: a real client finishes its handshake in milliseconds, so idle or slow sockets cannot lock it out.
  if (host.handshaking.size >= srv.maxHandshakeConnections) {
    const oldest = host.handshaking.values().next().value as ClientSession;
    host.metrics.errors.inc({ kind: 'handshake_evicted' });
    evictUnauthenticated(oldest);
  }
  let id = host.nextId;
  while (host.sessions.has(id)) id = id >= 0x7fffffff ? 1 : id + 1;
  host.nextId = id >= 0x7fffffff ? 1 : id + 1;
  const s = new ClientSession(host, socket, id);
  host.sessions.set(id, s);
}
