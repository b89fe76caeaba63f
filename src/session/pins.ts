import { Status } from '../protocol/constants';
import { Q, QueryInfo } from '../classify/lexer';

/** Why a session keeps its backend connection between statements (bit set). */
export const Pin = {
  TX: 1,
  LOCK_TABLES: 2,
  USER_LOCK: 4,
  TEMP: 8,
  /** Held for the next statement only (SQL_CALC_FOUND_ROWS, SET TRANSACTION). */
  ONE_SHOT: 16,
  CURSOR: 32,
  SQL_PS: 64,
  HANDLER: 128,
  /**
   * A stored procedure ran: it may have left user variables, temporary tables or locks that the
   * proxy cannot see, so the session keeps its connection until it resets or closes.
   */
  ROUTINE: 256,
  /**
   * The server flagged a session state change (SERVER_SESSION_STATE_CHANGED) that the statement's
   * classification does not explain: stored code (a function, trigger or view the proxy does not
   * know as stateful) created user variables or temporary tables. Sticky until a reset, like ROUTINE.
   */
  SERVER_STATE: 512,
} as const;

/** What nextPins needs of a session. */
export interface PinInput {
  pins: number;
  lockCount: number;
  /** Number of user locks the backend confirmed the session holds. */
  userLocks: number;
  openCursors: number;
}

/** The session's pins after a statement, and its unconfirmed lock count. */
export interface PinDecision {
  pins: number;
  lockCount: number;
  /** RELEASE_ALL_LOCKS ran: the confirmed lock names are gone too. */
  releasedAll: boolean;
}

/**
 * Pins after a statement described by `info` ended with server status `status` (`failed`: it
 * ended with an error). Transaction,
 * one-shot, cursor and user-lock pins are re-derived each time; the others are sticky until the
 * statement that undoes them (UNLOCK TABLES) or a reset.
 */
export function nextPins(s: PinInput, info: QueryInfo | null, status: number, failed = false): PinDecision {
  let pins = s.pins & ~(Pin.TX | Pin.ONE_SHOT | Pin.CURSOR | Pin.USER_LOCK);
  let lockCount = s.lockCount;
  let userLocks = s.userLocks;
  let releasedAll = false;
  if (status & Status.IN_TRANS || !(status & Status.AUTOCOMMIT)) pins |= Pin.TX;
  const flags = info ? info.flags : 0;
  if (flags && info) {
    // A single statement that failed created nothing (a multi-statement may have run some parts;
    // CALL may have changed state before failing): it adds no sticky pin.
    const created = !failed || (flags & (Q.MULTI | Q.CALL)) !== 0;
    if (flags & Q.LOCK_TABLES && created) pins |= Pin.LOCK_TABLES;
    if (flags & Q.UNLOCK_TABLES) pins &= ~Pin.LOCK_TABLES;
    if (flags & Q.RELEASE_ALL_LOCKS) {
      lockCount = 0;
      userLocks = 0;
      releasedAll = true;
    } else if (info.lockNameUnknown && info.lockDelta !== 0) lockCount = Math.max(0, lockCount + info.lockDelta);
    if (flags & Q.CREATE_TEMPORARY && created) pins |= Pin.TEMP;
    if (flags & Q.SQL_PREPARE && created) pins |= Pin.SQL_PS;
    if (flags & Q.HANDLER && created) pins |= Pin.HANDLER;
    if (flags & Q.CALL) pins |= Pin.ROUTINE;
    if (flags & (Q.CALC_FOUND_ROWS | Q.SET_TRANSACTION)) pins |= Pin.ONE_SHOT;
  }
  if (lockCount > 0 || userLocks > 0) pins |= Pin.USER_LOCK;
  if (s.openCursors > 0) pins |= Pin.CURSOR;
  return { pins, lockCount, releasedAll };
}

/** Names of the pin bits set in `pins` (for logs and tests). */
export function pinNames(pins: number): string[] {
  return Object.entries(Pin)
    .filter(([, bit]) => (pins & bit) !== 0)
    .map(([name]) => name);
}
