import type { ServerConfig } from '../config/types';
import { Cap } from '../protocol/constants';
import { zstdCodec, zstdUnavailableReason } from '../protocol/zstd';

/**
 * The capability flags of the proxy's handshake, from those it derived from the first backend: SSL
 * only with a certificate; CLIENT_COMPRESS with `server.compression`; CLIENT_ZSTD_COMPRESSION_ALGORITHM
 * when zstd is offered ({@link zstdOffer}). Both compression flags are the proxy's own: backend
 * connections stay uncompressed.
 */
export function announcedCaps(caps: number, o: { tls: boolean; compression: boolean; zstd: boolean }): number {
  caps = o.tls ? caps | Cap.SSL : caps & ~Cap.SSL;
  caps = o.compression ? caps | Cap.COMPRESS : caps & ~Cap.COMPRESS;
  caps = o.compression && o.zstd ? caps | Cap.ZSTD_COMPRESSION_ALGORITHM : caps & ~Cap.ZSTD_COMPRESSION_ALGORITHM;
  return caps >>> 0;
}

/**
 * Whether zstd is offered: `server.compression` and `server.compression_zstd` on, and zstd-napi
 * loads. `unavailable` says why not when it was configured but cannot load ('' otherwise).
 */
export function zstdOffer(server: Pick<ServerConfig, 'compression' | 'compressionZstd'>): { offer: boolean; unavailable: string } {
  if (!server.compression || !server.compressionZstd) return { offer: false, unavailable: '' };
  if (zstdCodec() === null) return { offer: false, unavailable: zstdUnavailableReason() };
  return { offer: true, unavailable: '' };
}
