/**
 * Client authentication at the proxy: access-denied errors (exact errno/SQLSTATE/message, client address),
 * mysql_native_password and caching_sha2_password users over plain TCP and TLS, require_tls users,
 * and the `mariadb` CLI over TLS.
 */
import * as assert from 'uvu/assert';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { Conn, ProxyHandle, ProxyUserOpts } from '../helpers/proxy';
import { cli, isTls, sqlError, startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('proxy-auth');

const USERS: ProxyUserOpts[] = [
  { name: 'app', password: 'app' },
  { name: 'sha2only', password: 'sha2-pw', plugins: ['sha2'] },
  { name: 'nativeonly', password: 'native-pw', plugins: ['native'] },
  { name: 'secure', password: 'secure-pw', requireTls: true },
];

let server: MariaDbServer;
/** default_auth_plugin mysql_native_password (the default), with TLS configured */
let h: ProxyHandle;
/** default_auth_plugin caching_sha2_password, no TLS */
let hSha2: ProxyHandle;

test.before(async () => {
  server = await startServer();
  h = await startProxy({ backends: [{ name: 'b1', port: server.port }], users: USERS, tls: true });
  hSha2 = await startProxy({
    backends: [{ name: 'b1', port: server.port }],
    users: USERS,
    server: { default_auth_plugin: 'caching_sha2_password' },
  });
});

test.after(async () => {
  await h?.stop();
  await hSha2?.stop();
  await server?.destroy();
});

function denied(user: string, usingPassword: boolean): string {
  return `Access denied for user '${user}'@'127.0.0.1' (using password: ${usingPassword ? 'YES' : 'NO'})`;
}

async function selectTwo(c: Conn): Promise<void> {
  const [rows] = await c.query('SELECT 1+1 AS two, DATABASE() AS db');
  assert.equal(rows, [{ two: 2, db: 'test' }]);
}

for (const [label, which] of [['native default', () => h], ['caching_sha2 default', () => hSha2]] as const) {
  test(`[${label}] wrong password -> 1045 28000 with the client address`, timed(async () => {
    const e = await sqlError(which().connect({ user: 'app', password: 'nope' }));
    assert.equal(
      { errno: e.errno, sqlState: e.sqlState, message: e.message },
      { errno: 1045, sqlState: '28000', message: denied('app', true) },
    );
    const e2 = await sqlError(which().connect({ user: 'sha2only', password: 'nope' }));
    assert.equal(
      { errno: e2.errno, sqlState: e2.sqlState, message: e2.message },
      { errno: 1045, sqlState: '28000', message: denied('sha2only', true) },
    );
  }));

  test(`[${label}] unknown user -> same 1045 as a wrong password (no user enumeration)`, timed(async () => {
    const e = await sqlError(which().connect({ user: 'nobody', password: 'app' }));
    assert.equal(
      { errno: e.errno, sqlState: e.sqlState, message: e.message },
      { errno: 1045, sqlState: '28000', message: denied('nobody', true) },
    );
  }));

  test(`[${label}] empty password -> "using password: NO"`, timed(async () => {
    const e = await sqlError(which().connect({ user: 'app', password: '' }));
    assert.equal(
      { errno: e.errno, sqlState: e.sqlState, message: e.message },
      { errno: 1045, sqlState: '28000', message: denied('app', false) },
    );
  }));

  test(`[${label}] native-only, sha2-only and dual-hash users connect over plain TCP`, timed(async () => {
    for (const u of USERS.filter((x) => !x.requireTls)) {
      // twice: the second login may take a cached fast path, both must work
      for (let i = 0; i < 2; i++) {
        const c = await which().connect({ user: u.name, password: u.password });
        assert.not.ok(isTls(c), 'plain TCP');
        await selectTwo(c);
        await c.end();
      }
    }
  }));
}

test('TLS: every plugin works and the client socket is really TLS', timed(async () => {
  for (const u of USERS) {
    const c = await h.connect({ user: u.name, password: u.password, ssl: { ca: h.tls!.ca } });
    assert.ok(isTls(c), `${u.name}: socket is a TLS socket with a cipher`);
    await selectTwo(c);
    // a larger result over TLS (several TLS records)
    const [rows] = await c.query("SELECT REPEAT('t', 100000) AS big");
    assert.is((rows as { big: string }[])[0].big.length, 100000);
    await c.end();
  }
  const wrong = await sqlError(h.connect({ user: 'sha2only', password: 'bad', ssl: { ca: h.tls!.ca } }));
  assert.equal([wrong.errno, wrong.sqlState, wrong.message], [1045, '28000', denied('sha2only', true)]);
}));

test('TLS is refused cleanly by a proxy without tls config', timed(async () => {
  const e = await sqlError(hSha2.connect({ ssl: { rejectUnauthorized: false } }));
  assert.match(e.message, /secure connection|SSL|TLS/i);
}));

test('require_tls user: plain -> 1045 28000, TLS -> OK', timed(async () => {
  const e = await sqlError(h.connect({ user: 'secure', password: 'secure-pw' }));
  assert.is(e.errno, 1045);
  assert.is(e.sqlState, '28000');
  // the correct password must not be enough without TLS, even on the proxy without TLS support
  const e2 = await sqlError(hSha2.connect({ user: 'secure', password: 'secure-pw' }));
  assert.is(e2.errno, 1045);
  const c = await h.connect({ user: 'secure', password: 'secure-pw', ssl: { ca: h.tls!.ca } });
  assert.ok(isTls(c));
  await selectTwo(c);
  await c.end();
}));

test('mariadb CLI: --ssl shows a cipher; --skip-ssl does not; require_tls enforced', timed(async () => {
  const ca = `--ssl-ca=${h.tls!.caFile}`;
  const tlsRun = await cli(h.port, 'status', ['--ssl', ca]);
  assert.is(tlsRun.code, 0, tlsRun.stderr);
  assert.match(tlsRun.stdout, /^SSL:\s+Cipher in use is \S+/m);
  const plain = await cli(h.port, 'status', ['--skip-ssl']);
  assert.is(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /^SSL:\s+Not in use/m);

  const secPlain = await cli(h.port, 'SELECT 1', ['--skip-ssl'], { user: 'secure', password: 'secure-pw' });
  assert.is.not(secPlain.code, 0);
  assert.match(secPlain.stderr, /ERROR 1045 \(28000\)/);
  const secTls = await cli(h.port, 'SELECT 40+2 AS v', ['--ssl', ca], { user: 'secure', password: 'secure-pw' });
  assert.is(secTls.code, 0, secTls.stderr);
  assert.is(secTls.stdout, 'v\n42\n');

  // libmariadb's caching_sha2_password client plugin over TLS (sends the password inside TLS)
  const sha2 = await cli(h.port, 'SELECT 40+3 AS v', ['--ssl', ca], { user: 'sha2only', password: 'sha2-pw' });
  assert.is(sha2.code, 0, sha2.stderr);
  assert.is(sha2.stdout, 'v\n43\n');

  const bad = await cli(h.port, 'SELECT 1', ['--ssl', ca], { password: 'wrong' });
  assert.is(bad.code, 1);
  assert.match(bad.stderr, new RegExp(`ERROR 1045 \\(28000\\): ${escapeRe(denied('app', true))}`));
}, 60_000));

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

test.run();
