import type { LoginThrottleConfig } from '../config/types';

/** Failed logins counted for one client address or one user name. */
interface Entry {
  failures: number;
  /** Time of the last failure (ms). */
  last: number;
  /** Refused without a password check until then (ms; 0: not blocked). */
  blockedUntil: number;
}

/**
 * Delay of the access-denied ERR after the `failures`-th failure (counting this one): none for the
 * first `freeFailures`, then `baseDelayMs` doubling per failure, capped at `maxDelayMs`. Pure.
 */
export function failureDelay(failures: number, cfg: LoginThrottleConfig): number {
  const over = failures - cfg.freeFailures;
  if (over <= 0) return 0;
  return Math.min(cfg.maxDelayMs, cfg.baseDelayMs * 2 ** Math.min(over - 1, 30));
}

/** Default bound on remembered addresses and user names each (oldest forgotten first). */
const MAX_ENTRIES = 100_000;

/**
 * User names are counted by at most this many characters: the client chooses them (up to the 64 KiB
 * of a login packet), and 100000 kept whole could hold gigabytes. Real names are far shorter (a
 * server allows 80 characters), so only garbage names share a count this way.
 */
export const USER_KEY_CHARS = 256;

/** The throttle's key for a user name: itself, or its first USER_KEY_CHARS characters as a flat string. */
function userKey(user: string): string {
  return user.length <= USER_KEY_CHARS ? user : Buffer.from(user.slice(0, USER_KEY_CHARS), 'utf8').toString('utf8');
}

/**
 * Failed-login throttling per client address and per user name: each failure delays its ERR
 * exponentially (see {@link failureDelay}); after `blockAfterFailures` the address or name is
 * refused for `blockMs` without its password being checked. Counts are forgotten after
 * `forgetAfterMs` without a failure, and cleared by a successful login. Memory is bounded: user
 * names are chosen by the client, so both maps drop their oldest entries past `maxEntries`.
 */
export class LoginThrottle {
  private readonly byAddr = new Map<string, Entry>();
  private readonly byUser = new Map<string, Entry>();

  constructor(private readonly cfg: LoginThrottleConfig, private readonly maxEntries = MAX_ENTRIES) {}

  /** Whether a login from `addr` as `user` is refused outright at `now`. */
  blocked(addr: string, user: string, now: number): boolean {
    return this.isBlocked(this.byAddr.get(addr), now) || this.isBlocked(this.byUser.get(userKey(user)), now);
  }

  /** Records a failed login; returns the delay (ms) before its ERR is sent. */
  failed(addr: string, user: string, now: number): number {
    const a = this.bump(this.byAddr, addr, now);
    const u = this.bump(this.byUser, userKey(user), now);
    return failureDelay(Math.max(a, u), this.cfg);
  }

  /** A successful login clears the counts of its address and user. */
  succeeded(addr: string, user: string): void {
    this.byAddr.delete(addr);
    this.byUser.delete(userKey(user));
  }

  /** Entries remembered (for tests and metrics). */
  get size(): number {
    return this.byAddr.size + this.byUser.size;
  }

  private isBlocked(e: Entry | undefined, now: number): boolean {
    return e !== undefined && e.blockedUntil > now;
  }

  private bump(m: Map<string, Entry>, key: string, now: number): number {
    let e = m.get(key);
    if (e && e.blockedUntil <= now && now - e.last >= this.cfg.forgetAfterMs) e = undefined;
    if (!e) e = { failures: 0, last: now, blockedUntil: 0 };
    m.delete(key); // re-inserted last: the map's order is oldest-failure first
    e.failures++;
    e.last = now;
    if (e.failures >= this.cfg.blockAfterFailures && e.blockedUntil <= now) e.blockedUntil = now + this.cfg.blockMs;
    m.set(key, e);
    while (m.size > this.maxEntries) m.delete(m.keys().next().value as string);
    return e.failures;
  }
}
