/**
 * Native fast lane fuzz (seeded; LANE_FUZZ_SEED replays a run): random client packets, random
 * backend bytes and random JS calls never crash the process or wedge a lane, and the native shape
 * key never merges two statements that the JS literal-free key keeps apart.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { literalFreeKey, lastKeyBytes } from '../../../src/classify/literal-free-key';
import { laneNativeUnavailable, SHAPE_HIGH_BYTES_IN_QUOTES, SHAPE_NO_BACKSLASH_ESCAPES } from '../../../src/io/lane-native';
import { Prng, seedFrom } from '../../helpers/prng';
import { execPayload, native, pkt, queryPayload, resultPayloads, Rig, seqPackets, textRow, turns } from './lane-native-harness';

if (!native) {
  test('native fast lane not built: skipped', () => {
    console.log(`[lane-native] skipped: native fast lane unavailable: ${laneNativeUnavailable}`);
  });
} else {
  const lane = native;

  test('shape key: equal native keys imply equal JS literal-free keys (random statements over a tricky alphabet)', () => {
    const seed = seedFrom('LANE_FUZZ_SEED');
    const rnd = new Prng(seed);
    const atoms = ['1', '12', '0', 'a', 'b1', 'x', 'e', 'E', '.', "'", "''", '\\', ' ', '  ', '\t', '\n', '`', '-', '+', '(', ')', ',', '=', '_', '$', 'N', 'X', '@', '#', '"', '/', '*', ';', '?', '\x80', '\xe9', 'SELECT', 'FROM', 't.1', '1.5', '1e3', '0x1f'];
    let checked = 0;
    for (const opts of [0, SHAPE_NO_BACKSLASH_ESCAPES, SHAPE_HIGH_BYTES_IN_QUOTES, 3]) {
      const groups = new Map<string, { sql: Buffer; js: Buffer }[]>();
      for (let i = 0; i < 4000; i++) {
        const parts: string[] = [];
        const n = rnd.range(1, 8);
        for (let j = 0; j < n; j++) parts.push(rnd.pick(atoms));
        const sql = Buffer.from(parts.join(''), 'latin1');
        const payload = queryPayload(sql);
        const k = lane.shapeKey(payload, opts);
        if (!k) continue;
        const h = literalFreeKey(payload, 1, payload.length, (opts & SHAPE_NO_BACKSLASH_ESCAPES) !== 0, false, 0);
        assert.ok(h >= 0, `native keyed what the JS key rejects: ${JSON.stringify(sql.toString('latin1'))} opts ${opts} (seed ${seed})`);
        const js = lastKeyBytes();
        const g = groups.get(k.toString('latin1'));
        if (g) {
          for (const other of g) {
            assert.ok(other.js.equals(js), `merged ${JSON.stringify(other.sql.toString('latin1'))} and ${JSON.stringify(sql.toString('latin1'))} opts ${opts} (seed ${seed})`);
            checked++;
          }
          if (g.length < 4) g.push({ sql, js });
        } else {
          groups.set(k.toString('latin1'), [{ sql, js }]);
        }
      }
    }
    assert.ok(checked > 100, `enough colliding pairs checked (${checked})`);
  });

  test('shape key: random bytes never crash', () => {
    const seed = seedFrom('LANE_FUZZ_SEED');
    const rnd = new Prng(seed);
    for (let i = 0; i < 20_000; i++) {
      const b = Buffer.alloc(rnd.range(0, 64));
      for (let j = 0; j < b.length; j++) b[j] = rnd.chance(0.8) ? rnd.range(0x20, 0x7e) : rnd.int(256);
      if (b.length && rnd.chance(0.9)) b[0] = 0x03;
      lane.shapeKey(b, rnd.int(4));
    }
  });

  test('random client packets, backend bytes and calls never crash or wedge the lane', async () => {
    const seed = seedFrom('LANE_FUZZ_SEED');
    const rnd = new Prng(seed);
    const rig = await Rig.create();
    const table = 33;
    try {
      lane.clearShapes(table);
      lane.addShape(table, queryPayload('SELECT c FROM t WHERE id=1'), 2, 0);
      lane.setStmt(rig.id, 1, 11, 0, null, 1);
      lane.setStmt(rig.id, 2, 22, 2, Buffer.from([3, 0, 8, 0]), 3);
      let ejects = 0;
      rig.onEjectHook = () => ejects++;
      const valid = () => seqPackets(1, resultPayloads(rnd.range(1, 3), Array.from({ length: rnd.int(4) }, () => textRow('v'.repeat(rnd.int(50))))));
      for (let step = 0; step < 400; step++) {
        if (!lane.isAttached(rig.id)) assert.ok(rig.attach({ table, expectStatus: 0x0002, slowUs: rnd.chance(0.05) ? 1 : 0 }), `attach (seed ${seed})`);
        const what = rnd.int(10);
        if (what < 3) {
          const kind = rnd.int(5);
          const payload =
            kind === 0
              ? execPayload(rnd.pick([1, 2, 3]), { numParams: rnd.pick([0, 2]), bound: rnd.int(3), types: [3, 0, 8, 0], values: Buffer.alloc(12) })
              : kind === 1
                ? queryPayload(`SELECT c FROM t WHERE id=${rnd.int(1000)}`)
                : kind === 2
                  ? Buffer.from(Array.from({ length: rnd.int(40) }, () => rnd.int(256)))
                  : kind === 3
                    ? queryPayload('SELECT @x')
                    : Buffer.from([0x0e]);
          const p = pkt(rnd.chance(0.9) ? 0 : rnd.int(256), payload);
          rig.client.write(rnd.chance(0.1) ? p.subarray(0, rnd.int(p.length)) : p);
        } else if (what < 6) {
          const v = valid();
          rig.backend.write(rnd.chance(0.7) ? v : v.subarray(0, rnd.int(v.length)));
        } else if (what < 7) {
          rig.backend.write(Buffer.from(Array.from({ length: rnd.range(1, 30) }, () => rnd.int(256))));
        } else if (what < 8) {
          lane.requestEject(rig.id);
        } else if (what < 9) {
          lane.detach(rig.id);
        } else {
          lane.sweep(rnd.pick([0, 5, 1e9]), rnd.pick([0, 5, 1e9]));
        }
        await turns(rnd.int(4));
      }
      assert.ok(ejects > 0);
      // the lane still works after all that: a clean attach relays a statement
      lane.detach(rig.id);
      rig.onEjectHook = null;
      rig.ejects.length = 0;
    } finally {
      lane.clearShapes(table);
      rig.close();
    }
    const clean = await Rig.create();
    try {
      lane.setStmt(clean.id, 1, 11, 0, null, 1);
      assert.ok(clean.attach());
      const cmd = pkt(0, execPayload(1));
      clean.client.write(cmd);
      await clean.toBackend.waitFor(cmd.length);
      const r = seqPackets(1, resultPayloads(1, [textRow('done')]));
      clean.backend.write(r);
      assert.equal(await clean.toClient.waitFor(r.length), r, `seed ${seed}`);
    } finally {
      clean.close();
    }
  });
}

test.run();
