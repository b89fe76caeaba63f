/**
 * The COM_STMT_EXECUTE rewrite: backend statement id patched in place, parameter types re-sent only
 * when the backend statement has not seen the same bytes (backend statements are shared by sessions).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BackendConnection, BackendStmt } from '../../../src/backend/backend-connection';
import type { Frame } from '../../../src/protocol/framer';
import { ClientStmt, executePacket, noteParamTypes, rememberBackendStmt } from '../../../src/server/prepared';
import { evictLru } from '../../../src/server/stmt-lifetime';
import { settleUseOrder } from '../../../src/cache/use-order';
import { scanQuery } from '../../../src/classify/lexer';

const LONGLONG = 0x08;
const VARCHAR = 0x0f;

/** COM_STMT_EXECUTE for client statement `id` with two parameters (a BIGINT and a string). */
function execPayload(id: number, types: number[] | null, a: bigint, b: string): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(10);
  head[0] = 0x17;
  head.writeUInt32LE(id, 1);
  head[5] = 0; // no cursor
  head.writeUInt32LE(1, 6); // iteration count
  parts.push(head, Buffer.from([0])); // null bitmap (2 params → 1 byte)
  if (types) {
    parts.push(Buffer.from([1]));
    for (const t of types) parts.push(Buffer.from([t, 0]));
  } else parts.push(Buffer.from([0]));
  const v = Buffer.alloc(8);
  v.writeBigInt64LE(a);
  parts.push(v, Buffer.from([b.length]), Buffer.from(b));
  return Buffer.concat(parts);
}

function frameOf(payload: Buffer): Frame {
  const raw = Buffer.alloc(4 + payload.length);
  raw.writeUIntLE(payload.length, 0, 3);
  raw[3] = 0;
  payload.copy(raw, 4);
  return { payload: raw.subarray(4), seq: 0, lastSeq: 0, raw };
}

const SQL = Buffer.from('SELECT ?, ?');

function stmt(paramTypes: Buffer | null = null): ClientStmt {
  return { id: 7, sql: Buffer.from('SELECT ?, ?'), key: 'db\0SELECT ?, ?', schema: 'db', numParams: 2, numColumns: 2, paramTypes, longData: null, longDataBytes: 0, cursorOpen: false, info: scanQuery(SQL, 0, SQL.length) };
}

function conn(bs: BackendStmt): BackendConnection {
  return { stmts: new Map([['db\0SELECT ?, ?', bs]]) } as unknown as BackendConnection;
}

const TYPES = Buffer.from([LONGLONG, 0, VARCHAR, 0]);

test('execute binding types: sent as received (the frame itself), backend id patched in, types noted on the backend statement', () => {
  const st = stmt();
  const f = frameOf(execPayload(7, [LONGLONG, VARCHAR], 42n, 'x'));
  assert.ok(noteParamTypes(st, f.payload));
  const bs: BackendStmt = { id: 99, numParams: 2, numColumns: 2, types: null };
  const out = executePacket(conn(bs), st, f);
  assert.is(out.length, 1);
  assert.is(out[0], f.raw, 'no copy');
  assert.is(out[0].readUInt32LE(5), 99);
  assert.equal(bs.types, TYPES);
});

test("re-execute without types on a backend statement that got the same bytes from another session: no re-send, no copy", () => {
  const st = stmt(Buffer.from(TYPES));
  const f = frameOf(execPayload(7, null, 5n, 'abc'));
  const bs: BackendStmt = { id: 12, numParams: 2, numColumns: 2, types: Buffer.from(TYPES) };
  const out = executePacket(conn(bs), st, f);
  assert.is(out[0], f.raw);
  assert.is(out[0].readUInt32LE(5), 12);
});

for (const [name, bsTypes] of [
  ['has never seen types', null],
  ['last got different types', Buffer.from([VARCHAR, 0, VARCHAR, 0])],
] as const) {
  test(`re-execute without types on a backend statement that ${name}: the session's types are inserted`, () => {
    const st = stmt(Buffer.from(TYPES));
    const f = frameOf(execPayload(7, null, 5n, 'abc'));
    const bs: BackendStmt = { id: 12, numParams: 2, numColumns: 2, types: bsTypes === null ? null : Buffer.from(bsTypes) };
    const out = executePacket(conn(bs), st, f);
    const expected = execPayload(12, [LONGLONG, VARCHAR], 5n, 'abc');
    assert.equal(out[0].subarray(4), expected);
    assert.is(out[0].readUIntLE(0, 3), expected.length);
    assert.equal(bs.types, TYPES);
  });
}

test('noteParamTypes keeps the block when the types did not change, copies a changed one (never a view of the packet)', () => {
  const st = stmt();
  const p1 = execPayload(7, [LONGLONG, VARCHAR], 1n, 'a');
  assert.ok(noteParamTypes(st, p1));
  const first = st.paramTypes;
  assert.equal(first, TYPES);
  p1.fill(0xee); // the client's packet buffer is reused for later reads
  assert.equal(st.paramTypes, TYPES);
  assert.ok(noteParamTypes(st, execPayload(7, [LONGLONG, VARCHAR], 2n, 'b')));
  assert.is(st.paramTypes, first);
  assert.ok(noteParamTypes(st, execPayload(7, [VARCHAR, VARCHAR], 2n, 'b')));
  assert.equal(st.paramTypes, Buffer.from([VARCHAR, 0, VARCHAR, 0]));
  assert.ok(noteParamTypes(st, execPayload(7, null, 2n, 'b')), 'no types bound: nothing to note');
  assert.equal(st.paramTypes, Buffer.from([VARCHAR, 0, VARCHAR, 0]));
});

