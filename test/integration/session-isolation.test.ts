/**
 * Issue 5, section 1: regression tests, one per defect, each played with a real client directly
 * (server users of the same names, in the same schemas) and through a proxy whose pool of two
 * backend connections the sessions share. The transcripts must be equal, and are pinned to what a
 * server gives. mysql2 uses `query` for text steps and `execute` (COM_STMT_EXECUTE) for prepared
 * ones; PHP PDO uses native server-side prepares for prepared steps; PyMySQL has text only.
 */
import * as assert from 'uvu/assert';
import type { AnyClient } from '../helpers/client-scripts';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import { connectDirect, run, timed, type Mode } from '../helpers/proxy';
import { close, differential, FIXTURE_SERVER_ARGS, open, PW, q, setupTenants, startTenantProxy, x } from '../helpers/session-fixture';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('session-isolation');

let server: MariaDbServer;

test.before(async () => {
  server = await startServer({ extraArgs: FIXTURE_SERVER_ARGS });
  await setupTenants(server);
});

test.after(async () => {
  await server?.destroy();
});

const CLIENTS: AnyClient[] = ['mysql2', 'python', 'php'];
const PREPARING: AnyClient[] = ['mysql2', 'php'];

for (const client of CLIENTS) {
  test(`another user's login does not switch a live session's schema (${client})`, timed(async () => {
    const { direct } = await differential(server, client, { a: { user: 'app' }, c: { user: 'carol' } }, [
      open('a'),
      q('a', 'SELECT DATABASE()'),
      open('c'), // carol logs in; she runs nothing before app's next statement
      q('a', 'SELECT DATABASE()'),
      q('a', 'SELECT owner FROM secret'),
      q('c', 'SELECT DATABASE()'),
      q('c', 'SELECT owner FROM secret'),
      q('a', 'SELECT owner FROM secret'),
    ]);
    assert.equal(direct.slice(3), [[[['shop']]], [[['shop-row']]], [[['tenant_b']]], [[['tenant-b-row']]], [[['shop-row']]]]);
  }, 60_000));

  test(`a session without a default schema gets 1046, never another session's schema (${client})`, timed(async () => {
    const { direct } = await differential(server, client, { a: { user: 'app' }, n: { user: 'nodb' } }, [
      open('a'),
      q('a', 'SELECT owner FROM secret'),
      open('n'),
      q('n', 'SELECT DATABASE()'),
      q('n', 'SELECT owner FROM secret'),
      q('a', 'USE shop'),
      q('n', 'USE no_such_db'),
      q('n', 'SELECT DATABASE()'),
      q('n', 'SELECT owner FROM secret'),
      q('a', 'USE no_such_db'),
      q('a', 'SELECT DATABASE()'),
    ]);
    assert.equal(direct[3], [[[null]]]);
    assert.is(direct[4], 'ERR 1046');
    assert.is(direct[6], 'ERR 1049');
    assert.equal(direct[7], [[[null]]]);
    assert.is(direct[8], 'ERR 1046');
    assert.is(direct[9], 'ERR 1049');
    assert.equal(direct[10], [[['shop']]]);
  }, 60_000));
}

for (const client of PREPARING) {
  test(`no default schema, prepared statements: 1046 (${client})`, timed(async () => {
    const { direct } = await differential(server, client, { a: { user: 'app' }, n: { user: 'nodb' } }, [
      open('a'),
      x('a', 'SELECT owner FROM secret'),
      open('n'),
      x('n', 'SELECT DATABASE()'),
      x('n', 'SELECT owner FROM secret'),
    ]);
    assert.equal(direct[3], [[[null]]]);
    assert.is(direct[4], 'ERR 1046');
  }, 60_000));

  test(`user variables and temporary tables created by prepared statements stay in their session (${client})`, timed(async () => {
    const { direct } = await differential(server, client, { a: { user: 'app' }, b: { user: 'carol' }, c: { user: 'app' } }, [
      open('a'),
      x('a', "SET @s = 'acme'"),
      x('a', 'CREATE TEMPORARY TABLE tt (x VARCHAR(10))'),
      x('a', "INSERT INTO tt VALUES ('acme')"),
      open('b'),
      q('b', 'SELECT @s'), // 5
      q('b', 'SELECT * FROM shop.tt'),
      x('b', 'SELECT @s'),
      x('a', 'SELECT @s, (SELECT COUNT(*) FROM tt)'), // 8: a keeps its own state
      close('a'),
      q('b', 'SELECT @s'), // 10
      q('b', 'SELECT * FROM shop.tt'),
      open('c'),
      q('c', 'SELECT @s'), // 13
      x('c', 'CREATE TEMPORARY TABLE tt (x INT)'), // 14: not 1050
      q('c', 'DROP TEMPORARY TABLE tt'),
    ]);
    for (const i of [5, 7, 10, 13]) assert.equal(direct[i], [[[null]]], `step ${i}`);
    assert.is(direct[6], 'ERR 1146');
    assert.is(direct[11], 'ERR 1146');
    assert.equal(direct[8], [[['acme', '1']]]);
    assert.equal(direct[14], [{ affected: 0 }]);
  }, 60_000));
}

