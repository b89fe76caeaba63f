/**
 * The randomized multi-session differential test (test/random/multiplex-random.test.ts, which
 * explains it) for a fixed set of seeds, so `npm test` holds the proxy to it: six sessions of four
 * users share two backend connections; after every step each session must equal its model, a
 * dedicated direct connection. A failure prints the seed and the last actions; replay it with
 * MULTIPLEX_SEED=<seed> npm run test:random (MULTIPLEX_TRACE=1 prints every step).
 */
import * as assert from 'uvu/assert';
import { directWorld, proxyWorld, runDifferential } from '../helpers/differential-sessions';
import type { MultiplexSetup } from '../helpers/multiplex-setup';
import { startMultiplexSetup } from '../helpers/multiplex-setup';
import { timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('multiplex-seeds');

/** Seeds and length: together they cover every statement kind of the generator over both protocols. */
const SEEDS = [1, 2, 3];
const STEPS = 400;
const REPLAY = 'MULTIPLEX_SEED=<seed> npm run test:random';

let w: MultiplexSetup;

test.before(async () => {
  w = await startMultiplexSetup();
});

test.after(async () => {
  await w?.stop();
});

for (const seed of SEEDS) {
  test(`proxy sessions equal their dedicated-connection models after every step (seed ${seed}, ${STEPS} steps, pool of 2)`, timed(async () => {
    const r = await runDifferential(seed, STEPS, proxyWorld('proxy', w.proxied, w.h.port), directWorld('model', w.model), REPLAY);
    assert.ok(r.observations > STEPS / 3, `observed ${r.observations} times`);
  }, 120_000));
}

test.run();
