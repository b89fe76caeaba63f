/**
 * ResultRelay driven by a fake RelayHost with synthetic backend responses in classic EOF framing
 * (what a MariaDB server sends to a client that did not ask for DEPRECATE_EOF, i.e. to the proxy's
 * backend connections). Every response is also relayed split into two chunks at every byte offset
 * and byte by byte; the client must see the same bytes whatever the chunking.
 *
 * KNOWN RELAY BUG (left failing on purpose; src/server/result-relay.ts belongs to the lead):
 * when a backend chunk ends inside the 4-byte header of a packet that follows a passed-through
 * packet in the same chunk, the partial header bytes are written to the client as part of the
 * pass-through region (the `break` in the partial-header branch of consume() falls through to the
 * final `this.write(chunk.subarray(passStart, i))`), and the complete header is written again,
 * rebuilt, with the next chunk. The client receives 1-3 stray bytes and a corrupt stream. Every
 * `split at N` failure below is this bug (e.g. the text result set split at 42: 1 byte of the second
 * column definition's header). Fix: flush the pending pass-through region and reset passStart
 * before buffering a partial header.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ResultRelay, Resp, type RelayHost } from '../../../src/server/result-relay';
import { Cap, MAX_PACKET_PAYLOAD, Status } from '../../../src/protocol/constants';
import { PacketWriter } from '../../../src/protocol/packet-writer';
import { ProtocolError } from '../../../src/protocol/packet-reader';
import type { OkPacket } from '../../../src/protocol/ok-err';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** One physical packet: 3-byte length, sequence id, payload. */
function pkt(seq: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUIntLE(payload.length, 0, 3);
  h[3] = seq & 0xff;
  return Buffer.concat([h, payload]);
}

function coldef(name: string, type = 0xfd, charset = 45): Buffer {
  return new PacketWriter(64)
    .lenencString('def').lenencString('shop').lenencString('t').lenencString('t').lenencString(name).lenencString(name)
    .lenenc(0x0c).u16(charset).u32(1020).u8(type).u16(0).u8(0).u16(0)
    .finish(0).subarray(4);
}

const row = (...cells: (string | null)[]) => {
  const w = new PacketWriter(32);
  for (const c of cells) c === null ? w.u8(0xfb) : w.lenencString(c);
  return w.finish(0).subarray(4);
};
const eof = (warnings: number, status: number) => new PacketWriter(8).u8(0xfe).u16(warnings).u16(status).finish(0).subarray(4);
/** OK as a backend with SESSION_TRACK sends it (info as lenenc when present). */
const okTracked = (affected: number, status: number, warnings: number, info = '', state: Buffer | null = null) => {
  const w = new PacketWriter(32).u8(0).lenenc(affected).lenenc(0).u16(status).u16(warnings);
  if (info || state) w.lenencString(info);
  if (state) w.lenencBytes(state);
  return w.finish(0).subarray(4);
};
/** The 0xFE OK a DEPRECATE_EOF client gets instead of the final EOF. */
const okEof = (warnings: number, status: number) => new PacketWriter(8).u8(0xfe).u8(0).u8(0).u16(status).u16(warnings).finish(0).subarray(4);
const err = (errno: number, state: string, msg: string) =>
  Buffer.concat([Buffer.from([0xff, errno & 0xff, errno >> 8, 0x23]), Buffer.from(state + msg)]);

const AC = Status.AUTOCOMMIT;
const MORE = Status.MORE_RESULTS_EXISTS;

type Ev = ['write', Buffer] | ['terminator', number, number, OkPacket | null] | ['done', boolean] | ['failed', Error] | ['prepare', number, number, number, number] | ['backpressure'];

class FakeHost implements RelayHost {
  events: Ev[] = [];
  /** What filterSessionState returns (identity by default). */
  filter: (b: Buffer) => Buffer | null = (b) => b;
  prepareId = 1000;
  writable = true;
  constructor(readonly clientCaps: number) {}
  clientStateChange = false;
  corked = false;
  /** Client writes issued while corked / not corked, and cork calls. */
  corkedWrites = 0;
  plainWrites = 0;
  corks = 0;
  corkClient(): void {
    assert.not.ok(this.corked, 'cork while corked');
    this.corked = true;
    this.corks++;
  }
  uncorkClient(): void {
    assert.ok(this.corked, 'uncork without cork');
    this.corked = false;
  }
  writeClient(b: Buffer): boolean {
    if (this.corked) this.corkedWrites++;
    else this.plainWrites++;
    // copy: the relay may hand out views into backend chunks
    this.events.push(['write', Buffer.from(b)]);
    return this.writable;
  }
  onTerminator(status: number, warnings: number, ok: OkPacket | null): void {
    this.events.push(['terminator', status, warnings, ok]);
  }
  filterSessionState(block: Buffer): Buffer | null {
    return this.filter(block);
  }
  onPrepareOk(backendId: number, numColumns: number, numParams: number, warnings: number): number {
    this.events.push(['prepare', backendId, numColumns, numParams, warnings]);
    return this.prepareId;
  }
  onLocalInfile(): void {
    throw new Error('not expected');
  }
  onRelayDone(e: boolean): void {
    this.events.push(['done', e]);
  }
  onRelayFailed(e: Error): void {
    this.events.push(['failed', e]);
  }
  onClientBackpressure(): void {
    this.events.push(['backpressure']);
  }
  /** Whether retryPrepare says it re-sent the PREPARE; calls are counted. */
  retry = false;
  retries = 0;
  retryPrepare(): boolean {
    this.retries++;
    return this.retry;
  }
  get bytes(): Buffer {
    return Buffer.concat(this.events.filter((e) => e[0] === 'write').map((e) => e[1] as Buffer));
  }
  count(kind: Ev[0]): number {
    return this.events.filter((e) => e[0] === kind).length;
  }
}

