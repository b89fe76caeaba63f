/**
 * Issue 5, section 2: a backend failure must never turn into silent data loss or a hang.
 *
 * - The backend thread holding a session's transaction is killed from the server side: the client
 *   must get a proper error (right sequence id: mysql2 emits no "packets out of order" warning,
 *   PyMySQL raises OperationalError, not InternalError "Packet sequence number wrong", PDO gives no
 *   "Packets out of order" warning), its connection must die as a direct one does, the COMMIT must
 *   not succeed, and no row of the transaction may be left behind.
 * - A backend that stops answering (SIGSTOP) must not hang statements: with
 *   `backends[].read_timeout_ms` set, a statement fails within a bound, the next statement does not
 *   wait on the dead connection either, and after SIGCONT the proxy serves again.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';
import type { AnyClient, StepResult } from '../helpers/client-scripts';
import { runSteps } from '../helpers/client-scripts';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import { startProxy, timed, withTimeout } from '../helpers/proxy';
import { connSpecs, FIXTURE_SERVER_ARGS, open, q, setupTenants, settle, startTenantProxy, view } from '../helpers/session-fixture';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('backend-failure-clients');

let server: MariaDbServer;

test.before(async () => {
  server = await startServer({ extraArgs: FIXTURE_SERVER_ARGS });
  await setupTenants(server);
});

test.after(async () => {
  await server?.destroy();
});

const KILL_STEPS = [
  open('a'),
  q('a', 'BEGIN'),
  q('a', 'INSERT INTO kt VALUES (1)'),
  { pause: 'kill' },
  q('a', 'INSERT INTO kt VALUES (2)'), // 4
  q('a', 'INSERT INTO kt VALUES (3)'), // 5
  q('a', 'COMMIT'), // 6
  q('a', 'SELECT COUNT(*) FROM kt'), // 7
];

/** Kills the server thread that holds the open transaction (the proxy's backend connection, or the direct one). */
async function killTransactionThread(side: string): Promise<number> {
  // Joined with the process list: a killed thread's transaction can linger there while it rolls back.
  // InnoDB refreshes its INNODB_TRX snapshot only when the last read is over 100 ms old, so ask
  // at a slower pace until it shows the new transaction.
  const sql = 'SELECT t.trx_mysql_thread_id AS id FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id';
  let rows: Array<{ id: number }> = [];
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 150));
    rows = (await server.query(sql)) as Array<{ id: number }>;
    if (rows.length > 0) break;
  }
  if (rows.length !== 1) {
    const pl = await server.query('SELECT ID, USER, DB, COMMAND, STATE, INFO FROM information_schema.PROCESSLIST');
    const trx = await server.query('SELECT trx_mysql_thread_id, trx_state, trx_query FROM information_schema.INNODB_TRX');
    assert.unreachable(`${side}: expected exactly one open transaction on the server; processlist ${JSON.stringify(pl)}, INNODB_TRX ${JSON.stringify(trx)}`);
  }
  await server.query(`KILL ${Number(rows[0].id)}`);
  return Number(rows[0].id);
}

function isError(r: StepResult): boolean {
  return r.error !== undefined;
}

const SEQUENCE_TROUBLE = /out of order|sequence/i;

async function killRun(client: AnyClient, port: number, direct: boolean): Promise<{ results: StepResult[]; rows: number }> {
  await server.query('DELETE FROM shop.kt');
  await settle(server);
  const results = await runSteps(client, connSpecs({ a: { user: 'app' } }, port, direct), KILL_STEPS, async () => {
    await killTransactionThread(direct ? 'direct' : 'proxy');
  });
  const [{ n }] = (await server.query('SELECT COUNT(*) AS n FROM shop.kt')) as Array<{ n: number }>;
  return { results, rows: Number(n) };
}

