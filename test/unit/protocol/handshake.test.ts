/**
 * Handshake (server greeting, client response, SSLRequest) and OK/ERR/EOF codecs: hand-built
 * packets with exact bytes, round trips, and garbage that must fail as a ProtocolError only.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  buildAuthMoreData,
  buildAuthSwitch,
  buildHandshakeResponse,
  buildServerHandshake,
  parseAuthSwitch,
  parseHandshakeResponse,
  parseServerHandshake,
  type ServerHandshake,
} from '../../../src/protocol/handshake';
import { buildEof, buildErr, buildOk, parseEof, parseErrPayload, parseOk, parseSessionState, type OkPacket } from '../../../src/protocol/ok-err';
import { ProtocolError } from '../../../src/protocol/packet-reader';
import { Cap, MariaCap, SessionTrack, Status } from '../../../src/protocol/constants';
import { protoErr } from '../../helpers/assert-protocol';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const str = (s: string) => Buffer.from(s, 'utf8');
const nul = (s: string) => Buffer.concat([str(s), Buffer.from([0])]);
const lenstr = (s: string | Buffer) => {
  const b = typeof s === 'string' ? str(s) : s;
  if (b.length >= 251) throw new Error('test helper handles short strings only');
  return Buffer.concat([Buffer.from([b.length]), b]);
};
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const payloadOf = (w: { finish(seq: number): Buffer }) => w.finish(0).subarray(4);


/** Calls fn; it may return or throw a ProtocolError, never anything else. */
function onlyProtocolErrors(fn: () => unknown, what: string): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw new Error(`${what}: threw ${(e as Error).name}: ${(e as Error).message}`);
  }
}

