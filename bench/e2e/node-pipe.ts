/**
 * The floor of a Node middle hop: `node dist/bench/e2e/node-pipe.js start --config FILE` reads the
 * listen port and the backend port from a tenantgate bench config (middle-hops.ts) and relays bytes
 * 1:1 between each client connection and its own backend connection, with tenantgate's I/O
 * primitives (raw accept + onread into the shared scratch buffer with a copy per read, writeFast; the
 * backend side reads with onread as backend-connection.ts does) and nothing else: no framing,
 * parsing, pooling, metrics. The client's own login reaches the server, so the server needs the
 * user (bench/ab.ts creates sbtest@'%'). For `node dist/bench/ab.js pipe=dist/bench/e2e/node-pipe.js`:
 * what is left of the CPU per query when tenantgate's own work is taken away.
 */
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import { installRawAccept, rawIoSupport, setRawReceiver, writeFast } from '../../src/io/raw-io';

async function main(): Promise<void> {
  const i = process.argv.indexOf('--config');
  const cfg = readFileSync(process.argv[i + 1] as string, 'utf8');
  const listen = Number(/listen:\s*\{[^}]*port:\s*(\d+)/.exec(cfg)?.[1]);
  const backend = Number(/backends:[\s\S]*?port:\s*(\d+)/.exec(cfg)?.[1]);
  const why = await rawIoSupport();
  if (why !== null) throw new Error(`raw I/O unavailable: ${why}`);
  const server = net.createServer({ noDelay: true }, (client) => {
    const backendRead = Buffer.allocUnsafe(64 * 1024);
    const up = net.connect({
      host: '127.0.0.1',
      port: backend,
      noDelay: true,
      onread: {
        buffer: backendRead,
        callback: (n: number, buf: Uint8Array): boolean => {
          const chunk = Buffer.allocUnsafe(n);
          chunk.set(buf.subarray(0, n));
          writeFast(client, chunk);
          return true;
        },
      },
    });
    const pending: Buffer[] = [];
    let connected = false;
    up.on('connect', () => {
      connected = true;
      for (const b of pending) writeFast(up, b);
      pending.length = 0;
    });
    setRawReceiver(client, {
      onRawRead(chunk: Buffer): void {
        if (connected) writeFast(up, chunk);
        else pending.push(chunk);
      },
    });
    const close = (): void => {
      client.destroy();
      up.destroy();
    };
    client.on('error', close);
    client.on('close', close);
    up.on('error', close);
    up.on('close', close);
  });
  server.listen(listen, '127.0.0.1', () => {
    if (!installRawAccept(server)) throw new Error('installRawAccept refused the listening handle');
  });
  process.on('SIGTERM', () => process.exit(0));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
