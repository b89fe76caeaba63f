/**
 * ClientConn under the compressed protocol, over a real loopback socket pair: bytes the client sent
 * right after its login are decoded once compression starts, replies follow the compressed sequence
 * of the frame read, corked writes become one compressed packet, and undecodable input surfaces as
 * a ProtocolError from next() with later input dropped. Every test runs twice: with the socket
 * accepted the way the proxy does by default (raw I/O: onread into a shared buffer, fast writes,
 * src/io/raw-io.ts) and as a plain stream socket (the fallback).
 */
import * as net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CompressedDecoder, encodeCompressedPacket, ZLIB } from '../../../src/protocol/compression';
import { ProtocolError } from '../../../src/protocol/packet-reader';
import { framePayload } from '../../../src/protocol/packet-writer';
import { BufferBudget, ClientConn, ClientConnHost } from '../../../src/server/client-conn';
import { installRawAccept, isRawSocket, rawIoSupport } from '../../../src/io/raw-io';

interface Pair {
  conn: ClientConn;
  client: net.Socket;
  /** Resolves at the next onInput of the connection. */
  input(): Promise<void>;
  /** The next `n` bytes the client receives. */
  take(n: number): Promise<Buffer>;
  /** The next compressed packet the client receives: its sequence id and plain bytes. */
  compressed(): Promise<{ seq: number; plain: Buffer }>;
  close(): void;
  /** Errors the connection reported to its host's fault(). */
  faults: unknown[];
  /** Called when the connection reports its socket closed. */
  onClosed: () => void;
}

const budget: BufferBudget = { bytes: 0, max: 256 << 20, paused: new Set() };

async function pair(raw: boolean): Promise<Pair> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  if (raw) {
    assert.is(await rawIoSupport(), null, 'raw I/O works on this Node');
    assert.ok(installRawAccept(server));
  }
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = net.connect(port, '127.0.0.1');
  await new Promise<void>((r) => client.once('connect', () => r()));
  const sock = await accepted;
  assert.is(isRawSocket(sock), raw);
  let waiter: (() => void) | null = null;
  const faults: unknown[] = [];
  const host: ClientConnHost = {
    onInput: () => {
      const w = waiter;
      waiter = null;
      if (w) w();
    },
    onClosed: () => ret.onClosed(),
    onSocketError: () => {},
    closed: false,
    fault: (e) => {
      faults.push(e);
    },
  };
  const conn = new ClientConn(sock, 1 << 20, host, budget);
  let got = Buffer.alloc(0);
  let want: { n: number; resolve: (b: Buffer) => void } | null = null;
  const check = () => {
    if (want && got.length >= want.n) {
      const w = want;
      want = null;
      const b = got.subarray(0, w.n);
      got = got.subarray(w.n);
      w.resolve(b);
    }
  };
  client.on('data', (b: Buffer) => {
    got = Buffer.concat([got, b]);
    check();
  });
  const take = (n: number) =>
    new Promise<Buffer>((resolve) => {
      want = { n, resolve };
      check();
    });
  const ret: Pair = {
    conn,
    client,
    faults,
    onClosed: () => {},
    input: () => new Promise<void>((r) => (waiter = r)),
    take,
    compressed: async () => {
      const h = await take(7);
      const body = await take(h.readUIntLE(0, 3));
      const d = new CompressedDecoder(0xffffff);
      const out: Buffer[] = [];
      d.push(Buffer.concat([h, body]), (b) => out.push(Buffer.from(b)));
      return { seq: h[3], plain: Buffer.concat(out) };
    },
    close: () => {
      client.destroy();
      sock.destroy();
      server.close();
    },
  };
  return ret;
}

const cmd = (sql: string) => framePayload(Buffer.concat([Buffer.from([3]), Buffer.from(sql)]), 0);

