/**
 * Raw-protocol capability matrix: for every combination of the client capabilities that change
 * packet layout (SESSION_TRACK, DEPRECATE_EOF, MariaDB extended metadata, FOUND_ROWS,
 * MULTI_RESULTS; PROTOCOL_41 always, see the last test), the same exchange is run straight
 * against MariaDB and through the proxy, every response is decoded by a strict decoder that fails
 * on any missing or trailing byte (test/helpers/strict-decoder.ts), and the decoded packets must be
 * equal field by field (statement ids, which are the proxy's own, are not compared). The exchange
 * covers every kind of packet the proxy emits itself or rewrites: OK with info and session state,
 * EOF and its DEPRECATE_EOF form, ERR, synthesized diagnostics results, PREPARE_OK, COM_SET_OPTION,
 * COM_PING, COM_RESET_CONNECTION, KILL, LOAD DATA LOCAL refused for a client without LOCAL_FILES,
 * cursors, the login OK.
 */
import * as assert from 'uvu/assert';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { ProxyHandle } from '../helpers/proxy';
import { startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';
import { RawClient } from '../helpers/raw-client';
import { Cap, Com, MariaCap } from '../../src/protocol/constants';
import { PacketWriter } from '../../src/protocol/packet-writer';
import { parseErrPayload } from '../../src/protocol/ok-err';
import { PacketReader } from '../../src/protocol/packet-reader';
import { buildHandshakeResponse } from '../../src/protocol/handshake';
import { nativeToken } from '../../src/protocol/auth';
import { Decoded, Negotiated, readStrict, Shape, strictOk } from '../helpers/strict-decoder';

const test = integrationSuite('packet-matrix');

let server: MariaDbServer;
let h: ProxyHandle;

/** Capabilities every combination has (what any real client sends). */
const BASE = Cap.PROTOCOL_41 | Cap.SECURE_CONNECTION | Cap.PLUGIN_AUTH | Cap.LONG_PASSWORD | Cap.TRANSACTIONS | Cap.LONG_FLAG;

/** The layout-changing capabilities, each on or off. MULTI_RESULTS comes with MULTI_STATEMENTS (as clients send them). */
const AXES: { name: string; caps: number; maria: number }[] = [
  { name: 'SESSION_TRACK', caps: Cap.SESSION_TRACK, maria: 0 },
  { name: 'DEPRECATE_EOF', caps: Cap.DEPRECATE_EOF, maria: 0 },
  { name: 'EXT_METADATA', caps: 0, maria: MariaCap.EXTENDED_METADATA },
  { name: 'FOUND_ROWS', caps: Cap.FOUND_ROWS, maria: 0 },
  { name: 'MULTI_RESULTS', caps: Cap.MULTI_RESULTS | Cap.PS_MULTI_RESULTS | Cap.MULTI_STATEMENTS, maria: 0 },
];

test.before(async () => {
  server = await startServer();
  await server.query('CREATE TABLE test.fl_t (id INT PRIMARY KEY, s VARCHAR(10) DEFAULT \'x\')');
  await server.query('CREATE PROCEDURE test.two_results() BEGIN SELECT 1 AS a; SELECT 2 AS b; END');
  // Stored code changing session state: the server flags SERVER_SESSION_STATE_CHANGED on the OK or
  // EOF of the statement that ran it (the proxy's backend connections track it; clients see it only
  // when they turn session_track_state_change on themselves).
  await server.query('CREATE FUNCTION test.pm_fset() RETURNS INT BEGIN SET @pm_f = 1; RETURN 1; END');
  await server.query('CREATE TABLE test.pm_trig (a INT)');
  await server.query('CREATE TRIGGER test.pm_trig_bi BEFORE INSERT ON test.pm_trig FOR EACH ROW SET @pm_t = NEW.a');
  h = await startProxy({ backends: [{ name: 'b1', port: server.port }] });
});

test.after(async () => {
  await h?.stop();
  await server?.destroy();
});

/** One step of the exchange: a command payload and the response shape it expects. */
interface Step {
  label: string;
  payload: Buffer | ((stmtId: number) => Buffer);
  shape: Shape | 'none';
  /** Only for combinations with MULTI_RESULTS (true) / without (false). */
  multi?: boolean;
}

const q = (sql: string): Buffer => Buffer.concat([Buffer.from([Com.QUERY]), Buffer.from(sql)]);
const cmd = (...bytes: number[]): Buffer => Buffer.from(bytes);
const u32 = (n: number): number[] => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];