/** Deterministic PRNG so a failing fuzz case can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const NONCE = Buffer.from('0123456789abcdefghij');

// ---- server handshake

const mariaHs: ServerHandshake = {
  serverVersion: '5.5.5-10.11.6-MariaDB',
  connectionId: 0x01020304,
  nonce: NONCE,
  // MariaDB: LONG_PASSWORD (CLIENT_MYSQL) clear, so the extended capabilities are in the filler
  capabilities: (Cap.PROTOCOL_41 | Cap.SECURE_CONNECTION | Cap.PLUGIN_AUTH | Cap.CONNECT_WITH_DB | Cap.TRANSACTIONS | Cap.SSL | Cap.DEPRECATE_EOF | Cap.SESSION_TRACK) >>> 0,
  mariaCaps: MariaCap.STMT_BULK_OPERATIONS | MariaCap.EXTENDED_METADATA | MariaCap.CACHE_METADATA,
  collation: 45,
  status: Status.AUTOCOMMIT,
  authPlugin: 'mysql_native_password',
};

test('buildServerHandshake: exact bytes (HandshakeV10 with MariaDB extended caps)', () => {
  const caps = mariaHs.capabilities;
  const expected = Buffer.concat([
    hex('0a'),
    nul('5.5.5-10.11.6-MariaDB'),
    hex('04030201'),
    str('01234567'),
    hex('00'),
    Buffer.from([caps & 0xff, (caps >> 8) & 0xff]),
    hex('2d 0200'),
    Buffer.from([(caps >> 16) & 0xff, (caps >> 24) & 0xff]),
    hex('15'), // auth data length 21 (20 + NUL)
    hex('000000000000'),
    hex('1c000000'), // extended caps 0x1c
    str('89abcdefghij'),
    hex('00'),
    nul('mysql_native_password'),
  ]);
  assert.equal(payloadOf(buildServerHandshake(mariaHs)), expected);
});

test('server handshake round trip: MariaDB (ext caps kept), 20-byte nonce', () => {
  const back = parseServerHandshake(payloadOf(buildServerHandshake(mariaHs)));
  assert.equal(back, mariaHs);
  assert.is(back.nonce.length, 20);
});

test('server handshake round trip: MySQL (LONG_PASSWORD set → extended caps neither sent nor read)', () => {
  const mysql: ServerHandshake = {
    ...mariaHs,
    serverVersion: '8.0.36',
    capabilities: (mariaHs.capabilities | Cap.LONG_PASSWORD) >>> 0,
    mariaCaps: 0x1c,
    authPlugin: 'caching_sha2_password',
    status: 0,
  };
  const p = payloadOf(buildServerHandshake(mysql));
  const ext = 1 + 7 + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 6;
  assert.equal(p.subarray(ext, ext + 4), hex('00000000'));
  const back = parseServerHandshake(p);
  assert.is(back.mariaCaps, 0);
  assert.equal({ ...back, mariaCaps: 0x1c }, mysql);
});

test('parseServerHandshake: plugin name without trailing NUL (some servers omit it)', () => {
  const p = payloadOf(buildServerHandshake(mariaHs));
  const back = parseServerHandshake(p.subarray(0, p.length - 1));
  assert.is(back.authPlugin, 'mysql_native_password');
  assert.equal(back.nonce, NONCE);
});

test('parseServerHandshake: ERR instead of a greeting → ProtocolError with errno and message', () => {
  const err = Buffer.concat([hex('ff 1004'), str('Too many connections')]);
  protoErr(() => parseServerHandshake(err), /server refused the connection: 1040 Too many connections/);
  protoErr(() => parseServerHandshake(hex('09 00')), /protocol version 9/);
  protoErr(() => parseServerHandshake(Buffer.concat([hex('0a'), str('no-nul')])), /missing NUL/);
});

// ---- client handshake response

const CLIENT_CAPS =
  Cap.LONG_PASSWORD | Cap.CONNECT_WITH_DB | Cap.PROTOCOL_41 | Cap.TRANSACTIONS | Cap.SECURE_CONNECTION | Cap.PLUGIN_AUTH | Cap.CONNECT_ATTRS | Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA;
const TOKEN = hex('f1b2fb1c8de75db8eba8126ad10fe9b11050d428');

function handBuiltResponse(o: { caps: number; ext?: number; auth: Buffer; db?: string; plugin?: string; attrs?: Buffer }): Buffer {
  const parts = [u32(o.caps), u32(0x01000000), hex('21'), Buffer.alloc(19), u32(o.ext ?? 0), nul('root'), o.auth];
  if (o.db !== undefined) parts.push(nul(o.db));
  if (o.plugin !== undefined) parts.push(nul(o.plugin));
  if (o.attrs) parts.push(o.attrs);
  return Buffer.concat(parts);
}

const ATTRS_BODY = Buffer.concat([lenstr('_client_name'), lenstr('libmariadb'), lenstr('_os'), lenstr('Linux'), lenstr('empty'), lenstr('')]);

test('parseHandshakeResponse: PLUGIN_AUTH_LENENC, CONNECT_WITH_DB, PLUGIN_AUTH, CONNECT_ATTRS', () => {
  const p = handBuiltResponse({
    caps: CLIENT_CAPS,
    ext: 0x1c, // ignored: LONG_PASSWORD is set (a MySQL client)
    auth: Buffer.concat([hex('14'), TOKEN]),
    db: 'shop',
    plugin: 'mysql_native_password',
    attrs: Buffer.concat([Buffer.from([ATTRS_BODY.length]), ATTRS_BODY]),
  });
  const r = parseHandshakeResponse(p);
  assert.is(r.capabilities, CLIENT_CAPS);
  assert.is(r.mariaCaps, 0);
  assert.is(r.maxPacket, 0x01000000);
  assert.is(r.collation, 0x21);
  assert.is(r.sslRequest, false);
  assert.is(r.user, 'root');
  assert.equal(r.authResponse, TOKEN);
  assert.is(r.database, 'shop');
  assert.is(r.authPlugin, 'mysql_native_password');
  assert.equal([...r.attrs], [['_client_name', 'libmariadb'], ['_os', 'Linux'], ['empty', '']]);
});

test('parseHandshakeResponse: MariaDB client (LONG_PASSWORD clear) gets extended caps; 1-byte auth length', () => {
  const caps = (CLIENT_CAPS & ~Cap.LONG_PASSWORD & ~Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA & ~Cap.CONNECT_ATTRS) >>> 0;
  const r = parseHandshakeResponse(handBuiltResponse({ caps, ext: 0x08, auth: Buffer.concat([hex('14'), TOKEN]), db: '', plugin: 'client_ed25519' }));
  assert.is(r.mariaCaps, 0x08);
  assert.equal(r.authResponse, TOKEN);
  assert.is(r.database, null, "empty database → null");
  assert.is(r.authPlugin, 'client_ed25519');
  assert.is(r.attrs.size, 0);
});

test('parseHandshakeResponse: no SECURE_CONNECTION → NUL-terminated auth; no db/plugin flags → nulls', () => {
  const caps = Cap.PROTOCOL_41 | Cap.LONG_PASSWORD;
  const r = parseHandshakeResponse(handBuiltResponse({ caps, auth: nul('abc') }));
  assert.equal(r.authResponse, str('abc'));
  assert.is(r.database, null);
  assert.is(r.authPlugin, null);
  // trailing data that no flag announces is ignored
  assert.is(parseHandshakeResponse(Buffer.concat([handBuiltResponse({ caps, auth: nul('abc') }), str('junk')])).database, null);
});

test('parseHandshakeResponse: zstd_compression_level byte after the attributes (MySQL 8.0.18+ clients)', () => {
  const ZSTD = Cap.ZSTD_COMPRESSION_ALGORITHM;
  const attrs = Buffer.concat([Buffer.from([ATTRS_BODY.length]), ATTRS_BODY]);
  const base = { auth: Buffer.concat([hex('14'), TOKEN]), db: 'shop', plugin: 'caching_sha2_password' };
  // as libmysqlclient sends it: attributes, then the level
  const r = parseHandshakeResponse(Buffer.concat([handBuiltResponse({ ...base, caps: (CLIENT_CAPS | ZSTD) >>> 0, attrs }), hex('07')]));
  assert.is(r.zstdLevel, 7);
  assert.equal([...r.attrs].length, 3, 'attributes still parsed');
  assert.is(r.authPlugin, 'caching_sha2_password');
  // without CONNECT_ATTRS the level follows the plugin name
  const noAttrs = (CLIENT_CAPS & ~Cap.CONNECT_ATTRS | ZSTD) >>> 0;
  const r2 = parseHandshakeResponse(Buffer.concat([handBuiltResponse({ ...base, caps: noAttrs }), hex('16')]));
  assert.equal([r2.zstdLevel, r2.authPlugin, r2.database], [22, 'caching_sha2_password', 'shop']);
  // any byte value is reported as is: the negotiation judges it
  assert.is(parseHandshakeResponse(Buffer.concat([handBuiltResponse({ ...base, caps: noAttrs }), hex('00')])).zstdLevel, 0);
  // the flag without the byte: null (refused by the negotiation)
  assert.is(parseHandshakeResponse(handBuiltResponse({ ...base, caps: (CLIENT_CAPS | ZSTD) >>> 0, attrs })).zstdLevel, null);
  // a trailing byte without the flag is not a level
  assert.is(parseHandshakeResponse(Buffer.concat([handBuiltResponse({ ...base, caps: CLIENT_CAPS, attrs }), hex('03')])).zstdLevel, null);
  // every truncation of a zstd response is a ProtocolError or a shorter response, never another exception
  const full = Buffer.concat([handBuiltResponse({ ...base, caps: (CLIENT_CAPS | ZSTD) >>> 0, attrs }), hex('03')]);
  for (let n = 0; n <= full.length; n++) onlyProtocolErrors(() => parseHandshakeResponse(full.subarray(0, n)), `zstd response truncated at ${n}`);
});

test('parseHandshakeResponse: db/plugin without trailing NUL (rest of packet)', () => {
  const caps = (Cap.PROTOCOL_41 | Cap.SECURE_CONNECTION | Cap.CONNECT_WITH_DB) >>> 0;
  const p = Buffer.concat([handBuiltResponse({ caps, auth: hex('00') }), str('db1')]);
  assert.is(parseHandshakeResponse(p).database, 'db1');
});

test('SSLRequest: 32 bytes with SSL → sslRequest true; without SSL → ProtocolError', () => {
  const caps = (CLIENT_CAPS | Cap.SSL) >>> 0;
  const ssl = Buffer.concat([u32(caps), u32(0x01000000), hex('2d'), Buffer.alloc(23)]);
  assert.is(ssl.length, 32);
  const r = parseHandshakeResponse(ssl);
  assert.is(r.sslRequest, true);
  assert.is(r.capabilities, caps);
  assert.is(r.collation, 45);
  assert.is(r.user, '');
  protoErr(() => parseHandshakeResponse(Buffer.concat([u32(CLIENT_CAPS), ssl.subarray(4)])), /truncated/);
});

test('parseHandshakeResponse: malformed pieces → ProtocolError', () => {
  protoErr(() => parseHandshakeResponse(Buffer.concat([u32(Cap.LONG_PASSWORD), Buffer.alloc(40)])), /protocol 4\.1/);
  protoErr(() => parseHandshakeResponse(Buffer.alloc(31, 0xff)), /truncated/);
  // auth length beyond the packet
  protoErr(() => parseHandshakeResponse(handBuiltResponse({ caps: CLIENT_CAPS, auth: hex('14 0102') })), /truncated/);
  // user without NUL
  protoErr(() => parseHandshakeResponse(Buffer.concat([u32(CLIENT_CAPS), u32(0), hex('21'), Buffer.alloc(23), str('root')])), /missing NUL/);
  // attributes announce more than there is
  const bad = handBuiltResponse({ caps: CLIENT_CAPS, auth: hex('00'), db: 'd', plugin: 'p', attrs: Buffer.concat([Buffer.from([ATTRS_BODY.length + 5]), ATTRS_BODY]) });
  protoErr(() => parseHandshakeResponse(bad), /connection attributes run past/);
  // an attribute value running past the end
  const bad2 = handBuiltResponse({ caps: CLIENT_CAPS, auth: hex('00'), db: 'd', plugin: 'p', attrs: hex('04 01 61 05 62') });
  protoErr(() => parseHandshakeResponse(bad2), /truncated/);
});

test('garbage: HTTP request and TLS ClientHello → ProtocolError', () => {
  protoErr(() => parseHandshakeResponse(str('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')));
  protoErr(() => parseHandshakeResponse(str('GET / HTTP/1.1')));
  protoErr(() => parseHandshakeResponse(hex('160301020001')));
  protoErr(() => parseHandshakeResponse(Buffer.alloc(0)));
});

test('garbage fuzz: random bytes, truncations and byte flips only ever raise ProtocolError', () => {
  const rnd = rng(0xc0ffee);
  const valid = handBuiltResponse({
    caps: (CLIENT_CAPS | Cap.SSL) >>> 0,
    auth: Buffer.concat([hex('14'), TOKEN]),
    db: 'shop',
    plugin: 'mysql_native_password',
    attrs: Buffer.concat([Buffer.from([ATTRS_BODY.length]), ATTRS_BODY]),
  });
  for (let i = 0; i < 20000; i++) {
    const n = rnd() % 160;
    const b = Buffer.allocUnsafe(n);
    for (let j = 0; j < n; j++) b[j] = rnd() & 0xff;
    // half of the cases get PROTOCOL_41 so the parser goes further than the first check
    if (n >= 4 && i & 1) b[1] |= 0x02;
    onlyProtocolErrors(() => parseHandshakeResponse(b), `random #${i} ${b.toString('hex')}`);
  }
  for (let n = 0; n <= valid.length; n++) onlyProtocolErrors(() => parseHandshakeResponse(valid.subarray(0, n)), `truncated at ${n}`);
  for (let pos = 0; pos < valid.length; pos++) {
    for (const v of [0x00, 0x01, 0x7f, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff]) {
      const b = Buffer.from(valid);
      b[pos] = v;
      onlyProtocolErrors(() => parseHandshakeResponse(b), `flip ${pos}=${v}`);
    }
  }
  const hs = payloadOf(buildServerHandshake(mariaHs));
  for (let n = 0; n <= hs.length; n++) onlyProtocolErrors(() => parseServerHandshake(hs.subarray(0, n)), `server hs truncated at ${n}`);
  for (let pos = 0; pos < hs.length; pos++) {
    for (const v of [0x00, 0xff, 0xfe, 0x0a]) {
      const b = Buffer.from(hs);
      b[pos] = v;
      onlyProtocolErrors(() => parseServerHandshake(b), `server hs flip ${pos}=${v}`);
    }
  }
});

test('buildHandshakeResponse → parseHandshakeResponse round trip', () => {
  const cases: Parameters<typeof buildHandshakeResponse>[0][] = [
    { capabilities: CLIENT_CAPS, mariaCaps: 0, collation: 45, user: 'app', authResponse: TOKEN, database: 'shop', authPlugin: 'mysql_native_password', attrs: { _client_name: 'tenantgate', k: 'é' } },
    { capabilities: (CLIENT_CAPS & ~Cap.LONG_PASSWORD & ~Cap.CONNECT_ATTRS & ~Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA) >>> 0, mariaCaps: MariaCap.EXTENDED_METADATA, collation: 224, user: 'ü', authResponse: Buffer.alloc(0), database: null, authPlugin: 'mysql_native_password' },
    { capabilities: CLIENT_CAPS, mariaCaps: 0, collation: 8, user: 'big', authResponse: Buffer.alloc(300, 7), database: null, authPlugin: 'caching_sha2_password', attrs: {} },
    { capabilities: (CLIENT_CAPS | Cap.ZSTD_COMPRESSION_ALGORITHM) >>> 0, mariaCaps: 0, collation: 255, user: 'z', authResponse: TOKEN, database: 'd', authPlugin: 'caching_sha2_password', attrs: { _client_name: 'libmysql' }, zstdLevel: 3 },
  ];
  for (const c of cases) {
    const r = parseHandshakeResponse(payloadOf(buildHandshakeResponse(c)));
    assert.is(r.capabilities, c.capabilities);
    assert.is(r.mariaCaps, c.mariaCaps);
    assert.is(r.maxPacket, 0x40000000);
    assert.is(r.collation, c.collation);
    assert.is(r.sslRequest, false);
    assert.is(r.user, c.user);
    assert.equal(r.authResponse, c.authResponse);
    assert.is(r.database, c.database);
    assert.is(r.authPlugin, c.authPlugin);
    assert.equal(Object.fromEntries(r.attrs), c.attrs ?? {});
    assert.is(r.zstdLevel, c.zstdLevel ?? null);
  }
});

test('AuthSwitchRequest / AuthMoreData', () => {
  const sw = payloadOf(buildAuthSwitch('mysql_native_password', NONCE));
  assert.equal(sw, Buffer.concat([hex('fe'), nul('mysql_native_password'), NONCE, hex('00')]));
  assert.equal(parseAuthSwitch(sw), { plugin: 'mysql_native_password', data: NONCE });
  assert.equal(payloadOf(buildAuthMoreData(hex('04'))), hex('0104'));
  // a switch request without plugin data (old servers)
  assert.equal(parseAuthSwitch(Buffer.concat([hex('fe'), str('mysql_old_password')])), { plugin: 'mysql_old_password', data: Buffer.alloc(0) });
});

// ---- OK / ERR / EOF

const INFO = 'Rows matched: 1  Changed: 1  Warnings: 0';

test('parseOk without SESSION_TRACK: info is length-encoded, as servers send it', () => {
  // Captured from MariaDB 10.11 for a client without SESSION_TRACK (PHP mysqlnd): UPDATE of 2 rows.
  const p = Buffer.concat([hex('00 01 fc2c01 0200 0100'), lenstr(INFO)]);
  const ok = parseOk(p, 0);
  assert.is(ok.affectedRows, 1);
  assert.is(ok.lastInsertId, 300);
  assert.is(ok.status, Status.AUTOCOMMIT);
  assert.is(ok.warnings, 1);
  assert.is(ok.info.toString(), INFO);
  assert.is(ok.sessionState, null);
  // trailing bytes after the info do not belong to an OK without SESSION_TRACK
  assert.equal(parseOk(Buffer.concat([p, hex('00')]), 0).info.toString(), INFO);
  // an info length past the end is a protocol error, not a silent short read
  protoErr(() => parseOk(Buffer.concat([hex('00 01 00 0200 0000'), str(INFO)]), 0), /truncated/);
  // minimal OK: nothing after the warnings
  assert.equal(parseOk(hex('00 00 00 0200 0000'), Cap.SESSION_TRACK), {
    affectedRows: 0, lastInsertId: 0, status: 2, warnings: 0, info: Buffer.alloc(0), sessionState: null,
  });
});

test('parseOk with SESSION_TRACK: info lenenc, then the session-state block', () => {
  const block = Buffer.concat([hex('00'), lenstr(Buffer.concat([lenstr('autocommit'), lenstr('OFF')])), hex('01'), lenstr(lenstr('shop'))]);
  const p = Buffer.concat([hex('00 00 00 0040 0000'), lenstr(''), lenstr(block)]);
  const ok = parseOk(p, Cap.SESSION_TRACK);
  assert.is(ok.status, Status.SESSION_STATE_CHANGED);
  assert.is(ok.info.length, 0);
  assert.equal(ok.sessionState, block);
  // info present, no state flag: the block is not read
  const p2 = Buffer.concat([hex('00 02 00 0200 0000'), lenstr(INFO)]);
  const ok2 = parseOk(p2, Cap.SESSION_TRACK);
  assert.is(ok2.info.toString(), INFO);
  assert.is(ok2.sessionState, null);
  // the same bytes read without SESSION_TRACK: the same info
  assert.is(parseOk(p2, 0).info.toString(), INFO);
  protoErr(() => parseOk(hex('00 00 00 02'), 0), /truncated/);
  protoErr(() => parseOk(Buffer.concat([hex('00 00 00 0200 0000 30'), str('x')]), Cap.SESSION_TRACK), /truncated/);
});

test('parseSessionState: system variables, schema, state change, other types', () => {
  const sysvar = Buffer.concat([hex('00'), lenstr(Buffer.concat([lenstr('character_set_client'), lenstr('latin1')]))]);
  const schema = Buffer.concat([hex('01'), lenstr(lenstr('tenant_42'))]);
  const change = Buffer.concat([hex('02'), lenstr(lenstr('1'))]);
  const noValue = Buffer.concat([hex('00'), lenstr(lenstr('sql_mode'))]);
  const trx = Buffer.concat([hex('05'), lenstr(lenstr('T_______'))]);
  const block = Buffer.concat([sysvar, schema, change, noValue, trx]);
  const es = parseSessionState(block);
  assert.equal(es.map((e) => [e.type, e.name, e.value]), [
    [SessionTrack.SYSTEM_VARIABLES, 'character_set_client', 'latin1'],
    [SessionTrack.SCHEMA, 'tenant_42', ''],
    [SessionTrack.STATE_CHANGE, '', '\x011'],
    [SessionTrack.SYSTEM_VARIABLES, 'sql_mode', ''],
    [SessionTrack.TRANSACTION_STATE, '', '\x08T_______'],
  ]);
  assert.equal(es.map((e) => e.raw), [sysvar, schema, change, noValue, trx]);
  assert.equal(parseSessionState(Buffer.alloc(0)), []);
  protoErr(() => parseSessionState(hex('00 05 01 61')), /truncated/);
  protoErr(() => parseSessionState(hex('00 02 05 61')), /truncated/); // name longer than its entry
});

test('buildOk: without SESSION_TRACK info is length-encoded (PHP mysqlnd reads it so) and state is dropped', () => {
  const ok: OkPacket = {
    affectedRows: 3, lastInsertId: 70000, status: Status.AUTOCOMMIT | Status.SESSION_STATE_CHANGED, warnings: 2,
    info: str(INFO), sessionState: hex('01 05 04 73686f70'),
  };
  assert.equal(payloadOf(buildOk(ok, 0)), Buffer.concat([hex('00 03 fd701101 0200 0200'), lenstr(INFO)]));
  assert.equal(payloadOf(buildOk({ ...ok, info: Buffer.alloc(0) }, 0)), hex('00 03 fd701101 0200 0200'));
  // 2^64-999 (an auto-increment id of -999) and a huge affected-row count are written exactly
  assert.equal(payloadOf(buildOk({ ...ok, affectedRows: 2n ** 60n, lastInsertId: 2n ** 64n - 999n, info: Buffer.alloc(0) }, 0)),
    hex('00 fe0000000000000010 fe19fcffffffffffff 0200 0200'));
  // header 0xFE (OK ending a result set under DEPRECATE_EOF)
  assert.equal(payloadOf(buildOk({ ...ok, info: Buffer.alloc(0), sessionState: null }, 0, 0xfe)), hex('fe 03 fd701101 0200 0200'));
});

test('buildOk: with SESSION_TRACK info is lenenc, state block follows; round trips through parseOk', () => {
  const state = hex('01 05 04 73686f70');
  const ok: OkPacket = { affectedRows: 0, lastInsertId: 0, status: Status.SESSION_STATE_CHANGED, warnings: 0, info: Buffer.alloc(0), sessionState: state };
  const p = payloadOf(buildOk(ok, Cap.SESSION_TRACK));
  assert.equal(p, hex('00 00 00 0040 0000 00 07 01050473686f70'));
  assert.equal(parseOk(p, Cap.SESSION_TRACK), ok);
  const withInfo = { ...ok, info: str(INFO) };
  assert.equal(parseOk(payloadOf(buildOk(withInfo, Cap.SESSION_TRACK)), Cap.SESSION_TRACK), withInfo);
  // no state, no info: nothing after the warnings
  const bare = { ...ok, sessionState: null, status: Status.AUTOCOMMIT };
  assert.equal(payloadOf(buildOk(bare, Cap.SESSION_TRACK)), hex('00 00 00 0200 0000'));
  // empty state block: flag cleared, nothing appended
  assert.equal(payloadOf(buildOk({ ...ok, sessionState: Buffer.alloc(0) }, Cap.SESSION_TRACK)), hex('00 00 00 0000 0000'));
  // info without state
  assert.equal(payloadOf(buildOk({ ...bare, info: str('hi') }, Cap.SESSION_TRACK)), hex('00 00 00 0200 0000 02 6869'));
});

test('parseErrPayload / buildErr: with and without SQLSTATE marker', () => {
  const p = Buffer.concat([hex('ff 1504 23'), str('28000'), str("Access denied for user 'x'@'h' (using password: YES)")]);
  assert.equal(parseErrPayload(p), { errno: 1045, sqlState: '28000', message: "Access denied for user 'x'@'h' (using password: YES)" });
  assert.equal(parseErrPayload(Buffer.concat([hex('ff 1504'), str('old style')])), { errno: 1045, sqlState: 'HY000', message: 'old style' });
  assert.equal(parseErrPayload(hex('ff 1504')), { errno: 1045, sqlState: 'HY000', message: '' });
  protoErr(() => parseErrPayload(hex('ff 15')), /truncated/);
  protoErr(() => parseErrPayload(hex('ff 1504 23 3432')), /truncated/);
  const built = payloadOf(buildErr(1146, '42S02', "Table 'shop.x' doesn't exist"));
  assert.equal(built, Buffer.concat([hex('ff 7a04 23'), str('42S02'), str("Table 'shop.x' doesn't exist")]));
  assert.equal(parseErrPayload(built), { errno: 1146, sqlState: '42S02', message: "Table 'shop.x' doesn't exist" });
  assert.is(parseErrPayload(payloadOf(buildErr(1, 'HY', 'm'))).sqlState, 'HY000');
  assert.is(parseErrPayload(payloadOf(buildErr(1, '4200099', 'm'))).sqlState, '42000');
  // multibyte message: byte length, not char length
  assert.is(parseErrPayload(payloadOf(buildErr(1064, '42000', 'près de « x »'))).message, 'près de « x »');
});

test('EOF: buildEof / parseEof', () => {
  const p = payloadOf(buildEof(1, Status.AUTOCOMMIT | Status.MORE_RESULTS_EXISTS));
  assert.equal(p, hex('fe 0100 0a00'));
  assert.equal(parseEof(p), { warnings: 1, status: 0x0a });
  assert.equal(parseEof(hex('fe')), { warnings: 0, status: 0 }); // pre-4.1 EOF
});

test('OK/ERR/session-state fuzz: only ProtocolError', () => {
  const rnd = rng(42);
  for (let i = 0; i < 20000; i++) {
    const n = 1 + (rnd() % 40);
    const b = Buffer.allocUnsafe(n);
    for (let j = 0; j < n; j++) b[j] = rnd() & 0xff;
    onlyProtocolErrors(() => parseOk(b, Cap.SESSION_TRACK), `parseOk ${b.toString('hex')}`);
    onlyProtocolErrors(() => parseOk(b, 0), `parseOk ${b.toString('hex')}`);
    onlyProtocolErrors(() => parseSessionState(b), `parseSessionState ${b.toString('hex')}`);
    onlyProtocolErrors(() => parseErrPayload(b), `parseErrPayload ${b.toString('hex')}`);
  }
});

test.run();
