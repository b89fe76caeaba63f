/**
 * The native fast lane (native/lane/lane.cc, built by `npm run build:native`): relays approved
 * statements between a client fd and a backend fd in C++ on the main libuv loop, and hands the
 * session back to JS ("eject") on anything else. Optional: {@link loadLaneNative} returns null when
 * the module was not built or TENANTGATE_FAST_LANE is 0/off/false, and the proxy relays in JS.
 *
 * Interface: exactly as in the task brief (lane-native.md), with one ADDITION (nothing changed):
 * `info[13]` = bytes at the head of `backendRest` that belong to packets already relayed (counted in
 * info[2]/[11]) but not yet written to the client. It is 0 except for ejects that cannot wait for
 * the client to take its bytes (CLIENT_CLOSED, WRITE_ERROR, BACKEND_CLOSED, DETACH, BUSY_LONG while
 * a write to the client is pending); then JS writes those bytes verbatim first, and the packet
 * boundary follows them. (Other ejects first finish writing, so backendRest starts at a boundary.)
 *
 * Notes on details the brief leaves open:
 * - Shapes are per table; addShape stores the key made with its `opts`, and a lookup tries each opts
 *   value the table's shapes were added with (a key records its opts, so keys made with different
 *   opts never match). Tables normally hold one opts value (one sql_mode per table).
 * - `info[11]` is 0 (the command's sequence id) while nothing of the response was relayed (phase 1).
 * - A statement's duration starts at the client read that last delivered bytes before it was sent:
 *   for a pipelined statement that is the read that brought it, not the previous statement's end.
 * - A column definition packet that looks like ERR (0xFF) or EOF (0xFE, len < 9) ejects RESPONSE, as
 *   does a zero-length packet in phases FIRST/COLDEFS/ROWS.
 * - The module keeps global state: use it from the main thread only (init once per process; init
 *   again replaces the callback and arrays).
 */
import * as net from 'node:net';
import * as path from 'node:path';

export const DECLINED = 1;
export const RESPONSE = 2;
export const SLOW = 3;
export const CLIENT_CLOSED = 4;
export const BACKEND_CLOSED = 5;
export const DETACH = 6;
export const IDLE = 7;
export const BUSY_LONG = 8;
export const WRITE_ERROR = 9;
export const BACKEND_WRITE = 10;
export const PROTOCOL = 11;
export const REQUESTED = 12;

export const PH_NONE = 0;
export const PH_FIRST = 1;
export const PH_COLDEFS = 2;
export const PH_COLDEF_EOF = 3;
export const PH_ROWS = 4;

/** addShape/shapeKey opts bits. */
export const SHAPE_NO_BACKSLASH_ESCAPES = 1;
export const SHAPE_HIGH_BYTES_IN_QUOTES = 2;

/** Stats slot layout (Float64, `stride` per slot): bucket counts start at STAT_BUCKETS. */
export const STAT_COUNT = 0;
export const STAT_SUM_US = 1;
export const STAT_MIN_US = 2;
export const STAT_MAX_US = 3;
export const STAT_ROWS = 4;
export const STAT_BYTES_IN = 5;
export const STAT_BYTES_OUT = 6;
export const STAT_BUCKETS = 7;

/** info[] indexes (written before each onEject call). */
export const INFO_PHASE = 0;
export const INFO_COLDEFS_LEFT = 1;
export const INFO_ROWS = 2;
export const INFO_COMPLETED = 3;
export const INFO_LAST_ROWS = 4;
export const INFO_LAST_STATUS = 5;
export const INFO_IDLE_MS = 6;
export const INFO_INFLIGHT_US = 7;
export const INFO_SLOT = 8;
export const INFO_LAST_US = 9;
export const INFO_COLUMNS = 10;
export const INFO_LAST_SEQ = 11;
export const INFO_BYTES_IN = 12;
export const INFO_UNWRITTEN = 13;
export const INFO_LENGTH = 16;

export type OnEject = (lane: number, reason: number, clientRest: Buffer | null, backendRest: Buffer | null, cmd: Buffer | null) => void;

export interface LaneNative {
  init(onEject: OnEject, info: Float64Array, stats: Float64Array, stride: number, bounds: Float64Array): void;
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

/** Where `npm run build:native` puts the module (this file runs from dist/src/io). */
export const LANE_NATIVE_PATH = path.join(__dirname, '..', '..', '..', 'native', 'lane', 'build', 'Release', 'tenantgate_lane.node');

/** Why the last loadLaneNative() returned null ('' when it loaded). */
export let laneNativeUnavailable = '';

let cached: LaneNative | null | undefined;

const FUNCTIONS = ['init', 'attach', 'setStmt', 'dropStmt', 'clearStmts', 'addShape', 'clearShapes', 'clearAllShapes', 'shapeKey', 'detach', 'requestEject', 'sweep', 'isAttached', 'isBusy'] as const;

/** The native lane, or null when it is off (TENANTGATE_FAST_LANE=0/off/false) or not built. */
export function loadLaneNative(): LaneNative | null {
  const env = (process.env.TENANTGATE_FAST_LANE ?? '').trim().toLowerCase();
  if (env === '0' || env === 'off' || env === 'false') {
    laneNativeUnavailable = 'TENANTGATE_FAST_LANE is off';
    return null;
  }
  if (cached === undefined) {
    try {
      const mod = require(LANE_NATIVE_PATH) as Record<string, unknown>;
      const missing = FUNCTIONS.filter((f) => typeof mod[f] !== 'function');
      if (missing.length) {
        cached = null;
        laneNativeUnavailable = `stale build (no ${missing.join(', ')}); run npm run build:native`;
      } else {
        cached = mod as unknown as LaneNative;
        laneNativeUnavailable = '';
      }
    } catch (err) {
      cached = null;
      laneNativeUnavailable = `not built (${(err as Error).message.split('\n')[0]})`;
    }
  }
  return cached;
}

/** The OS file descriptor of a socket (-1 when it has none, e.g. destroyed or not a fd-backed handle). */
export function socketFd(sock: net.Socket): number {
  const fd = (sock as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}