/** PREPARE and EXECUTE (no parameters) of `sql`. */
function preparedDiag(sql: string): Step[] {
  return [
    { label: `PREPARE ${sql}`, payload: Buffer.concat([cmd(Com.STMT_PREPARE), Buffer.from(sql)]), shape: 'prepare' },
    { label: `EXECUTE ${sql} (binary rows)`, payload: (id) => new PacketWriter(16).u8(Com.STMT_EXECUTE).u32(id).u8(0).u32(1).finish(0).subarray(4), shape: 'binary' },
  ];
}

/** Statements whose terminators carry SERVER_SESSION_STATE_CHANGED on a server tracking state changes. */
function stateChangeSteps(when: string): Step[] {
  return [
    { label: `${when}: SELECT of a function setting a user variable (EOF)`, payload: q('SELECT pm_fset() AS f'), shape: 'result' },
    { label: `${when}: SET @v (OK with a STATE_CHANGE entry)`, payload: q('SET @pm_v = 1'), shape: 'result' },
    { label: `${when}: INSERT firing a trigger setting a user variable (OK)`, payload: q('INSERT INTO pm_trig VALUES (1)'), shape: 'result' },
    { label: `${when}: DO of a function setting a user variable (OK)`, payload: q('DO pm_fset()'), shape: 'result' },
    { label: `${when}: SELECT @@autocommit`, payload: q('SELECT @@autocommit AS ac'), shape: 'result' },
    { label: `${when}: batch SET; SELECT function`, payload: q('SET @pm_w = 2; SELECT pm_fset() AS f; SELECT 3 AS t'), shape: 'result', multi: true },
    ...preparedDiag('SELECT pm_fset() AS f'),
  ];
}