interface Run {
  host: FakeHost;
  relay: ResultRelay;
}

/** Relays `chunks` (copied: the relay patches sequence ids in place) for a client with `caps`. */
function run(caps: number, kind: Resp, chunks: Buffer[], setup?: (h: FakeHost) => void): Run {
  const host = new FakeHost(caps);
  setup?.(host);
  const relay = new ResultRelay(host);
  relay.start(kind);
  for (const c of chunks) relay.onBackendData(Buffer.from(c));
  return { host, relay };
}

/** Asserts the response relays to `expected` and ends once (done after the last write), under any chunking. */
function check(caps: number, kind: Resp, stream: Buffer, expected: Buffer, errEnd = false, opts: { every?: boolean; setup?: (h: FakeHost) => void } = {}): Run {
  const whole = run(caps, kind, [stream], opts.setup);
  assert.equal(whole.host.bytes.toString('hex'), expected.toString('hex'), 'one chunk');
  endsOnce(whole, errEnd, 'one chunk');
  if (opts.every !== false) {
    // Fails today for cuts inside a header that follows a passed packet: see KNOWN RELAY BUG above.
    for (let cut = 1; cut < stream.length; cut++) {
      const r = run(caps, kind, [stream.subarray(0, cut), stream.subarray(cut)], opts.setup);
      assert.equal(r.host.bytes.toString('hex'), expected.toString('hex'), `split at ${cut}`);
      endsOnce(r, errEnd, `split at ${cut}`);
    }
    const bytes: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) bytes.push(stream.subarray(i, i + 1));
    const r = run(caps, kind, bytes, opts.setup);
    assert.equal(r.host.bytes.toString('hex'), expected.toString('hex'), 'byte by byte');
    endsOnce(r, errEnd, 'byte by byte');
  }
  return whole;
}

function endsOnce(r: Run, errEnd: boolean, what: string): void {
  const ev = r.host.events;
  const failed = ev.find((e) => e[0] === 'failed');
  assert.is(failed, undefined, `${what}: relay failed: ${failed ? (failed[1] as Error).message : ''}`);
  assert.is(r.host.count('done'), 1, `${what}: onRelayDone once`);
  assert.equal(ev[ev.length - 1], ['done', errEnd], `${what}: onRelayDone last, after every write`);
  assert.ok(r.relay.done, `${what}: relay.done`);
}

test('KNOWN RELAY BUG, minimal repro: chunk ends with a row + 2 bytes of the next row header', () => {
  const s = Buffer.concat([pkt(1, hex('01')), pkt(2, hex('0161000000')), pkt(3, eof(0, AC)), pkt(4, row('1')), pkt(5, row('2')), pkt(6, eof(0, AC))]);
  const cut = 5 + 9 + 9 + 6 + 2;
  const r = run(Cap.PROTOCOL_41, Resp.QUERY, [s.subarray(0, cut), s.subarray(cut)]);
  // today the client gets ...02000004 0131 [0200] 02000005 0132...: the stray "0200" is the bug
  assert.is(r.host.bytes.toString('hex'), s.toString('hex'));
});

// ---- a text result set: 2 columns, 3 rows

const RS = [
  pkt(1, hex('02')),
  pkt(2, coldef('id', 0x03, 63)),
  pkt(3, coldef('name')),
  pkt(4, eof(0, AC)),
  pkt(5, row('1', 'alice')),
  pkt(6, row('2', null)),
  pkt(7, row('3', '')),
  pkt(8, eof(1, AC)),
];
const rsStream = Buffer.concat(RS);

test('text result set → client without DEPRECATE_EOF: byte-identical', () => {
  const caps = Cap.PROTOCOL_41 | Cap.SESSION_TRACK;
  const r = check(caps, Resp.QUERY, rsStream, rsStream);
  assert.is(r.relay.rows, 3);
  assert.is(r.relay.lastSeq, 8);
  assert.is(r.relay.seqDelta, 0);
  const terms = r.host.events.filter((e) => e[0] === 'terminator');
  assert.equal(terms, [['terminator', AC, 1, null]]);
});

