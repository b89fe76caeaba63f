/**
 * Native fast lane: every eject point hands JS exactly what it needs to continue — the reason, the
 * info[] snapshot, the unconsumed client bytes, the unrelayed backend bytes (at a packet boundary)
 * and the in-flight command as the client sent it — and the client has received exactly the
 * packets relayed before that point.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BACKEND_CLOSED,
  CLIENT_CLOSED,
  DECLINED,
  laneNativeUnavailable,
  PH_COLDEF_EOF,
  PH_FIRST,
  PH_NONE,
  PH_ROWS,
  PROTOCOL,
  RESPONSE,
  SLOW,
} from '../../../src/io/lane-native';
import {
  colDef,
  eofPayload,
  errPayload,
  execPayload,
  native,
  okPayload,
  pkt,
  queryPayload,
  resultPayloads,
  Rig,
  seqPackets,
  sleep,
  textRow,
  turns,
  type Eject,
} from './lane-native-harness';

const SLOT = 12;
const CID = 5;
const BID = 500;
const EXPECT = 0x0002;

async function rigWithStmt(slowUs = 0): Promise<Rig> {
  const rig = await Rig.create();
  native!.setStmt(rig.id, CID, BID, 1, Buffer.from([0x08, 0x00]), SLOT);
  assert.ok(rig.attach({ expectStatus: EXPECT, slowUs }));
  return rig;
}

const execCmd = () => pkt(0, execPayload(CID, { numParams: 1, bound: 1, types: [0x08, 0x00], values: Buffer.alloc(8, 1) }));

/** Sends one execute and waits until the backend has it. */
async function startExec(rig: Rig): Promise<Buffer> {
  const cmd = execCmd();
  const before = rig.toBackend.length;
  rig.client.write(cmd);
  await rig.toBackend.waitFor(before + cmd.length);
  return cmd;
}

/** Backend sends `relayed` then `rest`; the lane ejects at the start of `rest`. */
async function ejectAt(rig: Rig, relayed: Buffer, rest: Buffer): Promise<Eject> {
  rig.backend.write(Buffer.concat([relayed, rest]));
  const e = await rig.nextEject();
  await rig.toClient.waitFor(relayed.length);
  await turns();
  assert.equal(rig.toClient.bytes(), relayed, 'client got exactly the packets before the eject point');
  assert.equal(e.backendRest, rest.length ? rest : null, 'backendRest starts at the eject point');
  return e;
}

function assertInFlight(e: Eject, cmd: Buffer, phase: number): void {
  assert.is(e.reason, RESPONSE);
  assert.is(e.info[0], phase, 'phase');
  assert.equal(e.cmd, cmd.subarray(4), 'cmd = the payload as the client sent it (client statement id)');
  assert.is(e.info[8], SLOT, 'slot of the in-flight statement');
  assert.is(e.info[12], cmd.length, 'bytesIn');
  assert.ok(e.info[7] >= 0);
  assert.is(e.clientRest, null);
}