/**
 * Everything the text path tracks must be tracked for COM_STMT_EXECUTE too: session `a` changes state
 * through prepared statements, session `b` (another tenant) must not see it, `a` must keep it.
 */
const PREPARED_STATE: Array<{ name: string; steps: ReturnType<typeof q>[]; expect: (d: unknown[]) => void }> = [
  {
    name: 'GET_LOCK',
    steps: [open('a'), x('a', "SELECT GET_LOCK('gl', 0)"), open('b'), q('b', "SELECT GET_LOCK('gl', 0)"), x('a', "SELECT RELEASE_LOCK('gl')")],
    expect: (d) => {
      assert.equal(d[3], [[['0']]], 'b cannot take a lock a holds');
      assert.equal(d[4], [[['1']]], 'a still holds its lock');
    },
  },
  {
    name: 'LOCK TABLES',
    steps: [open('a'), x('a', 'LOCK TABLES t WRITE'), open('b'), q('b', 'SELECT owner FROM secret'), x('a', 'SELECT COUNT(*) FROM t'), x('a', 'UNLOCK TABLES')],
    expect: (d) => {
      assert.equal(d[3], [[['tenant-b-row']]], 'b is not under a\'s LOCK TABLES');
      assert.equal(d[4], [[['0']]]);
    },
  },
  {
    name: 'HANDLER',
    steps: [open('a'), x('a', 'HANDLER secret OPEN AS hh'), open('b'), q('b', 'HANDLER hh READ FIRST'), x('a', 'HANDLER hh READ FIRST'), x('a', 'HANDLER hh CLOSE')],
    expect: (d) => {
      assert.is(d[3], 'ERR 1109');
      assert.equal(d[4], [[['shop-row']]]);
    },
  },
  {
    name: 'START TRANSACTION',
    steps: [
      open('a'), x('a', 'START TRANSACTION'), x('a', 'INSERT INTO t VALUES (1)'), open('b'), q('b', 'SELECT @@in_transaction'),
      x('a', 'SELECT @@in_transaction, (SELECT COUNT(*) FROM t)'), x('a', 'ROLLBACK'), x('a', 'SELECT COUNT(*) FROM t'),
    ],
    expect: (d) => {
      assert.equal(d[4], [[['0']]]);
      assert.equal(d[5], [[['1', '1']]]);
      assert.equal(d[7], [[['0']]]);
    },
  },
  {
    name: 'autocommit=0',
    steps: [
      open('a'), x('a', 'SET autocommit = 0'), x('a', 'INSERT INTO t VALUES (2)'), open('b'), q('b', 'SELECT @@autocommit, @@in_transaction'),
      x('a', 'SELECT @@autocommit, @@in_transaction'), x('a', 'ROLLBACK'), x('a', 'SELECT COUNT(*) FROM t'),
    ],
    expect: (d) => {
      assert.equal(d[4], [[['1', '0']]]);
      assert.equal(d[5], [[['0', '1']]]);
      assert.equal(d[7], [[['0']]]);
    },
  },
  {
    name: 'SQL_CALC_FOUND_ROWS',
    steps: [
      open('a'), open('b'), x('a', 'SELECT SQL_CALC_FOUND_ROWS seq FROM seq_1_to_10 LIMIT 1'),
      q('b', 'SELECT SQL_CALC_FOUND_ROWS seq FROM seq_1_to_20 LIMIT 1'), x('a', 'SELECT FOUND_ROWS()'),
    ],
    expect: (d) => assert.equal(d[4], [[['10']]]),
  },
];

