/**
 * `KILL <id>` leading a multi-statement batch (mysql2's pool tests send `KILL ?; SELECT SLEEP(0.05)`):
 * the proxy maps the id to its own session like a lone KILL, answers it with an OK flagged
 * MORE_RESULTS and relays the rest of the batch from a backend — compared with the same batch
 * straight against MariaDB (mysql2), and byte by byte (raw protocol).
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

test('KILL elsewhere in a batch, or two KILLs, is still refused (1235) rather than passed to the backend', timed(async () => {
  const c = await h.connect({ multipleStatements: true });
  const e1 = await sqlError(c.query('SELECT 1; KILL 1'));
  assert.is(e1.errno, 1235);
  const e2 = await sqlError(c.query('KILL 999998; KILL 999999'));
  assert.is(e2.errno, 1235);
  const [rows] = await c.query('SELECT 1 AS ok');
  assert.equal(rows, [{ ok: 1 }]);
}));

test.run();
