/**
 * Authentication crypto for mysql_native_password and caching_sha2_password.
 *
 * Pure functions over Buffers: no sockets, no state. The session decides which exchange to run;
 * this module only computes and checks tokens and stored hashes.
 *
 * Nonces: the handshake scramble is 20 bytes. Some clients hand around the 21-byte form with the
 * trailing NUL; every function here uses only the first 20 bytes, as the server does.
 */
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';

const NONCE_LENGTH = 20;

/** Bytes of the stored caching_sha2 form: `$A$` + 3 hex digits + `$` + salt + digest. */
const SHA2_PREFIX_LENGTH = 7;
const SHA2_SALT_LENGTH = 20;
const SHA2_DIGEST_CHARS = 43;
const SHA2_STORED_LENGTH = SHA2_PREFIX_LENGTH + SHA2_SALT_LENGTH + SHA2_DIGEST_CHARS;
/** MySQL's caching_sha2_password_digest_rounds default; the stored count is rounds / 1000 in hex. */
const SHA2_DEFAULT_ROUNDS = 5000;
const SHA2_MIN_ROUNDS = 5000;
const SHA2_MAX_ROUNDS = 0xfff * 1000;

/** Drepper's crypt alphabet (not RFC 4648 base64). */
const CRYPT_B64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function sha1(...parts: Buffer[]): Buffer {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
}

function sha256(...parts: Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

function toBytes(v: string | Buffer): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
}

function nonce20(nonce: Buffer): Buffer {
  return nonce.length > NONCE_LENGTH ? nonce.subarray(0, NONCE_LENGTH) : nonce;
}

function xorInto(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

function equalBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

// ---------------------------------------------------------------------------------------------
// mysql_native_password

/** mysql_native_password stored hash: '*' + uppercase hex SHA1(SHA1(password)); '' for empty password. */
export function nativeHash(password: string): string {
  if (password === '') return '';
  return '*' + sha1(sha1(toBytes(password))).toString('hex').toUpperCase();
}

/** Client-side token: SHA1(pw) XOR SHA1(nonce20 + SHA1(SHA1(pw))); empty Buffer for empty password. */
export function nativeToken(password: string, nonce: Buffer): Buffer {
  if (password === '') return Buffer.alloc(0);
  const stage1 = sha1(toBytes(password));
  const stage2 = sha1(stage1);
  return xorInto(stage1, sha1(nonce20(nonce), stage2));
}

/** Server-side check of a client's token against a stored '*HEX' hash ('' hash accepts only an empty token). */
export function verifyNative(storedHash: string, nonce: Buffer, token: Buffer): boolean {
  if (storedHash === '') return token.length === 0;
  if (!/^\*[0-9A-Fa-f]{40}$/.test(storedHash) || token.length !== 20) return false;
  const stage2 = Buffer.from(storedHash.slice(1), 'hex');
  // token = stage1 XOR SHA1(nonce + stage2)  ⇒  stage1 = token XOR SHA1(nonce + stage2)
  const stage1 = xorInto(token, sha1(nonce20(nonce), stage2));
  return equalBytes(sha1(stage1), stage2);
}

// ---------------------------------------------------------------------------------------------
// caching_sha2_password fast path

/**
 * caching_sha2_password fast-path client token: XOR(SHA256(pw), SHA256(SHA256(SHA256(pw)) + nonce)).
 * Empty password → empty Buffer (what MySQL clients send).
 */
export function sha2Token(password: string, nonce: Buffer): Buffer {
  if (password === '') return Buffer.alloc(0);
  const stage1 = sha256(toBytes(password));
  const stage2 = sha256(stage1);
  return xorInto(stage1, sha256(stage2, nonce20(nonce)));
}

/** SHA256(SHA256(pw)) — what the server's fast-auth cache keeps. */
export function sha2Stage2(password: string | Buffer): Buffer {
  return sha256(sha256(toBytes(password)));
}

const EMPTY_STAGE2 = sha2Stage2('');

/**
 * Fast path check against a cached stage2. An empty token matches only the stage2 of the empty
 * password (mirroring sha2Token, which sends nothing for an empty password).
 */
export function verifySha2Fast(stage2: Buffer, nonce: Buffer, token: Buffer): boolean {
  if (stage2.length !== 32) return false;
  if (token.length === 0) return equalBytes(stage2, EMPTY_STAGE2);
  if (token.length !== 32) return false;
  const stage1 = xorInto(token, sha256(stage2, nonce20(nonce)));
  return equalBytes(sha256(stage1), stage2);
}

// ---------------------------------------------------------------------------------------------
// SHA-256-crypt (Drepper, "Unix crypt using SHA-256 and SHA-512", the `$5$` scheme)

/** Repeat `block` cyclically to `length` bytes (steps 16 and 20 of the spec). */
function repeatTo(block: Buffer, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let off = 0; off < length; off += block.length) block.copy(out, off, 0, Math.min(block.length, length - off));
  return out;
}