test('text result set → DEPRECATE_EOF client: column EOF dropped, final EOF → 0xFE OK, seq renumbered', () => {
  const expected = Buffer.concat([
    pkt(1, hex('02')),
    pkt(2, coldef('id', 0x03, 63)),
    pkt(3, coldef('name')),
    pkt(4, row('1', 'alice')),
    pkt(5, row('2', null)),
    pkt(6, row('3', '')),
    pkt(7, okEof(1, AC)),
  ]);
  for (const caps of [Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF, Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF | Cap.SESSION_TRACK]) {
    const r = check(caps, Resp.QUERY, rsStream, expected);
    assert.is(r.relay.rows, 3);
    assert.is(r.relay.lastSeq, 7);
    assert.is(r.relay.seqDelta, -1);
  }
});

test('client writes per backend chunk: one write for a small result, even when EOFs are dropped/rebuilt; large split output corked once; done after the writes', () => {
  const classic = run(Cap.PROTOCOL_41, Resp.QUERY, [rsStream]).host;
  assert.is(classic.plainWrites, 1);
  assert.is(classic.corks, 0);
  // DEPRECATE_EOF: the column EOF is dropped and the final EOF rebuilt: three pieces, copied into one write
  const dep = run(Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF, Resp.QUERY, [rsStream]).host;
  assert.is(dep.plainWrites, 1);
  assert.is(dep.corks, 0);
  // the same with a 5000-byte row: too big to copy, so the pieces go out corked together
  const big = Buffer.concat([pkt(1, hex('01')), pkt(2, coldef('x')), pkt(3, eof(0, AC)), pkt(4, row('y'.repeat(5000))), pkt(5, eof(0, AC))]);
  const dep2 = run(Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF, Resp.QUERY, [big]).host;
  assert.is(dep2.corks, 1);
  assert.is(dep2.plainWrites, 0);
  assert.is(dep2.corkedWrites, 3);
  assert.not.ok(dep2.corked, 'uncorked at the end of the chunk');
  assert.equal(dep2.bytes, Buffer.concat([pkt(1, hex('01')), pkt(2, coldef('x')), pkt(3, row('y'.repeat(5000))), pkt(4, okEof(0, AC))]));
  // one write per chunk when the result arrives in pieces
  const pieces = run(Cap.PROTOCOL_41, Resp.QUERY, [rsStream.subarray(0, 20), rsStream.subarray(20)]).host;
  assert.is(pieces.corks, 0);
  assert.is(pieces.plainWrites, 2);
});

test('the 0xFE OK ending a result set is exactly fe 00 00 <status> <warnings>', () => {
  assert.equal(okEof(1, AC), hex('fe 00 00 0200 0100'));
});

test('empty result set (no rows)', () => {
  const s = Buffer.concat([pkt(1, hex('01')), pkt(2, coldef('x')), pkt(3, eof(0, AC)), pkt(4, eof(0, AC))]);
  check(Cap.PROTOCOL_41, Resp.QUERY, s, s);
  check(Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF, Resp.QUERY, s, Buffer.concat([pkt(1, hex('01')), pkt(2, coldef('x')), pkt(3, okEof(0, AC))]));
});

test('rows whose first byte is 0xFE (8-byte lenenc, ≥ 9 bytes) and 0xFB (NULL) are rows, not terminators', () => {
  const big = 'z'.repeat(1 << 17); // forces a 0xFD lenenc; and a hand-made 0xFE lenenc row
  const fe = Buffer.concat([hex('fe 0300000000000000'), Buffer.from('abc')]);
  const s = Buffer.concat([pkt(1, hex('01')), pkt(2, coldef('x')), pkt(3, eof(0, AC)), pkt(4, fe), pkt(5, row(null)), pkt(6, row(big)), pkt(7, eof(0, AC))]);
  const r = check(Cap.PROTOCOL_41, Resp.QUERY, s, s, false, { every: false });
  assert.is(r.relay.rows, 3);
  // every split point around the small packets
  for (let cut = 1; cut < 120; cut++) assert.equal(run(Cap.PROTOCOL_41, Resp.QUERY, [s.subarray(0, cut), s.subarray(cut)]).host.bytes, s, `split at ${cut}`);
});

// ---- OK packets

const INFO = 'Rows matched: 2  Changed: 2  Warnings: 0';

test('OK with info → client without SESSION_TRACK (PHP mysqlnd): byte-identical, info length-encoded as the server sends it', () => {
  const s = pkt(1, okTracked(2, AC, 0, INFO));
  const r = check(Cap.PROTOCOL_41, Resp.QUERY, s, s);
  const t = r.host.events.find((e) => e[0] === 'terminator') as ['terminator', number, number, OkPacket];
  assert.is(t[1], AC);
  assert.is(t[3].affectedRows, 2);
  assert.is(t[3].info.toString(), INFO);
});

