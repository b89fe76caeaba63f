/**
 * Framer: packet streams built with the codec's own writers, re-parsed unsplit, split into two
 * chunks at every byte offset, and fed byte by byte; multi-packet messages at and above 16 MiB;
 * malformed streams.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Framer, Frame, PacketTooLargeError } from '../../../src/protocol/framer';
import { ProtocolError } from '../../../src/protocol/packet-reader';
import { PacketWriter, framePayload } from '../../../src/protocol/packet-writer';
import { buildHandshakeResponse } from '../../../src/protocol/handshake';
import { Cap, Com, MAX_PACKET_PAYLOAD } from '../../../src/protocol/constants';

const BIG = 1 << 30;

interface Plain {
  payload: string;
  seq: number;
  lastSeq: number;
  raw: string | null;
}

const plain = (f: Frame): Plain => ({
  payload: f.payload.toString('hex'),
  seq: f.seq,
  lastSeq: f.lastSeq,
  raw: f.raw === null ? null : f.raw.toString('hex'),
});

function drain(fr: Framer, out: Frame[]): void {
  for (let f = fr.next(); f !== null; f = fr.next()) out.push(f);
}

function parseChunks(chunks: Buffer[], max = BIG): Frame[] {
  const fr = new Framer(max);
  const out: Frame[] = [];
  for (const c of chunks) {
    fr.push(c);
    drain(fr, out);
  }
  assert.is(fr.buffered, 0, 'nothing left over');
  return out;
}

// ---- fixtures

const handshakeResponse = buildHandshakeResponse({
  capabilities:
    Cap.PROTOCOL_41 | Cap.SECURE_CONNECTION | Cap.PLUGIN_AUTH | Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA | Cap.CONNECT_WITH_DB | Cap.CONNECT_ATTRS,
  mariaCaps: 0,
  collation: 45,
  user: 'app',
  authResponse: Buffer.alloc(20, 0xab),
  database: 'shop',
  authPlugin: 'mysql_native_password',
  attrs: { _client_name: 'libmariadb', _pid: '4711' },
}).finish(1);

const comQuery = new PacketWriter().u8(Com.QUERY).string('SELECT c FROM sbtest1 WHERE id=4711').finish(0);
const comPing = new PacketWriter().u8(Com.PING).finish(0);
const empty = new PacketWriter().finish(7);
const backToBack = Buffer.concat([
  new PacketWriter().u8(1).finish(1), // column count
  new PacketWriter().lenencString('def').lenencString('').lenencString('').lenencString('').lenencString('1').lenencString('').finish(2),
  new PacketWriter().u8(0xfe).u16(0).u16(2).finish(3),
  new PacketWriter().lenencString('1').finish(4),
  new PacketWriter().finish(5), // an empty packet in the middle of the stream
  new PacketWriter().u8(0xfe).u16(0).u16(2).finish(6),
]);

test('fixtures are framed as expected', () => {
  assert.equal([...comQuery.subarray(0, 5)], [36, 0, 0, 0, Com.QUERY]);
  assert.is(comQuery.length, 40);
  assert.equal([...empty], [0, 0, 0, 7]);
  assert.equal([...comPing], [1, 0, 0, 0, Com.PING]);
  assert.is(handshakeResponse.readUIntLE(0, 3), handshakeResponse.length - 4);
  assert.is(handshakeResponse[3], 1);
});

test('single packets: payload, seq, lastSeq, raw = header + payload', () => {
  for (const pkt of [comQuery, comPing, handshakeResponse, empty]) {
    const frames = parseChunks([pkt]);
    assert.is(frames.length, 1);
    const f = frames[0];
    assert.equal(f.payload, pkt.subarray(4));
    assert.is(f.seq, pkt[3]);
    assert.is(f.lastSeq, pkt[3]);
    assert.ok(f.raw !== null);
    assert.equal(f.raw, pkt);
  }
});

test('empty packet: zero-length payload, raw is the 4-byte header', () => {
  const [f] = parseChunks([empty]);
  assert.is(f.payload.length, 0);
  assert.equal([...(f.raw as Buffer)], [0, 0, 0, 7]);
  assert.is(f.seq, 7);
});

test('back-to-back packets in one chunk', () => {
  const frames = parseChunks([backToBack]);
  assert.equal(frames.map((f) => f.seq), [1, 2, 3, 4, 5, 6]);
  assert.equal(frames.map((f) => f.payload.length), [1, 10, 5, 2, 0, 5]);
  assert.equal(Buffer.concat(frames.map((f) => f.raw as Buffer)), backToBack);
});

test('views point into the received chunk when a packet arrived whole (no copy)', () => {
  const chunk = Buffer.concat([comQuery, comPing]);
  const fr = new Framer(BIG);
  fr.push(chunk);
  const a = fr.next() as Frame;
  assert.is(a.payload.buffer, chunk.buffer);
  assert.is(a.payload.byteOffset, chunk.byteOffset + 4);
});

const SMALL: [string, Buffer][] = [
  ['handshake response', handshakeResponse],
  ['COM_QUERY', comQuery],
  ['empty packet', empty],
  ['back-to-back', backToBack],
  ['mixed stream', Buffer.concat([handshakeResponse, comQuery, empty, comPing, backToBack])],
];

for (const [name, stream] of SMALL) {
  test(`${name}: split at every byte offset into two chunks parses identically`, () => {
    const ref = parseChunks([stream]).map(plain);
    for (let cut = 0; cut <= stream.length; cut++) {
      const got = parseChunks([stream.subarray(0, cut), stream.subarray(cut)]).map(plain);
      assert.equal(got, ref, `cut at ${cut}`);
    }
  });

  test(`${name}: fed byte by byte parses identically`, () => {
    const ref = parseChunks([stream]).map(plain);
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) chunks.push(Buffer.from([stream[i]]));
    assert.equal(parseChunks(chunks).map(plain), ref);
  });
}

test('frames stay valid after later pushes (chunks copied by the caller side are not reused)', () => {
  const stream = Buffer.concat([comQuery, handshakeResponse, comPing]);
  for (let cut = 1; cut < stream.length; cut += 3) {
    const fr = new Framer(BIG);
    // The caller reuses its read buffer: copy into one, push, then overwrite it after next().
    const first = Buffer.from(stream.subarray(0, cut));
    fr.push(first);
    const got: Frame[] = [];
    drain(fr, got);
    const snapshots = got.map(plain);
    const second = Buffer.from(stream.subarray(cut));
    fr.push(second);
    drain(fr, got);
    // Later pushes and later frames must not disturb frames handed out earlier.
    assert.equal(got.slice(0, snapshots.length).map(plain), snapshots);
    assert.equal(got.map(plain), parseChunks([stream]).map(plain));
  }
});

test('frames straddling chunks are copied: mutating the pushed chunks afterwards leaves them intact', () => {
  const stream = Buffer.concat([comQuery, comPing]);
  const a = Buffer.from(stream.subarray(0, 10));
  const b = Buffer.from(stream.subarray(10));
  const fr = new Framer(BIG);
  fr.push(a);
  assert.is(fr.next(), null);
  fr.push(b);
  const f1 = fr.next() as Frame;
  const f2 = fr.next() as Frame;
  a.fill(0x55);
  assert.equal(f1.raw, comQuery);
  assert.equal(f2.raw, comPing);
});

// ---- multi-packet messages

function bigPayload(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 4096) b.writeUInt32LE(i >>> 0, i > n - 4 ? n - 4 : i);
  b[0] = Com.QUERY;
  b[n - 1] = 0x7e;
  return b;
}

const exact = bigPayload(MAX_PACKET_PAYLOAD);
const exactStream = framePayload(exact, 3);
const over = bigPayload(MAX_PACKET_PAYLOAD + 10);
const overStream = framePayload(over, 254);

test('framePayload: exactly 0xFFFFFF is followed by an empty packet; +10 by a 10-byte packet', () => {
  assert.is(exactStream.length, MAX_PACKET_PAYLOAD + 8);
  assert.equal([...exactStream.subarray(0, 4)], [0xff, 0xff, 0xff, 3]);
  assert.equal([...exactStream.subarray(MAX_PACKET_PAYLOAD + 4)], [0, 0, 0, 4]);
  assert.is(overStream.length, MAX_PACKET_PAYLOAD + 10 + 8);
  assert.equal([...overStream.subarray(MAX_PACKET_PAYLOAD + 4, MAX_PACKET_PAYLOAD + 8)], [10, 0, 0, 255]);
  // PacketWriter.finish takes the same path for large payloads.
  const w = new PacketWriter(16).bytes(over);
  assert.ok(w.finish(254).equals(overStream));
});

function checkBig(frames: Frame[], payload: Buffer, seq: number, lastSeq: number): void {
  assert.is(frames.length, 2);
  const f = frames[0];
  assert.is(f.payload.length, payload.length);
  assert.ok(f.payload.equals(payload), 'payload reassembled');
  assert.is(f.seq, seq);
  assert.is(f.lastSeq, lastSeq);
  assert.is(f.raw, null);
  assert.equal(frames[1].raw, comPing);
}

test('0xFFFFFF payload + empty packet: one frame, seq/lastSeq of first/last packet', () => {
  checkBig(parseChunks([Buffer.concat([exactStream, comPing])]), exact, 3, 4);
});

test('0xFFFFFF+10 payload: sequence wraps 254 → 255', () => {
  checkBig(parseChunks([Buffer.concat([overStream, comPing])]), over, 254, 255);
});

test('multi-packet sequence wraps 255 → 0', () => {
  const s = framePayload(over, 255);
  assert.is(s[MAX_PACKET_PAYLOAD + 7], 0);
  checkBig(parseChunks([Buffer.concat([s, comPing])]), over, 255, 0);
});

/** Cut points that matter for a two-packet message: around both headers and both ends. */
function bigCuts(len: number): number[] {
  const cuts = new Set<number>();
  const second = MAX_PACKET_PAYLOAD + 4;
  for (const base of [0, second, len - comPing.length, len]) for (let d = -9; d <= 9; d++) cuts.add(base + d);
  for (let i = 1; i < 64; i++) cuts.add(Math.floor((len * i) / 64) + i);
  return [...cuts].filter((c) => c >= 0 && c <= len).sort((a, b) => a - b);
}

