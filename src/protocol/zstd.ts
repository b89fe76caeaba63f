import type { PacketCodec } from './compression';

/**
 * zstd for the compressed protocol (CLIENT_ZSTD_COMPRESSION_ALGORITHM), through the optional native
 * dependency `zstd-napi` (libzstd bundled with it). Node 20's zlib has no zstd. When the module is
 * missing or does not load (its native build failed at install), zstd is simply not offered.
 *
 * Each compressed packet's body is one self-contained zstd frame (ZSTD_compressCCtx, as MySQL's
 * libmysqlclient and server write them), so one compression and one decompression context serve
 * every session: calls are synchronous and JavaScript runs them one at a time.
 */

/** Levels a client may ask for (MySQL's is_zstd_compression_level_valid: 1 to 22). */
export const ZSTD_MIN_LEVEL = 1;
export const ZSTD_MAX_LEVEL = 22;
/** MySQL's default zstd level (what libmysqlclient sends unless told otherwise). */
export const ZSTD_DEFAULT_LEVEL = 3;

/** The part of zstd-napi's low-level binding used here (typed locally: the dependency is optional). */
interface ZstdBinding {
  CCtx: new () => { compress(dst: Uint8Array, src: Uint8Array, level: number): number };
  DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number };
  compressBound(n: number): number;
  versionString(): string;
}

/** Largest scratch buffer kept for compressing (the proxy compresses 64 KiB at a time). */
const SCRATCH_MAX = 1 << 20;

let codec: PacketCodec | null | undefined;
let why = '';
let version = '';

function load(): PacketCodec | null {
  let b: ZstdBinding;
  try {
    // a variable, so the compiler does not need the optional module's types to be installed
    const id = 'zstd-napi/binding';
    b = require(id) as ZstdBinding;
    version = b.versionString();
  } catch (e) {
    why = `the optional dependency zstd-napi is not installed or did not load (${(e as Error).message.split('\n')[0]})`;
    return null;
  }
  const cctx = new b.CCtx();
  const dctx = new b.DCtx();
  // compressed into scratch space (grown as needed), then copied out at its real size: what waits in
  // a socket's write queue is not a worst-case-sized buffer
  let scratch = Buffer.allocUnsafe(0);
  return {
    name: 'zstd',
    compress(payload, level) {
      const need = b.compressBound(payload.length);
      if (need > SCRATCH_MAX) {
        const dst = Buffer.allocUnsafe(need);
        return dst.subarray(0, cctx.compress(dst, payload, level));
      }
      if (scratch.length < need) scratch = Buffer.allocUnsafe(Math.max(need, 64 * 1024 + 512));
      const n = cctx.compress(scratch, payload, level);
      return Buffer.from(scratch.subarray(0, n));
    },
    bound: (n) => b.compressBound(n),
    decompress(body, want) {
      // into a buffer of exactly the announced size: a frame that would produce more fails here
      const dst = Buffer.allocUnsafe(want);
      const n = dctx.decompress(dst, body);
      if (n !== want) throw new Error(`decompresses to ${n} bytes`);
      return dst;
    },
  };
}

/** The zstd codec, or null when zstd-napi is unavailable ({@link zstdUnavailableReason} says why). */
export function zstdCodec(): PacketCodec | null {
  if (codec === undefined) codec = load();
  return codec;
}

/** Why {@link zstdCodec} returned null ('' when it did not). */
export function zstdUnavailableReason(): string {
  zstdCodec();
  return why;
}

/** libzstd's version ('' when unavailable). */
export function zstdVersion(): string {
  zstdCodec();
  return version;
}