test('OK with info → SESSION_TRACK client: byte-identical', () => {
  const s = pkt(1, okTracked(2, AC, 0, INFO));
  check(Cap.PROTOCOL_41 | Cap.SESSION_TRACK, Resp.QUERY, s, s);
});

test('plain OK (nothing after warnings) passes unchanged to every client', () => {
  const s = pkt(1, okTracked(0, AC, 0));
  for (const caps of [Cap.PROTOCOL_41, Cap.PROTOCOL_41 | Cap.SESSION_TRACK | Cap.DEPRECATE_EOF]) check(caps, Resp.QUERY, s, s);
});

test('OK with session state: filtered for SESSION_TRACK clients, stripped (flag cleared) for others', () => {
  const state = Buffer.concat([hex('01 05 04'), Buffer.from('shop')]);
  const filtered = Buffer.concat([hex('01 03 02'), Buffer.from('db')]);
  const s = pkt(1, okTracked(0, AC | Status.SESSION_STATE_CHANGED, 0, '', state));
  check(Cap.PROTOCOL_41, Resp.QUERY, s, pkt(1, hex('00 00 00 0200 0000')));
  check(Cap.PROTOCOL_41 | Cap.SESSION_TRACK, Resp.QUERY, s, pkt(1, okTracked(0, AC | Status.SESSION_STATE_CHANGED, 0, '', filtered)), false, {
    setup: (h) => (h.filter = (b) => (b.equals(state) ? filtered : Buffer.from('unexpected'))),
  });
  // the filter dropping everything: no block, flag cleared
  check(Cap.PROTOCOL_41 | Cap.SESSION_TRACK, Resp.QUERY, s, pkt(1, hex('00 00 00 0200 0000')), false, { setup: (h) => (h.filter = () => null) });
});

test('ERR as the whole response', () => {
  const s = pkt(1, err(1146, '42S02', "Table 'shop.x' doesn't exist"));
  const r = check(Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF, Resp.QUERY, s, s, true);
  assert.is(r.host.count('terminator'), 0);
});

// ---- multi-results

const MULTI = [
  pkt(1, hex('01')),
  pkt(2, coldef('a')),
  pkt(3, eof(0, AC)),
  pkt(4, row('1')),
  pkt(5, eof(0, AC | MORE)),
  pkt(6, okTracked(1, AC | MORE, 0)),
  pkt(7, hex('01')),
  pkt(8, coldef('b')),
  pkt(9, eof(0, AC)),
  pkt(10, row('2')),
  pkt(11, eof(0, AC | MORE)),
  pkt(12, okTracked(0, AC, 0)),
];
const multiStream = Buffer.concat(MULTI);

test('multi-results (MORE_RESULTS_EXISTS) then OK → classic client: byte-identical, terminator per result', () => {
  const r = check(Cap.PROTOCOL_41 | Cap.MULTI_RESULTS, Resp.QUERY, multiStream, multiStream);
  assert.equal(
    r.host.events.filter((e) => e[0] === 'terminator').map((e) => e[1]),
    [AC | MORE, AC | MORE, AC | MORE, AC],
  );
});

test('multi-results → DEPRECATE_EOF client: both column EOFs dropped, sequence contiguous', () => {
  const expected = Buffer.concat([
    pkt(1, hex('01')),
    pkt(2, coldef('a')),
    pkt(3, row('1')),
    pkt(4, okEof(0, AC | MORE)),
    pkt(5, okTracked(1, AC | MORE, 0)),
    pkt(6, hex('01')),
    pkt(7, coldef('b')),
    pkt(8, row('2')),
    pkt(9, okEof(0, AC | MORE)),
    pkt(10, okTracked(0, AC, 0)),
  ]);
  const r = check(Cap.PROTOCOL_41 | Cap.MULTI_RESULTS | Cap.DEPRECATE_EOF | Cap.SESSION_TRACK, Resp.QUERY, multiStream, expected);
  assert.is(r.relay.lastSeq, 10);
});

/**
 * A segment of a multi-statement batch the proxy split (batch-run.ts): sequence ids continue after
 * `base`, and the segment's final terminator (and the column EOF of its last result set, as a
 * server sends them) carries MORE_RESULTS; the host still hears the backend's own status.
 */
function checkSegment(caps: number, stream: Buffer, expected: Buffer, base: number, errEnd = false): FakeHost {
  let first: FakeHost | null = null;
  const chunkings: Buffer[][] = [[stream]];
  for (let cut = 1; cut < stream.length; cut++) chunkings.push([stream.subarray(0, cut), stream.subarray(cut)]);
  for (const chunks of chunkings) {
    const host = new FakeHost(caps);
    const relay = new ResultRelay(host);
    relay.nextSeqBase = base;
    relay.forceMore = true;
    relay.start(Resp.QUERY);
    for (const c of chunks) relay.onBackendData(Buffer.from(c));
    assert.equal(host.bytes.toString('hex'), expected.toString('hex'), `chunks of ${chunks.map((c) => c.length).join('+')}`);
    endsOnce({ host, relay }, errEnd, 'segment');
    first ??= host;
  }
  return first as FakeHost;
}