for (const [name, stream, payload, seq, lastSeq] of [
  ['0xFFFFFF', exactStream, exact, 3, 4],
  ['0xFFFFFF+10', overStream, over, 254, 255],
] as [string, Buffer, Buffer, number, number][]) {
  test(`${name}: split into two chunks around every header and payload edge`, () => {
    const stream2 = Buffer.concat([stream, comPing]);
    const cuts = bigCuts(stream2.length);
    assert.ok(cuts.length > 90);
    for (const cut of cuts) {
      checkBig(parseChunks([stream2.subarray(0, cut), stream2.subarray(cut)]), payload, seq, lastSeq);
    }
  });
}

test('multi-packet: in many small chunks (64 KiB), nothing returned before the last byte', () => {
  const s = Buffer.concat([overStream, comPing]);
  const fr = new Framer(BIG);
  const out: Frame[] = [];
  for (let i = 0; i < s.length; i += 65536) {
    fr.push(s.subarray(i, Math.min(s.length, i + 65536)));
    drain(fr, out);
    if (i + 65536 < overStream.length) assert.is(out.length, 0);
  }
  checkBig(out, over, 254, 255);
});

// ---- malformed streams

test('wrong sequence id in a multi-packet continuation → ProtocolError', () => {
  const s = Buffer.from(exactStream);
  s[MAX_PACKET_PAYLOAD + 7] = 9; // should be 4
  const fr = new Framer(BIG);
  fr.push(s);
  assert.throws(() => fr.next(), (e: unknown) => e instanceof ProtocolError && /expected sequence 4, got 9/.test((e as Error).message));
});

