/**
 * Per-session caps like a server's, against MariaDB 10.11 started with max_allowed_packet=65536 and
 * through a proxy with the same max_allowed_packet, max_long_data_per_session=100000 and
 * max_prepared_statements_per_session=5:
 * - a parameter's COM_STMT_SEND_LONG_DATA beyond max_allowed_packet: every EXECUTE answers the
 *   server's own ERR 1105 until COM_STMT_RESET, directly and through the proxy (raw protocol);
 * - long data under the limit per parameter passes (two parameters of 40000 bytes each);
 * - the proxy's per-session long-data budget: the statement that went past it fails its executes
 *   (1105, naming the setting) until reset, the others keep theirs;
 * - the 6th prepared statement of a session: ERR 1461 (42000) with the server's text (mysql2 and raw).
 */
import * as assert from 'uvu/assert';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { ProxyHandle } from '../helpers/proxy';
import { sqlError, startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';
import { RawClient } from '../helpers/raw-client';
import { Com } from '../../src/protocol/constants';
import { PacketWriter } from '../../src/protocol/packet-writer';

const test = integrationSuite('session-caps');

const MAX_PACKET = 65536;
let server: MariaDbServer;
let h: ProxyHandle;

test.before(async () => {
  server = await startServer({ extraArgs: [`--max-allowed-packet=${MAX_PACKET}`] });
  await server.query("CREATE USER 'app'@'%' IDENTIFIED BY 'app'");
  await server.query("GRANT ALL ON *.* TO 'app'@'%'");
  h = await startProxy({
    backends: [{ name: 'b1', port: server.port }],
    server: { max_allowed_packet: MAX_PACKET, max_long_data_per_session: 100_000, max_prepared_statements_per_session: 5 },
  });
});

test.after(async () => {
  await h?.stop();
  await server?.destroy();
});

const longData = (c: RawClient, id: number, param: number, bytes: number) =>
  c.send(new PacketWriter(bytes + 8).u8(Com.STMT_SEND_LONG_DATA).u32(id).u16(param).bytes(Buffer.alloc(bytes, 0x61)));

/** EXECUTE binding `params` BLOB parameters; `inline`: the first one's value is in the packet ('A'), else it came as long data. */
async function exec(c: RawClient, id: number, params: number, inline = false) {
  const w = new PacketWriter(32).u8(Com.STMT_EXECUTE).u32(id).u8(0).u32(1).zeros((params + 7) >> 3).u8(1);
  for (let i = 0; i < params; i++) w.u16(0xfc);
  if (inline) w.u8(1).u8(0x41);
  c.send(w);
  const r = await c.readResult(true);
  return { err: r.err, rows: r.rows.map((row) => row.map((v) => String(v))) };
}

/** The same steps directly and through the proxy. */
async function both<T>(fn: (c: RawClient) => Promise<T>): Promise<{ direct: T; proxied: T }> {
  const d = await RawClient.connect(server.port, 'app', 'app', 'test');
  const p = await RawClient.connect(h.port, 'app', 'app', 'test');
  try {
    return { direct: await fn(d), proxied: await fn(p) };
  } finally {
    d.close();
    p.close();
  }
}

test('long data past max_allowed_packet for one parameter: the server\'s 1105 at every execute until COM_STMT_RESET', timed(async () => {
  const { direct, proxied } = await both(async (c) => {
    const st = await c.prepare('SELECT LENGTH(?) AS n');
    for (let i = 0; i < 3; i++) longData(c, st.id, 0, 30_000);
    const first = await exec(c, st.id, 1);
    const again = await exec(c, st.id, 1, true);
    c.send(new PacketWriter(8).u8(Com.STMT_RESET).u32(st.id));
    const reset = (await c.read()).payload[0];
    const after = await exec(c, st.id, 1, true);
    longData(c, st.id, 0, 30_000);
    const fits = await exec(c, st.id, 1);
    return { first, again, reset, after, fits };
  });
  assert.equal(proxied, direct);
  assert.is(direct.first.err?.errno, 1105);
  assert.is(direct.first.err?.sqlState, 'HY000');
  assert.match(direct.first.err!.message, /longer than 'max_allowed_packet' bytes/);
  assert.equal(direct.again.err, direct.first.err, 'still refused: the statement keeps its error state');
  assert.is(direct.reset, 0x00);
  assert.equal(direct.after.rows, [['1']]);
  assert.equal(direct.fits.rows, [['30000']]);
}));

test('two parameters of 40000 bytes each: under the per-parameter limit, as on the server', timed(async () => {
  const { direct, proxied } = await both(async (c) => {
    const st = await c.prepare('SELECT LENGTH(?) AS a, LENGTH(?) AS b');
    longData(c, st.id, 0, 40_000);
    longData(c, st.id, 1, 40_000);
    return exec(c, st.id, 2);
  });
  assert.equal(proxied, direct);
  assert.equal(direct, { err: null, rows: [['40000', '40000']] });
}));

test('the session\'s long-data budget: the statement past it fails until reset, the one within it runs', timed(async () => {
  const c = await RawClient.connect(h.port, 'app', 'app', 'test');
  const s1 = await c.prepare('SELECT LENGTH(?) AS n');
  const s2 = await c.prepare('SELECT LENGTH(?) + 0 AS n');
  longData(c, s1.id, 0, 60_000);
  longData(c, s2.id, 0, 60_000); // 120128 charged > 100000
  const refused = await exec(c, s2.id, 1);
  assert.is(refused.err?.errno, 1105);
  assert.is(refused.err?.sqlState, 'HY000');
  assert.match(refused.err!.message, /server\.max_long_data_per_session/);
  assert.equal(await exec(c, s1.id, 1), { err: null, rows: [['60000']] });
  // s1's data went with its execute; s2 stays refused until its reset
  assert.is((await exec(c, s2.id, 1, true)).err?.errno, 1105);
  c.send(new PacketWriter(8).u8(Com.STMT_RESET).u32(s2.id));
  assert.is((await c.read()).payload[0], 0x00);
  longData(c, s2.id, 0, 60_000);
  assert.equal(await exec(c, s2.id, 1), { err: null, rows: [['60000']] });
  assert.is(h.proxy.memoryReport().sessions >= 1, true);
  c.close();
}));

test('the 6th prepared statement of a session: ERR 1461 with the server\'s text; closing one makes room', timed(async () => {
  const c = await h.connect();
  const held = [];
  for (let i = 0; i < 5; i++) held.push(await c.prepare(`SELECT ${i} AS n`));
  const e = await sqlError(c.prepare('SELECT 5 AS n'));
  assert.is(e.errno, 1461);
  assert.is(e.sqlState, '42000');
  assert.is(e.message, "Can't create more than max_prepared_stmt_count statements (current value: 5)");
  held[0].close();
  const st = await c.prepare('SELECT 6 AS n');
  const [rows] = (await st.execute([])) as unknown as [{ n: number }[]];
  assert.equal(rows, [{ n: 6 }]);
  // A new session has its own count.
  const r = await RawClient.connect(h.port, 'app', 'app', 'test');
  for (let i = 0; i < 5; i++) await r.prepare(`SELECT ${i} + 1`);
  r.send(new PacketWriter(32).u8(Com.STMT_PREPARE).string('SELECT 99'));
  const p = await r.read();
  assert.is(p.payload[0], 0xff);
  assert.is(p.payload.readUInt16LE(1), 1461);
  r.close();
  c.destroy();
}));

test.run();