for (const raw of [true, false]) {
  const mode = raw ? ' [raw]' : ' [stream]';

  test('bytes sent right after login are decoded once compression starts; the reply follows their compressed sequence' + mode, async () => {
    const p = await pair(raw);
    try {
      const login = framePayload(Buffer.from('login'), 1);
      // the client's next command, compressed (sequence 0), arrives in the same segment as its login
      const early = Buffer.concat(encodeCompressedPacket(cmd('SELECT 1'), 0));
      const arrived = p.input();
      p.client.write(Buffer.concat([login, early]));
      await arrived;
      const f = p.conn.next();
      assert.ok(f);
      assert.is(f.payload.toString(), 'login');
      p.conn.write(framePayload(Buffer.from('ok'), 2)); // the login OK goes out uncompressed
      p.conn.startCompression({ maxUncompressed: 1 << 20, level: 1, minLength: 1024, codec: ZLIB });
      assert.ok(p.conn.compressed);
      const c = p.conn.next();
      assert.ok(c, 'the early compressed command is framed');
      assert.is(c.payload.subarray(1).toString(), 'SELECT 1');
      assert.is(p.conn.next(), null);
      const ok = framePayload(Buffer.from('ok'), 2);
      assert.equal(await p.take(ok.length), ok, 'login OK uncompressed');
      p.conn.write(framePayload(Buffer.from('reply'), 1));
      const got = await p.compressed();
      assert.is(got.seq, 1, 'reply to a command in compressed packet 0 starts at 1');
      assert.equal(got.plain, framePayload(Buffer.from('reply'), 1));
      assert.equal(p.faults, []);
    } finally {
      p.close();
    }
  });

  test('compressed input arriving later: inner sequence ids are not checked; corked writes go out as one compressed packet' + mode, async () => {
    const p = await pair(raw);
    try {
      p.conn.framer.maxPayload = 32 << 20;
      p.conn.startCompression({ maxUncompressed: 0xffffff, level: 1, minLength: 1024, codec: ZLIB });
      // a two-packet message whose packets are both numbered 0 (libmariadb does so under compression)
      const big = Buffer.alloc(0xffffff + 10, 0x61);
      big[0] = 3;
      const plain = framePayload(big, 0);
      plain[4 + 0xffffff + 3] = 0; // second packet's sequence id
      const parts: Buffer[] = [];
      let seq = 0;
      for (let at = 0; at < plain.length; at += 0xfff000) parts.push(...encodeCompressedPacket(plain.subarray(at, Math.min(plain.length, at + 0xfff000)), seq++));
      const all = Buffer.concat(parts);
      let f = null;
      p.client.write(all);
      while (!f) {
        await p.input();
        f = p.conn.next();
      }
      assert.is(f.payload.length, big.length, 'whole message framed');
      p.conn.cork();
      p.conn.write(framePayload(Buffer.from('a'), 1));
      p.conn.write(framePayload(Buffer.from('b'), 2));
      p.conn.uncork();
      const got = await p.compressed();
      assert.is(got.seq, seq, 'one past the last compressed packet received');
      assert.equal(got.plain, Buffer.concat([framePayload(Buffer.from('a'), 1), framePayload(Buffer.from('b'), 2)]));
    } finally {
      p.close();
    }
  });

  test('undecodable compressed input: next() throws a ProtocolError, then and after more input' + mode, async () => {
    const p = await pair(raw);
    try {
      p.conn.startCompression({ maxUncompressed: 1 << 20, level: 1, minLength: 1024, codec: ZLIB });
      let arrived = p.input();
      // announces 100 bytes once inflated, carries 5 bytes that are not zlib
      p.client.write(Buffer.from([5, 0, 0, 0, 100, 0, 0, 1, 2, 3, 4, 5]));
      await arrived;
      assert.throws(() => p.conn.next(), (e: unknown) => e instanceof ProtocolError);
      arrived = p.input();
      p.client.write(Buffer.concat(encodeCompressedPacket(cmd('SELECT 1'), 0)));
      await arrived;
      assert.throws(() => p.conn.next(), (e: unknown) => e instanceof ProtocolError, 'a valid packet after the bad one is not framed');
    } finally {
      p.close();
    }
  });

  test('a partial compressed packet counts in the client buffer budget and is dropped when the connection ends' + mode, async () => {
    const p = await pair(raw);
    try {
      p.conn.startCompression({ maxUncompressed: 1 << 20, level: 1, minLength: 1024, codec: ZLIB });
      const before = budget.bytes;
      const [hdr, body] = encodeCompressedPacket(cmd(`SELECT '${'x'.repeat(5000)}'`), 0);
      assert.ok(hdr[4] + hdr[5] + hdr[6] > 0, 'deflated (held until complete)');
      const arrived = p.input();
      p.client.write(Buffer.concat([hdr, body.subarray(0, 20)]));
      await arrived;
      assert.is(p.conn.next(), null);
      assert.is(p.conn.buffered, 20, 'the partial deflated body is buffered');
      assert.is(budget.bytes - before, 20, 'and counted in the budget');
      p.conn.end();
      assert.is(p.conn.buffered, 0);
      assert.is(budget.bytes, before, 'given back when the connection ends');
      assert.equal(p.faults, []);
    } finally {
      p.close();
    }
  });

  test('frames stay intact after later reads of other connections (each read is an owned copy, not the shared read buffer)' + mode, async () => {
    const p = await pair(raw);
    const other = await pair(raw);
    try {
      let arrived = p.input();
      p.client.write(cmd('SELECT 1'));
      await arrived;
      const first = p.conn.next();
      assert.ok(first);
      // a partial packet stays buffered across reads too
      const second = cmd('SELECT 22');
      arrived = p.input();
      p.client.write(second.subarray(0, 6));
      await arrived;
      assert.is(p.conn.next(), null);
      for (let i = 0; i < 20; i++) {
        const got = other.input();
        other.client.write(cmd(`SELECT ${'y'.repeat(40)} -- ${i}`));
        await got;
        assert.is((other.conn.next() as { payload: Buffer }).payload.subarray(1).toString(), `SELECT ${'y'.repeat(40)} -- ${i}`);
      }
      arrived = p.input();
      p.client.write(second.subarray(6));
      await arrived;
      assert.is(first.payload.subarray(1).toString(), 'SELECT 1', 'the first frame kept its bytes');
      const f2 = p.conn.next();
      assert.ok(f2);
      assert.is(f2.payload.subarray(1).toString(), 'SELECT 22');
      assert.is(p.conn.next(), null);
      assert.equal(p.faults, []);
    } finally {
      p.close();
      other.close();
    }
  });

  test('pauseInput stops reading until resumeInput; replies go out in order; a client FIN reaches onClosed' + mode, async () => {
    const p = await pair(raw);
    try {
      p.conn.pauseInput();
      let inputs = 0;
      const hostInput = p.input();
      void hostInput.then(() => inputs++);
      p.client.write(cmd('SELECT 1'));
      await new Promise((r) => setTimeout(r, 50));
      assert.is(inputs, 0, 'nothing read while paused');
      assert.is(p.conn.buffered, 0);
      p.conn.resumeInput();
      await hostInput;
      const f = p.conn.next();
      assert.ok(f);
      assert.is(f.payload.subarray(1).toString(), 'SELECT 1');
      const replies = [1, 2, 3].map((i) => framePayload(Buffer.from(`reply ${i}`), i));
      for (const r of replies) assert.ok(p.conn.write(r));
      assert.equal(await p.take(replies.reduce((n, r) => n + r.length, 0)), Buffer.concat(replies));
      assert.is(p.conn.socket.bytesWritten, replies.reduce((n, r) => n + r.length, 0), 'bytesWritten counts direct writes');
      assert.is(p.conn.writePending, false);
      const closed = new Promise<void>((r) => (p.onClosed = r));
      p.client.end();
      await closed;
    } finally {
      p.close();
    }
  });

}

test.run();
