import * as crypto from 'node:crypto';
import type { UserConfig } from '../config/types';
import { sha2Stage2, unxorPassword, verifyNative, verifySha2Crypt, verifySha2Fast } from '../protocol/auth';

export const NATIVE = 'mysql_native_password';
export const SHA2 = 'caching_sha2_password';

/** A fresh 20-byte nonce of printable characters (some clients treat the scramble as a C string). */
export function makeNonce(): Buffer {
  const b = crypto.randomBytes(20);
  for (let i = 0; i < 20; i++) {
    let c = (b[i] % 94) + 33;
    if (c === 0x24) c = 0x25; // no '$'
    b[i] = c;
  }
  return b;
}

/** The next step of an authentication exchange. */
export type AuthStep =
  | { t: 'ok' }
  | { t: 'fail'; reason: string; /** The reason may be shown to the client (it says how to connect, not whether a user exists). */ tell?: boolean }
  | { t: 'switch'; plugin: string; nonce: Buffer }
  | { t: 'more'; data: Buffer; then: 'await' | 'ok' };

/** Stage2 digests of successful caching_sha2 full authentications, like the server's cache. */
const sha2Cache = new Map<string, Buffer>();

/** Which plugin a user's stored credentials need, preferring the client's choice when both exist. */
export function pluginFor(user: UserConfig, clientPlugin: string | null): string {
  const hasNative = user.nativeHash !== undefined;
  const hasSha2 = user.sha2Hash !== undefined;
  if (hasNative && hasSha2) return clientPlugin === SHA2 ? SHA2 : NATIVE;
  return hasSha2 ? SHA2 : NATIVE;
}

/**
 * Server side of one login (or COM_CHANGE_USER) for a known user: mysql_native_password, and
 * caching_sha2_password with the fast path, full authentication over TLS (cleartext) and the RSA
 * public-key exchange over plain TCP.
 */
export class Authenticator {
  private stage: 'token' | 'sha2-full' | 'sha2-rsa' = 'token';
  plugin: string;

  constructor(
    readonly user: UserConfig,
    public nonce: Buffer,
    private readonly tls: boolean,
    private readonly rsa: { publicPem: string; privateKey: crypto.KeyObject } | null,
    clientPlugin: string | null,
  ) {
    this.plugin = pluginFor(user, clientPlugin);
  }

  /** First step, given the auth response and plugin from the handshake response. */
  begin(clientPlugin: string | null, token: Buffer): AuthStep {
    if ((clientPlugin ?? NATIVE) !== this.plugin) {
      this.nonce = makeNonce();
      return { t: 'switch', plugin: this.plugin, nonce: this.nonce };
    }
    return this.onToken(token);
  }

  /** Next client packet of the exchange. */
  next(data: Buffer): AuthStep {
    if (this.stage === 'token') return this.onToken(data);
    if (this.stage === 'sha2-full') {
      if (this.tls) {
        const pw = data.length > 0 && data[data.length - 1] === 0 ? data.subarray(0, data.length - 1) : data;
        return this.checkCleartext(pw);
      }
      if (data.length === 1 && data[0] === 0x02) {
        if (!this.rsa) {
          return { t: 'fail', tell: true, reason: 'caching_sha2_password full authentication needs a TLS connection here; connect with TLS (e.g. --ssl / ssl-mode=REQUIRED)' };
        }
        this.stage = 'sha2-rsa';
        return { t: 'more', data: Buffer.from(this.rsa.publicPem, 'latin1'), then: 'await' };
      }
      return { t: 'fail', tell: true, reason: 'cleartext password refused on an unencrypted connection; use TLS or the RSA key exchange' };
    }
    // sha2-rsa
    if (!this.rsa) return { t: 'fail', tell: true, reason: 'no RSA key' };
    let plain: Buffer;
    try {
      plain = crypto.privateDecrypt({ key: this.rsa.privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING }, data);
    } catch {
      return { t: 'fail', tell: true, reason: 'RSA decryption failed' };
    }
    return this.checkCleartext(unxorPassword(plain, this.nonce));
  }

  private onToken(token: Buffer): AuthStep {
    const u = this.user;
    if (this.plugin === NATIVE) {
      return verifyNative(u.nativeHash ?? '', this.nonce, token) ? { t: 'ok' } : { t: 'fail', reason: 'wrong password' };
    }
    const stored = u.sha2Hash as string;
    if (token.length === 0) {
      return verifySha2Crypt(stored, '') ? { t: 'ok' } : { t: 'fail', reason: 'wrong password' };
    }
    const cached = sha2Cache.get(cacheKey(u));
    if (cached) {
      if (verifySha2Fast(cached, this.nonce, token)) return { t: 'more', data: Buffer.from([0x03]), then: 'ok' };
      return { t: 'fail', reason: 'wrong password' };
    }
    this.stage = 'sha2-full';
    return { t: 'more', data: Buffer.from([0x04]), then: 'await' };
  }

  private checkCleartext(pw: Buffer): AuthStep {
    const stored = this.user.sha2Hash as string;
    if (!verifySha2Crypt(stored, pw)) return { t: 'fail', reason: 'wrong password' };
    sha2Cache.set(cacheKey(this.user), sha2Stage2(pw));
    return { t: 'ok' };
  }
}

function cacheKey(u: UserConfig): string {
  return `${u.name}\0${u.sha2Hash}`;
}