test('noteParamTypes refuses a payload shorter than the types it announces', () => {
  const st = stmt();
  const p = execPayload(7, [LONGLONG, VARCHAR], 1n, 'a');
  assert.not.ok(noteParamTypes(st, p.subarray(0, 14)));
  assert.is(st.paramTypes, null);
});

/** A connection whose socket records the COM_STMT_CLOSE ids written to it. */
function closingConn(entries: [string, BackendStmt][]): { c: BackendConnection; closed: number[] } {
  const closed: number[] = [];
  const c = { closed: false, stmts: new Map(entries), socket: { write: (b: Buffer) => closed.push(b.readUInt32LE(5)) } } as unknown as BackendConnection;
  return { c, closed };
}

const bst = (id: number, cursor = false): BackendStmt => ({ id, numParams: 0, numColumns: 1, types: null, cursor });

test('LRU cap: the least recently used statement without an open cursor is closed, a cursor one is kept', () => {
  const { c, closed } = closingConn([['a', bst(1, true)], ['b', bst(2)], ['c', bst(3)]]);
  rememberBackendStmt(c, 'd', bst(4), 3);
  assert.equal(closed, [2]);
  assert.equal([...c.stmts.keys()], ['a', 'c', 'd']);
});

test('LRU cap: every cached statement holds a cursor: the new one is kept over the cap, none closed', () => {
  const { c, closed } = closingConn([['a', bst(1, true)], ['b', bst(2, true)]]);
  rememberBackendStmt(c, 'c', bst(3), 2);
  assert.equal(closed, []);
  assert.equal([...c.stmts.keys()], ['a', 'b', 'c']);
});

test('1461 eviction: half of the statements without a cursor, oldest first; 0 when all hold cursors', () => {
  const { c, closed } = closingConn([['a', bst(1, true)], ['b', bst(2)], ['c', bst(3, true)], ['d', bst(4)], ['e', bst(5)], ['f', bst(6)], ['g', bst(7)]]);
  assert.is(evictLru(c), 2);
  assert.equal(closed, [2, 4]);
  const all = closingConn([['a', bst(1, true)], ['b', bst(2, true)]]);
  assert.is(evictLru(all.c), 0);
  assert.equal(all.closed, []);
});

test('executes keep the backend statement cache in LRU order (stamped, not re-inserted: the map is put in use order before an eviction)', () => {
  const written: Buffer[] = [];
  const c = { stmts: new Map(), closed: false, socket: { write: (b: Buffer) => written.push(b) } } as unknown as BackendConnection;
  const mk = (key: string): ClientStmt => ({ ...stmt(), key });
  const bs = (id: number): BackendStmt => ({ id, numParams: 2, numColumns: 2, types: null, cursor: false });
  const exec = (st: ClientStmt) => executePacket(c, st, frameOf(execPayload(7, [LONGLONG, VARCHAR], 1n, 'x')));
  const a = mk('a');
  rememberBackendStmt(c, 'a', bs(1), 2);
  rememberBackendStmt(c, 'b', bs(2), 2);
  exec(a); // a becomes the most recent
  exec(a);
  exec(a);
  assert.equal([...c.stmts.keys()], ['a', 'b'], 'an execute does not re-insert');
  settleUseOrder(c.stmts);
  assert.equal([...c.stmts.keys()], ['b', 'a']);
  rememberBackendStmt(c, 'c', bs(3), 2); // evicts b, the least recently used
  assert.equal([...c.stmts.keys()], ['a', 'c']);
  assert.is(written.length, 1, 'b closed on the server');
  assert.is(written[0].readUInt32LE(5), 2);
  exec(a); // c was the most recent: now a is
  rememberBackendStmt(c, 'd', bs(4), 2); // evicts c, not a (a would be first in insertion order)
  assert.equal([...c.stmts.keys()], ['a', 'd']);
  assert.is(written[1].readUInt32LE(5), 3, 'c closed on the server');
  // Four statements executed in turn, as sysbench's point selects over four tables: each eviction takes the least recent.
  const d = { stmts: new Map(), closed: false, socket: { write: (b: Buffer) => written.push(b) } } as unknown as BackendConnection;
  const ks = ['p', 'q', 'r', 's'];
  ks.forEach((k, i) => rememberBackendStmt(d, k, bs(10 + i), 4));
  for (const k of ['s', 'p', 'r', 'q', 'p', 's']) executePacket(d, mk(k), frameOf(execPayload(7, [LONGLONG, VARCHAR], 1n, 'x')));
  rememberBackendStmt(d, 't', bs(20), 4); // r is the least recent now
  assert.equal([...d.stmts.keys()], ['q', 'p', 's', 't']);
});

test.run();