/**
 * The SHA-256-crypt core: returns the 43-character encoded digest for `key`, `salt` (used whole,
 * callers apply their own length rule) and `rounds`.
 */
function sha256CryptDigest(key: Buffer, salt: Buffer, rounds: number): string {
  const kl = key.length;
  // Steps 4–8: digest B = H(key salt key).
  const b = sha256(key, salt, key);
  // Steps 1–3, 9–12: digest A.
  const ha = createHash('sha256').update(key).update(salt);
  let n = kl;
  for (; n > 32; n -= 32) ha.update(b);
  ha.update(b.subarray(0, n));
  for (let bits = kl; bits > 0; bits >>>= 1) ha.update(bits & 1 ? b : key);
  const a = ha.digest();
  // Steps 13–16: P sequence.
  const hp = createHash('sha256');
  for (let i = 0; i < kl; i++) hp.update(key);
  const p = repeatTo(hp.digest(), kl);
  // Steps 17–20: S sequence.
  const hs = createHash('sha256');
  for (let i = 0; i < 16 + a[0]!; i++) hs.update(salt);
  const s = repeatTo(hs.digest(), salt.length);
  // Step 21: the rounds.
  let c = a;
  for (let i = 0; i < rounds; i++) {
    const h = createHash('sha256');
    h.update(i & 1 ? p : c);
    if (i % 3 !== 0) h.update(s);
    if (i % 7 !== 0) h.update(p);
    h.update(i & 1 ? c : p);
    c = h.digest();
  }
  // Step 22: the byte-shuffled base64 of the SHA-256 variant.
  let out = '';
  const b64 = (b2: number, b1: number, b0: number, count: number): void => {
    let w = (c[b2]! << 16) | (c[b1]! << 8) | c[b0]!;
    for (let i = 0; i < count; i++, w >>>= 6) out += CRYPT_B64[w & 0x3f];
  };
  b64(0, 10, 20, 4);
  b64(21, 1, 11, 4);
  b64(12, 22, 2, 4);
  b64(3, 13, 23, 4);
  b64(24, 4, 14, 4);
  b64(15, 25, 5, 4);
  b64(6, 16, 26, 4);
  b64(27, 7, 17, 4);
  b64(18, 28, 8, 4);
  b64(9, 19, 29, 4);
  // Last group: bytes 31, 30 with a zero high byte, 3 characters.
  {
    let w = (c[31]! << 8) | c[30]!;
    for (let i = 0; i < 3; i++, w >>>= 6) out += CRYPT_B64[w & 0x3f];
  }
  return out;
}

/**
 * Standard crypt(3) `$5$` SHA-256-crypt, e.g. `sha256Crypt('Hello world!', '$5$saltstring')`.
 * `setting` is `$5$[rounds=N$]salt[$...]`; as the spec says, the salt is cut to 16 characters and
 * rounds are clamped to 1000..999999999. Exposed for the spec's test vectors and interop checks;
 * MySQL's variant is {@link sha2CryptHash}.
 */
export function sha256Crypt(password: string | Buffer, setting: string): string {
  const m = /^\$5\$(?:rounds=(\d+)\$)?([^$]*)/.exec(setting);
  if (!m) throw new RangeError('sha256Crypt: setting must start with $5$');
  const explicitRounds = m[1] !== undefined;
  const rounds = explicitRounds ? Math.min(999_999_999, Math.max(1000, Number(m[1]))) : 5000;
  const salt = Buffer.from(m[2]!, 'utf8').subarray(0, 16);
  const digest = sha256CryptDigest(toBytes(password), salt, rounds);
  return `$5$${explicitRounds ? `rounds=${rounds}$` : ''}${salt.toString('utf8')}$${digest}`;
}

// ---------------------------------------------------------------------------------------------
// MySQL's stored caching_sha2_password form

/**
 * Salt characters we generate: printable ASCII without `$` (the field delimiter) and without
 * quote and backslash characters, so a generated hash pastes into YAML and SQL unescaped.
 * (MySQL itself draws from bytes 1..127 except `$`, control characters included; we verify those.)
 */