test('batch segment, result set last → classic client: seq after the base, both EOFs say MORE_RESULTS, host hears the real status', () => {
  const stream = Buffer.concat([pkt(1, hex('01')), pkt(2, coldef('a')), pkt(3, eof(0, AC)), pkt(4, row('1')), pkt(5, eof(0, AC))]);
  const expected = Buffer.concat([pkt(5, hex('01')), pkt(6, coldef('a')), pkt(7, eof(0, AC | MORE)), pkt(8, row('1')), pkt(9, eof(0, AC | MORE))]);
  const host = checkSegment(Cap.PROTOCOL_41 | Cap.MULTI_RESULTS, stream, expected, 4);
  assert.equal(host.events.filter((e) => e[0] === 'terminator').map((e) => e[1]), [AC]);
});

test('batch segment, result set last → DEPRECATE_EOF client: the OK-style terminator says MORE_RESULTS', () => {
  const stream = Buffer.concat([pkt(1, hex('01')), pkt(2, coldef('a')), pkt(3, eof(0, AC)), pkt(4, row('1')), pkt(5, eof(0, AC))]);
  const expected = Buffer.concat([pkt(2, hex('01')), pkt(3, coldef('a')), pkt(4, row('1')), pkt(5, okEof(0, AC | MORE))]);
  checkSegment(Cap.PROTOCOL_41 | Cap.MULTI_RESULTS | Cap.DEPRECATE_EOF, stream, expected, 1);
});

test('batch segment ending with an OK (with and without session state, multi-byte affected rows): status patched', () => {
  const multi = Buffer.concat([pkt(1, okTracked(1, AC | MORE, 0)), pkt(2, okTracked(300, AC, 2, 'Records: 300'))]);
  const expected = Buffer.concat([pkt(7, okTracked(1, AC | MORE, 0)), pkt(8, okTracked(300, AC | MORE, 2, 'Records: 300'))]);
  checkSegment(Cap.PROTOCOL_41 | Cap.MULTI_RESULTS | Cap.SESSION_TRACK, multi, expected, 6);
  const state = hex('01 0b 0a 61 75 74 6f 63 6f 6d 6d 69 74 03 4f 46 46'.replace(/ /g, ''));
  const tracked = pkt(1, okTracked(0, AC, 0, '', state));
  checkSegment(Cap.PROTOCOL_41 | Cap.MULTI_RESULTS | Cap.SESSION_TRACK, tracked, pkt(3, okTracked(0, AC | MORE, 0, '', state)), 2);
});

test('batch segment ending with an ERR: the ERR is relayed as is (it ends the batch)', () => {
  const stream = Buffer.concat([pkt(1, okTracked(0, AC | MORE, 0)), pkt(2, err(1146, '42S02', "Table 'x' doesn't exist"))]);
  const expected = Buffer.concat([pkt(4, okTracked(0, AC | MORE, 0)), pkt(5, err(1146, '42S02', "Table 'x' doesn't exist"))]);
  checkSegment(Cap.PROTOCOL_41 | Cap.MULTI_RESULTS, stream, expected, 3, true);
});

test('ERR in the middle of the rows ends the response (err = true)', () => {
  const s = Buffer.concat([
    pkt(1, hex('01')),
    pkt(2, coldef('a')),
    pkt(3, eof(0, AC)),
    pkt(4, row('1')),
    pkt(5, err(1317, '70100', 'Query execution was interrupted')),
  ]);
  check(Cap.PROTOCOL_41, Resp.QUERY, s, s, true);
  check(Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF, Resp.QUERY, s, Buffer.concat([pkt(1, hex('01')), pkt(2, coldef('a')), pkt(3, row('1')), pkt(4, err(1317, '70100', 'Query execution was interrupted'))]), true);
});

// ---- 16 MiB rows