for (const client of PREPARING) {
  for (const c of PREPARED_STATE) {
    test(`${c.name} through prepared statements stays in its session (${client})`, timed(async () => {
      const { direct } = await differential(server, client, { a: { user: 'app' }, b: { user: 'carol' } }, c.steps);
      c.expect(direct);
    }, 60_000));
  }
}

for (const client of CLIENTS) {
  test(`diagnostics read with an alias or a LIMIT are the session's own, not the connection's (${client}, pool of 1)`, timed(async () => {
    const { direct } = await differential(server, client, { a: { user: 'app' }, b: { user: 'carol' } }, [
      open('a'),
      q('a', "SELECT CAST('x1' AS INT) FROM seq_1_to_3"),
      open('b'),
      q('b', 'SELECT owner FROM secret'), // 3: b reads a table on the one backend connection: its diagnostics area is cleared
      q('a', 'SELECT @@warning_count AS wc'), // 4
      q('a', 'SELECT @@error_count AS `ec`'),
      q('a', 'SHOW WARNINGS LIMIT 1'), // 6
      q('a', 'SHOW WARNINGS LIMIT 1, 1'),
      q('a', 'SELECT FOUND_ROWS(), ROW_COUNT()'), // 8: the count forms are SELECTs (1 row); SHOW WARNINGS keeps FOUND_ROWS()
    ], { maxConnections: 1 });
    const warning = ['Warning', '1292', "Truncated incorrect INTEGER value: 'x1'"];
    assert.equal(direct[4], [[['3']]]);
    assert.equal(direct[5], [[['0']]]);
    assert.equal(direct[6], [[warning]]);
    assert.equal(direct[7], [[warning]]);
    assert.equal(direct[8], [[['1', '-1']]]);
  }, 60_000));
}

for (const client of CLIENTS) {
  test(`a temporary table made by EXECUTE of an SQL PREPAREd CREATE TEMPORARY TABLE is the session's own (${client}, pool of 1)`, timed(async () => {
    const { direct } = await differential(server, client, { a: { user: 'app' }, b: { user: 'carol' } }, [
      open('a'),
      open('b'),
      q('b', 'SELECT CONNECTION_ID() > 0'), // the one backend connection now runs under b's pseudo_thread_id
      q('a', "PREPARE pct FROM 'CREATE TEMPORARY TABLE ptt (x INT)'"),
      q('a', 'EXECUTE pct'), // 4
      q('a', 'SELECT CONNECTION_ID() > 0'), // a's own id from here on
      q('a', 'SELECT COUNT(*) FROM ptt'), // 6
      q('a', "EXECUTE IMMEDIATE 'CREATE TEMPORARY TABLE ptt2 (x INT)'"),
      q('a', 'SELECT COUNT(*) FROM ptt2'), // 8
      close('a'),
      q('b', 'SELECT COUNT(*) FROM shop.ptt'), // 10
    ], { maxConnections: 1 });
    assert.equal(direct[4], [{ affected: 0 }]);
    assert.equal(direct[6], [[['0']]]);
    assert.equal(direct[8], [[['0']]]);
    assert.is(direct[10], 'ERR 1146');
  }, 60_000));
}

for (const client of CLIENTS) {
  test(`FOUND_ROWS() stays the session's own after its SET ran where another session's SELECT ran last (${client}, pool of 1)`, timed(async () => {
    const set = PREPARING.includes(client) ? x : q;
    const { direct } = await differential(server, client, { a: { user: 'app' }, b: { user: 'carol' } }, [
      open('a'),
      open('b'),
      q('a', 'SELECT seq FROM seq_1_to_3'),
      q('b', 'SELECT 1'), // the one backend connection now holds b's FOUND_ROWS()
      set('a', 'SET SESSION group_concat_max_len = 2598'), // a runs last there, but FOUND_ROWS() is still b's
      q('a', 'SELECT FOUND_ROWS()'), // 5
    ], { maxConnections: 1 });
    assert.equal(direct[5], [[['3']]]);
  }, 60_000));
}

