/**
 * Cost of the server side of a socket round trip with and without raw I/O (src/io/raw-io.ts), in
 * one process over loopback: `node dist/bench/raw-io-pingpong.js [--pairs 8] [--trips 20000] [--reps 3]`.
 * Each of `pairs` clients sends a 100-byte message and waits for the 100-byte answer, `trips` times;
 * the server socket answers each read with one write. Four server variants, alternated in every
 * rep so drift hits them alike: reads through 'data' or onread (raw accept), writes through
 * socket.write or writeFast. The client side is the same plain stream socket in every variant, so
 * differences in process CPU per round trip are the server side's.
 */
import * as net from 'node:net';
import { installRawAccept, isRawSocket, rawIoSupport, setRawReceiver, writeFast } from '../src/io/raw-io';

interface Variant {
  name: string;
  rawRead: boolean;
  fastWrite: boolean;
}

const VARIANTS: Variant[] = [
  { name: 'data + socket.write (stream)', rawRead: false, fastWrite: false },
  { name: 'onread + socket.write', rawRead: true, fastWrite: false },
  { name: 'data + writeFast', rawRead: false, fastWrite: true },
  { name: 'onread + writeFast (raw I/O)', rawRead: true, fastWrite: true },
];

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? def : Number(process.argv[i + 1]);
}

async function run(v: Variant, pairs: number, trips: number): Promise<{ user: number; sys: number }> {
  const server = net.createServer({ noDelay: true });
  server.on('connection', (s) => {
    s.setNoDelay(true);
    const answer = (chunk: Buffer) => {
      const out = Buffer.allocUnsafe(chunk.length);
      chunk.copy(out);
      if (v.fastWrite) writeFast(s, out);
      else s.write(out);
    };
    if (isRawSocket(s)) setRawReceiver(s, { onRawRead: answer });
    else s.on('data', answer);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  if (v.rawRead && !installRawAccept(server)) throw new Error('raw accept unavailable');
  const port = (server.address() as net.AddressInfo).port;
  const msg = Buffer.alloc(100, 0x61);
  const clients = await Promise.all(
    Array.from({ length: pairs }, () => new Promise<net.Socket>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => resolve(c));
      c.setNoDelay(true);
    })),
  );
  await new Promise((r) => setTimeout(r, 50));
  const t0 = process.cpuUsage();
  await Promise.all(
    clients.map((c) => new Promise<void>((resolve) => {
      let left = trips;
      let got = 0;
      c.on('data', (b: Buffer) => {
        got += b.length;
        while (got >= msg.length) {
          got -= msg.length;
          if (--left === 0) return resolve();
          c.write(msg);
        }
      });
      c.write(msg);
    })),
  );
  const d = process.cpuUsage(t0);
  for (const c of clients) c.destroy();
  server.close();
  const n = pairs * trips;
  return { user: d.user / n, sys: d.system / n };
}

async function main(): Promise<void> {
  const pairs = arg('pairs', 8);
  const trips = arg('trips', 20000);
  const reps = arg('reps', 3);
  const why = await rawIoSupport();
  if (why !== null) throw new Error(`raw I/O unavailable: ${why}`);
  const res = new Map<string, Array<{ user: number; sys: number }>>();
  await run(VARIANTS[3] as Variant, pairs, 2000); // warm-up
  await run(VARIANTS[0] as Variant, pairs, 2000);
  for (let r = 0; r < reps; r++) {
    for (const v of VARIANTS) {
      const x = await run(v, pairs, trips);
      (res.get(v.name) ?? res.set(v.name, []).get(v.name)!).push(x);
    }
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] as number;
  console.log(`process CPU per round trip (µs), median of ${reps} reps, ${pairs} pairs × ${trips} trips; both ends in this process`);
  for (const v of VARIANTS) {
    const xs = res.get(v.name)!;
    const u = med(xs.map((x) => x.user));
    const s = med(xs.map((x) => x.sys));
    const all = xs.map((x) => (x.user + x.sys).toFixed(2)).join(' ');
    console.log(`${v.name.padEnd(32)} user ${u.toFixed(2)}  sys ${s.toFixed(2)}  total ${(u + s).toFixed(2)}  [${all}]`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