test('a 0xFFFFFF row followed by a continuation whose first byte is 0xFE (< 9 bytes) passes through', () => {
  // one column of L bytes: fe + 8-byte length + L = 0xFFFFFF + 5 bytes of payload
  const L = MAX_PACKET_PAYLOAD + 5 - 9;
  const payload = Buffer.alloc(MAX_PACKET_PAYLOAD + 5, 0x61);
  payload[0] = 0xfe;
  payload.writeUInt32LE(L, 1);
  payload.writeUInt32LE(0, 5);
  hex('fe 0000 0200').copy(payload, MAX_PACKET_PAYLOAD); // the continuation looks exactly like an EOF
  const head = Buffer.concat([pkt(1, hex('01')), pkt(2, coldef('blob', 0xfc, 63)), pkt(3, eof(0, AC))]);
  const first = pkt(4, payload.subarray(0, MAX_PACKET_PAYLOAD));
  const cont = pkt(5, payload.subarray(MAX_PACKET_PAYLOAD));
  assert.equal(cont, hex('05000005 fe00000200'));
  const tail = Buffer.concat([pkt(6, row('x')), pkt(7, eof(0, AC))]);
  const s = Buffer.concat([head, first, cont, tail]);
  const r = check(Cap.PROTOCOL_41, Resp.QUERY, s, s, false, { every: false });
  assert.is(r.relay.rows, 2);
  const expectedDep = Buffer.concat([
    pkt(1, hex('01')),
    pkt(2, coldef('blob', 0xfc, 63)),
    pkt(3, payload.subarray(0, MAX_PACKET_PAYLOAD)),
    pkt(4, payload.subarray(MAX_PACKET_PAYLOAD)),
    pkt(5, row('x')),
    pkt(6, okEof(0, AC)),
  ]);
  check(Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF, Resp.QUERY, s, expectedDep, false, { every: false });
  // split around every header and boundary of the big row
  const at = head.length;
  const cuts: number[] = [];
  // cuts inside the continuation's header and inside the next row's header hit the KNOWN RELAY BUG
  for (const base of [at, at + 4, at + 4 + MAX_PACKET_PAYLOAD, at + 8 + MAX_PACKET_PAYLOAD, at + first.length + cont.length]) {
    for (let d = -6; d <= 6; d++) cuts.push(base + d);
  }
  for (const cut of cuts) {
    const a = run(Cap.PROTOCOL_41, Resp.QUERY, [s.subarray(0, cut), s.subarray(cut)]);
    assert.ok(a.host.bytes.equals(s), `classic, split at ${cut}`);
    endsOnce(a, false, `classic, split at ${cut}`);
    const b = run(Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF, Resp.QUERY, [s.subarray(0, cut), s.subarray(cut)]);
    assert.ok(b.host.bytes.equals(expectedDep), `DEPRECATE_EOF, split at ${cut}`);
    endsOnce(b, false, `DEPRECATE_EOF, split at ${cut}`);
  }
});

test('a 0xFFFFFF row followed by an empty continuation packet', () => {
  const payload = Buffer.alloc(MAX_PACKET_PAYLOAD, 0x62);
  payload[0] = 0xfe;
  payload.writeUInt32LE(MAX_PACKET_PAYLOAD - 9, 1);
  payload.writeUInt32LE(0, 5);
  const s = Buffer.concat([pkt(1, hex('01')), pkt(2, coldef('blob', 0xfc, 63)), pkt(3, eof(0, AC)), pkt(4, payload), pkt(5, Buffer.alloc(0)), pkt(6, eof(0, AC))]);
  const r = check(Cap.PROTOCOL_41, Resp.QUERY, s, s, false, { every: false });
  assert.is(r.relay.rows, 1);
});

// ---- COM_STMT_PREPARE

function prepareOk(id: number, cols: number, params: number, warnings: number): Buffer {
  return new PacketWriter(12).u8(0).u32(id).u16(cols).u16(params).u8(0).u16(warnings).finish(0).subarray(4);
}

test('PREPARE response → classic client: statement id rewritten, everything else identical', () => {
  const s = Buffer.concat([
    pkt(1, prepareOk(7, 2, 2, 0)),
    pkt(2, coldef('?')),
    pkt(3, coldef('?')),
    pkt(4, eof(0, AC)),
    pkt(5, coldef('id', 0x03, 63)),
    pkt(6, coldef('name')),
    pkt(7, eof(0, AC)),
  ]);
  const expected = Buffer.concat([pkt(1, prepareOk(1000, 2, 2, 0)), s.subarray(pkt(1, prepareOk(7, 2, 2, 0)).length)]);
  const r = check(Cap.PROTOCOL_41, Resp.PREPARE, s, expected);
  assert.equal(r.host.events.filter((e) => e[0] === 'prepare'), [['prepare', 7, 2, 2, 0]]);
});

test('PREPARE response → DEPRECATE_EOF client: param and column EOFs dropped, seq renumbered', () => {
  const s = Buffer.concat([
    pkt(1, prepareOk(0x01020304, 1, 2, 3)),
    pkt(2, coldef('?')),
    pkt(3, coldef('?')),
    pkt(4, eof(0, AC)),
    pkt(5, coldef('id', 0x03, 63)),
    pkt(6, eof(0, AC)),
  ]);
  const expected = Buffer.concat([pkt(1, prepareOk(42, 1, 2, 3)), pkt(2, coldef('?')), pkt(3, coldef('?')), pkt(4, coldef('id', 0x03, 63))]);
  const r = check(Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF, Resp.PREPARE, s, expected, false, { setup: (h) => (h.prepareId = 42) });
  assert.equal(r.host.events.filter((e) => e[0] === 'prepare'), [['prepare', 0x01020304, 1, 2, 3]]);
  assert.is(r.relay.lastSeq, 4);
});

