/**
 * chooseCompression: which compressed protocol a client gets, as MySQL 8.0.18+ decides it — zlib wins
 * when both flags are set, zstd needs a level byte of 1–22 (else ER_WRONG_COMPRESSION_LEVEL_CLIENT),
 * and the proxy's own zstd level is the client's capped by server.compression_zstd_max_level.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chooseCompression, ER_WRONG_COMPRESSION_LEVEL_CLIENT } from '../../../src/protocol/compression-negotiation';
import { Cap } from '../../../src/protocol/constants';

const BASE = Cap.PROTOCOL_41 | Cap.SECURE_CONNECTION | Cap.PLUGIN_AUTH;
const ZLIB = Cap.COMPRESS;
const ZSTD = Cap.ZSTD_COMPRESSION_ALGORITHM;

// [what, caps (already intersected with the announced ones), level byte, max level, expected]
const CASES: [string, number, number | null, number, unknown][] = [
  ['no compression flag', BASE, null, 3, { algorithm: 'none' }],
  ['no flag; a stray level byte is ignored', BASE, 5, 3, { algorithm: 'none' }],
  ['zlib', BASE | ZLIB, null, 3, { algorithm: 'zlib' }],
  ['both flags: zlib wins (libmysqlclient then compresses with zlib)', BASE | ZLIB | ZSTD, 9, 3, { algorithm: 'zlib' }],
  ['both flags, no level byte: zlib, the byte is not needed', BASE | ZLIB | ZSTD, null, 3, { algorithm: 'zlib' }],
  ['both flags, invalid level: zlib, the byte is not read (as MySQL)', BASE | ZLIB | ZSTD, 0, 3, { algorithm: 'zlib' }],
  ['zstd, the client default level 3 under a cap of 3', BASE | ZSTD, 3, 3, { algorithm: 'zstd', level: 3, clientLevel: 3 }],
  ['zstd, the client default level 3 under the default cap of 1', BASE | ZSTD, 3, 1, { algorithm: 'zstd', level: 1, clientLevel: 3 }],
  ['zstd level 1', BASE | ZSTD, 1, 3, { algorithm: 'zstd', level: 1, clientLevel: 1 }],
  ['zstd level 19 capped at the configured 3', BASE | ZSTD, 19, 3, { algorithm: 'zstd', level: 3, clientLevel: 19 }],
  ['zstd level 22 with max 22', BASE | ZSTD, 22, 22, { algorithm: 'zstd', level: 22, clientLevel: 22 }],
];

for (const [what, caps, level, max, want] of CASES) {
  test(`chooseCompression: ${what}`, () => {
    assert.equal(chooseCompression(caps >>> 0, level, max), want);
  });
}

test('chooseCompression: zstd level 0 or above 22 is refused with ER_WRONG_COMPRESSION_LEVEL_CLIENT (3923, HY000)', () => {
  for (const level of [0, 23, 255]) {
    const r = chooseCompression((BASE | ZSTD) >>> 0, level, 3);
    assert.is(r.algorithm, 'refuse');
    if (r.algorithm !== 'refuse') return;
    assert.equal([r.errno, r.sqlState], [ER_WRONG_COMPRESSION_LEVEL_CLIENT, 'HY000'], `level ${level}`);
    assert.match(r.message, new RegExp(`level ${level} is invalid for zstd.*1 to 22`));
  }
});

test('chooseCompression: the zstd flag without its level byte is a Bad handshake (1043, 08S01)', () => {
  const r = chooseCompression((BASE | ZSTD) >>> 0, null, 3);
  assert.equal(r.algorithm === 'refuse' ? [r.errno, r.sqlState] : r, [1043, '08S01']);
});

test.run();
