// STUB (lane-js branch): replaced by the lane-native branch's loader at merge.
import type * as net from 'node:net';

export interface LaneNative {
  init(onEject: (lane: number, reason: number, clientRest: Buffer | null, backendRest: Buffer | null, cmd: Buffer | null) => void, info: Float64Array, stats: Float64Array, stride: number, bounds: Float64Array): void;
  attach(lane: number, clientFd: number, backendFd: number, table: number, expectStatus: number, slowUs: number): boolean;
  setStmt(lane: number, clientId: number, backendId: number, numParams: number, types: Buffer | null, slot: number): void;
  dropStmt(lane: number, clientId: number): void;
  clearStmts(lane: number): void;
  addShape(table: number, payload: Buffer, slot: number, opts: number): boolean;
  clearShapes(table: number): void;
  clearAllShapes(): void;
  shapeKey(payload: Buffer, opts: number): Buffer | null;
  detach(lane: number): boolean;
  requestEject(lane: number): void;
  sweep(idleMs: number, busyMs: number): number;
  isAttached(lane: number): boolean;
  isBusy(lane: number): boolean;
}

export const DECLINED = 1, RESPONSE = 2, SLOW = 3, CLIENT_CLOSED = 4, BACKEND_CLOSED = 5, DETACH = 6, IDLE = 7, BUSY_LONG = 8, WRITE_ERROR = 9, BACKEND_WRITE = 10, PROTOCOL = 11, REQUESTED = 12;
export const PH_NONE = 0, PH_FIRST = 1, PH_COLDEFS = 2, PH_COLDEF_EOF = 3, PH_ROWS = 4;

export function loadLaneNative(): LaneNative | null {
  return null;
}

export function socketFd(sock: net.Socket): number {
  const h = (sock as unknown as { _handle?: { fd?: number } | null })._handle;
  return h && typeof h.fd === 'number' ? h.fd : -1;
}
