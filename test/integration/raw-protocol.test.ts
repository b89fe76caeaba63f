import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import * as assert from 'uvu/assert';
import { Cap, Com } from '../../src/protocol/constants';
import { parseErrPayload } from '../../src/protocol/ok-err';
import { PacketWriter } from '../../src/protocol/packet-writer';
import { MariaDbServer, startServer } from '../helpers/mariadb';
import { ProxyHandle, startProxy } from '../helpers/proxy';
import { RawClient } from '../helpers/raw-client';
import { integrationSuite } from '../helpers/uvu';

/**
 * Protocol-level behaviour no driver here exposes: DEPRECATE_EOF and classic clients sharing one
 * backend connection, cursors, COM_FIELD_LIST/COM_STATISTICS/COM_SET_OPTION, unknown commands and
 * malformed input.
 */
const t = integrationSuite<{ server: MariaDbServer; proxy: ProxyHandle }>('raw-protocol');

t.before(async (ctx) => {
  ctx.server = await startServer();
  await ctx.server.query('CREATE TABLE test.items (id INT PRIMARY KEY, name VARCHAR(20))');
  await ctx.server.query("INSERT INTO test.items VALUES (1,'one'),(2,'two'),(3,'three'),(4,'four'),(5,'five')");
  await ctx.server.query(
    'CREATE PROCEDURE test.two_sets() BEGIN SELECT id FROM test.items WHERE id < 3 ORDER BY id; SELECT name FROM test.items WHERE id = 5; END',
  );
  // One backend connection: both client flavours must share it.
  ctx.proxy = await startProxy({ backends: [{ name: 'b', port: ctx.server.port, maxConnections: 1 }], server: { max_allowed_packet: 1 << 20 } });
});

t.after(async (ctx) => {
  await ctx.proxy?.stop();
  await ctx.server?.destroy();
});

function contiguous(packets: [number, Buffer][]): boolean {
  return packets.every(([seq], i) => seq === i + 1);
}

t('DEPRECATE_EOF and classic clients get correctly framed results over the same backend connection', async ({ proxy }) => {
  const modern = await RawClient.connect(proxy.port, 'app', 'app', 'test', Cap.DEPRECATE_EOF);
  const classic = await RawClient.connect(proxy.port, 'app', 'app', 'test');
  for (let round = 0; round < 3; round++) {
    for (const c of [modern, classic]) {
      const r = await c.query('SELECT id, name FROM items ORDER BY id');
      assert.is(r.err, null);
      assert.equal(r.rows, [['1', 'one'], ['2', 'two'], ['3', 'three'], ['4', 'four'], ['5', 'five']]);
      assert.ok(contiguous(r.packets), `sequence ids contiguous: ${r.packets.map((p) => p[0])}`);
      // 1 column count + 2 defs + 5 rows + terminator, plus the EOF after defs for classic clients
      assert.is(r.packets.length, c.deprecateEof ? 9 : 10);
      const last = r.packets[r.packets.length - 1][1];
      assert.is(last[0], 0xfe);
      if (c.deprecateEof) assert.ok(last.length >= 7, 'OK-style terminator');
      else assert.is(last.length, 5);
    }
  }
  modern.close();
  classic.close();
});

t('multi-result stored procedure for both framings', async ({ proxy }) => {
  for (const extra of [0, Cap.DEPRECATE_EOF]) {
    const c = await RawClient.connect(proxy.port, 'app', 'app', 'test', extra);
    c.send(new PacketWriter(32).u8(Com.QUERY).string('CALL two_sets()'));
    const first = await c.readResult();
    // readResult follows MORE_RESULTS and returns the last result (the CALL's OK)
    assert.is(first.err, null);
    assert.ok(first.ok !== null, 'ends with OK');
    assert.ok(contiguous(first.packets));
    const ids = first.packets.filter(([, p]) => p.length === 2 && p[0] === 1).length;
    assert.ok(ids >= 2, 'rows of the first result set were relayed');
    c.close();
  }
});

t('prepared statements in binary protocol, both framings', async ({ proxy }) => {
  for (const extra of [0, Cap.DEPRECATE_EOF]) {
    const c = await RawClient.connect(proxy.port, 'app', 'app', 'test', extra);
    const st = await c.prepare('SELECT id, name FROM items WHERE id >= ? ORDER BY id');
    assert.is(st.params, 1);
    assert.is(st.columns, 2);
    assert.is(st.packets, extra ? 4 : 6);
    const r = await c.execute(st.id, [4]);
    assert.is(r.err, null);
    assert.equal(r.rows, [['4', 'four'], ['5', 'five']]);
    assert.ok(contiguous(r.packets));
    c.close();
  }
});

