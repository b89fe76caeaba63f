/**
 * Issue 5, section 3: hostile input must never crash or hang the proxy, nor disturb another session.
 * The proxy runs as a child process (a crash must not take the test down with it). A bounded fuzz
 * run lives here; scripts/fuzz.ts does the long runs. Replay with FUZZ_SEED=<seed>; FUZZ_CASES
 * changes the number of cases.
 */
import mysql from 'mysql2/promise';
import * as assert from 'uvu/assert';
import { parseErrPayload } from '../../src/protocol/ok-err';
import { PacketWriter } from '../../src/protocol/packet-writer';
import { formatReport, FUZZ_SETUP_SQL, FUZZ_USERS, fuzzProxyOpts, runFuzz } from '../helpers/fuzz';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import { seedFrom } from '../helpers/prng';
import { startProxyProcess, type ProxyProcess } from '../helpers/proxy-process';
import { timed } from '../helpers/proxy';
import { RawClient } from '../helpers/raw-client';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('fuzz');

const SEED = seedFrom('FUZZ_SEED');
// 600 keeps this file near 20 s on the shared 2-core machine under load; FUZZ_CASES=5000 for more.
const CASES = Number(process.env.FUZZ_CASES) || 600;

let server: MariaDbServer;
let proc: ProxyProcess;

test.before(async () => {
  server = await startServer();
  for (const sql of FUZZ_SETUP_SQL) await server.query(sql);
  proc = await startProxyProcess(fuzzProxyOpts(server.port));
});

test.after(async () => {
  await proc?.stop();
  await server?.destroy();
});

async function canaryAnswers(port: number): Promise<unknown> {
  const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'canary', password: 'canary', database: 'sb' });
  try {
    const [rows] = await c.execute('SELECT DATABASE() AS db, COUNT(*) AS n FROM canary_t');
    return rows;
  } finally {
    c.destroy();
  }
}

test("the issue's truncated COM_STMT_EXECUTE after executes on two backend connections: a proper error for that session only", timed(async () => {
  const w = await RawClient.connect(proc.port, 'fz', 'fz', 'sa');
  const holder = await RawClient.connect(proc.port, 'fz', 'fz', 'sa');
  try {
    const st = await w.prepare('SELECT ?');
    assert.equal((await w.execute(st.id, [1])).rows, [['1']]);
    assert.ok((await holder.query('BEGIN')).ok, 'BEGIN pins the backend connection the first execute used');
    w.send(new PacketWriter().u8(0x17).u32(st.id).u8(0).u32(1).u8(0).u8(1).u16(253).lenencString('v2'));
    assert.equal((await w.readResult(true)).rows, [['v2']], 'second execute, other types, on another backend connection');
    assert.ok((await holder.query('COMMIT')).ok);
    const bad = Buffer.from('17' + '01000000' + '00' + '01000000' + '00', 'hex');
    bad.writeUInt32LE(st.id, 1);
    w.send(bad);
    const answer = await w.read(10_000);
    assert.ok(proc.alive(), `the proxy is alive:\n${proc.output().slice(-2000)}`);
    assert.is(answer.seq, 1, 'an answer with sequence id 1');
    assert.is(answer.payload[0], 0xff, 'an ERR packet');
    const err = parseErrPayload(answer.payload);
    // MariaDB answers this packet with 1210 (Incorrect arguments to mysqld_stmt_execute); 1835 (malformed packet) fits too.
    assert.ok([1210, 1835].includes(err.errno), `a MySQL error for a malformed execute, not ${err.errno} '${err.message}'`);
    assert.equal(await canaryAnswers(proc.port), [{ db: 'sb', n: 3 }], 'another session is served');
  } finally {
    w.close();
    holder.close();
  }
}));

test(`fuzz: ${CASES} mutated packets (seed ${SEED}): no crash, no hang, no wrong or lost canary answer, RSS back near baseline`, timed(async () => {
  const rep = await runFuzz({
    seed: SEED, cases: CASES, proc, ...FUZZ_USERS, timeoutMs: 5000, maxCrashes: 3,
    restart: async () => (proc = await startProxyProcess(fuzzProxyOpts(server.port))),
  });
  // Let the proxy drop the closed sessions before the last RSS reading.
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 100));
  rep.rssKb.end = proc.rssKb();
  const text = `${formatReport(rep)}\nreplay: FUZZ_SEED=${SEED} FUZZ_CASES=${CASES} node dist/test/run.js fuzz`;
  if (process.env.FUZZ_VERBOSE) console.log(text);
  // Pool contention (canary-error) and broken fuzz sessions (session-broken, see session-isolation's
  // binary user variable test) are reported, not failed on: the bar here is crash, hang, wrong answer.
  const serious = rep.findings.filter((f) => f.what !== 'canary-error' && f.what !== 'session-broken');
  assert.equal(serious.map((f) => `${f.what} at case ${f.case}`), [], text);
  assert.ok(rep.canaryChecks > CASES / 4, `the canary ran alongside (${rep.canaryChecks} checks)\n${text}`);
  assert.ok(rep.rssKb.baseline !== null && rep.rssKb.end !== null && rep.rssKb.end <= rep.rssKb.baseline + 64 * 1024, `RSS back near baseline\n${text}`);
  if (rep.findings.length) console.log(`[fuzz] findings that do not fail this test:\n${text}`);
}, 180_000));

test.run();