const STEPS: Step[] = [
  { label: 'create temp table', payload: q('CREATE TEMPORARY TABLE mt (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT)'), shape: 'result' },
  { label: 'multi-row INSERT (OK info "Records: ...")', payload: q('INSERT INTO mt (v) VALUES (1),(2)'), shape: 'result' },
  { label: 'UPDATE (OK info "Rows matched: ...")', payload: q('UPDATE mt SET v = v + 1'), shape: 'result' },
  { label: 'UPDATE changing nothing (FOUND_ROWS decides affected rows)', payload: q('UPDATE mt SET v = v'), shape: 'result' },
  { label: 'INSERT id -999 (insert id 2^64-999)', payload: q('INSERT INTO mt (id, v) VALUES (-999, 0)'), shape: 'result' },
  { label: 'BIGINT UNSIGNED id near 2^64', payload: q('CREATE TEMPORARY TABLE mu (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY)'), shape: 'result' },
  { label: 'INSERT 2^64-2', payload: q('INSERT INTO mu VALUES (18446744073709551614)'), shape: 'result' },
  { label: 'SELECT LAST_INSERT_ID()', payload: q('SELECT LAST_INSERT_ID() AS lid'), shape: 'result' },
  { label: 'ALTER TABLE (OK info)', payload: q('ALTER TABLE mt ADD COLUMN w INT'), shape: 'result' },
  { label: 'SELECT rows', payload: q('SELECT * FROM mt ORDER BY id'), shape: 'result' },
  { label: 'warning', payload: q('SELECT 1/0 AS d'), shape: 'result' },
  { label: 'SHOW WARNINGS (proxy copy)', payload: q('SHOW WARNINGS'), shape: 'result' },
  { label: 'SELECT @@warning_count (synthesized)', payload: q('SELECT @@warning_count'), shape: 'result' },
  { label: 'SHOW COUNT(*) WARNINGS (synthesized)', payload: q('SHOW COUNT(*) WARNINGS'), shape: 'result' },
  { label: 'SELECT @@error_count (synthesized)', payload: q('SELECT @@error_count'), shape: 'result' },
  { label: 'error', payload: q('SELECT * FROM no_such_table'), shape: 'result' },
  { label: 'SHOW ERRORS (proxy copy)', payload: q('SHOW ERRORS'), shape: 'result' },
  { label: 'SHOW COUNT(*) ERRORS (synthesized)', payload: q('SHOW COUNT(*) ERRORS'), shape: 'result' },
  { label: 'SELECT @@session.error_count (synthesized)', payload: q('SELECT @@session.error_count'), shape: 'result' },
  { label: 'SET autocommit=0 (session state)', payload: q('SET autocommit = 0'), shape: 'result' },
  { label: 'SET autocommit=1 (session state)', payload: q('SET autocommit = 1'), shape: 'result' },
  { label: 'SET time_zone (session state)', payload: q("SET time_zone = '+01:00'"), shape: 'result' },
  { label: 'USE (schema state)', payload: q('USE test'), shape: 'result' },
  { label: 'COM_INIT_DB', payload: Buffer.concat([cmd(Com.INIT_DB), Buffer.from('test')]), shape: 'ok' },
  { label: 'COM_PING', payload: cmd(Com.PING), shape: 'ok' },
  { label: 'COM_SET_OPTION on', payload: cmd(Com.SET_OPTION, 0, 0), shape: 'result' },
  { label: 'multi-statement batch', payload: q('SELECT 1 AS a; SELECT 2 AS b'), shape: 'result', multi: true },
  { label: 'COM_SET_OPTION off', payload: cmd(Com.SET_OPTION, 1, 0), shape: 'result' },
  { label: 'CALL with two result sets', payload: q('CALL two_results()'), shape: 'result' },
  { label: 'LOAD DATA LOCAL from a client without LOCAL_FILES', payload: q("LOAD DATA LOCAL INFILE '/nonexistent/x.tsv' INTO TABLE fl_t"), shape: 'result' },
  { label: 'after the refused LOAD DATA', payload: q('SELECT COUNT(*) AS n FROM fl_t'), shape: 'result' },
  { label: 'KILL unknown id', payload: q('KILL 999999'), shape: 'result' },
  { label: 'COM_PROCESS_KILL unknown id', payload: cmd(Com.PROCESS_KILL, ...u32(999999)), shape: 'ok' },
  { label: 'COM_FIELD_LIST', payload: Buffer.concat([cmd(Com.FIELD_LIST), Buffer.from('fl_t\0')]), shape: 'fieldlist' },
  { label: 'PREPARE compound statement (refused by the server)', payload: Buffer.concat([cmd(Com.STMT_PREPARE), Buffer.from('BEGIN NOT ATOMIC SELECT 1; END')]), shape: 'prepare' },
  { label: 'PREPARE unknown table', payload: Buffer.concat([cmd(Com.STMT_PREPARE), Buffer.from('SELECT * FROM no_such_table')]), shape: 'prepare' },
  { label: 'PREPARE', payload: Buffer.concat([cmd(Com.STMT_PREPARE), Buffer.from('SELECT ? + 1 AS x, 1/0 AS d')]), shape: 'prepare' },
  {
    label: 'EXECUTE (binary rows, warning)',
    payload: (id) => new PacketWriter(32).u8(Com.STMT_EXECUTE).u32(id).u8(0).u32(1).u8(0).u8(1).u16(8).u32(41).u32(0).finish(0).subarray(4),
    shape: 'binary',
  },
  { label: 'SELECT @@warning_count after EXECUTE', payload: q('SELECT @@warning_count'), shape: 'result' },
  { label: 'COM_STMT_RESET', payload: (id) => cmd(Com.STMT_RESET, ...u32(id)), shape: 'ok' },
  { label: 'COM_STMT_CLOSE (no answer)', payload: (id) => cmd(Com.STMT_CLOSE, ...u32(id)), shape: 'none' },
  { label: 'EXECUTE closed statement', payload: (id) => new PacketWriter(16).u8(Com.STMT_EXECUTE).u32(id).u8(0).u32(1).finish(0).subarray(4), shape: 'result' },
  // Prepared diagnostics statements: answered by the proxy from the session's capture, in binary rows.
  { label: 'a warning for the prepared diagnostics', payload: q("SELECT CAST('x1' AS INT) AS w"), shape: 'result' },
  ...preparedDiag('SHOW WARNINGS'),
  ...preparedDiag('SELECT @@warning_count AS wc'),
  ...preparedDiag('SHOW COUNT(*) WARNINGS'),
  { label: 'an error for the prepared diagnostics', payload: q('SELECT * FROM no_such_table'), shape: 'result' },
  ...preparedDiag('SHOW ERRORS LIMIT 1'),
  ...preparedDiag('SHOW WARNINGS LIMIT 0'),
  ...preparedDiag('SELECT @@session.error_count'),
  { label: 'PREPARE for a cursor', payload: Buffer.concat([cmd(Com.STMT_PREPARE), Buffer.from('SELECT seq FROM seq_1_to_5')]), shape: 'prepare' },
  { label: 'EXECUTE opening a read-only cursor', payload: (id) => new PacketWriter(16).u8(Com.STMT_EXECUTE).u32(id).u8(1).u32(1).finish(0).subarray(4), shape: 'cursor' },
  { label: 'COM_STMT_FETCH 2 rows', payload: (id) => cmd(Com.STMT_FETCH, ...u32(id), ...u32(2)), shape: 'fetch' },
  { label: 'COM_STMT_FETCH the rest', payload: (id) => cmd(Com.STMT_FETCH, ...u32(id), ...u32(10)), shape: 'fetch' },
  { label: 'COM_STMT_CLOSE the cursor statement', payload: (id) => cmd(Com.STMT_CLOSE, ...u32(id)), shape: 'none' },
  // SERVER_SESSION_STATE_CHANGED and STATE_CHANGE entries: hidden while the client's own
  // session_track_state_change is OFF (the server default), shown once it turns it on.
  ...stateChangeSteps('tracking off'),
  { label: 'SET session_track_state_change=ON', payload: q('SET SESSION session_track_state_change = ON'), shape: 'result' },
  ...stateChangeSteps('tracking on'),
  { label: 'SET session_track_state_change=OFF', payload: q('SET SESSION session_track_state_change = OFF'), shape: 'result' },
  ...stateChangeSteps('tracking off again'),
  { label: 'COM_RESET_CONNECTION', payload: cmd(Com.RESET_CONNECTION), shape: 'ok' },
  { label: 'after reset', payload: q('SELECT @@autocommit, @@time_zone, DATABASE()'), shape: 'result' },
];

