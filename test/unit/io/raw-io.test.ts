/**
 * Raw socket I/O (src/io/raw-io.ts) over real loopback sockets: the self-test passes on this Node,
 * accepted sockets read through onread, and writeFast keeps socket.write's contract when the kernel
 * does not take a write at once (false, bytes in order behind it, 'drain' when done), when writes
 * are corked, and when the peer is gone (the socket is destroyed with the write error, nothing thrown).
 */
import * as net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { installRawAccept, isRawSocket, rawIoOff, rawIoSupport, setRawReceiver, writeFast, writePending } from '../../../src/io/raw-io';

interface Conn {
  server: net.Server;
  client: net.Socket;
  sock: net.Socket;
  close(): void;
}

async function connect(raw = true, maxConnections = 0): Promise<Conn> {
  assert.is(await rawIoSupport(), null, 'raw I/O self-test passes on this Node');
  const server = net.createServer();
  if (maxConnections) server.maxConnections = maxConnections;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  if (raw) assert.ok(installRawAccept(server));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.on('error', () => {});
  const sock = await accepted;
  sock.on('error', () => {});
  return {
    server,
    client,
    sock,
    close: () => {
      client.destroy();
      sock.destroy();
      server.close();
    },
  };
}

function readAll(s: net.Socket, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  return new Promise((resolve) => {
    const on = (b: Buffer) => {
      parts.push(b);
      got += b.length;
      if (got >= n) {
        s.removeListener('data', on);
        resolve(Buffer.concat(parts));
      }
    };
    s.on('data', on);
  });
}

test('rawIoOff: on when configured and supported; off by config or TENANTGATE_RAW_IO, without a warning', async () => {
  const env = process.env.TENANTGATE_RAW_IO;
  try {
    delete process.env.TENANTGATE_RAW_IO;
    assert.is(await rawIoOff(true), null);
    assert.equal(await rawIoOff(false), { reason: 'server.raw_io is false', warn: false });
    for (const v of ['0', 'off', 'false']) {
      process.env.TENANTGATE_RAW_IO = v;
      assert.equal(await rawIoOff(true), { reason: `TENANTGATE_RAW_IO=${v}`, warn: false });
    }
    process.env.TENANTGATE_RAW_IO = '1';
    assert.is(await rawIoOff(true), null);
  } finally {
    if (env === undefined) delete process.env.TENANTGATE_RAW_IO;
    else process.env.TENANTGATE_RAW_IO = env;
  }
});

test('accepted sockets read through onread: bytes reach the receiver, not a data event', async () => {
  const c = await connect();
  try {
    assert.ok(isRawSocket(c.sock));
    let data = 0;
    c.sock.on('data', () => data++);
    const got: Buffer[] = [];
    const arrived = new Promise<void>((r) => setRawReceiver(c.sock, { onRawRead: (b) => (got.push(b), r()) }));
    c.client.write('hello');
    await arrived;
    assert.is(Buffer.concat(got).toString(), 'hello');
    assert.is(data, 0);
    assert.is(c.sock.bytesRead, 5);
  } finally {
    c.close();
  }
});

test('a plain accepted socket is not raw', async () => {
  const c = await connect(false);
  try {
    assert.is(isRawSocket(c.sock), false);
  } finally {
    c.close();
  }
});

test('maxConnections still refuses connections past the limit', async () => {
  const c = await connect(true, 1);
  try {
    let dropped = 0;
    c.server.on('drop', () => dropped++);
    const extra = net.connect((c.server.address() as net.AddressInfo).port, '127.0.0.1');
    extra.on('error', () => {});
    await new Promise<void>((r) => extra.once('close', () => r()));
    assert.is(dropped, 1);
  } finally {
    c.close();
  }
});

test('a write the kernel does not take at once: false, later writes queue behind it in order, drain, all bytes arrive', async () => {
  const c = await connect();
  try {
    c.client.pause();
    const piece = (i: number) => Buffer.alloc(256 * 1024, i & 0xff);
    let i = 0;
    let total = 0;
    const sent: Buffer[] = [];
    // fill the socket buffers until a direct write goes async
    for (;;) {
      const b = piece(i++);
      sent.push(b);
      total += b.length;
      if (!writeFast(c.sock, b)) break;
      assert.ok(i < 200, 'some write must be queued by the kernel');
    }
    assert.ok(writePending(c.sock), 'the queued write counts as pending');
    assert.is(c.sock.writableLength, 0, 'it is not in the Writable');
    // more writes (fast path declines while one is queued) keep their order
    for (let k = 0; k < 3; k++) {
      const b = piece(i++);
      sent.push(b);
      total += b.length;
      writeFast(c.sock, b);
    }
    const small = Buffer.from('tail');
    sent.push(small);
    total += small.length;
    c.sock.write(small);
    const drained = new Promise<void>((r) => c.sock.once('drain', () => r()));
    const all = readAll(c.client, total);
    c.client.resume();
    const got = await all;
    await drained;
    assert.is(got.length, total);
    assert.ok(got.equals(Buffer.concat(sent)), 'bytes arrive in write order');
    assert.is(writePending(c.sock), false);
    assert.is(c.sock.bytesWritten, total);
  } finally {
    c.close();
  }
});

test('corked writes go through the Writable and leave on uncork', async () => {
  const c = await connect();
  try {
    c.sock.cork();
    assert.ok(writeFast(c.sock, Buffer.from('ab')));
    assert.ok(writeFast(c.sock, Buffer.from('cd')));
    assert.is(c.sock.writableLength, 4, 'held by the cork');
    const got = readAll(c.client, 4);
    c.sock.uncork();
    assert.is((await got).toString(), 'abcd');
  } finally {
    c.close();
  }
});

test('writing to a peer that reset the connection destroys the socket with the write error, without throwing', async () => {
  const c = await connect();
  try {
    const closed = new Promise<void>((r) => c.sock.once('close', () => r()));
    let err: NodeJS.ErrnoException | null = null;
    c.sock.on('error', (e) => (err = e));
    c.client.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 50));
    for (let k = 0; k < 5 && !c.sock.destroyed; k++) {
      writeFast(c.sock, Buffer.alloc(1024));
      await new Promise((r) => setTimeout(r, 10));
    }
    await closed;
    assert.ok(c.sock.destroyed);
    assert.ok(err === null || ['EPIPE', 'ECONNRESET'].includes((err as NodeJS.ErrnoException).code ?? ''), `write error: ${String(err)}`);
    assert.is(writeFast(c.sock, Buffer.from('x')), false, 'a write to a destroyed socket is refused like socket.write');
  } finally {
    c.close();
  }
});

test.run();