for (const client of ['mysql2', 'python', 'php'] as AnyClient[]) {
  test(`backend thread killed mid-transaction: error, connection dead, COMMIT fails, nothing written (${client})`, timed(async () => {
    const direct = await killRun(client, server.port, true);
    const h = await startTenantProxy(server);
    let proxied: { results: StepResult[]; rows: number };
    try {
      proxied = await killRun(client, h.port, false);
    } finally {
      await h.stop().catch(() => undefined);
    }
    const show = (r: StepResult[]) => r.map((s) => JSON.stringify(s.error ? { ...s.error, warnings: s.warnings } : view(s))).join('\n    ');
    const transcript = `\n  direct:\n    ${show(direct.results)}\n  proxy:\n    ${show(proxied.results)}`;
    // The direct connection is the reference: what it shows is what a server does.
    for (const [side, r] of [['direct', direct], ['proxy', proxied]] as const) {
      assert.ok(isError(r.results[4]), `${side}: the statement after the kill fails${transcript}`);
      assert.ok(isError(r.results[5]), `${side}: the connection is dead, the next statement fails too${transcript}`);
      assert.ok(isError(r.results[6]), `${side}: COMMIT does not succeed${transcript}`);
      assert.is(r.rows, 0, `${side}: no row of the killed transaction exists${transcript}`);
      for (const s of r.results) {
        const text = `${s.error?.type ?? ''} ${s.error?.message ?? ''} ${(s.warnings ?? []).join(' ')}`;
        assert.not.match(text, SEQUENCE_TROUBLE, `${side}: a proper error, not a packet-sequence error${transcript}`);
      }
      if (client === 'python') assert.is(r.results[4].error?.type, 'OperationalError', `${side}: PyMySQL sees OperationalError${transcript}`);
    }
  }, 60_000));
}

test('a session without pinned state goes on transparently after its last backend connection was killed (mysql2)', timed(async () => {
  const h = await startTenantProxy(server, {}, 1);
  try {
    const c = await h.connect({ user: 'app', password: 'pw', database: undefined });
    await c.query('SELECT 1');
    const rows = (await server.query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'root' AND ID <> CONNECTION_ID() AND COMMAND = 'Sleep'")) as Array<{ ID: number }>;
    for (const r of rows) await server.query(`KILL ${Number(r.ID)}`);
    const [r] = await c.query('SELECT owner FROM secret');
    assert.equal(r, [{ owner: 'shop-row' }]);
  } finally {
    await h.stop();
  }
}));

/** The pid of a harness server (its pid file sits next to the datadir). */
function serverPid(s: MariaDbServer): number {
  return Number(fs.readFileSync(path.join(path.dirname(s.datadir), 'mariadbd.pid'), 'utf8').trim());
}

/** The state letter of every thread of `pid` (/proc/<pid>/task/<tid>/stat; 'T' = stopped). */
function threadStates(pid: number): string[] {
  const dir = `/proc/${pid}/task`;
  return fs.readdirSync(dir).map((tid) => {
    const stat = fs.readFileSync(path.join(dir, tid, 'stat'), 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  });
}

/**
 * SIGSTOP, then wait until every thread of the server is really stopped: kill() returns before the
 * group stop has reached threads running on another CPU, and a busy machine can let one of them
 * answer a statement sent just after the signal.
 */
async function stopServer(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  let states: string[] = [];
  for (let i = 0; i < 600; i++) {
    states = threadStates(pid);
    if (states.every((st) => st === 'T' || st === 't')) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.unreachable(`server ${pid} not stopped 30 s after SIGSTOP; thread states ${states.join('')}`);
}

test('a SIGSTOPped backend: statements fail within backends[].read_timeout_ms instead of hanging, and the proxy recovers after SIGCONT (mysql2)', timed(async () => {
  const stopped = await startServer();
  let pid = 0;
  const h = await startProxy({
    backends: [{ name: 'b1', port: stopped.port, maxConnections: 2, acquireTimeoutMs: 2000, readTimeoutMs: 1000 }],
  }).catch(async (e: Error) => {
    await stopped.destroy();
    throw e;
  });
  try {
    const c1 = await h.connect();
    const c2 = await h.connect();
    await c1.query('SELECT 1');
    pid = serverPid(stopped);
    await stopServer(pid);
    const e1 = await withTimeout(c1.query('SELECT 2').then(() => null, (e: Error & { errno?: number }) => e), 15_000, 'a statement on a stopped backend');
    assert.ok(e1, 'the statement on the stopped backend fails');
    const e2 = await withTimeout(c2.query('SELECT 3').then(() => null, (e: Error & { errno?: number }) => e), 15_000, 'a second statement while the backend is stopped');
    assert.ok(e2, 'a second statement does not wait on the dead connection either');
    process.kill(pid, 'SIGCONT');
    pid = 0;
    const c3 = await h.connect();
    const [rows] = await withTimeout(c3.query('SELECT 4 AS x'), 15_000, 'a statement after SIGCONT');
    assert.equal(rows, [{ x: 4 }]);
  } finally {
    if (pid) process.kill(pid, 'SIGCONT');
    await h.stop().catch(() => undefined);
    await stopped.destroy();
  }
}, 90_000));

test.run();
