/**
 * GTID positions: parsing (and refusing), canonical formatting, per-domain merge and coverage,
 * distance and the time-based lag estimate; last_gtid out of session-state blocks built with the
 * codec's writer (also truncated at every offset: null, never a throw); MASTER_GTID_WAIT text and
 * answers.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  EMPTY_GTID_POS,
  estimateLagSeconds,
  formatGtidPos,
  gtidCovers,
  gtidDistance,
  GtidParseError,
  interpretGtidWait,
  lastGtidFromSessionState,
  masterGtidWaitSql,
  mergeGtidPos,
  parseGtidPos,
  trackingReportsLastGtid,
  tryParseGtidPos,
} from '../../../src/backend/gtid';
import { PacketWriter } from '../../../src/protocol/packet-writer';

const P = parseGtidPos;
const F = formatGtidPos;

test('parse and format: canonical order, whitespace, empty, 64-bit sequence numbers', () => {
  assert.is(F(P('0-1-42')), '0-1-42');
  assert.is(F(P(' 1-2-7 , 0-1-42 ')), '0-1-42,1-2-7');
  assert.is(F(P('')), '');
  assert.is(F(P('   ')), '');
  assert.is(F(P('0-1-18446744073709551615')), '0-1-18446744073709551615');
  assert.is(P('0-1-18446744073709551615').get(0)?.seq, 18446744073709551615n);
  assert.is(F(P('4294967295-4294967295-1')), '4294967295-4294967295-1');
  // A repeated domain keeps the higher sequence number.
  assert.is(F(P('0-1-5,0-2-9,0-3-7')), '0-2-9');
});

test('parse refuses malformed and out-of-range GTIDs', () => {
  for (const bad of ['0-1', '0-1-2-3', 'a-1-2', '0-1-', '0-1-2,', ',0-1-2', '0-1-2;DROP TABLE t', "0-1-2'", '-1-1-1', '4294967296-1-1', '0-1-18446744073709551616', '0 - 1 - 2']) {
    assert.throws(() => P(bad), (e: Error) => e instanceof GtidParseError, bad);
    assert.is(tryParseGtidPos(bad), null, bad);
  }
  assert.is(tryParseGtidPos(null), null);
  assert.is(F(tryParseGtidPos('0-1-3') ?? EMPTY_GTID_POS), '0-1-3');
});

test('merge is a per-domain maximum and returns the left operand when nothing changes', () => {
  const a = P('0-1-10,1-2-5');
  assert.is(F(mergeGtidPos(a, P('0-1-12'))), '0-1-12,1-2-5');
  assert.is(F(mergeGtidPos(a, P('2-3-1'))), '0-1-10,1-2-5,2-3-1');
  assert.is(F(mergeGtidPos(a, P('0-9-12,1-2-4'))), '0-9-12,1-2-5');
  assert.is(mergeGtidPos(a, P('0-1-9,1-2-5')), a);
  assert.is(mergeGtidPos(a, EMPTY_GTID_POS), a);
  assert.is(F(mergeGtidPos(EMPTY_GTID_POS, a)), F(a));
  // Inputs are untouched.
  assert.is(F(a), '0-1-10,1-2-5');
});

test('covers: every domain of the need, by sequence number, server id ignored', () => {
  assert.ok(gtidCovers(P('0-1-10'), P('0-1-10')));
  assert.ok(gtidCovers(P('0-1-11'), P('0-2-10')));
  assert.not.ok(gtidCovers(P('0-1-9'), P('0-1-10')));
  assert.not.ok(gtidCovers(P('0-1-10'), P('0-1-10,1-1-1')));
  assert.ok(gtidCovers(P('0-1-10,1-1-1,5-5-5'), P('0-1-10,1-1-1')));
  assert.ok(gtidCovers(EMPTY_GTID_POS, EMPTY_GTID_POS));
  assert.ok(gtidCovers(P('0-1-1'), EMPTY_GTID_POS));
  assert.not.ok(gtidCovers(EMPTY_GTID_POS, P('0-1-1')));
});

test('distance counts missing transactions per domain; being ahead counts zero', () => {
  assert.is(gtidDistance(P('0-1-10,1-2-5'), P('0-1-7,1-2-5')), 3n);
  assert.is(gtidDistance(P('0-1-10,1-2-5'), P('0-1-7')), 8n);
  assert.is(gtidDistance(P('0-1-10'), P('0-1-12')), 0n);
});

test('lag estimate: age of the oldest primary position the replica lacks', () => {
  const h = [
    { at: 10_000, pos: P('0-1-5') },
    { at: 11_000, pos: P('0-1-6') },
    { at: 14_000, pos: P('0-1-9') },
  ];
  assert.is(estimateLagSeconds(P('0-1-9'), h, 20_000), 0);
  assert.is(estimateLagSeconds(P('0-1-7'), h, 20_000), 6);
  assert.is(estimateLagSeconds(P('0-1-5'), h, 20_000), 9);
  assert.is(estimateLagSeconds(P('0-1-1'), h, 20_000), 10);
  assert.is(estimateLagSeconds(P('0-1-1'), [], 20_000), null);
  // Clock skew between observation and now never gives a negative lag.
  assert.is(estimateLagSeconds(P('0-1-1'), h, 9_000), 0);
});

function block(entries: Array<[number, Buffer]>): Buffer {
  const w = new PacketWriter(64);
  for (const [type, data] of entries) w.u8(type).lenencBytes(data);
  return w.finish(0).subarray(4);
}
function sysvar(name: string, value: string): [number, Buffer] {
  return [0, new PacketWriter(32).lenencString(name).lenencString(value).finish(0).subarray(4)];
}

test('last_gtid out of a session-state block: alone, among others, absent', () => {
  assert.is(lastGtidFromSessionState(block([sysvar('last_gtid', '0-1-42')])), '0-1-42');
  const mixed = block([[1, new PacketWriter(8).lenencString('test').finish(0).subarray(4)], sysvar('autocommit', 'ON'), sysvar('last_gtid', '0-1-43,1-2-7'), [5, Buffer.from('\x08________')]]);
  assert.is(lastGtidFromSessionState(mixed), '0-1-43,1-2-7');
  assert.is(lastGtidFromSessionState(block([sysvar('autocommit', 'OFF')])), null);
  assert.is(lastGtidFromSessionState(block([sysvar('last_gtidx', '0-1-1'), sysvar('last_gti', '0-1-2')])), null);
  assert.is(lastGtidFromSessionState(null), null);
  assert.is(lastGtidFromSessionState(Buffer.alloc(0)), null);
  // A long value (lenenc 0xfc) is read whole.
  const long = Array.from({ length: 30 }, (_, i) => `${i}-1-${1000 + i}`).join(',');
  assert.is(lastGtidFromSessionState(block([sysvar('last_gtid', long)])), long);
});

test('last_gtid: a block truncated at any offset gives null or the full value, never a throw or a partial value', () => {
  const full = block([sysvar('autocommit', 'ON'), sysvar('last_gtid', '0-1-4242')]);
  for (let i = 0; i < full.length; i++) {
    const got = lastGtidFromSessionState(full.subarray(0, i));
    assert.is(got, null, `cut at ${i}`);
  }
  assert.is(lastGtidFromSessionState(full), '0-1-4242');
});

test('which tracking settings report last_gtid', () => {
  assert.ok(trackingReportsLastGtid('*'));
  assert.ok(trackingReportsLastGtid('autocommit, LAST_GTID'));
  assert.not.ok(trackingReportsLastGtid('autocommit,character_set_client,character_set_connection,character_set_results,time_zone'));
  assert.not.ok(trackingReportsLastGtid(''));
});

test('MASTER_GTID_WAIT statement: canonical position, seconds with ms precision, bounded', () => {
  assert.is(masterGtidWaitSql(P('1-2-7,0-1-42'), 500), "SELECT MASTER_GTID_WAIT('0-1-42,1-2-7', 0.500)");
  assert.is(masterGtidWaitSql(P('0-1-1'), 0), "SELECT MASTER_GTID_WAIT('0-1-1', 0.000)");
  assert.is(masterGtidWaitSql(P('0-1-1'), -5), "SELECT MASTER_GTID_WAIT('0-1-1', 0.000)");
  assert.is(masterGtidWaitSql(P('0-1-1'), 1e12), "SELECT MASTER_GTID_WAIT('0-1-1', 3600.000)");
  assert.throws(() => masterGtidWaitSql(EMPTY_GTID_POS, 100), (e: Error) => e instanceof GtidParseError);
});

test('MASTER_GTID_WAIT answers', () => {
  assert.equal(interpretGtidWait('0'), { kind: 'reached' });
  assert.equal(interpretGtidWait(Buffer.from('-1')), { kind: 'timeout' });
  assert.equal(interpretGtidWait(null), { kind: 'failed', detail: 'MASTER_GTID_WAIT returned NULL' });
  assert.equal(interpretGtidWait('1'), { kind: 'failed', detail: "MASTER_GTID_WAIT returned '1'" });
});

test.run();