if (!native) {
  test('native fast lane not built: skipped', () => {
    console.log(`[lane-native] skipped: native fast lane unavailable: ${laneNativeUnavailable}`);
  });
} else {
  test('ERR / OK / 0xFB / 0xFE as the first packet eject RESPONSE in phase FIRST, nothing relayed', async () => {
    for (const first of [errPayload(1146, "Table 't' doesn't exist"), okPayload(), Buffer.from([0xfb, 0x41]), eofPayload(EXPECT)]) {
      const rig = await rigWithStmt();
      try {
        const cmd = await startExec(rig);
        const e = await ejectAt(rig, Buffer.alloc(0), pkt(1, first));
        assertInFlight(e, cmd, PH_FIRST);
        assert.is(e.info[11], 0, 'nothing relayed yet');
      } finally {
        rig.close();
      }
    }
  });

  test('ERR after 2 rows ejects in phase ROWS with the rows relayed', async () => {
    const rig = await rigWithStmt();
    try {
      const cmd = await startExec(rig);
      const head = resultPayloads(2, [textRow('a', 'b'), textRow('c', 'd')]).slice(0, -1); // without the terminator
      const relayed = seqPackets(1, head);
      const e = await ejectAt(rig, relayed, pkt(head.length + 1, errPayload(1317, 'interrupted')));
      assertInFlight(e, cmd, PH_ROWS);
      assert.is(e.info[2], 2, 'rows relayed');
      assert.is(e.info[10], 2, 'column count');
      assert.is(e.info[11], head.length, 'sequence id of the last packet relayed');
    } finally {
      rig.close();
    }
  });

  test('terminator with warnings, SESSION_STATE_CHANGED or MORE_RESULTS, or another status: RESPONSE in phase ROWS, terminator not relayed', async () => {
    const terminators = [eofPayload(EXPECT, 1), eofPayload(EXPECT | 0x4000), eofPayload(EXPECT | 0x0008), eofPayload(0x0003), Buffer.from([0xfe, 0, 0, 2, 0, 0, 0])];
    for (const term of terminators) {
      const rig = await rigWithStmt();
      try {
        const cmd = await startExec(rig);
        const head = resultPayloads(1, [textRow('x')]).slice(0, -1);
        const e = await ejectAt(rig, seqPackets(1, head), pkt(head.length + 1, term));
        assertInFlight(e, cmd, PH_ROWS);
        assert.is(e.info[2], 1);
      } finally {
        rig.close();
      }
    }
  });

  test('column-definition EOF with SESSION_STATE_CHANGED / MORE_RESULTS / CURSOR_EXISTS, or not an EOF: RESPONSE in phase COLDEF_EOF', async () => {
    for (const eof of [eofPayload(EXPECT | 0x4000), eofPayload(EXPECT | 0x0008), eofPayload(EXPECT | 0x0040), colDef('extra')]) {
      const rig = await rigWithStmt();
      try {
        const cmd = await startExec(rig);
        const relayed = seqPackets(1, [Buffer.from([1]), colDef('a')]);
        const e = await ejectAt(rig, relayed, pkt(3, eof));
        assertInFlight(e, cmd, PH_COLDEF_EOF);
        assert.is(e.info[10], 1);
        assert.is(e.info[11], 2);
      } finally {
        rig.close();
      }
    }
  });

  test('column counts the lane does not take (0, lenenc 0xFC 0, trailing bytes, 0xFF) eject in phase FIRST', async () => {
    for (const first of [Buffer.from([0xfc, 0, 0]), Buffer.from([2, 0]), Buffer.from([0xfe, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Buffer.alloc(0)]) {
      const rig = await rigWithStmt();
      try {
        const cmd = await startExec(rig);
        const e = await ejectAt(rig, Buffer.alloc(0), pkt(1, first));
        assertInFlight(e, cmd, PH_FIRST);
      } finally {
        rig.close();
      }
    }
  });

  test('declined commands: cursor flag, bound=1 with other types, unknown id, short execute, other commands, seq != 0', async () => {
    const declined = [
      pkt(0, execPayload(CID, { flags: 1, numParams: 1, bound: 1, types: [0x08, 0x00], values: Buffer.alloc(8) })),
      pkt(0, execPayload(CID, { numParams: 1, bound: 1, types: [0x03, 0x00], values: Buffer.alloc(4) })),
      pkt(0, execPayload(CID, { numParams: 1, bound: 1, types: [0x08] })),
      pkt(0, execPayload(CID, { numParams: 1, bound: 2, values: Buffer.alloc(8) })),
      pkt(0, execPayload(CID).subarray(0, 10)),
      pkt(0, execPayload(CID + 1, { numParams: 1, bound: 0 })),
      pkt(0, execPayload(CID).subarray(0, 9)),
      pkt(0, Buffer.from([0x0e])),
      pkt(0, Buffer.from([0x19, 5, 0, 0, 0])),
      pkt(1, execPayload(CID, { numParams: 1, bound: 0, values: Buffer.alloc(8) })),
      pkt(0, Buffer.alloc(0)),
    ];
    const rig = await rigWithStmt();
    try {
      for (const [i, cmd] of declined.entries()) {
        if (i > 0) assert.ok(rig.attach({ expectStatus: EXPECT }));
        // a following command stays in clientRest behind the declined one
        const next = pkt(0, queryPayload('SELECT 1'));
        rig.client.write(Buffer.concat([cmd, next]));
        const e = await rig.nextEject();
        assert.is(e.reason, DECLINED, `#${i}`);
        assert.is(e.info[0], PH_NONE);
        assert.is(e.cmd, null);
        // one small write arrives in one read: the lane read both packets
        assert.equal(e.clientRest, Buffer.concat([cmd, next]), `#${i} clientRest = the declined packet and what follows`);
      }
      assert.is(rig.toBackend.length, 0, 'nothing reached the backend');
    } finally {
      rig.close();
    }
  });

  test('oversized packets: a client packet over the cap declines at its header; a backend packet over it ejects RESPONSE at its boundary', async () => {
    let rig = await rigWithStmt();
    try {
      const big = pkt(0, queryPayload('SELECT ' + '1,'.repeat(40_000) + '1'));
      rig.client.write(big);
      const e = await rig.nextEject();
      assert.is(e.reason, DECLINED);
      assert.ok(e.clientRest!.length >= 4 && big.subarray(0, e.clientRest!.length).equals(e.clientRest!), 'clientRest is a prefix of the big packet');
    } finally {
      rig.close();
    }
    rig = await rigWithStmt();
    try {
      const cmd = await startExec(rig);
      const relayed = seqPackets(1, [Buffer.from([1]), colDef('a'), eofPayload(EXPECT)]);
      const rowValue = Buffer.alloc(69_996, 0x61);
      const bigRow = pkt(4, Buffer.concat([Buffer.from([0xfd, 69_996 & 0xff, (69_996 >> 8) & 0xff, 69_996 >> 16]), rowValue]));
      rig.backend.write(Buffer.concat([relayed, bigRow]));
      const e2 = await rig.nextEject();
      await rig.toClient.waitFor(relayed.length);
      await turns();
      assert.equal(rig.toClient.bytes(), relayed);
      assert.is(e2.reason, RESPONSE);
      assert.is(e2.info[0], PH_ROWS);
      assert.equal(e2.cmd, cmd.subarray(4));
      assert.ok(e2.backendRest!.length >= 4 && bigRow.subarray(0, e2.backendRest!.length).equals(e2.backendRest!), 'backendRest is a prefix of the big row');
    } finally {
      rig.close();
    }
  });

  test('client closes mid-statement: CLIENT_CLOSED with the phase and cmd', async () => {
    const rig = await rigWithStmt();
    try {
      const cmd = await startExec(rig);
      rig.backend.write(seqPackets(1, [Buffer.from([1]), colDef('a')]));
      await rig.toClient.waitFor(4 + 1 + 4 + colDef('a').length);
      rig.client.end();
      const e = await rig.nextEject();
      assert.is(e.reason, CLIENT_CLOSED);
      assert.is(e.info[0], PH_COLDEF_EOF);
      assert.equal(e.cmd, cmd.subarray(4));
      assert.is(e.info[11], 2);
    } finally {
      rig.close();
    }
  });

  test('backend closes: BACKEND_CLOSED in flight (with the bytes not relayed) and idle', async () => {
    let rig = await rigWithStmt();
    try {
      const cmd = await startExec(rig);
      const partial = pkt(1, Buffer.from([1])).subarray(0, 3);
      rig.backend.end(partial);
      const e = await rig.nextEject();
      assert.is(e.reason, BACKEND_CLOSED);
      assert.is(e.info[0], PH_FIRST);
      assert.equal(e.cmd, cmd.subarray(4));
      assert.equal(e.backendRest, partial);
    } finally {
      rig.close();
    }
    rig = await rigWithStmt();
    try {
      rig.backend.end();
      const e = await rig.nextEject();
      assert.is(e.reason, BACKEND_CLOSED);
      assert.is(e.info[0], PH_NONE);
      assert.is(e.cmd, null);
      assert.is(e.backendRest, null);
    } finally {
      rig.close();
    }
  });

  test('backend bytes while nothing is in flight: PROTOCOL with the bytes', async () => {
    const rig = await rigWithStmt();
    try {
      const stray = pkt(1, okPayload());
      rig.backend.write(stray);
      const e = await rig.nextEject();
      assert.is(e.reason, PROTOCOL);
      assert.is(e.info[0], PH_NONE);
      assert.equal(e.backendRest, stray);
    } finally {
      rig.close();
    }
  });

  test('backend bytes after the terminator in the same read: the statement completes, then PROTOCOL', async () => {
    const rig = await rigWithStmt();
    try {
      await startExec(rig);
      const response = seqPackets(1, resultPayloads(1, [textRow('1')]));
      const extra = pkt(1, okPayload());
      rig.backend.write(Buffer.concat([response, extra]));
      const e = await rig.nextEject();
      await rig.toClient.waitFor(response.length);
      assert.equal(rig.toClient.bytes(), response);
      assert.is(e.reason, PROTOCOL);
      assert.is(e.info[3], 1);
      assert.equal(e.backendRest, extra);
    } finally {
      rig.close();
    }
  });

  test('SLOW: a statement taking >= slowUs completes, then ejects in phase NONE', async () => {
    const rig = await rigWithStmt(1);
    try {
      await startExec(rig);
      await sleep(5);
      const response = seqPackets(1, resultPayloads(1, [textRow('1'), textRow('2')]));
      rig.backend.write(response);
      const e = await rig.nextEject();
      await rig.toClient.waitFor(response.length);
      assert.equal(rig.toClient.bytes(), response);
      assert.is(e.reason, SLOW);
      assert.is(e.info[0], PH_NONE);
      assert.is(e.info[3], 1);
      assert.is(e.info[4], 2);
      assert.is(e.info[5], EXPECT);
      assert.is(e.info[8], SLOT);
      assert.ok(e.info[9] >= 1);
      assert.is(e.cmd, null);
      assert.is(e.backendRest, null);
    } finally {
      rig.close();
    }
  });
}

test.run();
