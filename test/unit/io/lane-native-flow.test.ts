/**
 * Native fast lane flow control: pipelined commands go to the backend one at a time, a multi-MB
 * result survives a client that stops reading (no backend reads meanwhile, bytes identical after),
 * and JS can take a lane back at any time (detach / requestEject / sweep), also re-attaching from
 * inside onEject.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BUSY_LONG,
  DECLINED,
  DETACH,
  IDLE,
  laneNativeUnavailable,
  PH_COLDEFS,
  PH_FIRST,
  PH_NONE,
  REQUESTED,
} from '../../../src/io/lane-native';
import { clearSlot, colDef, execPayload, native, pkt, queryPayload, resultSet, Rig, seqPackets, sleep, slotStats, textRow, turns } from './lane-native-harness';

const SLOT = 20;

async function rigWithStmt(): Promise<Rig> {
  const rig = await Rig.create();
  native!.setStmt(rig.id, 1, 101, 0, null, SLOT);
  assert.ok(rig.attach());
  return rig;
}

const exec = () => pkt(0, execPayload(1));
const execBackend = () => pkt(0, execPayload(101));

if (!native) {
  test('native fast lane not built: skipped', () => {
    console.log(`[lane-native] skipped: native fast lane unavailable: ${laneNativeUnavailable}`);
  });
} else {
  const lane = native;

  test('pipelining: two executes in one client write go to the backend one after the other', async () => {
    const rig = await rigWithStmt();
    try {
      clearSlot(SLOT);
      rig.client.write(Buffer.concat([exec(), exec()]));
      await rig.toBackend.waitFor(exec().length);
      await sleep(20);
      assert.is(rig.toBackend.length, exec().length, 'the second waits for the first response');
      const r1 = resultSet(1, [textRow('one')]);
      const r2 = resultSet(1, [textRow('two'), textRow('2')]);
      rig.backend.write(r1);
      assert.equal(await rig.toBackend.waitFor(2 * exec().length), Buffer.concat([execBackend(), execBackend()]));
      rig.backend.write(r2);
      assert.equal(await rig.toClient.waitFor(r1.length + r2.length), Buffer.concat([r1, r2]));
      await turns();
      assert.is(slotStats(SLOT)[0], 2);
      assert.is(slotStats(SLOT)[4], 3);
      assert.is(rig.ejects.length, 0);
    } finally {
      rig.close();
    }
  });

  test('backpressure: a 16 MB result while the client is not reading arrives complete and identical', async () => {
    const rig = await rigWithStmt();
    try {
      rig.client.pause();
      rig.client.write(exec());
      await rig.toBackend.waitFor(exec().length);
      const rows = Array.from({ length: 16_000 }, (_, i) => textRow(String(i), 'r'.repeat(1000 + (i % 7))));
      const response = resultSet(2, rows);
      // more than loopback socket buffers hold (the kernel autotunes them up to several MB)
      assert.ok(response.length > 16_000_000);
      rig.backend.write(response);
      await sleep(200);
      assert.ok(lane.isBusy(rig.id), 'still relaying');
      assert.ok(rig.backend.writableLength > 0, 'the backend side is held back (the lane stopped reading it)');
      rig.client.resume();
      const got = await rig.toClient.waitFor(response.length, 30_000);
      assert.is(got.length, response.length);
      assert.ok(got.equals(response), 'bytes identical');
      await turns();
      assert.not.ok(lane.isBusy(rig.id));
      assert.is(rig.ejects.length, 0);
    } finally {
      rig.close();
    }
  });

  test('detach: idle (phase NONE) and in flight (phase, cmd, columns left, unrelayed bytes)', async () => {
    const rig = await rigWithStmt();
    try {
      assert.ok(lane.detach(rig.id));
      let e = await rig.nextEject();
      assert.is(e.reason, DETACH);
      assert.is(e.info[0], PH_NONE);
      assert.is(e.info[8], -1, 'no statement yet');

      assert.ok(rig.attach());
      rig.client.write(exec());
      await rig.toBackend.waitFor(exec().length);
      assert.ok(lane.detach(rig.id));
      e = rig.ejects.shift()!;
      assert.ok(e, 'detach ejects synchronously');
      assert.is(e.reason, DETACH);
      assert.is(e.info[0], PH_FIRST);
      assert.equal(e.cmd, exec().subarray(4));
      assert.is(e.info[8], SLOT);

      assert.ok(rig.attach());
      const before = rig.toBackend.length;
      rig.client.write(exec());
      await rig.toBackend.waitFor(before + exec().length);
      const relayed = seqPackets(1, [Buffer.from([2]), colDef('a')]);
      const partial = pkt(3, colDef('b')).subarray(0, 10);
      rig.backend.write(Buffer.concat([relayed, partial]));
      await rig.toClient.waitFor(relayed.length);
      await turns();
      assert.ok(lane.detach(rig.id));
      e = rig.ejects.shift()!;
      assert.is(e.info[0], PH_COLDEFS);
      assert.is(e.info[1], 1, 'one column definition to come');
      assert.is(e.info[10], 2);
      assert.is(e.info[11], 2);
      assert.equal(e.backendRest, partial);
      assert.equal(rig.toClient.bytes(), relayed);
      assert.is(e.info[13], 0, 'nothing relayed is left unwritten');
    } finally {
      rig.close();
    }
  });

  test('requestEject: idle ejects at once; in flight after the statement, with the next command left in clientRest', async () => {
    const rig = await rigWithStmt();
    try {
      lane.requestEject(rig.id);
      let e = rig.ejects.shift()!;
      assert.ok(e);
      assert.is(e.reason, REQUESTED);
      assert.is(e.info[0], PH_NONE);
      assert.not.ok(lane.isAttached(rig.id));
      lane.requestEject(rig.id); // detached: no-op

      assert.ok(rig.attach());
      const next = pkt(0, queryPayload('SELECT 2'));
      rig.client.write(Buffer.concat([exec(), next]));
      await rig.toBackend.waitFor(exec().length);
      await turns();
      lane.requestEject(rig.id);
      assert.is(rig.ejects.length, 0, 'not while in flight');
      assert.ok(lane.isAttached(rig.id));
      const r = resultSet(1, [textRow('z')]);
      rig.backend.write(r);
      e = await rig.nextEject();
      assert.is(e.reason, REQUESTED);
      assert.is(e.info[0], PH_NONE);
      assert.is(e.info[3], 1);
      assert.equal(e.clientRest, next);
      assert.equal(await rig.toClient.waitFor(r.length), r);
      assert.is(rig.toBackend.length, exec().length, 'the next command was not sent');
    } finally {
      rig.close();
    }
  });

  test('sweep: IDLE for idle lanes past idleMs, BUSY_LONG for lanes in flight past busyMs', async () => {
    const a = await rigWithStmt();
    const b = await rigWithStmt();
    try {
      assert.is(lane.sweep(60_000, 60_000), 0);
      b.client.write(exec());
      await b.toBackend.waitFor(exec().length);
      await sleep(5);
      assert.is(lane.sweep(1, 60_000), 1, 'only the idle lane');
      const ea = a.ejects.shift()!;
      assert.is(ea.reason, IDLE);
      assert.ok(ea.info[6] >= 1, 'ms since client bytes');
      assert.ok(lane.isAttached(b.id));
      assert.is(lane.sweep(60_000, 1), 1);
      const eb = b.ejects.shift()!;
      assert.is(eb.reason, BUSY_LONG);
      assert.is(eb.info[0], PH_FIRST);
      assert.ok(eb.info[7] >= 1000, 'µs in flight');
      assert.equal(eb.cmd, exec().subarray(4));
    } finally {
      a.close();
      b.close();
    }
  });

  test('re-attach inside onEject: a declined command handed to JS, the lane taken again at once', async () => {
    const rig = await rigWithStmt();
    try {
      const attachedInside: boolean[] = [];
      rig.onEjectHook = (e) => {
        if (e.reason === DECLINED) attachedInside.push(rig.attach());
      };
      const ping = pkt(0, Buffer.from([0x0e]));
      rig.client.write(ping);
      const e = await rig.nextEject();
      assert.is(e.reason, DECLINED);
      assert.equal(e.clientRest, ping);
      assert.equal(attachedInside, [true]);
      assert.ok(lane.isAttached(rig.id));
      rig.onEjectHook = null;
      rig.client.write(exec());
      await rig.toBackend.waitFor(exec().length);
      const r = resultSet(1, [textRow('again')]);
      rig.backend.write(r);
      assert.equal(await rig.toClient.waitFor(r.length), r);
    } finally {
      rig.close();
    }
  });

  test('an onEject that throws does not break the lane', async () => {
    const rig = await rigWithStmt();
    try {
      rig.onEjectHook = () => {
        throw new Error('thrown by onEject');
      };
      rig.client.write(pkt(0, Buffer.from([0x0e])));
      await sleep(50);
      assert.not.ok(lane.isAttached(rig.id));
      rig.onEjectHook = null;
      assert.ok(rig.attach());
      rig.client.write(exec());
      await rig.toBackend.waitFor(exec().length);
      const r = resultSet(1, [textRow('ok')]);
      rig.backend.write(r);
      assert.equal(await rig.toClient.waitFor(r.length), r);
    } finally {
      rig.close();
    }
  });
}

test.run();