t('cursor: COM_STMT_EXECUTE with a read-only cursor, then COM_STMT_FETCH in batches', async ({ proxy }) => {
  for (const extra of [0, Cap.DEPRECATE_EOF]) {
    const c = await RawClient.connect(proxy.port, 'app', 'app', 'test', extra);
    const other = await RawClient.connect(proxy.port, 'app', 'app', 'test');
    const st = await c.prepare('SELECT id, name FROM items ORDER BY id');
    const opened = await c.execute(st.id, [], 1);
    assert.is(opened.err, null);
    assert.ok(opened.status & 0x40, 'SERVER_STATUS_CURSOR_EXISTS');
    const a = await c.fetch(st.id, 2, opened.columns);
    assert.equal(a.rows, [['1', 'one'], ['2', 'two']]);
    // Another client needs the only backend connection: it must wait until the cursor is done
    // or get served elsewhere — it must never see the cursor's connection state break.
    const b = await c.fetch(st.id, 2, opened.columns);
    assert.equal(b.rows, [['3', 'three'], ['4', 'four']]);
    const rest = await c.fetch(st.id, 10, opened.columns);
    assert.equal(rest.rows, [['5', 'five']]);
    assert.ok(rest.status & 0x80, 'SERVER_STATUS_LAST_ROW_SENT');
    const r = await other.query('SELECT COUNT(*) FROM items');
    assert.equal(r.rows, [['5']]);
    c.close();
    other.close();
  }
});

t('COM_FIELD_LIST, COM_STATISTICS, COM_SET_OPTION, COM_PING', async ({ proxy }) => {
  for (const extra of [0, Cap.DEPRECATE_EOF]) {
    const c = await RawClient.connect(proxy.port, 'app', 'app', 'test', extra);
    c.send(new PacketWriter(16).u8(Com.FIELD_LIST).string('items').u8(0));
    const defs: Buffer[] = [];
    for (;;) {
      const f = await c.read();
      if (f.payload[0] === 0xfe) {
        if (extra) assert.ok(f.payload.length >= 7, 'OK-style end of field list');
        break;
      }
      defs.push(f.payload);
    }
    assert.is(defs.length, 2);
    c.send(Buffer.from([Com.STATISTICS]));
    const stat = await c.read();
    assert.match(stat.payload.toString(), /Uptime: \d+/);
    c.send(new PacketWriter(4).u8(Com.SET_OPTION).u16(0));
    const so = await c.read();
    assert.is(so.payload[0], 0xfe);
    const multi = await c.query('SELECT 1; SELECT 2');
    assert.is(multi.err, null);
    assert.equal(multi.rows, [['2']]);
    c.send(Buffer.from([Com.PING]));
    assert.is((await c.read()).payload[0], 0x00);
    c.close();
  }
});

t('unknown command gets ERR 1047 and the session stays usable', async ({ proxy }) => {
  const c = await RawClient.connect(proxy.port, 'app', 'app', 'test');
  c.send(Buffer.from([0x60]));
  const e = await c.read();
  assert.is(e.payload[0], 0xff);
  assert.is(parseErrPayload(e.payload).errno, 1047);
  const r = await c.query('SELECT 42');
  assert.equal(r.rows, [['42']]);
  c.close();
});

t('malformed input closes only that session with an ERR', async ({ proxy }) => {
  const good = await RawClient.connect(proxy.port, 'app', 'app', 'test');

  // garbage instead of a handshake response
  const g = await RawClient.open(proxy.port, 0);
  await g.read(); // server handshake
  g.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const ge = await g.read();
  assert.is(ge.payload[0], 0xff, 'ERR for a bad handshake');
  assert.is(parseErrPayload(ge.payload).errno, 1043);
  assert.is((await g.read()).seq, -1, 'connection closed');

  // truncated handshake response, then hang up
  const tr = await RawClient.open(proxy.port, 0);
  await tr.read();
  tr.socket.write(Buffer.from([0x40, 0, 0, 1, 0x0d, 0xa2]));
  tr.close();

  // wrong sequence id on a command
  const ws = await RawClient.connect(proxy.port, 'app', 'app', 'test');
  ws.send(new PacketWriter(16).u8(Com.QUERY).string('SELECT 1'), 5);
  const we = await ws.read();
  assert.is(we.payload[0], 0xff);
  assert.is((await ws.read()).seq, -1);

  // a length-encoded integer that runs past the packet inside COM_STMT_EXECUTE of a real statement
  const bad = await RawClient.connect(proxy.port, 'app', 'app', 'test');
  const st = await bad.prepare('SELECT ?');
  bad.send(new PacketWriter(16).u8(Com.STMT_EXECUTE).u32(st.id).u8(0).u32(1).u8(0).u8(1));
  const be = await bad.read();
  assert.is(be.payload[0], 0xff, 'ERR for a truncated execute');

  // a packet larger than max_allowed_packet (1 MiB here): refused as soon as its header arrives
  const big = await RawClient.connect(proxy.port, 'app', 'app', 'test');
  big.socket.write(Buffer.from([0xff, 0xff, 0x3f, 0, Com.QUERY]));
  const bigErr = await big.read();
  assert.is(parseErrPayload(bigErr.payload).errno, 1153);

  const r = await good.query('SELECT 7');
  assert.equal(r.rows, [['7']], 'other sessions are unaffected');
  good.close();
  for (const c of [ws, bad, big]) c.close();
});

