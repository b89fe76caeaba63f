/**
 * zstd compression toward clients (CLIENT_ZSTD_COMPRESSION_ALGORITHM, MySQL 8.0.18+): no client on this
 * machine negotiates it (MariaDB and libmariadb have no zstd), so a raw test client speaks it, comparing
 * every answer with an uncompressed session: text queries, errors, multi-results, messages of 16 MiB
 * and more both ways, prepared statements, COM_CHANGE_USER / COM_RESET_CONNECTION, TLS + zstd, a large
 * result to a slow reader (bounded memory); the handshake flag and its config switches; levels, the
 * cap, and refused levels; zlib when a client sets both flags; malformed zstd input ending that
 * session alone.
 */
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import * as assert from 'uvu/assert';
import { Cap, Com } from '../../src/protocol/constants';
import { CompressedDecoder, encodeCompressedPacket, ZLIB } from '../../src/protocol/compression';
import { Framer } from '../../src/protocol/framer';
import { ER_WRONG_COMPRESSION_LEVEL_CLIENT } from '../../src/protocol/compression-negotiation';
import { buildHandshakeResponse, parseServerHandshake } from '../../src/protocol/handshake';
import { nativeToken } from '../../src/protocol/auth';
import { parseErrPayload } from '../../src/protocol/ok-err';
import { parseTextRow } from '../../src/protocol/column';
import { PacketWriter } from '../../src/protocol/packet-writer';
import { zstdCodec, zstdUnavailableReason } from '../../src/protocol/zstd';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { ProxyHandle } from '../helpers/proxy';
import { connectDirect, sha1, startProxy, timed } from '../helpers/proxy';
import { RawClient, RawResult } from '../helpers/raw-client';
import { integrationSuite } from '../helpers/uvu';

const suite = integrationSuite('proxy-zstd');
const test = zstdCodec() ? suite : Object.assign(suite.skip, { before: () => {}, after: () => {}, run: suite.run });
if (!zstdCodec()) console.error(`[proxy-zstd] SKIPPED: ${zstdUnavailableReason()}`);

const MiB = 1024 * 1024;
const ZSTD = Cap.ZSTD_COMPRESSION_ALGORITHM;
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

let server: MariaDbServer;
let h: ProxyHandle;

test.before(async () => {
  server = await startServer({ extraArgs: ['--max-allowed-packet=256M'] });
  const d = await connectDirect(server.port);
  await d.query('CREATE TABLE zt (id INT PRIMARY KEY, s VARCHAR(200), n BIGINT, b LONGBLOB)');
  d.destroy();
  h = await startProxy({ backends: [{ name: 'b1', port: server.port }], server: { max_allowed_packet: 64 * MiB } });
});

test.after(async () => {
  await h?.stop();
  await server?.destroy();
});

const zstdClient = (level = 3, port = h.port) => RawClient.connect(port, 'app', 'app', 'test', ZSTD | Cap.MULTI_STATEMENTS, 45, 0, undefined, level);
const plainClient = (port = h.port) => RawClient.connect(port, 'app', 'app', 'test', Cap.MULTI_STATEMENTS);

/** What a test compares of a response: columns, rows, OK counters, error. */
function outcome(r: RawResult): unknown {
  return {
    columns: r.columns.map((c) => [c.name, c.type, c.length, c.flags, c.decimals]),
    rows: r.rows,
    ok: r.ok && { affected: String(r.ok.affectedRows), id: String(r.ok.lastInsertId), warnings: r.ok.warnings, info: r.ok.info.toString() },
    err: r.err && [r.err.errno, r.err.sqlState, r.err.message],
  };
}

/** The handshake's capability flags from a proxy. */
async function announced(port: number): Promise<number> {
  const c = await RawClient.open(port, 0);
  const caps = parseServerHandshake((await c.read()).payload).capabilities;
  c.close();
  return caps;
}