/** Runs the exchange on one connection; returns a transcript of decoded packets per step. */
async function transcript(c: RawClient, n: Negotiated, multi: boolean): Promise<[string, Decoded[] | string][]> {
  const out: [string, Decoded[] | string][] = [];
  out.push(['login OK', [strictOk(c.loginOk, n)]]);
  let stmtId = 0;
  for (const s of STEPS) {
    if (s.multi !== undefined && s.multi !== multi) continue;
    const payload = typeof s.payload === 'function' ? s.payload(stmtId) : s.payload;
    c.send(payload);
    if (s.shape === 'none') {
      // nothing may come back: the next command's answer must be the next packet, with seq 1
      c.send(cmd(Com.PING));
      const r = await readStrict(() => c.read(), n, 'ok');
      out.push([s.label, r.decoded]);
      continue;
    }
    try {
      const r = await readStrict(() => c.read(), n, s.shape);
      if (s.shape === 'prepare' && r.raw[0][1][0] === 0) stmtId = r.raw[0][1].readUInt32LE(1);
      // statement ids are the proxy's own: not compared, in PREPARE_OK (not decoded) nor in messages
      for (const d of r.decoded) if (d.t === 'err' && d.errno === 1243) d.message = d.message.replace(/\(\d+\)/, '(id)');
      out.push([s.label, r.decoded]);
    } catch (e) {
      out.push([s.label, `strict decoder: ${(e as Error).message}`]);
      return out; // the stream is out of step after a decoding failure
    }
  }
  return out;
}

for (let mask = 0; mask < 1 << AXES.length; mask++) {
  const on = AXES.filter((_, i) => mask & (1 << i));
  const caps = on.reduce((a, x) => a | x.caps, BASE);
  const maria = on.reduce((a, x) => a | x.maria, 0);
  const multi = (caps & Cap.MULTI_RESULTS) !== 0;
  const name = on.length === 0 ? 'PROTOCOL_41 only' : on.map((x) => x.name).join(' + ');
  test(`matrix: ${name}`, timed(async () => {
    const n: Negotiated = { caps, mariaCaps: maria };
    const d = await RawClient.connect(server.port, 'root', '', 'test', 0, 45, maria, caps);
    const p = await RawClient.connect(h.port, 'app', 'app', 'test', 0, 45, maria, caps);
    try {
      const td = await transcript(d, n, multi);
      const tp = await transcript(p, n, multi);
      // sanity: the reference itself decodes strictly all the way
      for (const [label, t] of td) assert.type(t, 'object', `direct ${label}: ${String(t)}`);
      for (let i = 0; i < td.length; i++) {
        assert.equal(tp[i], td[i], `step '${td[i][0]}'`);
      }
      assert.is(tp.length, td.length);
    } finally {
      d.close();
      p.close();
    }
  }, 60_000));
}

