/**
 * Child process of `bench/run.ts` for the idle-connections test. Opens N authenticated connections
 * with the lean client in batches, reports on stdout as JSON lines, then holds them until told to
 * `ping` (checks every connection still answers) or `close` on stdin. Exits when stdin closes, so it
 * never outlives the runner.
 *
 * usage: node idle-client.js HOST PORT USER PASSWORD DB N [CONCURRENCY]
 */
import { createInterface } from 'node:readline';
import { LeanConnection } from './lean-mysql-client';

function emit(obj: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function main(): void {
  const [host, portS, user, password, db, nS, concS] = process.argv.slice(2);
  if (!host || !portS || user === undefined || password === undefined || db === undefined || !nS) {
    process.stderr.write('usage: idle-client HOST PORT USER PASSWORD DB N [CONCURRENCY]\n');
    process.exit(2);
  }
  const port = Number(portS);
  const n = Number(nS);
  const concurrency = Number(concS ?? 200);
  const conns: LeanConnection[] = [];
  const errors = new Map<string, number>();
  let started = 0;
  let finished = 0;
  let failed = 0;
  const t0 = Date.now();
  let lastProgress = 0;

  const startOne = (): void => {
    started++;
    // eslint-disable-next-line no-new
    new LeanConnection({ host, port, user, password, database: db || undefined, timeoutMs: 30_000 }, (err, conn) => {
      finished++;
      if (err) {
        failed++;
        errors.set(err.message, (errors.get(err.message) ?? 0) + 1);
      } else {
        conns.push(conn);
      }
      if (finished - lastProgress >= 1000) {
        lastProgress = finished;
        emit({ event: 'progress', finished, ok: conns.length, failed });
      }
      if (started < n) startOne();
      else if (finished === n) {
        emit({
          event: 'ready',
          ok: conns.length,
          failed,
          ms: Date.now() - t0,
          errors: Object.fromEntries([...errors].slice(0, 5)),
          clientRssBytes: process.memoryUsage().rss,
        });
      }
    });
  };
  for (let i = 0; i < Math.min(concurrency, n); i++) startOne();

  const pingAll = (): void => {
    const t1 = Date.now();
    let outstanding = conns.length;
    let ok = 0;
    let bad = 0;
    const closed = conns.filter((c) => c.closedWhileIdle).length;
    const pingErrors = new Map<string, number>();
    if (outstanding === 0) return emit({ event: 'ping', ok, failed: bad, closedWhileIdle: closed, ms: 0 });
    for (const c of conns) {
      c.ping((err) => {
        if (err) {
          bad++;
          pingErrors.set(err.message, (pingErrors.get(err.message) ?? 0) + 1);
        } else ok++;
        if (--outstanding === 0) {
          emit({ event: 'ping', ok, failed: bad, closedWhileIdle: closed, ms: Date.now() - t1, errors: Object.fromEntries([...pingErrors].slice(0, 5)) });
        }
      });
    }
  };

  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const cmd = line.trim();
    if (cmd === 'ping') pingAll();
    else if (cmd === 'close') {
      for (const c of conns) c.destroy();
      emit({ event: 'closed' });
      process.exit(0);
    }
  });
  rl.on('close', () => {
    for (const c of conns) c.destroy();
    process.exit(0);
  });
}

main();
