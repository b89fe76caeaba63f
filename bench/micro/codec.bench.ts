/**
 * Hot-path codec micro benches: Framer over a 16 KiB chunk of 100 packets, scanQuery on a point
 * select and a 1 KiB INSERT, parseOk, and ResultRelay relaying a 10-row result set to a fake host.
 * Each bench checks its function's answer once before timing it.
 */
import { bench } from './harness';
import { Framer } from '../../src/protocol/framer';
import { PacketWriter } from '../../src/protocol/packet-writer';
import { parseOk } from '../../src/protocol/ok-err';
import { Cap, Status } from '../../src/protocol/constants';
import { scanQuery } from '../../src/classify/lexer';
import { ResultRelay, Resp, type RelayHost } from '../../src/server/result-relay';

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`codec bench self-check failed: ${what}`);
}

// ---- Framer: 16 KiB chunk holding 100 packets (99 × 160-byte payloads + one 144-byte payload)

const CHUNK = 16 * 1024;
const packets: Buffer[] = [];
for (let i = 0; i < 99; i++) packets.push(new PacketWriter(160).u8(0x03).zeros(159).finish(i & 0xff));
packets.push(new PacketWriter(144).u8(0x03).zeros(CHUNK - 99 * 164 - 4 - 1).finish(99));
const chunk = Buffer.concat(packets);
check(chunk.length === CHUNK, `chunk is ${chunk.length} bytes`);

const framer = new Framer(1 << 24);
function frameChunk(c: Buffer): number {
  framer.push(c);
  let n = 0;
  while (framer.next() !== null) n++;
  return n;
}
check(frameChunk(chunk) === 100, 'framer yields 100 frames');
// The same bytes arriving as two chunks cut in the middle of a packet (one frame reassembled by copy).
const cutA = chunk.subarray(0, 8190);
const cutB = chunk.subarray(8190);
function frameSplit(): number {
  return frameChunk(cutA) + frameChunk(cutB);
}
check(frameSplit() === 100, 'split framer yields 100 frames');

bench('Framer: 16 KiB chunk, 100 packets', () => frameChunk(chunk), { iterations: 2000 });
bench('Framer: same bytes in 2 chunks (1 straddling)', frameSplit, { iterations: 2000 });

// ---- scanQuery

const pointSelect = Buffer.from('\x03SELECT c FROM sbtest1 WHERE id=4711', 'latin1');
const values: string[] = [];
for (let i = 0; values.join(',').length < 1000; i++) values.push(`(${1000 + i},'user${i}@example.com',${i * 7},NOW())`);
const insert = Buffer.from(`\x03INSERT INTO accounts (id, email, score, created_at) VALUES ${values.join(',')}`, 'latin1');
check(insert.length >= 1024 && insert.length < 1200, `insert is ${insert.length} bytes`);
check(scanQuery(pointSelect, 1, pointSelect.length).kind === 'SELECT', 'point select kind');
check(scanQuery(insert, 1, insert.length).kind === 'INSERT' && scanQuery(insert, 1, insert.length).flags === 0, 'insert kind/flags');

bench(`scanQuery: point select (${pointSelect.length - 1} B)`, () => scanQuery(pointSelect, 1, pointSelect.length).flags, { iterations: 100000 });
bench(`scanQuery: INSERT (${insert.length - 1} B)`, () => scanQuery(insert, 1, insert.length).flags, { iterations: 20000 });

// ---- parseOk

const okPlain = new PacketWriter(16).u8(0).lenenc(1).lenenc(0).u16(Status.AUTOCOMMIT).u16(0).finish(0).subarray(4);
const stateBlock = new PacketWriter(64).u8(0).lenencBytes(new PacketWriter(32).lenencString('autocommit').lenencString('OFF').finish(0).subarray(4)).finish(0).subarray(4);
const okState = new PacketWriter(64).u8(0).lenenc(0).lenenc(0).u16(Status.SESSION_STATE_CHANGED).u16(0).lenencString('').lenencBytes(stateBlock).finish(0).subarray(4);
check(parseOk(okPlain, Cap.SESSION_TRACK).affectedRows === 1, 'parseOk plain');
check(parseOk(okState, Cap.SESSION_TRACK).sessionState?.equals(stateBlock) === true, 'parseOk state');

bench('parseOk: plain OK', () => parseOk(okPlain, Cap.SESSION_TRACK).status, { iterations: 200000 });
bench('parseOk: OK with session-state block', () => parseOk(okState, Cap.SESSION_TRACK).status, { iterations: 200000 });

// ---- ResultRelay: 10-row text result set (classic EOF framing from the backend)

function rs(): Buffer {
  const parts: Buffer[] = [new PacketWriter(4).u8(2).finish(1)];
  let seq = 2;
  for (const name of ['id', 'c']) {
    parts.push(
      new PacketWriter(64).lenencString('def').lenencString('sbtest').lenencString('sbtest1').lenencString('sbtest1')
        .lenencString(name).lenencString(name).lenenc(0x0c).u16(45).u32(480).u8(0xfe).u16(0).u8(0).u16(0).finish(seq++),
    );
  }
  parts.push(new PacketWriter(8).u8(0xfe).u16(0).u16(Status.AUTOCOMMIT).finish(seq++));
  for (let i = 0; i < 10; i++) {
    parts.push(new PacketWriter(160).lenencString(String(4711 + i)).lenencString(`${i}`.padEnd(119, '-')).finish(seq++));
  }
  parts.push(new PacketWriter(8).u8(0xfe).u16(0).u16(Status.AUTOCOMMIT).finish(seq++));
  return Buffer.concat(parts);
}

const response = rs();
const work = Buffer.allocUnsafe(response.length);

class SinkHost implements RelayHost {
  bytes = 0;
  done = 0;
  constructor(readonly clientCaps: number) {}
  clientStateChange = false;
  corkClient(): void {}
  uncorkClient(): void {}
  writeClient(b: Buffer): boolean {
    this.bytes += b.length;
    return true;
  }
  onTerminator(): void {}
  filterSessionState(b: Buffer): Buffer | null {
    return b;
  }
  onPrepareOk(): number {
    return 1;
  }
  onLocalInfile(): void {}
  onRelayDone(): void {
    this.done++;
  }
  onRelayFailed(e: Error): void {
    throw e;
  }
  onClientBackpressure(): void {}
  retryPrepare(): boolean {
    return false;
  }
}

function relayBench(caps: number): { host: SinkHost; fn: () => number } {
  const host = new SinkHost(caps);
  const relay = new ResultRelay(host);
  return {
    host,
    fn: () => {
      // the relay patches sequence ids in place: give it a fresh copy each time (one 1.7 KiB memcpy)
      response.copy(work);
      relay.start(Resp.QUERY);
      relay.onBackendData(work);
      return host.bytes;
    },
  };
}

const classic = relayBench(Cap.PROTOCOL_41);
classic.fn();
check(classic.host.bytes === response.length && classic.host.done === 1, 'classic relay is byte-identical and ends once');
const dep = relayBench(Cap.PROTOCOL_41 | Cap.DEPRECATE_EOF | Cap.SESSION_TRACK);
dep.fn();
check(dep.host.bytes === response.length - 9 + 2 && dep.host.done === 1, `DEPRECATE_EOF relay drops 1 EOF, final EOF → 11-byte OK (${dep.host.bytes})`);

bench(`ResultRelay: 10 rows (${response.length} B), classic client`, classic.fn, { iterations: 50000 });
bench('ResultRelay: 10 rows, DEPRECATE_EOF client', dep.fn, { iterations: 50000 });