/** The raw compressed packets [uncompressed length, body] the socket receives while `fn` runs. */
async function wirePackets(c: RawClient, fn: () => Promise<unknown>): Promise<[number, Buffer][]> {
  const chunks: Buffer[] = [];
  const tap = (b: Buffer) => chunks.push(Buffer.from(b));
  c.socket.on('data', tap);
  await fn();
  c.socket.off('data', tap);
  const all = Buffer.concat(chunks);
  const out: [number, Buffer][] = [];
  for (let i = 0; i + 7 <= all.length; ) {
    const len = all.readUIntLE(i, 3);
    out.push([all.readUIntLE(i + 4, 3), all.subarray(i + 7, i + 7 + len)]);
    i += 7 + len;
  }
  return out;
}

/** Sends a handshake response with `caps` and, if given, the zstd level byte; returns the reply packet. */
async function login(caps: number, zstdLevel?: number, port = h.port): Promise<{ c: RawClient; reply: { seq: number; payload: Buffer } }> {
  const c = await RawClient.open(port, caps);
  const hs = parseServerHandshake((await c.read()).payload);
  const w = buildHandshakeResponse({
    capabilities: caps, mariaCaps: 0, collation: 45, user: 'app', authResponse: nativeToken('app', hs.nonce), database: 'test',
    authPlugin: 'mysql_native_password', attrs: { _client_name: 'libmysql', _client_version: '8.0.40' }, zstdLevel,
  });
  c.socket.write(w.finish(1));
  return { c, reply: await c.read() };
}

const LOGIN_CAPS = (Cap.PROTOCOL_41 | Cap.SECURE_CONNECTION | Cap.PLUGIN_AUTH | Cap.LONG_PASSWORD | Cap.TRANSACTIONS | Cap.MULTI_RESULTS |
  Cap.CONNECT_WITH_DB | Cap.CONNECT_ATTRS | Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA) >>> 0;

test('the handshake announces CLIENT_ZSTD_COMPRESSION_ALGORITHM with CLIENT_COMPRESS; either switch off withdraws it', timed(async () => {
  const on = await announced(h.port);
  assert.ok(on & ZSTD && on & Cap.COMPRESS, `caps ${on.toString(16)}`);
  const noZstd = await startProxy({ backends: [{ name: 'b1', port: server.port }], server: { compression_zstd: false } });
  const noComp = await startProxy({ backends: [{ name: 'b1', port: server.port }], server: { compression: false } });
  try {
    const a = await announced(noZstd.port);
    assert.ok(!(a & ZSTD) && a & Cap.COMPRESS, 'compression_zstd: false keeps zlib only');
    const b = await announced(noComp.port);
    assert.ok(!(b & ZSTD) && !(b & Cap.COMPRESS), 'compression: false offers neither');
    // a client asking for zstd anyway (its flag not announced) gets an uncompressed session that works
    const { c, reply } = await login(LOGIN_CAPS | ZSTD, 3, noZstd.port);
    assert.is(reply.payload[0], 0, 'login OK');
    c.send(new PacketWriter(16).u8(Com.QUERY).string('SELECT 5'));
    assert.equal((await c.readResult()).rows, [['5']], 'answered uncompressed');
    c.close();
  } finally {
    await noZstd.stop();
    await noComp.stop();
  }
}));

test('text protocol over zstd: same answers as an uncompressed session; compressed results are zstd frames', timed(async () => {
  const z = await zstdClient();
  const p = await plainClient();
  try {
    // writes run once, through the zstd session
    const ins = await z.query("INSERT INTO zt VALUES (1, 'é ü', 1099511627776, REPEAT('b', 3000)), (2, NULL, -5, NULL), (3, 'via zstd', 7, REPEAT('c', 100000))");
    assert.equal(outcome(ins), { columns: [], rows: [], ok: { affected: '3', id: '0', warnings: 0, info: 'Records: 3  Duplicates: 0  Warnings: 0' }, err: null });
    const statements = [
      'SELECT 1 AS a',
      "UPDATE zt SET n = n WHERE id <= 2",
      'SELECT id, s, n, LENGTH(b) AS lb FROM zt ORDER BY id',
      'SELECT id, b FROM zt ORDER BY id',
      "SELECT seq, REPEAT(CHAR(97 + seq % 26), seq % 300) AS pad FROM seq_1_to_5000",
      'SELECT nosuch FROM zt',
      "SELECT CAST('x' AS SIGNED) AS w",
      'SHOW WARNINGS',
      "SELECT 1 AS a; SELECT 'two' AS b; DO 3",
      'DO 1',
    ];
    for (const sql of statements) {
      const a = outcome(await p.query(sql));
      const b = outcome(await z.query(sql));
      assert.equal(b, a, sql);
    }
    const wire = await wirePackets(z, () => z.query('SELECT id, s, b FROM zt WHERE id = 3'));
    const compressed = wire.filter(([raw]) => raw > 0);
    assert.ok(compressed.length > 0 && compressed.every(([, body]) => body.subarray(0, 4).equals(ZSTD_MAGIC)), 'result bodies are zstd frames');
    const total = wire.reduce((n, [, body]) => n + body.length, 0);
    assert.ok(total < 5000, `100 kB of 'c' crossed as ${total} bytes`);
  } finally {
    z.close();
    p.close();
  }
}));