const SALT_ALPHABET = (() => {
  let s = '';
  for (let ch = 0x21; ch <= 0x7e; ch++) {
    const c = String.fromCharCode(ch);
    if (c !== '$' && c !== '"' && c !== "'" && c !== '\\' && c !== '`') s += c;
  }
  return s;
})();

function randomSalt(): string {
  let s = '';
  for (let i = 0; i < SHA2_SALT_LENGTH; i++) s += SALT_ALPHABET[randomInt(SALT_ALPHABET.length)];
  return s;
}

function checkSalt(salt: string): Buffer {
  // Bytes MySQL can produce and parse: 1..127 except '$' (checked on char codes, before any encoding).
  if (salt.length !== SHA2_SALT_LENGTH || !/^[\x01-\x23\x25-\x7f]*$/.test(salt)) {
    throw new RangeError('sha2CryptHash: salt must be 20 ASCII characters without NUL or "$"');
  }
  return Buffer.from(salt, 'latin1');
}

/**
 * MySQL's caching_sha2_password stored form: '$A$005$' + 20 salt chars + 43 chars of SHA-256-crypt
 * (5000 rounds), as MySQL 8 stores it in mysql.user.authentication_string, so hashes can be copied
 * between MySQL and tenantgate. Unlike crypt(3), the whole 20-character salt is used.
 * Salt, when not given: 20 random printable characters (see SALT_ALPHABET).
 */
export function sha2CryptHash(password: string, salt?: string): string {
  const saltText = salt ?? randomSalt();
  const saltBytes = checkSalt(saltText);
  const digest = sha256CryptDigest(toBytes(password), saltBytes, SHA2_DEFAULT_ROUNDS);
  return `$A$${(SHA2_DEFAULT_ROUNDS / 1000).toString(16).toUpperCase().padStart(3, '0')}$${saltText}${digest}`;
}

/**
 * Verify a cleartext password against a stored `$A$<rounds/1000 hex>$<salt20><digest43>` string.
 * Malformed stored strings verify nothing.
 */
export function verifySha2Crypt(stored: string, password: string | Buffer): boolean {
  if (stored.length !== SHA2_STORED_LENGTH || !stored.startsWith('$A$') || stored[6] !== '$') return false;
  if (!/^[\x01-\x7f]*$/.test(stored)) return false; // ASCII only, so latin1 below maps chars 1:1 to bytes
  if (!/^[0-9A-Fa-f]{3}$/.test(stored.slice(3, 6))) return false;
  const rounds = parseInt(stored.slice(3, 6), 16) * 1000;
  if (rounds < SHA2_MIN_ROUNDS || rounds > SHA2_MAX_ROUNDS) return false;
  const salt = Buffer.from(stored.slice(SHA2_PREFIX_LENGTH, SHA2_PREFIX_LENGTH + SHA2_SALT_LENGTH), 'latin1');
  const expected = Buffer.from(stored.slice(SHA2_PREFIX_LENGTH + SHA2_SALT_LENGTH), 'latin1');
  const actual = Buffer.from(sha256CryptDigest(toBytes(password), salt, rounds), 'latin1');
  return equalBytes(actual, expected);
}

// ---------------------------------------------------------------------------------------------
// RSA full-auth helpers (the RSA-OAEP part belongs to the caller)

/** XOR `data` with `nonce` repeated; nonce cut to 20 bytes like everywhere else. */
function xorRepeat(data: Buffer, nonce: Buffer): Buffer {
  const n = nonce20(nonce);
  if (n.length === 0) throw new RangeError('xor with an empty nonce');
  const out = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! ^ n[i % n.length]!;
  return out;
}

/**
 * For RSA full auth: the client sends RSA-OAEP(password+'\0' XOR nonce repeated); this undoes the
 * XOR after decryption. Returns the password bytes without the trailing NUL (cut at the first NUL,
 * as the C servers read it).
 */
export function unxorPassword(decrypted: Buffer, nonce: Buffer): Buffer {
  const plain = xorRepeat(decrypted, nonce);
  const nul = plain.indexOf(0);
  return nul === -1 ? plain : plain.subarray(0, nul);
}

/** Client side of {@link unxorPassword}, for tests: (password + '\0') XOR nonce repeated. */
export function xorPassword(password: string, nonce: Buffer): Buffer {
  return xorRepeat(Buffer.concat([Buffer.from(password, 'utf8'), Buffer.from([0])]), nonce);
}