for (const client of CLIENTS) {
  test(`FOUND_ROWS() replayed under LOCK TABLES (the proxy read warnings in between) is not refused with 1100 (${client})`, timed(async () => {
    const { direct } = await differential(server, client, { a: { user: 'app' } }, [
      open('a'),
      q('a', 'LOCK TABLES t WRITE'),
      q('a', 'SELECT COUNT(*) FROM t'),
      q('a', "SELECT CAST('x1' AS INT) FROM t"), // no row, no warning
      q('a', "SELECT CAST('x1' AS INT)"), // a warning: the proxy reads it on the connection
      q('a', 'SELECT FOUND_ROWS()'), // 5
      q('a', 'UNLOCK TABLES'),
    ]);
    assert.equal(direct[5], [[['1']]]);
  }, 60_000));
}

for (const client of CLIENTS) {
  test(`FOUND_ROWS() after SQL_CALC_FOUND_ROWS is the rows found, also replayed after another session used the connection (${client}, pool of 1)`, timed(async () => {
    const { direct } = await differential(server, client, { a: { user: 'app' }, b: { user: 'carol' } }, [
      open('a'),
      open('b'),
      q('a', 'SELECT SQL_CALC_FOUND_ROWS seq FROM seq_1_to_10 LIMIT 1'),
      q('a', "SET @x = 'y'"), // the connection is kept for this one statement, then released
      q('b', 'SELECT 1'), // b's FOUND_ROWS() is 1 there now
      q('a', 'SELECT FOUND_ROWS()'), // 5: replayed
    ], { maxConnections: 1 });
    assert.equal(direct[5], [[['10']]]);
  }, 60_000));
}

for (const client of PREPARING) {
  test(`prepared SHOW WARNINGS / @@warning_count show the session's diagnostics, not the connection's (${client}, pool of 1)`, timed(async () => {
    const { direct } = await differential(server, client, { a: { user: 'app' }, b: { user: 'carol' } }, [
      open('a'),
      q('a', "SELECT CAST('x1' AS INT)"),
      open('b'),
      q('b', 'SELECT owner FROM no_such_table'), // 3: b's error is now in the one backend connection's diagnostics area
      x('a', 'SHOW WARNINGS'), // 4
      x('a', 'SELECT @@warning_count'),
      x('a', 'SHOW COUNT(*) ERRORS'),
      x('b', 'SHOW ERRORS'), // 7
      x('b', 'SELECT @@session.error_count AS e'),
      q('a', 'SELECT owner FROM secret'), // 9: clears a's diagnostics
      x('a', 'SHOW WARNINGS'), // 10: b's error is not a's
      x('a', 'SELECT @@warning_count'),
      q('a', "SELECT CAST('x2' AS INT)"), // 12
      q('b', 'SELECT owner FROM no_such_table'),
      x('a', 'SELECT 1 FROM DUAL'), // 14: reads no table: a's warning stays, b's error must not become a's
      x('a', 'SHOW WARNINGS'), // 15
    ], { maxConnections: 1 });
    const warning = ['Warning', '1292', "Truncated incorrect INTEGER value: 'x1'"];
    const error = ['Error', '1146', "Table 'tenant_b.no_such_table' doesn't exist"];
    assert.equal(direct[3], 'ERR 1146');
    assert.equal(direct.slice(4, 9), [[[warning]], [[['1']]], [[['0']]], [[error]], [[['1']]]]);
    assert.equal(direct[10], [[]]);
    assert.equal(direct[11], [[['0']]]);
    assert.equal(direct[15], [[['Warning', '1292', "Truncated incorrect INTEGER value: 'x2'"]]]);
  }, 60_000));
}

for (const client of ['mysql2', 'python', 'php'] as AnyClient[]) {
  test(`LOCK TABLES inside a multi-statement pins, and the lock ends with the session (${client})`, timed(async () => {
    const { direct } = await differential(server, client, { a: { user: 'app', multi: true }, b: { user: 'carol' }, c: { user: 'app' } }, [
      open('a'),
      q('a', 'SELECT 1'),
      q('a', 'UNLOCK TABLES; LOCK TABLES t WRITE'),
      open('b'),
      q('b', 'SELECT owner FROM secret'), // 4: not 1100
      q('a', 'SELECT COUNT(*) FROM t'), // 5: a still holds its lock
      q('a', 'SELECT COUNT(*) FROM secret'), // 6: 1100 — a is under LOCK TABLES
      close('a'),
      open('c'),
      q('c', 'SELECT COUNT(*) FROM t'), // 9: not 1205 — the lock went with a
      q('c', 'SELECT owner FROM secret'), // 10: not 1100
    ]);
    assert.equal(direct[4], [[['tenant-b-row']]]);
    assert.equal(direct[5], [[['0']]]);
    assert.is(direct[6], 'ERR 1100');
    assert.equal(direct[9], [[['0']]]);
    assert.equal(direct[10], [[['shop-row']]]);
  }, 60_000));
}