test('messages of 16 MiB and more both ways over zstd: a 17 MiB query, a 20 MiB blob, rows of 16 MiB - 1 and 17 MiB', timed(async () => {
  const z = await zstdClient(1);
  const p = await plainClient();
  try {
    const k = 17 * MiB;
    const q = await z.query(`SELECT LENGTH('${'q'.repeat(k)}') AS n`);
    assert.equal(q.rows, [[String(k)]], '17 MiB COM_QUERY split into compressed packets');
    const blob = randomBytes(10 * MiB).toString('hex'); // 20 MiB of text
    const ins = await z.query(`INSERT INTO zt VALUES (10, 'big', 0, '${blob}')`);
    assert.is(String(ins.ok?.affectedRows), '1', JSON.stringify(ins.err));
    for (const sql of ['SELECT b, SHA1(b) AS h FROM zt WHERE id = 10', `SELECT REPEAT('r', ${k}) AS r, 'tail' AS t`,
      `SELECT REPEAT('m', ${0xffffff - 5}) AS r`, `SELECT REPEAT('m', ${0xffffff - 4}) AS r`, `SELECT REPEAT('m', ${0xffffff - 3}) AS r`]) {
      const a = await p.query(sql);
      const b = await z.query(sql);
      assert.ok(b.rows.length === 1 && b.rows[0].every((v, i) => v === a.rows[0][i]), `${sql.slice(0, 40)}: same row`);
    }
    const last = await z.query('SELECT SHA1(b) AS h FROM zt WHERE id = 10');
    assert.equal(last.rows, [[sha1(blob)]]);
  } finally {
    z.close();
    p.close();
  }
}, 180_000));

test('prepared statements over zstd: prepare, execute (binary rows), errors, close; same as uncompressed', timed(async () => {
  const z = await zstdClient();
  const p = await plainClient();
  try {
    for (const c of [z, p]) {
      const st = await c.prepare('SELECT seq, CONCAT(?, seq) AS s, REPEAT(CHAR(65 + seq % 26), ?) AS pad FROM seq_1_to_2000 WHERE seq > ?');
      assert.equal([st.params, st.columns], [3, 3]);
    }
    const run = async (c: RawClient) => {
      const st = await c.prepare('SELECT seq, REPEAT(CHAR(65 + seq % 26), ?) AS pad FROM seq_1_to_3000 WHERE seq % ? = 0');
      const out = [outcome(await c.execute(st.id, [200, 3])), outcome(await c.execute(st.id, [5000, 1000]))];
      const bad = await c.prepare('SELECT ? + 1 AS x').then((s) => c.execute(s.id, []));
      out.push(outcome(bad));
      c.send(new PacketWriter(8).u8(Com.STMT_CLOSE).u32(st.id));
      out.push(outcome(await c.query('SELECT 42 AS after_close')));
      return out;
    };
    const a = await run(p);
    const b = await run(z);
    assert.equal(b, a);
    assert.is((a[0] as { rows: unknown[] }).rows.length, 1000, 'test sanity');
  } finally {
    z.close();
    p.close();
  }
}));

