/**
 * A copy of `b` from `start` in its own memory. `Buffer.from(view)` of fewer than 4 KiB bytes is
 * carved out of Node's shared 8 KiB allocation pool, and one such copy kept for long (a cache entry,
 * a statement's long data) keeps its whole 8 KiB slab alive: thousands of them hold megabytes that
 * are never returned. Use this for small buffers that outlive the statement.
 */
export function ownedCopy(b: Buffer, start = 0, end = b.length): Buffer {
  const out = Buffer.allocUnsafeSlow(end - start);
  b.copy(out, 0, start, end);
  return out;
}
