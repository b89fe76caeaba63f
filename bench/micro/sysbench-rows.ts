import { PacketWriter } from '../../src/protocol/packet-writer';

/**
 * `bytes` of sysbench-like result rows as the backend sends them (id, k, c CHAR(120) of digit groups,
 * pad CHAR(60)), framed as MySQL packets: what the compressed transport compresses when relaying.
 */
export function sysbenchRows(bytes: number): Buffer {
  const out: Buffer[] = [];
  let n = 0;
  let seed = 12345;
  const digits = (k: number) => {
    let s = '';
    for (let i = 0; i < k; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      s += String(seed % 10);
    }
    return s;
  };
  for (let i = 0; n < bytes; i++) {
    const c = Array.from({ length: 10 }, () => digits(11)).join('-');
    const pad = Array.from({ length: 5 }, () => digits(11)).join('-');
    const p = new PacketWriter(200).lenencString(String(i + 1)).lenencString(String(5000 + (i % 997))).lenencString(c).lenencString(pad).finish((i + 3) & 0xff);
    out.push(p);
    n += p.length;
  }
  return Buffer.concat(out).subarray(0, bytes);
}