test('COM_CHANGE_USER and COM_RESET_CONNECTION inside a zstd session: answered in zstd, the session stays zstd', timed(async () => {
  const c = await zstdClient();
  try {
    await c.query('SET @v = 1');
    const token = nativeToken('app', c.handshake.nonce);
    c.send(new PacketWriter(64).u8(Com.CHANGE_USER).nulString('app').u8(token.length).bytes(token).nulString('test').u16(45).nulString('mysql_native_password'));
    const ok = await c.read();
    assert.is(ok.payload[0], 0, `change user: ${ok.payload[0] === 0xff ? parseErrPayload(ok.payload).message : ok.payload[0]}`);
    assert.equal((await c.query('SELECT @v AS v, DATABASE() AS d')).rows, [[null, 'test']], 'a fresh session, still zstd and in sync');
    await c.query('SET @w = 2');
    c.send(new PacketWriter(1).u8(Com.RESET_CONNECTION));
    assert.is((await c.read()).payload[0], 0, 'reset OK');
    const wire = await wirePackets(c, () => c.query("SELECT @w AS w, REPEAT('k', 50000) AS k"));
    assert.ok(wire.some(([raw, body]) => raw > 0 && body.subarray(0, 4).equals(ZSTD_MAGIC)), 'results still zstd frames');
  } finally {
    c.close();
  }
}));

