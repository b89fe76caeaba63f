/**
 * `KILL <id>` anywhere in a multi-statement batch (mysql2's pool tests send `KILL ?; SELECT SLEEP(0.05)`):
 * the proxy maps the id to its own session like a lone KILL, answers it with an OK (flagged
 * MORE_RESULTS unless it is last) and relays the statements around it from a backend, with the
 * terminators and sequence ids a server sends; an error ends the batch. Compared with the same
 * batches straight against MariaDB (ids differ, so shapes are compared): mysql2, the raw protocol
 * strictly decoded (classic EOF and DEPRECATE_EOF), and the `mariadb` CLI.
 */
import * as assert from 'uvu/assert';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { Conn, ProxyHandle } from '../helpers/proxy';
import { connectDirect, sqlError, startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';
import { RawClient } from '../helpers/raw-client';
import { Cap, Status } from '../../src/protocol/constants';
import { Negotiated, readStrict } from '../helpers/strict-decoder';
import { cli } from '../helpers/proxy';
import { missingClient } from '../helpers/clients';

const test = integrationSuite('proxy-kill-batch');

let server: MariaDbServer;
let h: ProxyHandle;

test.before(async () => {
  server = await startServer();
  h = await startProxy({ backends: [{ name: 'b1', port: server.port }] });
});

test.after(async () => {
  await h?.stop();
  await server?.destroy();
});

/** What the victim and the killer see, directly or through the proxy. */
async function scenario(open: (o?: object) => Promise<Conn>): Promise<unknown> {
  const victim = await open();
  let victimError: string | null = null;
  victim.on('error', (e: { code?: string }) => (victimError = e.code ?? 'error'));
  const killer = await open({ multipleStatements: true });
  const [res] = await killer.query('KILL ?; SELECT SLEEP(0.05) AS s, 2 AS two', [victim.threadId]);
  const victimAfter = await victim.query('SELECT 1').then(() => 'alive', (e: { code?: string; message: string }) => e.code ?? e.message);
  const ownQuery = await sqlError(killer.query('KILL QUERY ?; SELECT 3 AS three', [killer.threadId]));
  const killQuery = [ownQuery.errno, ownQuery.sqlState, ownQuery.message];
  const unknown = await sqlError(killer.query('KILL 999999; SELECT 1'));
  const [after] = await killer.query('SELECT 4 AS four');
  killer.destroy();
  victim.destroy();
  return { res, victimAfter, victimError: victimError !== null, killQuery, unknown: [unknown.errno, unknown.sqlState, unknown.message], after };
}

test('mysql2: KILL ?; SELECT ... kills the victim and returns both results, as directly', timed(async () => {
  const d = await scenario((o = {}) => connectDirect(server.port, o).then((c) => (c.on('error', () => {}), c)));
  const p = await scenario((o = {}) => h.connect(o));
  assert.equal(p, d);
  assert.is.not((d as { victimAfter: string }).victimAfter, 'alive', 'direct (test sanity)');
}));

test('raw protocol: OK with MORE_RESULTS at seq 1, then the rest with seq 2.. (strictly decoded, same as MariaDB)', timed(async () => {
  const caps = Cap.MULTI_STATEMENTS | Cap.MULTI_RESULTS;
  const n: Negotiated = { caps: 0, mariaCaps: 0 };
  const run = async (port: number, user: string, pw: string) => {
    const victim = await RawClient.connect(port, user, pw, 'test');
    const victimId = Number((await victim.query('SELECT CONNECTION_ID()')).rows[0][0]);
    const c = await RawClient.connect(port, user, pw, 'test', caps);
    const nc = { ...n, caps: c.caps };
    c.send(Buffer.concat([Buffer.from([3]), Buffer.from(`KILL ${victimId}; SELECT 5 AS five`)]));
    const r = await readStrict(() => c.read(), nc, 'result');
    c.close();
    victim.close();
    return { seqs: r.raw.map(([s]) => s), decoded: r.decoded };
  };
  const d = await run(server.port, 'root', '');
  const p = await run(h.port, 'app', 'app');
  assert.equal(p, d);
  const first = d.decoded[0] as { t: string; status: number };
  assert.is(first.t, 'ok');
  assert.ok(first.status & Status.MORE_RESULTS_EXISTS, 'direct (test sanity)');
}));

/** Batches with `$V`, `$W` (victims' ids) and `$ME` (the killer's own id). */
const BATCHES = [
  'SELECT 1 AS one; KILL $V; SELECT 2 AS two',
  'KILL QUERY $V; KILL $W',
  'SET @a=1; KILL CONNECTION $V',
  'DO 1; KILL $V; SELECT 2 AS b; KILL $W; SELECT 3 AS three;',
  'SELECT 1 AS one; KILL 999999; SELECT 2 AS two',
  'SELECT 1 AS one; KILL QUERY $ME; SELECT 2 AS two',
  "SELECT 'x; KILL 5' AS s; KILL HARD $V # KILL 6\n; SELECT 4 AS four",
  'SELECT * FROM no_such_table; KILL $V',
  'KILL $V; SELECT * FROM no_such_table; SELECT 5',
];

test('raw protocol: KILL anywhere in a batch — same packets as MariaDB (strictly decoded, seq ids, MORE_RESULTS), victims killed as directly', timed(async () => {
  const run = async (port: number, user: string, pw: string, extra: number) => {
    const out = [];
    for (const sql of BATCHES) {
      const victims = await Promise.all([0, 1].map(() => RawClient.connect(port, user, pw, 'test')));
      const ids = await Promise.all(victims.map(async (v) => Number((await v.query('SELECT CONNECTION_ID()')).rows[0][0])));
      const c = await RawClient.connect(port, user, pw, 'test', Cap.MULTI_STATEMENTS | Cap.MULTI_RESULTS | extra);
      const me = Number((await c.query('SELECT CONNECTION_ID()')).rows[0][0]);
      const text = sql.replace('$V', String(ids[0])).replace('$W', String(ids[1])).replace('$ME', String(me));
      c.send(Buffer.concat([Buffer.from([3]), Buffer.from(text)]));
      const r = await readStrict(() => c.read(), { caps: c.caps, mariaCaps: 0 }, 'result');
      const after = (await c.query('SELECT 9')).rows;
      const alive = await Promise.all(victims.map((v) => v.query('SELECT 1').then(() => true, () => false)));
      for (const v of victims) v.close();
      c.close();
      out.push({ sql, seqs: r.raw.map(([q]) => q), decoded: r.decoded, after, alive });
    }
    return out;
  };
  for (const extra of [0, Cap.DEPRECATE_EOF]) {
    const d = await run(server.port, 'root', '', extra);
    const p = await run(h.port, 'app', 'app', extra);
    for (const [i, want] of d.entries()) assert.equal(JSON.stringify(p[i]), JSON.stringify(want), `${want.sql} (caps +${extra})`);
    // test sanity: the first batch ends with the second SELECT's result, its KILL killed the victim
    assert.equal(d[0]!.alive, [false, true]);
  }
}, 120_000));

test('without the multi-statement option a batch with KILL runs nothing, as on a server (1064), the victim lives', timed(async () => {
  const run = async (port: number, user: string, pw: string) => {
    const out = [];
    for (const sql of ['SELECT 1; KILL $V', 'KILL $V; SELECT 1', 'KILL $V;']) {
      const v = await RawClient.connect(port, user, pw, 'test');
      const id = Number((await v.query('SELECT CONNECTION_ID()')).rows[0][0]);
      const c = await RawClient.connect(port, user, pw, 'test');
      const r = await c.query(sql.replace('$V', String(id)));
      const alive = await v.query('SELECT 1').then(() => true, () => false);
      v.close();
      c.close();
      out.push({ sql, err: r.err ? r.err.errno : null, alive });
    }
    return out;
  };
  const d = await run(server.port, 'root', '');
  const p = await run(h.port, 'app', 'app');
  assert.equal(p, d);
  assert.equal(d[2], { sql: 'KILL $V;', err: null, alive: false }, 'direct (test sanity)');
}));

/** mysql2 with multipleStatements: what the batches return (or their error), and who survives. */
async function mysql2Scenario(open: (o?: object) => Promise<Conn>): Promise<unknown> {
  const out = [];
  for (const sql of BATCHES) {
    const victims = await Promise.all([0, 1].map(() => open()));
    const c = await open({ multipleStatements: true });
    const text = sql.replace('$V', String(victims[0]!.threadId)).replace('$W', String(victims[1]!.threadId)).replace('$ME', String(c.threadId));
    const res = await c.query(text).then(([r]) => r, (e: { errno?: number; sqlState?: string; message: string }) => ({ errno: e.errno, sqlState: e.sqlState, message: e.message }));
    const [after] = await c.query('SELECT 9 AS nine');
    const alive = await Promise.all(victims.map((v) => v.query('SELECT 1').then(() => true, () => false)));
    for (const v of [...victims, c]) v.destroy();
    out.push({ sql, res, after, alive });
  }
  return out;
}

test('mysql2 (multipleStatements): KILL anywhere in a batch returns what MariaDB returns', timed(async () => {
  const quiet = (c: Conn) => (c.on('error', () => {}), c);
  const d = await mysql2Scenario((o = {}) => connectDirect(server.port, o).then(quiet));
  const p = await mysql2Scenario((o = {}) => h.connect(o).then(quiet));
  assert.equal(p, d);
}, 120_000));

test('KILL forms the proxy cannot map are still refused (1235) rather than passed to the backend', timed(async () => {
  const c = await h.connect({ multipleStatements: true });
  for (const sql of ['SELECT 1; KILL USER app', 'KILL 1+2; SELECT 1', 'SELECT 1; /*!KILL 5*/', 'BEGIN NOT ATOMIC KILL 5; END', 'CREATE PROCEDURE p() BEGIN SELECT 1; KILL 5; END']) {
    const e = await sqlError(c.query(sql));
    assert.is(e.errno, 1235, sql);
  }
  const [rows] = await c.query('SELECT 1 AS ok');
  assert.equal(rows, [{ ok: 1 }]);
}));

const noCli = missingClient('mariadb');
if (noCli) {
  console.error(`[proxy-kill-batch] SKIPPED 'mariadb CLI': ${noCli}`);
  test.skip(`mariadb CLI (skipped: ${noCli})`, () => {});
} else {
  test('mariadb CLI (DELIMITER //, one multi-statement COM_QUERY): KILL inside a batch prints and fails as directly', timed(async () => {
    const run = async (port: number, user: string, pw: string, open: () => Promise<Conn>) => {
      const out = [];
      for (const sql of ['SELECT 1 AS one; KILL $V; SELECT 2 AS two', 'SELECT 1 AS one; KILL 999999; SELECT 2 AS two', 'SET @a=1; KILL CONNECTION $V; SELECT @a AS a']) {
        const v = await open();
        v.on('error', () => {});
        // the CLI splits at its delimiter itself: with another one, the whole line goes as one multi-statement COM_QUERY
        const r = await cli(port, null, [], { user, password: pw, input: `DELIMITER //\n${sql.replace('$V', String(v.threadId))}//\n` });
        const alive = await v.query('SELECT 1').then(() => true, () => false);
        v.destroy();
        out.push({ sql, code: r.code, stdout: r.stdout, stderr: r.stderr, alive });
      }
      return out;
    };
    const d = await run(server.port, 'root', '', () => connectDirect(server.port));
    const p = await run(h.port, 'app', 'app', () => h.connect());
    assert.equal(p, d);
    assert.match(d[1]!.stderr, /ERROR 1094/);
  }, 60_000));
}

test.run();
