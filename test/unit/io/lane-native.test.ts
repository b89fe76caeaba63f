/**
 * Native fast lane (src/io/lane-native.ts, native/lane/lane.cc): the relay itself, on real loopback
 * sockets with a scripted client and backend. COM_STMT_EXECUTE goes out with the backend statement
 * id and the rest byte-identical, the result set comes back byte-identical in any chunking, stats
 * land in the statement's slot; text queries go through only when their shape key is in the lane's
 * table, and the shape key separates everything the JS literal-free key separates.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DECLINED, DETACH, laneNativeUnavailable, SHAPE_HIGH_BYTES_IN_QUOTES, SHAPE_NO_BACKSLASH_ESCAPES } from '../../../src/io/lane-native';
import { Prng, seedFrom } from '../../helpers/prng';
import {
  BOUNDS,
  clearSlot,
  execPayload,
  native,
  pkt,
  queryPayload,
  resultSet,
  Rig,
  slotStats,
  strayEjects,
  textRow,
  turns,
  withId,
} from './lane-native-harness';

if (!native) {
  test('native fast lane not built: skipped', () => {
    console.log(`[lane-native] skipped: native fast lane unavailable: ${laneNativeUnavailable}`);
  });
} else {
  const lane = native;

  test('execute: backend gets its own statement id, client gets the result set byte for byte, stats slot filled', async () => {
    const rig = await Rig.create();
    try {
      lane.setStmt(rig.id, 7, 0x01020304, 1, Buffer.from([0x03, 0x00]), 3);
      clearSlot(3);
      assert.ok(rig.attach({ expectStatus: 0x0002 }));
      assert.not.ok(rig.attach(), 'a second attach of the same lane is refused');
      assert.ok(lane.isAttached(rig.id));
      const cmd = pkt(0, execPayload(7, { numParams: 1, bound: 1, types: [0x03, 0x00], values: Buffer.from([42, 0, 0, 0]) }));
      rig.client.write(cmd);
      const sent = await rig.toBackend.waitFor(cmd.length);
      assert.equal(sent, withId(cmd, 0x01020304));
      assert.ok(lane.isBusy(rig.id));
      const response = resultSet(2, [textRow('1', 'a'), textRow('2', 'bb')], 0x0002 | 0x0010);
      rig.backend.write(response);
      const got = await rig.toClient.waitFor(response.length);
      assert.equal(got, response);
      await turns();
      assert.not.ok(lane.isBusy(rig.id));
      const s = slotStats(3);
      assert.is(s[0], 1, 'count');
      assert.ok(s[1] > 0 && s[2] === s[1] && s[3] === s[1], 'sum = min = max for one statement');
      assert.is(s[4], 2, 'rows');
      assert.is(s[5], cmd.length, 'bytesIn');
      assert.is(s[6], response.length, 'bytesOut');
      const buckets = s.slice(7, 8 + BOUNDS.length);
      assert.is(buckets.reduce((a, b) => a + b, 0), 1, 'one bucket count');
      const b = buckets.findIndex((x) => x === 1);
      assert.ok(b === BOUNDS.length ? s[1] > BOUNDS[b - 1]! : s[1] <= BOUNDS[b]! && (b === 0 || s[1] > BOUNDS[b - 1]!), 'the right bucket');
      assert.is(rig.ejects.length, 0, 'no eject');

      assert.ok(lane.detach(rig.id));
      const e = await rig.nextEject();
      assert.is(e.reason, DETACH);
      assert.is(e.info[0], 0);
      assert.is(e.info[3], 1, 'completed');
      assert.is(e.info[4], 2, 'last rows');
      assert.is(e.info[5], 0x0012, 'last status as sent');
      assert.is(e.info[8], 3, 'last slot');
      assert.ok(e.info[9] > 0, 'last µs');
      assert.is(e.clientRest, null);
      assert.is(e.backendRest, null);
      assert.is(e.cmd, null);
      assert.not.ok(lane.isAttached(rig.id));
      assert.not.ok(lane.detach(rig.id), 'detach of a detached lane is false');
    } finally {
      rig.close();
    }
  });

  test('execute without params and with bound=0; statements persist across attach', async () => {
    const rig = await Rig.create();
    try {
      lane.clearStmts(rig.id);
      lane.setStmt(rig.id, 1, 11, 0, null, 4);
      lane.setStmt(rig.id, 2, 22, 2, null, 5);
      for (let round = 0; round < 2; round++) {
        assert.ok(rig.attach());
        const c1 = pkt(0, execPayload(1));
        const c2 = pkt(0, execPayload(2, { numParams: 2, bound: 0, values: Buffer.from([1, 0, 0, 0, 2, 0, 0, 0]) }));
        for (const [c, id] of [
          [c1, 11],
          [c2, 22],
        ] as const) {
          const before = rig.toBackend.length;
          rig.client.write(c);
          const sent = await rig.toBackend.waitFor(before + c.length);
          assert.equal(sent.subarray(before), withId(c, id));
          const r = resultSet(1, [textRow('x')]);
          const cBefore = rig.toClient.length;
          rig.backend.write(r);
          const got = await rig.toClient.waitFor(cBefore + r.length);
          assert.equal(got.subarray(cBefore), r);
        }
        assert.ok(lane.detach(rig.id));
        assert.is((await rig.nextEject()).reason, DETACH);
      }
    } finally {
      rig.close();
    }
  });

  test('the result set arrives byte-identical however the backend chunks it (1-byte writes, seeded random chunkings)', async () => {
    const rig = await Rig.create();
    const seed = seedFrom('LANE_CHUNK_SEED');
    const rnd = new Prng(seed);
    try {
      lane.setStmt(rig.id, 9, 90, 0, null, 6);
      clearSlot(6);
      assert.ok(rig.attach());
      const small = resultSet(1, [textRow('hello')]);
      const runs = 40;
      for (let run = 0; run < runs; run++) {
        const response = run === 0 ? small : resultSet(rnd.range(1, 3), Array.from({ length: rnd.range(0, 5) }, (_, i) => textRow(`r${i}`, 'x'.repeat(rnd.int(300)))));
        const cmd = pkt(0, execPayload(9));
        const bBefore = rig.toBackend.length;
        rig.client.write(cmd);
        await rig.toBackend.waitFor(bBefore + cmd.length);
        const cBefore = rig.toClient.length;
        let at = 0;
        while (at < response.length) {
          const n = run === 0 ? 1 : Math.min(response.length - at, rnd.pick([1, 1, 2, 3, 4, 5, 7, 13, 64, 500]));
          rig.backend.write(response.subarray(at, at + n));
          at += n;
          await turns(rnd.int(3));
        }
        const got = await rig.toClient.waitFor(cBefore + response.length);
        assert.equal(got.subarray(cBefore), response, `run ${run} (seed ${seed})`);
      }
      await turns();
      assert.is(slotStats(6)[0], runs, `all statements counted (seed ${seed})`);
      assert.is(rig.ejects.length, 0, `no eject (seed ${seed})`);
    } finally {
      rig.close();
    }
  });

  test('the small result set split in two at every byte position arrives byte-identical', async () => {
    const rig = await Rig.create();
    try {
      lane.setStmt(rig.id, 9, 90, 0, null, 7);
      assert.ok(rig.attach());
      const response = resultSet(1, [textRow('hello')]);
      for (let cut = 1; cut < response.length; cut++) {
        const cmd = pkt(0, execPayload(9));
        const bBefore = rig.toBackend.length;
        rig.client.write(cmd);
        await rig.toBackend.waitFor(bBefore + cmd.length);
        const cBefore = rig.toClient.length;
        rig.backend.write(response.subarray(0, cut));
        await turns(2);
        rig.backend.write(response.subarray(cut));
        const got = await rig.toClient.waitFor(cBefore + response.length);
        assert.equal(got.subarray(cBefore), response, `cut at ${cut}`);
      }
      assert.is(rig.ejects.length, 0);
    } finally {
      rig.close();
    }
  });

  const q = (sql: string | Buffer) => queryPayload(sql);
  const key = (sql: string | Buffer, opts = 0) => lane.shapeKey(q(sql), opts);

  test('shapeKey: literal-only differences share a key', () => {
    const same: [string, string][] = [
      ['SELECT c FROM sbtest1 WHERE id=1', 'SELECT c FROM sbtest1 WHERE id=123456'],
      ["SELECT * FROM t WHERE a = 'x' AND b = 2", "SELECT * FROM t WHERE a = 'it''s \\' here' AND b = 99"],
      ['SELECT * FROM `t 1` WHERE id IN (1, 2, 3)', 'SELECT * FROM `t 1` WHERE id IN (4, 5, 6)'],
      ["UPDATE t SET a='' WHERE id=- 5", "UPDATE t SET a='zz' WHERE id=- 7"],
    ];
    for (const [a, b] of same) {
      const ka = key(a);
      assert.ok(ka, a);
      assert.equal(ka, key(b), `${a} ~ ${b}`);
    }
  });

  test('shapeKey: everything else differs or gets no key', () => {
    const differ: [string, string][] = [
      ['SELECT c FROM t WHERE id=1', 'SELECT c FROM t WHERE id= 1'],
      ['SELECT c FROM t WHERE id=1', 'select c FROM t WHERE id=1'],
      ['SELECT c FROM t WHERE id=1', 'SELECT c FROM t WHERE id=1.5'],
      ['SELECT c FROM t WHERE id=1', 'SELECT c FROM t WHERE id=1e5'],
      ['SELECT c FROM t WHERE id=1', 'SELECT c FROM t WHERE id=0x1f'],
      ['SELECT c FROM t1 WHERE id=1', 'SELECT c FROM t2 WHERE id=1'],
      ['SELECT a FROM t ORDER BY 1', 'SELECT a FROM t ORDER BY 1 '],
      ['SELECT 1', 'SELECT 1, 2'],
      ["SELECT 'a'", "SELECT 'a' 'b'"],
      ['SELECT c FROM t.x1', 'SELECT c FROM t.x2'],
      ['SELECT t.1', 'SELECT t.2'],
      ['SELECT t . 1', 'SELECT t . 2'],
      ['SELECT .5', 'SELECT .6'],
      ['SELECT `a1`', 'SELECT `a2`'],
      ["SELECT 'a\\'b'", "SELECT 'a\\'b' FROM t"],
    ];
    for (const [a, b] of differ) {
      const ka = key(a);
      const kb = key(b);
      assert.ok(ka === null || kb === null || !ka.equals(kb), `${a} !~ ${b}`);
    }
    // digits touching word bytes / dots are kept verbatim, so these must differ
    assert.not.equal(key('SELECT c1 FROM t'), key('SELECT c2 FROM t'));
    assert.not.equal(key('SELECT 1.5'), key('SELECT 2.5'));
    assert.not.equal(key('SELECT 1e5'), key('SELECT 2e5'));
    // rejected outright
    const rejected = [
      'SELECT "a"',
      'SELECT 1 # c',
      'SELECT 1 -- c',
      'SELECT 1 --c',
      'SELECT /* c */ 1',
      'SELECT /*!50000 1 */',
      'SELECT @a',
      'SELECT @@version',
      'SELECT 1; SELECT 2',
      'SELECT ?',
      "SELECT x'41'",
      "SELECT X'41'",
      "SELECT N'a'",
      "SELECT _utf8'a'",
      "SELECT b'01'",
      "GRANT ALL ON *.* TO 'u'@'h'",
      "SELECT 'unterminated",
      'SELECT `unterminated',
      "SELECT 'a\\'",
      'SELECT 1\x01',
      'SELECT 1\x0b',
      'SELECT 1\x00',
    ];
    for (const sql of rejected) assert.is(key(sql), null, JSON.stringify(sql));
    assert.is(key(Buffer.concat([Buffer.from('SELECT '), Buffer.from([0xc3, 0xa9])])), null, 'byte >= 0x80 outside quotes');
    assert.is(key(Buffer.concat([Buffer.from("SELECT '"), Buffer.from([0xc3, 0xa9]), Buffer.from("'")])), null, 'byte >= 0x80 in quotes without opt bit1');
    assert.ok(key(Buffer.concat([Buffer.from("SELECT '"), Buffer.from([0xc3, 0xa9]), Buffer.from("'")]), SHAPE_HIGH_BYTES_IN_QUOTES), 'allowed with bit1');
    assert.is(key(Buffer.concat([Buffer.from('SELECT '), Buffer.from([0xc3, 0xa9])]), SHAPE_HIGH_BYTES_IN_QUOTES), null, 'still rejected outside quotes');
    assert.is(lane.shapeKey(Buffer.from([0x16, 0x41]), 0), null, 'not a COM_QUERY');
    assert.ok(key('x'.repeat(2048)));
    assert.is(key('x'.repeat(2049)), null, 'over 2048 bytes');
  });

  test('shapeKey: NO_BACKSLASH_ESCAPES changes where a string ends; keys made with other opts differ', () => {
    // With escapes, 'a\' b' is one literal; without, 'a\' is a literal and b' starts an unterminated one.
    assert.ok(key("SELECT 'a\\' b'"));
    assert.is(key("SELECT 'a\\' b'", SHAPE_NO_BACKSLASH_ESCAPES), null);
    // 'a\' , 'b' : without escapes two literals; with escapes one literal then b' unterminated
    assert.is(key("SELECT 'a\\', 'b'"), null);
    assert.ok(key("SELECT 'a\\', 'b'", SHAPE_NO_BACKSLASH_ESCAPES));
    assert.not.equal(key('SELECT 1'), key('SELECT 1', SHAPE_NO_BACKSLASH_ESCAPES));
  });

  test('text query: relayed when its shape is in the table (slot stats), declined with the exact packet otherwise', async () => {
    const rig = await Rig.create();
    const table = 17;
    try {
      lane.clearShapes(table);
      assert.ok(lane.addShape(table, q('SELECT c FROM sbtest1 WHERE id=1'), 8, 0));
      assert.not.ok(lane.addShape(table, q('SELECT @x'), 9, 0), 'no key, no shape');
      assert.not.ok(lane.addShape(table, Buffer.from([0x17, 1, 0, 0, 0]), 9, 0), 'not a COM_QUERY');
      clearSlot(8);
      assert.ok(rig.attach({ table }));
      const cmd = pkt(0, q('SELECT c FROM sbtest1 WHERE id=4242'));
      rig.client.write(cmd);
      assert.equal(await rig.toBackend.waitFor(cmd.length), cmd, 'forwarded unchanged');
      const r = resultSet(1, [textRow('abc')]);
      rig.backend.write(r);
      assert.equal(await rig.toClient.waitFor(r.length), r);
      await turns();
      assert.is(slotStats(8)[0], 1);
      assert.is(slotStats(8)[4], 1);

      const other = pkt(0, q('SELECT c FROM sbtest1 WHERE id=1 FOR UPDATE'));
      rig.client.write(other);
      const e = await rig.nextEject();
      assert.is(e.reason, DECLINED);
      assert.equal(e.clientRest, other);
      assert.is(e.backendRest, null);
      assert.is(e.cmd, null);
      assert.is(e.info[3], 1);
      assert.is(e.info[8], 8, 'slot of the last completed');
      assert.is(rig.toBackend.length, cmd.length, 'nothing sent for the declined query');

      // another table does not see table 17's shapes
      assert.ok(rig.attach({ table: table + 1 }));
      rig.client.write(cmd);
      const e2 = await rig.nextEject();
      assert.is(e2.reason, DECLINED);
      assert.equal(e2.clientRest, cmd);
      lane.clearShapes(table);
      assert.ok(rig.attach({ table }));
      rig.client.write(cmd);
      assert.equal((await rig.nextEject()).clientRest, cmd, 'cleared shapes decline');
    } finally {
      lane.clearShapes(table);
      rig.close();
    }
  });

  test('init/arguments: bad stride and bad ids throw', () => {
    assert.throws(() => lane.init(() => {}, new Float64Array(16), new Float64Array(10), 7, BOUNDS));
    assert.throws(() => lane.init(() => {}, new Float64Array(4), new Float64Array(10), 20, BOUNDS));
    assert.throws(() => lane.setStmt(70000, 1, 1, 0, null, 0));
    assert.throws(() => lane.addShape(5000, q('SELECT 1'), 0, 0));
    assert.throws(() => lane.setStmt(1, 1, 1, 2, Buffer.from([1]), 0), /2 \* numParams/);
    assert.is(strayEjects.length, 0, 'no stray ejects');
  });
}

test.run();