/** Decodes a HandshakeV10 strictly (no trailing bytes); returns the layout-relevant fields. */
function strictHandshake(p: Buffer): Record<string, unknown> {
  const r = new PacketReader(p, 0, p.length);
  const out: Record<string, unknown> = { protocol: r.u8(), version: r.nulString() };
  r.u32(); // connection id
  r.bytes(8);
  out.filler = r.u8();
  let caps = r.u16();
  out.collation = r.u8();
  out.status = r.u16();
  caps |= r.u16() << 16;
  out.authDataLength = r.u8();
  out.reserved = r.bytes(6).toString('hex');
  const maria = r.u32();
  out.nonce2Length = r.nulBytes().length;
  out.plugin = r.nulString();
  if (r.remaining() !== 0) throw new Error(`handshake: ${r.remaining()} trailing byte(s)`);
  // Only the flags that change the layout are compared: the proxy announces its own set otherwise
  // (CLIENT_ZSTD_COMPRESSION_ALGORITHM, which MariaDB lacks; DEPRECATE_EOF and others it implements itself).
  out.plugAuth = (caps & Cap.PLUGIN_AUTH) !== 0;
  out.mariaExt = (caps & Cap.LONG_PASSWORD) === 0;
  out.extMetadata = (maria & MariaCap.EXTENDED_METADATA) !== 0;
  return out;
}

test('initial handshake and auth switch: same layout as MariaDB (strictly decoded, nonce and ids not compared)', timed(async () => {
  const caps = BASE | Cap.CONNECT_WITH_DB;
  const run = async (port: number, user: string, password: string) => {
    const c = await RawClient.open(port, caps);
    const hs = await c.read();
    const fields = strictHandshake(hs.payload);
    // the client claims a plugin the server does not use for this account: it must be switched
    const w = buildHandshakeResponse({ capabilities: caps, mariaCaps: 0, collation: 45, user, authResponse: Buffer.from('x'), database: 'test', authPlugin: 'mysql_clear_password' });
    c.socket.write(w.finish(1));
    const sw = await c.read();
    const r = new PacketReader(sw.payload, 0, sw.payload.length);
    const header = r.u8();
    const plugin = r.nulString();
    const data = r.rest();
    c.socket.write(new PacketWriter(32).bytes(nativeToken(password, data.subarray(0, 20))).finish(sw.seq + 1));
    const ok = await c.read();
    c.close();
    return { fields, switch: { seq: sw.seq, header, plugin, dataLength: data.length, nulTerminated: data[data.length - 1] === 0 }, ok: { seq: ok.seq, first: ok.payload[0] } };
  };
  const d = await run(server.port, 'root', '');
  const p = await run(h.port, 'app', 'app');
  assert.equal(d.switch, { seq: 2, header: 0xfe, plugin: 'mysql_native_password', dataLength: 21, nulTerminated: true }, 'direct (test sanity)');
  assert.equal(p.switch, d.switch);
  assert.equal(p.ok, d.ok);
  assert.equal(p.ok, { seq: 4, first: 0 });
  assert.equal(p.fields, d.fields);
}));

test('without PROTOCOL_41 the proxy refuses the login with a Bad handshake ERR (it relays 4.1-format packets only)', timed(async () => {
  const c = await RawClient.open(h.port, Cap.SECURE_CONNECTION | Cap.LONG_PASSWORD);
  await c.read();
  // a 4.0-style handshake response: caps(2) max_packet(3) user NUL auth
  c.socket.write(new PacketWriter(32).u16(Cap.LONG_PASSWORD | Cap.TRANSACTIONS).u24(1 << 24 - 1).nulString('app').string('').finish(1));
  const r = await c.read();
  assert.is(r.payload[0], 0xff);
  const e = parseErrPayload(r.payload);
  assert.is(e.errno, 1043);
  assert.match(e.message, /protocol 4\.1/);
  c.close();
}));

test.run();