test('CONNECTION_ID() equals the handshake id over both protocols, and differs between clients (mysql2)', timed(async () => {
  const h = await startTenantProxy(server, {}, 2);
  try {
    const cs = await Promise.all([0, 1, 2, 3].map(() => h.connect({ user: 'app', password: PW, database: undefined })));
    const seen: Record<string, string[]> = {};
    const key = (i: number) => `client ${i} (handshake ${cs[i].threadId})`;
    // Sequential and concurrent rounds, so statements are prepared and executed on both backend
    // connections, after other clients' statements.
    for (let round = 0; round < 4; round++) {
      const one = async (i: number, mode: Mode) => {
        const [rows] = await run(cs[i], mode, 'SELECT CONNECTION_ID() AS id, 1 + ? AS n', [round]);
        (seen[key(i)] ??= []).push(`${mode}:${Number((rows as Array<{ id: number }>)[0].id)}`);
      };
      if (round % 2 === 0) for (let i = 0; i < cs.length; i++) for (const m of ['execute', 'query'] as Mode[]) await one(i, m);
      else await Promise.all(cs.map(async (_, i) => { await one(i, 'execute'); await one(i, 'query'); }));
    }
    const expected = Object.fromEntries(cs.map((c, i) => [key(i), seen[key(i)].map((e) => `${e.split(':')[0]}:${c.threadId}`)]));
    assert.equal(seen, expected);
    assert.is(new Set(cs.map((c) => c.threadId)).size, cs.length);
  } finally {
    await h.stop();
  }
}));

test('CONNECTION_ID(): a native prepared statement gives the same id as a text query, per client (php)', timed(async () => {
  const steps = [open('a'), open('b'), q('a', 'SELECT CONNECTION_ID()'), x('a', 'SELECT CONNECTION_ID()'), q('b', 'SELECT CONNECTION_ID()'), x('b', 'SELECT CONNECTION_ID()'), x('a', 'SELECT CONNECTION_ID()')];
  const { runSteps } = await import('../helpers/client-scripts');
  const { connSpecs } = await import('../helpers/session-fixture');
  const h = await startTenantProxy(server, {}, 1);
  try {
    const r = (await runSteps('php', connSpecs({ a: { user: 'app' }, b: { user: 'carol' } }, h.port, false), steps)).map((s) => s.sets?.[0].rows?.[0][0] ?? s.error?.message);
    assert.ok(r[2] !== r[4], `two clients have two ids (${r[2]}, ${r[4]})`);
    assert.equal([r[3], r[6], r[5]], [r[2], r[2], r[4]], 'prepared CONNECTION_ID() equals the text one of the same client');
  } finally {
    await h.stop();
  }
}));

for (const mode of ['query', 'execute'] as Mode[]) {
  test(`state changed inside stored procedures stays in its session (mysql2 ${mode})`, timed(async () => {
    const s = (conn: string, sql: string) => (mode === 'query' ? q(conn, sql) : x(conn, sql));
    const { direct } = await differential(server, 'mysql2', { a: { user: 'app' }, b: { user: 'carol' }, c: { user: 'app' } }, [
      open('a'),
      s('a', "CALL p_uv('acme')"),
      s('a', "CALL p_tmp('acme')"),
      s('a', 'CALL p_lock()'),
      open('b'),
      q('b', 'SELECT @pv'), // 5
      q('b', 'SELECT * FROM shop.ptmp'), // 6
      q('b', "SELECT GET_LOCK('plk', 0)"), // 7: a holds it
      q('a', "SELECT @pv, (SELECT COUNT(*) FROM ptmp), IS_FREE_LOCK('plk')"), // 8
      close('a'),
      open('c'),
      q('c', 'SELECT @pv'), // 11
      q('c', 'CREATE TEMPORARY TABLE ptmp (x INT)'), // 12: not 1050
      q('c', "SELECT GET_LOCK('plk', 2), RELEASE_LOCK('plk')"), // 13: released with a
    ]);
    assert.equal(direct[5], [[[null]]]);
    assert.is(direct[6], 'ERR 1146');
    assert.equal(direct[7], [[['0']]]);
    assert.equal(direct[8], [[['acme', '1', '0']]]);
    assert.equal(direct[11], [[[null]]]);
    assert.equal(direct[12], [{ affected: 0 }]);
    assert.equal(direct[13], [[['1', '1']]]);
  }, 60_000));
}

