/**
 * The handshake's capability flags: SSL with a certificate, CLIENT_COMPRESS with server.compression,
 * CLIENT_ZSTD_COMPRESSION_ALGORITHM with server.compression and server.compression_zstd when zstd-napi
 * loads; whatever the backend announced for them does not matter.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Cap, PROXY_CAPABILITIES } from '../../../src/protocol/constants';
import { zstdCodec } from '../../../src/protocol/zstd';
import { announcedCaps, zstdOffer } from '../../../src/server/announced-caps';

const ZSTD = Cap.ZSTD_COMPRESSION_ALGORITHM;

test('announcedCaps: each switch sets or clears its flag, nothing else changes', () => {
  const base = (PROXY_CAPABILITIES & ~Cap.SSL & ~Cap.COMPRESS) >>> 0;
  const only = (c: number) => (c & (Cap.SSL | Cap.COMPRESS | ZSTD)) >>> 0;
  for (const tls of [false, true]) {
    for (const compression of [false, true]) {
      for (const zstd of [false, true]) {
        for (const from of [base, (base | Cap.SSL | Cap.COMPRESS | ZSTD) >>> 0]) {
          const c = announcedCaps(from, { tls, compression, zstd });
          const want = (tls ? Cap.SSL : 0) | (compression ? Cap.COMPRESS : 0) | (compression && zstd ? ZSTD : 0);
          assert.is(only(c), want >>> 0, JSON.stringify({ tls, compression, zstd, from }));
          assert.is((c & ~(Cap.SSL | Cap.COMPRESS | ZSTD)) >>> 0, (base & ~(Cap.SSL | Cap.COMPRESS | ZSTD)) >>> 0);
        }
      }
    }
  }
});

test('zstdOffer: off when either switch is off (no warning); on when zstd-napi loads, else the reason', () => {
  assert.equal(zstdOffer({ compression: false, compressionZstd: true }), { offer: false, unavailable: '' });
  assert.equal(zstdOffer({ compression: true, compressionZstd: false }), { offer: false, unavailable: '' });
  const on = zstdOffer({ compression: true, compressionZstd: true });
  if (zstdCodec()) assert.equal(on, { offer: true, unavailable: '' });
  else assert.ok(!on.offer && /zstd-napi/.test(on.unavailable), on.unavailable);
});

test.run();
