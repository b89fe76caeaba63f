/**
 * The randomized lane differential test (test/random/lane-random.test.ts, which explains it) for a
 * fixed set of seeds, so `npm test` holds the fast lane to it: sessions of several users with bursts
 * of back-to-back statements through a pool of three, each equal to its dedicated-connection model
 * after every step; lanes must have relayed statements. Replay a failure with
 * MULTIPLEX_SEED=<seed> node dist/test/run.js --random lane-random (MULTIPLEX_TRACE=1 prints every step).
 */
import * as assert from 'uvu/assert';
import { directWorld, proxyWorld, runDifferential } from '../helpers/differential-sessions';
import { formatLaneSummary, laneSummary } from '../helpers/lane-stats';
import type { MultiplexSetup } from '../helpers/multiplex-setup';
import { startMultiplexSetup } from '../helpers/multiplex-setup';
import { timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('lane-seeds');

/** Seed 1 found the ROW_COUNT() after a failed prepare; 33 (at 1203 steps) the stale FOUND_ROWS() owner. */
const SEEDS = [1, 33];
const STEPS = 400;
const REPLAY = 'MULTIPLEX_SEED=<seed> node dist/test/run.js --random lane-random';

let w: MultiplexSetup;

test.before(async () => {
  w = await startMultiplexSetup(3);
});

test.after(async () => {
  await w?.stop();
});

for (const seed of SEEDS) {
  test(`sessions with bursts equal their models after every step (seed ${seed}, ${STEPS} steps, pool of 3)`, timed(async () => {
    const before = laneSummary(w.h.proxy);
    const r = await runDifferential(seed, STEPS, proxyWorld('proxy', w.proxied, w.h.port), directWorld('model', w.model), REPLAY, { bursts: 0.3 });
    assert.ok(r.observations > STEPS / 4, `observed ${r.observations} times`);
    const after = laneSummary(w.h.proxy);
    console.log(`\n  seed ${seed}: ${formatLaneSummary(after)}`);
    if (after.on) assert.ok(after.statements > before.statements, 'no statement went through a fast lane');
  }, 240_000));
}

test.run();