test('PREPARE refused with 1461: retried once when the host freed statements, the ERR never reaches the client', () => {
  const refused = pkt(1, err(1461, '42000', "Can't create more than max_prepared_stmt_count statements (current value: 10)"));
  const ok = Buffer.concat([pkt(1, prepareOk(5, 1, 0, 0)), pkt(2, coldef('a')), pkt(3, eof(0, AC))]);
  // host re-sent the PREPARE: the second answer is relayed as if it were the first
  const r = run(Cap.PROTOCOL_41, Resp.PREPARE, [refused, ok], (h) => (h.retry = true));
  assert.is(r.host.retries, 1);
  assert.is(r.host.bytes.toString('hex'), Buffer.concat([pkt(1, prepareOk(1000, 1, 0, 0)), pkt(2, coldef('a')), pkt(3, eof(0, AC))]).toString('hex'));
  assert.equal(r.host.events[r.host.events.length - 1], ['done', false]);
  // a second 1461 is relayed (one retry only)
  const twice = run(Cap.PROTOCOL_41, Resp.PREPARE, [refused, refused], (h) => (h.retry = true));
  assert.is(twice.host.retries, 1);
  assert.is(twice.host.bytes.toString('hex'), refused.toString('hex'));
  assert.equal(twice.host.events[twice.host.events.length - 1], ['done', true]);
  // nothing to free: relayed at once
  const r2 = check(Cap.PROTOCOL_41, Resp.PREPARE, refused, refused, true);
  assert.is(r2.host.retries, 1);
  // other errors and other commands never ask
  const r3 = check(Cap.PROTOCOL_41, Resp.QUERY, refused, refused, true, { setup: (h) => (h.retry = true) });
  assert.is(r3.host.retries, 0);
});

test('PREPARE with no params / no columns / neither', () => {
  const noParams = Buffer.concat([pkt(1, prepareOk(5, 1, 0, 0)), pkt(2, coldef('a')), pkt(3, eof(0, AC))]);
  check(Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF, Resp.PREPARE, noParams, Buffer.concat([pkt(1, prepareOk(1000, 1, 0, 0)), pkt(2, coldef('a'))]));
  check(Cap.PROTOCOL_41, Resp.PREPARE, noParams, Buffer.concat([pkt(1, prepareOk(1000, 1, 0, 0)), pkt(2, coldef('a')), pkt(3, eof(0, AC))]));
  const noCols = Buffer.concat([pkt(1, prepareOk(5, 0, 1, 0)), pkt(2, coldef('?')), pkt(3, eof(0, AC))]);
  check(Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF, Resp.PREPARE, noCols, Buffer.concat([pkt(1, prepareOk(1000, 0, 1, 0)), pkt(2, coldef('?'))]));
  const neither = pkt(1, prepareOk(5, 0, 0, 0));
  check(Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF, Resp.PREPARE, neither, pkt(1, prepareOk(1000, 0, 0, 0)));
  const failed = pkt(1, err(1064, '42000', 'You have an error in your SQL syntax'));
  check(Cap.PROTOCOL_41, Resp.PREPARE, failed, failed, true);
});

// ---- other response shapes

test('column count ≥ 251 (lenenc 0xFC) is read correctly', () => {
  const n = 251;
  const parts = [pkt(1, hex('fc fb00'))];
  for (let i = 0; i < n; i++) parts.push(pkt(2 + i, coldef(`c${i}`)));
  parts.push(pkt((2 + n) & 0xff, eof(0, AC)));
  const cells: string[] = [];
  for (let i = 0; i < n; i++) cells.push(String(i % 10));
  parts.push(pkt((3 + n) & 0xff, row(...cells)));
  parts.push(pkt((4 + n) & 0xff, eof(0, AC)));
  const s = Buffer.concat(parts);
  const r = check(Cap.PROTOCOL_41, Resp.QUERY, s, s, false, { every: false });
  assert.is(r.relay.rows, 1);
  // DEPRECATE_EOF: sequence ids wrap past 255 and are renumbered modulo 256
  const dep = Buffer.concat([...parts.slice(0, 1 + n), pkt((2 + n) & 0xff, row(...cells)), pkt((3 + n) & 0xff, okEof(0, AC))]);
  check(Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF, Resp.QUERY, s, dep, false, { every: false });
});

test('COM_STMT_EXECUTE binary rows (first byte 0x00) → DEPRECATE_EOF client', () => {
  const bin = (v: number) => Buffer.from([0x00, 0x00, v, 0, 0, 0]);
  const s = Buffer.concat([pkt(1, hex('01')), pkt(2, coldef('id', 0x03, 63)), pkt(3, eof(0, AC)), pkt(4, bin(1)), pkt(5, bin(2)), pkt(6, eof(0, AC))]);
  check(Cap.PROTOCOL_41, Resp.EXECUTE, s, s);
  const r = check(Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF, Resp.EXECUTE, s, Buffer.concat([pkt(1, hex('01')), pkt(2, coldef('id', 0x03, 63)), pkt(3, bin(1)), pkt(4, bin(2)), pkt(5, okEof(0, AC))]));
  assert.is(r.relay.rows, 2);
});