test('TLS + zstd: SSLRequest, the handshake response with its level byte over TLS, then zstd inside TLS', timed(async () => {
  const ht = await startProxy({ backends: [{ name: 'b1', port: server.port }], tls: true });
  const raw = net.connect(ht.port, '127.0.0.1');
  let sock: net.Socket = raw;
  try {
    const framer = new Framer(1 << 30);
    let decoder: CompressedDecoder | null = null;
    const waiting: ((f: { seq: number; payload: Buffer }) => void)[] = [];
    const queue: { seq: number; payload: Buffer }[] = [];
    const onData = (b: Buffer) => {
      if (decoder) decoder.push(b, (x) => framer.push(x));
      else framer.push(b);
      for (let f = framer.next(); f; f = framer.next()) {
        const item = { seq: f.seq, payload: Buffer.from(f.payload) };
        const w = waiting.shift();
        if (w) w(item);
        else queue.push(item);
      }
    };
    const read = () => new Promise<{ seq: number; payload: Buffer }>((resolve) => {
      const q = queue.shift();
      if (q) resolve(q);
      else waiting.push(resolve);
    });
    raw.on('data', onData);
    const hs = parseServerHandshake((await read()).payload);
    assert.ok(hs.capabilities & Cap.SSL && hs.capabilities & ZSTD, 'TLS and zstd announced');
    const caps = (LOGIN_CAPS | Cap.SSL | ZSTD) >>> 0;
    raw.write(new PacketWriter(32).u32(caps).u32(1 << 24).u8(45).zeros(23).finish(1));
    raw.off('data', onData);
    const t = tls.connect({ socket: raw, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => t.once('secureConnect', resolve).once('error', reject));
    sock = t;
    t.on('data', onData);
    t.write(buildHandshakeResponse({
      capabilities: caps, mariaCaps: 0, collation: 45, user: 'app', authResponse: nativeToken('app', hs.nonce), database: 'test',
      authPlugin: 'mysql_native_password', attrs: { _client_name: 'libmysql' }, zstdLevel: 3,
    }).finish(2));
    const ok = await read();
    assert.equal([ok.seq, ok.payload[0]], [3, 0], 'login OK, uncompressed');
    const codec = zstdCodec()!;
    decoder = new CompressedDecoder(0xffffff, codec);
    const bodies: Buffer[] = [];
    t.on('data', (b: Buffer) => bodies.push(b));
    const sql = "SELECT REPEAT('t', 70000) AS t, 'tls' AS s";
    t.write(Buffer.concat(encodeCompressedPacket(new PacketWriter(64).u8(Com.QUERY).string(sql).finish(0), 0, 3, 0, codec)));
    const cols = await read();
    assert.is(cols.payload[0], 2);
    for (let i = 0; i < 3; i++) await read(); // 2 definitions, EOF
    const row = parseTextRow((await read()).payload, 2).map((c) => c?.toString());
    assert.equal(row, ['t'.repeat(70000), 'tls']);
    const eof = await read();
    assert.is(eof.payload[0], 0xfe);
    const wire = Buffer.concat(bodies);
    assert.ok(wire.readUIntLE(4, 3) > 0 && wire.subarray(7, 11).equals(ZSTD_MAGIC), 'the result came as zstd frames inside TLS');
  } finally {
    sock.destroy();
    await ht.stop();
  }
}));

test('levels: 1 and 22 work, a level above the cap is capped; the proxy compresses with its level', timed(async () => {
  const capped = await startProxy({ backends: [{ name: 'b1', port: server.port }], server: { compression_zstd_max_level: 1 } });
  const high = await startProxy({ backends: [{ name: 'b1', port: server.port }], server: { compression_zstd_max_level: 22 } });
  try {
    for (const [port, level] of [[h.port, 1], [h.port, 22], [capped.port, 19]] as const) {
      const c = await zstdClient(level, port);
      const r = await c.query("SELECT seq, REPEAT('v', 500) AS v FROM seq_1_to_3000");
      assert.is(r.rows.length, 3000, `level ${level}`);
      c.close();
    }
    // The client asks 19 of both: each compressed packet a proxy capped at 1 sends is exactly what
    // zstd makes of its content at level 1, and one allowing 22 sends level 19's (zstd is
    // deterministic for the same input and level; how the result is cut into packets depends on
    // the load, so sizes of the whole result are not compared).
    const codec = zstdCodec()!;
    const levels = async (port: number) => {
      const c = await zstdClient(19, port);
      const r = { rows: 0 };
      const wire = await wirePackets(c, async () => (r.rows = (await c.query('SELECT seq, MD5(seq) AS m FROM seq_1_to_20000')).rows.length));
      c.close();
      assert.is(r.rows, 20000);
      const seen = new Set<string>();
      for (const [ulen, body] of wire) {
        if (ulen === 0) continue; // stored uncompressed
        const plain = codec.decompress(body, ulen);
        const at1 = codec.compress(plain, 1).equals(body);
        const at19 = codec.compress(plain, 19).equals(body);
        seen.add(at1 && at19 ? 'either' : at1 ? '1' : at19 ? '19' : 'other');
      }
      seen.delete('either');
      return [...seen].sort().join(',');
    };
    assert.is(await levels(capped.port), '1', 'a proxy capped at 1 compresses at level 1');
    assert.is(await levels(high.port), '19', "a proxy allowing 22 compresses at the client's 19");
  } finally {
    await capped.stop();
    await high.stop();
  }
}, 60_000));

test('refused levels: 0 and 23 get ERR 3923 (as MySQL), the zstd flag without its level byte ERR 1043; connection closed', timed(async () => {
  for (const [level, errno] of [[0, ER_WRONG_COMPRESSION_LEVEL_CLIENT], [23, ER_WRONG_COMPRESSION_LEVEL_CLIENT], [undefined, 1043]] as const) {
    const { c, reply } = await login(LOGIN_CAPS | ZSTD, level);
    assert.is(reply.payload[0], 0xff, `level ${level}: ERR`);
    const e = parseErrPayload(reply.payload);
    assert.is(e.errno, errno, e.message);
    assert.is(reply.seq, 2);
    assert.is((await c.read()).seq, -1, 'closed');
  }
}));

test('both flags: zlib, as libmysqlclient and MySQL choose; the level byte is ignored', timed(async () => {
  for (const level of [3, 0, undefined]) {
    const { c, reply } = await login(LOGIN_CAPS | ZSTD | Cap.COMPRESS, level);
    assert.is(reply.payload[0], 0, `level ${level}: login OK`);
    const sql = "SELECT REPEAT('w', 100000) AS w";
    c.socket.write(Buffer.concat(encodeCompressedPacket(new PacketWriter(64).u8(Com.QUERY).string(sql).finish(0), 0)));
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve) => {
      c.socket.on('data', (b: Buffer) => {
        chunks.push(b);
        const all = Buffer.concat(chunks);
        if (all.length > 7 && all.length >= 7 + all.readUIntLE(0, 3)) resolve();
      });
    });
    const all = Buffer.concat(chunks);
    const body = all.subarray(7, 7 + all.readUIntLE(0, 3));
    assert.ok(all.readUIntLE(4, 3) > 0 && body[0] === 0x78, 'a zlib stream (0x78 header), not a zstd frame');
    assert.ok(ZLIB.decompress(body, all.readUIntLE(4, 3)).includes(Buffer.alloc(1000, 'w')));
    c.close();
  }
}));