t('a 1,000,000-row result read slowly keeps the proxy\'s memory bounded (backpressure both ways)', async ({ proxy }) => {
  const c = await RawClient.connect(proxy.port, 'app', 'app', 'test');
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  const live = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const base = live();
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, live())), 20);
  const sock = c.socket;
  sock.removeAllListeners('data');
  let bytes = 0;
  let sincePause = 0;
  const done = new Promise<void>((resolve) => {
    sock.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      sincePause += chunk.length;
      const n = chunk.length;
      // the result ends with an EOF packet: 05 00 00 <seq> fe <warnings> <status>
      if (n >= 9 && chunk[n - 9] === 5 && chunk[n - 8] === 0 && chunk[n - 7] === 0 && chunk[n - 5] === 0xfe) resolve();
      if (sincePause >= 1 << 20) {
        // a slow reader: stop reading for a while after every MiB
        sincePause = 0;
        sock.pause();
        setTimeout(() => sock.resume(), 15);
      }
    });
  });
  const sql = "SELECT seq, REPEAT('r', 180) AS pad FROM seq_1_to_1000000";
  c.send(new PacketWriter(sql.length + 1).u8(Com.QUERY).string(sql));
  await done;
  clearInterval(sampler);
  const growth = (peak - base) / (1 << 20);
  assert.ok(bytes > 180 * (1 << 20), `whole result relayed (${bytes} bytes)`);
  assert.ok(growth < 64, `proxy memory grew ${growth.toFixed(1)} MiB while relaying ${(bytes / (1 << 20)).toFixed(0)} MiB to a slow reader`);
  c.close();
});

t('COM_STMT_SEND_LONG_DATA chunks reach the execute; COM_STMT_RESET discards them', async ({ proxy }) => {
  const c = await RawClient.connect(proxy.port, 'app', 'app', 'test');
  const st = await c.prepare('SELECT ? AS v');
  const longData = (chunk: string) => c.send(new PacketWriter(64).u8(Com.STMT_SEND_LONG_DATA).u32(st.id).u16(0).string(chunk));
  // execute with parameter 0 typed as a BLOB whose value came as long data (no value in the execute)
  const exec = async () => {
    c.send(new PacketWriter(32).u8(Com.STMT_EXECUTE).u32(st.id).u8(0).u32(1).u8(0).u8(1).u16(0xfc));
    return c.readResult(true);
  };
  longData('hello, ');
  longData('long data');
  const r = await exec();
  assert.is(r.err, null, r.err?.message);
  assert.equal(r.rows, [['hello, long data']]);
  longData('discarded');
  c.send(new PacketWriter(8).u8(Com.STMT_RESET).u32(st.id));
  const ok = await c.read();
  assert.is(ok.payload[0], 0x00, 'OK for COM_STMT_RESET');
  longData('fresh');
  const r2 = await exec();
  assert.equal(r2.rows, [['fresh']]);
  c.close();
});

t('COM_RESET_CONNECTION resets variables, user variables and prepared statements', async ({ proxy }) => {
  const c = await RawClient.connect(proxy.port, 'app', 'app', 'test');
  await c.query("SET SESSION sql_mode='ANSI_QUOTES', @u = 'x'");
  const st = await c.prepare('SELECT 1');
  c.send(Buffer.from([Com.RESET_CONNECTION]));
  assert.is((await c.read()).payload[0], 0x00);
  const r = await c.query('SELECT @u, @@sql_mode = @@global.sql_mode');
  assert.equal(r.rows, [[null, '1']]);
  const e = await c.execute(st.id, []);
  assert.is(e.err?.errno, 1243, 'old statement id is gone');
  c.close();
});

t.run();