test('COM_STMT_EXECUTE opening a cursor: the column EOF (CURSOR_EXISTS) ends the response', () => {
  const st = AC | Status.CURSOR_EXISTS;
  const s = Buffer.concat([pkt(1, hex('01')), pkt(2, coldef('id', 0x03, 63)), pkt(3, eof(0, st))]);
  check(Cap.PROTOCOL_41, Resp.EXECUTE, s, s);
  const r = check(Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF, Resp.EXECUTE, s, Buffer.concat([pkt(1, hex('01')), pkt(2, coldef('id', 0x03, 63)), pkt(3, okEof(0, st))]));
  assert.equal(r.host.events.filter((e) => e[0] === 'terminator').map((e) => e[1]), [st]);
});

test('COM_STMT_FETCH: rows then EOF', () => {
  const bin = Buffer.from([0x00, 0x00, 7, 0, 0, 0]);
  const s = Buffer.concat([pkt(1, bin), pkt(2, eof(0, AC | Status.CURSOR_EXISTS | Status.LAST_ROW_SENT))]);
  check(Cap.PROTOCOL_41, Resp.FETCH, s, s);
  check(Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF, Resp.FETCH, s, Buffer.concat([pkt(1, bin), pkt(2, okEof(0, AC | Status.CURSOR_EXISTS | Status.LAST_ROW_SENT))]));
});

test('COM_FIELD_LIST: column definitions then EOF (MORE_RESULTS never continues it)', () => {
  const s = Buffer.concat([pkt(1, coldef('a')), pkt(2, coldef('b')), pkt(3, eof(0, AC | MORE))]);
  check(Cap.PROTOCOL_41, Resp.FIELD_LIST, s, s);
  check(Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF, Resp.FIELD_LIST, s, Buffer.concat([pkt(1, coldef('a')), pkt(2, coldef('b')), pkt(3, okEof(0, AC | MORE))]));
});

test('COM_STATISTICS: one string packet', () => {
  const s = pkt(1, Buffer.from('Uptime: 5  Threads: 1  Questions: 2'));
  check(Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF, Resp.STATISTICS, s, s);
});

// ---- protocol violations

test('bytes after the end of the response (same chunk) → onRelayFailed with a ProtocolError, no onRelayDone', () => {
  const s = Buffer.concat([pkt(1, okTracked(0, AC, 0)), hex('01000002 00')]);
  const { host } = run(Cap.PROTOCOL_41, Resp.QUERY, [s]);
  assert.is(host.count('failed'), 1);
  const f = host.events.find((e) => e[0] === 'failed') as ['failed', Error];
  assert.ok(f[1] instanceof ProtocolError);
  assert.match(f[1].message, /after the end of the response/);
  assert.is(host.count('done'), 0);
});

test('bytes after the end of the response (next chunk) → onRelayFailed after onRelayDone', () => {
  const { host, relay } = run(Cap.PROTOCOL_41, Resp.QUERY, [rsStream, hex('00')]);
  assert.is(host.count('done'), 1);
  assert.is(host.count('failed'), 1);
  assert.equal(host.events.map((e) => e[0]).slice(-2), ['done', 'failed']);
  assert.ok(relay.done);
});

test('backend closes mid-response → onRelayFailed once; after the end → nothing', () => {
  const a = run(Cap.PROTOCOL_41, Resp.QUERY, [rsStream.subarray(0, 30)]);
  a.relay.onBackendClose(null);
  a.relay.onBackendClose(null);
  assert.is(a.host.count('failed'), 1);
  assert.is(a.host.count('done'), 0);
  const b = run(Cap.PROTOCOL_41, Resp.QUERY, [rsStream]);
  b.relay.onBackendClose(null);
  assert.is(b.host.count('failed'), 0);
});

test('client backpressure: onClientBackpressure reported when writeClient returns false', () => {
  const half = rsStream.subarray(0, 40);
  const { host } = run(Cap.PROTOCOL_41, Resp.QUERY, [half], (h) => (h.writable = false));
  assert.is(host.count('backpressure'), 1);
});

test('the relay can be reused: start() resets sequence bookkeeping', () => {
  const host = new FakeHost(Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF);
  const relay = new ResultRelay(host);
  relay.start(Resp.QUERY);
  relay.onBackendData(Buffer.from(rsStream));
  relay.start(Resp.QUERY);
  relay.onBackendData(Buffer.from(rsStream));
  assert.is(host.count('done'), 2);
  assert.is(host.count('failed'), 0);
  assert.is(relay.seqDelta, -1);
  assert.is(relay.lastSeq, 7);
});

test.run();