test('a large result to a slow zstd reader: complete, in bounded packets, proxy memory bounded', timed(async () => {
  const c = await zstdClient();
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  const live = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const base = live();
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, live())), 20);
  let sincePause = 0;
  let biggest = 0;
  c.decoder!.onHeader = (_seq, len, raw) => (biggest = Math.max(biggest, raw || len));
  c.socket.on('data', (chunk: Buffer) => {
    sincePause += chunk.length;
    if (sincePause >= 256 * 1024) {
      sincePause = 0;
      c.socket.pause();
      setTimeout(() => c.socket.resume(), 15);
    }
  });
  const sql = 'SELECT seq, REPEAT(CHAR(97 + seq % 26), 180) AS pad FROM seq_1_to_500000';
  c.send(new PacketWriter(sql.length + 1).u8(Com.QUERY).string(sql));
  let rows = 0;
  let sum = 0;
  for (let i = 0; i < 4; i++) await c.read(30_000);
  for (;;) {
    const f = await c.read(30_000);
    const pl = f.payload;
    if (pl[0] === 0xfe && pl.length < 9) break;
    if (pl[0] === 0xff) throw new Error(parseErrPayload(pl).message);
    rows++;
    sum += Number(pl.toString('latin1', 1, 1 + pl[0]));
  }
  clearInterval(sampler);
  assert.is(rows, 500_000);
  assert.is(sum, (500_000 * 500_001) / 2);
  assert.ok(biggest <= 64 * 1024, `compressed packets carry at most 64 KiB (largest ${biggest})`);
  const growth = (peak - base) / MiB;
  assert.ok(growth < 96, `memory grew ${growth.toFixed(1)} MiB relaying ~95 MiB of rows`);
  assert.equal((await c.query('SELECT 3')).rows, [['3']], 'session still in sync');
  c.close();
}, 180_000));

test('malformed zstd input ends that session with an error; other sessions, zstd and plain, are unaffected', timed(async () => {
  const data = Buffer.from(new PacketWriter(64).u8(Com.QUERY).string(`SELECT '${'x'.repeat(200)}'`).finish(0));
  const frame = encodeCompressedPacket(data, 0, 3, 0, zstdCodec()!)[1];
  const hdr = (len: number, raw: number) => {
    const b = Buffer.alloc(7);
    b.writeUIntLE(len, 0, 3);
    b.writeUIntLE(raw, 4, 3);
    return b;
  };
  const cases: [string, Buffer, number][] = [
    ['not a zstd frame', Buffer.concat([hdr(5, 100), Buffer.from([1, 2, 3, 4, 5])]), 1156],
    ['a zlib body in a zstd session', Buffer.concat(encodeCompressedPacket(data, 0, 6, 0, ZLIB)), 1156],
    ['a frame longer than announced', Buffer.concat([hdr(frame.length, data.length - 1), frame]), 1156],
    ['a frame shorter than announced', Buffer.concat([hdr(frame.length, data.length + 1), frame]), 1156],
    ['a truncated frame', Buffer.concat([hdr(frame.length - 4, data.length), frame.subarray(0, frame.length - 4)]), 1156],
    ['a body longer than zstd makes of the announced length', Buffer.concat([hdr(300, 10), Buffer.alloc(300)]), 1156],
  ];
  const bystanderZ = await zstdClient();
  const bystanderP = await plainClient();
  for (const [what, bytes, errno] of cases) {
    const c = await zstdClient();
    c.socket.write(bytes);
    const f = await c.read();
    assert.ok(f.seq >= 0 && f.payload[0] === 0xff, `${what}: an ERR packet`);
    const err = parseErrPayload(f.payload);
    assert.equal([err.errno, err.sqlState], [errno, '08S01'], `${what}: ${err.message}`);
    assert.is((await c.read()).seq, -1, `${what}: connection closed`);
  }
  assert.equal((await bystanderZ.query('SELECT 9')).rows, [['9']]);
  assert.equal((await bystanderP.query('SELECT 8')).rows, [['8']]);
  bystanderZ.close();
  bystanderP.close();
}));

test.run();
