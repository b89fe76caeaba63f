/**
 * server.idle_gc_after_ms: once load goes away the proxy runs one full GC, which shrinks V8's new
 * space (grown under allocation, by startup too) back to its minimum and gives the memory back. The
 * load here is the proxy's own startup (which grows the new space to 8 MiB; V8's memory reducer may
 * also shrink that one, later, but not what a heavy load leaves once the heap has been collected
 * before: scripts/fuzz.ts shows that case, with numbers in the README). The
 * proxies run as child processes started without --expose-gc (as in production), so their SIGUSR2
 * memory reports are taken without a forced GC and show what the process did on its own.
 */
import * as assert from 'uvu/assert';
import { FUZZ_SETUP_SQL, fuzzProxyOpts } from '../helpers/fuzz';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import { startProxyProcess, type ProxyProcess } from '../helpers/proxy-process';
import { timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('idle-gc');
const MIB = 1024 * 1024;

let server: MariaDbServer;
const procs: ProxyProcess[] = [];

test.before(async () => {
  server = await startServer();
  for (const sql of FUZZ_SETUP_SQL) await server.query(sql);
});

test.after(async () => {
  for (const p of procs) await p.stop();
  await server?.destroy();
});

async function start(idleGcAfterMs: number): Promise<ProxyProcess> {
  const opts = fuzzProxyOpts(server.port);
  const p = await startProxyProcess({ ...opts, server: { ...opts.server, idle_gc_after_ms: idleGcAfterMs } });
  procs.push(p);
  return p;
}

async function report(p: ProxyProcess): Promise<Record<string, number>> {
  const m = await p.memory();
  assert.ok(m, `a memory report:\n${p.output().slice(-2000)}`);
  assert.is(m.gc, false, 'no forced GC: the process runs without --expose-gc');
  return m;
}

/** Polls the memory report until `until` holds (a liveness bound, not a timing assertion). */
async function waitFor(p: ProxyProcess, until: (m: Record<string, number>) => boolean, what: string): Promise<Record<string, number>> {
  let m = await report(p);
  for (let i = 0; i < 60 && !until(m); i++) {
    await new Promise((r) => setTimeout(r, 500));
    m = await report(p);
  }
  assert.ok(until(m), `${what}: ${JSON.stringify(m)}`);
  return m;
}

test('once startup (which grows the new space) is over, the quiet proxy runs one GC: new space back to its minimum, heap smaller', timed(async () => {
  const p = await start(5000);
  const m = await waitFor(p, (r) => r.idleGcs >= 1, 'an idle GC after startup');
  assert.ok(m.heapNewSpace <= 1 * MIB, `new space at its minimum after the idle GC: ${m.heapNewSpace}`);
  assert.ok(m.heapTotal - m.heapUsed < 8 * MIB, `little committed beyond the live heap: ${JSON.stringify(m)}`);
  // Quiet since: no further GC (one per busy-then-quiet period; the decision is unit-tested in idle-gc.test.ts).
  await new Promise((r) => setTimeout(r, 3000));
  assert.is((await report(p)).idleGcs, m.idleGcs);
}, 90_000));

test('idle_gc_after_ms 0 turns it off: no idle GC however long the proxy is quiet', timed(async () => {
  const p = await start(0);
  await new Promise((r) => setTimeout(r, 7000));
  assert.is((await report(p)).idleGcs, 0);
}, 60_000));

test.run();
