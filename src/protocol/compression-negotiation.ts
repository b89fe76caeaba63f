import { Cap } from './constants';
import { ZSTD_MAX_LEVEL, ZSTD_MIN_LEVEL } from './zstd';

/** What a session compresses with, once logged in. */
export type NegotiatedCompression =
  | { readonly algorithm: 'none' }
  | { readonly algorithm: 'zlib' }
  /** `level`: what the proxy compresses with (the client's level, capped); `clientLevel`: what the client asked. */
  | { readonly algorithm: 'zstd'; readonly level: number; readonly clientLevel: number };

/** The handshake response is refused with this error (and the connection closed). */
export interface CompressionRefusal {
  readonly algorithm: 'refuse';
  readonly errno: number;
  readonly sqlState: string;
  readonly message: string;
}

/** MySQL's ER_WRONG_COMPRESSION_LEVEL_CLIENT. */
export const ER_WRONG_COMPRESSION_LEVEL_CLIENT = 3923;

/**
 * Chooses the compressed protocol for a client, as MySQL 8.0.18+ does (sql_authentication.cc,
 * parse_client_handshake_packet): zlib when the client set CLIENT_COMPRESS — even with
 * CLIENT_ZSTD_COMPRESSION_ALGORITHM too (libmysqlclient then uses zlib, and the level byte is
 * ignored); zstd when it set only the zstd flag, at the level its `zstd_compression_level` byte
 * names, which must be 1–22 (else ER_WRONG_COMPRESSION_LEVEL_CLIENT). A zstd flag without the level
 * byte is a malformed handshake (MySQL would read past the packet). The proxy compresses with the
 * client's level capped at `maxLevel`: a client cannot make it spend level-22 CPU on every result.
 *
 * @param caps the client's capabilities already intersected with the announced ones
 * @param zstdLevel the level byte, or null when the packet ended without it
 */
export function chooseCompression(caps: number, zstdLevel: number | null, maxLevel: number): NegotiatedCompression | CompressionRefusal {
  if (caps & Cap.COMPRESS) return { algorithm: 'zlib' };
  if (!(caps & Cap.ZSTD_COMPRESSION_ALGORITHM)) return { algorithm: 'none' };
  if (zstdLevel === null) {
    return {
      algorithm: 'refuse', errno: 1043, sqlState: '08S01',
      message: 'Bad handshake: CLIENT_ZSTD_COMPRESSION_ALGORITHM is set but the zstd_compression_level byte is missing',
    };
  }
  if (zstdLevel < ZSTD_MIN_LEVEL || zstdLevel > ZSTD_MAX_LEVEL) {
    return {
      algorithm: 'refuse', errno: ER_WRONG_COMPRESSION_LEVEL_CLIENT, sqlState: 'HY000',
      message: `Compression level ${zstdLevel} is invalid for zstd: the client must ask for a level from ${ZSTD_MIN_LEVEL} to ${ZSTD_MAX_LEVEL}`,
    };
  }
  return { algorithm: 'zstd', level: Math.min(zstdLevel, maxLevel), clientLevel: zstdLevel };
}