test('checkSequence off (compressed protocol): continuations numbered 0 as libmariadb sends them are reassembled', () => {
  const s = Buffer.from(exactStream);
  s[3] = 0;
  s[MAX_PACKET_PAYLOAD + 7] = 0;
  const fr = new Framer(BIG);
  fr.checkSequence = false;
  fr.push(s);
  const f = fr.next();
  assert.ok(f !== null && f.payload.equals(exact), 'one frame, payload intact');
  assert.is(fr.buffered, 0);
});

test('header announcing more than maxPayload → PacketTooLargeError before the payload arrives', () => {
  const fr = new Framer(1000);
  fr.push(Buffer.from([0xe9, 0x03, 0x00, 0x00])); // 1001 bytes announced, none sent
  let err: unknown = null;
  try {
    fr.next();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof PacketTooLargeError, 'PacketTooLargeError');
  assert.ok(err instanceof ProtocolError, 'is a ProtocolError');
  assert.is((err as PacketTooLargeError).size, 1001);
  assert.is((err as PacketTooLargeError).limit, 1000);
  assert.is((err as PacketTooLargeError).code, 'PROTOCOL_ERROR');
});

test('exactly maxPayload is accepted', () => {
  const p = Buffer.alloc(1000, 0x41);
  const [f] = parseChunks([framePayload(p, 0)], 1000);
  assert.is(f.payload.length, 1000);
});