/**
 * Found while writing these tests: after a PDO client with native prepares and a temporary table
 * quits (COM_QUIT), a backend connection sometimes stays borrowed for good, so Proxy.stop() never
 * finishes and the pool loses a connection. Repeated, since it is a race.
 */
test('a client quitting never leaves a backend connection borrowed (php, 8 rounds)', timed(async () => {
  const { runSteps } = await import('../helpers/client-scripts');
  const { connSpecs } = await import('../helpers/session-fixture');
  const h = await startTenantProxy(server, {}, 2);
  try {
    const steps = [
      open('a'), x('a', "SET @s = 'acme'"), x('a', 'CREATE TEMPORARY TABLE tt (x VARCHAR(10))'), x('a', "INSERT INTO tt VALUES ('acme')"),
      open('b'), q('b', 'SELECT @s'), close('a'), close('b'),
    ];
    for (let round = 0; round < 8; round++) {
      await runSteps('php', connSpecs({ a: { user: 'app' }, b: { user: 'carol' } }, h.port, false), steps);
      // Both clients are gone (the script has exited): wait, bounded, for their sessions to end.
      let st = h.proxy.stats();
      for (let i = 0; i < 100 && (st.clientSessions > 0 || st.backends[0].inUse > 0); i++) {
        await new Promise((r) => setTimeout(r, 20));
        st = h.proxy.stats();
      }
      assert.equal({ round, sessions: st.clientSessions, inUse: st.backends[0].inUse }, { round, sessions: 0, inUse: 0 });
    }
  } finally {
    await h.stop();
  }
}, 60_000));

/**
 * Found by the fuzzer (seed 948884280, case 312): a user variable assigned bytes that are not valid in
 * the connection's character set (`SET @a = '\xff\xffz'` over utf8mb4, which the server accepts) is
 * re-created by the proxy with a statement the server refuses (ERR 1300), so once the session's
 * state must be restored on a backend connection, every statement of the session fails.
 */
test('a user variable holding bytes invalid in its character set survives a change of backend connection (raw client)', timed(async () => {
  const { RawClient } = await import('../helpers/raw-client');
  const { PacketWriter } = await import('../../src/protocol/packet-writer');
  const play = async (port: number, user: string, db: string | null) => {
    const w = await RawClient.connect(port, user, PW, db, 0x10000);
    const o = await RawClient.connect(port, 'carol', PW, 'tenant_b');
    try {
      const out: unknown[] = [];
      w.send(new PacketWriter().u8(0x03).bytes(Buffer.concat([Buffer.from("SET @a = '"), Buffer.from([0xff, 0xff]), Buffer.from("z'")])));
      out.push((await w.readResult()).err?.errno ?? 'ok');
      w.send(new PacketWriter().u8(0x1b).u16(0)); // COM_SET_OPTION: the session's state changes
      out.push((await w.read()).payload[0]);
      await o.query('SELECT 1'); // another session uses the backend connections in between
      const r = await w.query('SELECT HEX(@a) AS h, DATABASE() AS db');
      out.push(r.err ? `ERR ${r.err.errno} ${r.err.message}` : r.rows);
      return out;
    } finally {
      w.close();
      o.close();
    }
  };
  const direct = await play(server.port, 'app', 'shop');
  assert.equal(direct, ['ok', 0xfe, [['FFFF7A', 'shop']]]);
  const h = await startTenantProxy(server, {}, 1);
  try {
    assert.equal(await play(h.port, 'app', null), direct);
  } finally {
    await h.stop();
  }
}));

void connectDirect;
test.run();