test('header split over two chunks announcing too much → thrown once the 4th header byte is in', () => {
  const fr = new Framer(10);
  fr.push(Buffer.from([0x0b, 0x00]));
  assert.is(fr.next(), null);
  fr.push(Buffer.from([0x00]));
  assert.is(fr.next(), null);
  fr.push(Buffer.from([0x00]));
  assert.throws(() => fr.next(), (e: unknown) => e instanceof PacketTooLargeError);
});

test('multi-packet message over maxPayload → thrown at the continuation header, before its payload', () => {
  const fr = new Framer(MAX_PACKET_PAYLOAD + 5);
  fr.push(overStream.subarray(0, MAX_PACKET_PAYLOAD + 8)); // first packet + next header only
  assert.throws(() => fr.next(), (e: unknown) => e instanceof PacketTooLargeError && (e as PacketTooLargeError).size === MAX_PACKET_PAYLOAD + 10);
});

test('truncated streams return null, not an error', () => {
  const stream = Buffer.concat([comQuery, handshakeResponse]);
  for (let cut = 0; cut < stream.length; cut++) {
    const fr = new Framer(BIG);
    fr.push(stream.subarray(0, cut));
    const out: Frame[] = [];
    drain(fr, out);
    assert.is(out.length, cut < comQuery.length ? 0 : 1, `cut ${cut}`);
    assert.is(fr.next(), null);
  }
  const fr = new Framer(BIG);
  fr.push(exactStream.subarray(0, MAX_PACKET_PAYLOAD + 6)); // first packet whole, continuation header half
  assert.is(fr.next(), null);
  // buffered counts the payload held for reassembly plus the unread bytes (not consumed headers).
  assert.is(fr.buffered, MAX_PACKET_PAYLOAD + 2);
});

test('drain() hands back everything buffered, in order', () => {
  const fr = new Framer(BIG);
  fr.push(comQuery.subarray(0, 3));
  fr.push(comQuery.subarray(3, 9));
  assert.is(fr.next(), null);
  assert.equal(fr.drain(), comQuery.subarray(0, 9));
  assert.is(fr.buffered, 0);
  assert.is(fr.drain().length, 0);
  fr.push(comPing);
  assert.equal((fr.next() as Frame).raw, comPing);
});

test.run();
