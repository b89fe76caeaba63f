/**
 * Login hardening: nothing about a user (existence, require_tls) is told before the password is
 * checked; every refused login is logged with its reason; repeated failures are throttled per client
 * address and per user; backend addresses and accounts never reach a client; a client's unusual
 * character set refused by the server fails only that client's connection settings, not the backend.
 */
import * as net from 'node:net';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { MariaDbServer, startServer } from '../helpers/mariadb';
import { ProxyHandle, ProxyUserOpts, sqlError, startProxy, timed } from '../helpers/proxy';
import { RawClient } from '../helpers/raw-client';
import { integrationSuite } from '../helpers/uvu';

const t = integrationSuite('login-hardening');

const USERS: ProxyUserOpts[] = [
  { name: 'app', password: 'app' },
  { name: 'other', password: 'other-pw' },
  { name: 'secure', password: 'secure-pw', requireTls: true },
];
const BACKEND_USER = 'tg_secret_acct';
const BACKEND_PASSWORD = 'tg-secret-pw';

let server: MariaDbServer;

/** A logger whose JSON lines are collected. */
function collectingLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

function refusals(lines: Record<string, unknown>[]): [unknown, unknown][] {
  return lines.filter((l) => l.msg === 'login refused').map((l) => [l.user, l.reason]);
}

/** A socket to the proxy from 127.0.0.2 (mysql2 stores `localAddress` but does not use it). */
function from2(h: ProxyHandle): net.Socket {
  return net.connect({ host: '127.0.0.1', port: h.port, localAddress: '127.0.0.2' });
}

function denied(user: string, host = '127.0.0.1'): string {
  return `Access denied for user '${user}'@'${host}' (using password: YES)`;
}

t.before(async () => {
  server = await startServer();
  await server.query(`CREATE USER '${BACKEND_USER}'@'%' IDENTIFIED BY '${BACKEND_PASSWORD}'`);
  await server.query(`GRANT ALL ON *.* TO '${BACKEND_USER}'@'%'`);
});

t.after(async () => {
  await server?.destroy();
});

const NO_THROTTLE = { login_throttle: { free_failures: 1000, block_after_failures: 1000 } };

t('unknown user, wrong password, require_tls with a wrong password: the same 1045; the TLS requirement only after the password; every refusal logged with its reason', timed(async () => {
  const log = collectingLogger();
  const h = await startProxy({ backends: [{ name: 'b', port: server.port, user: BACKEND_USER, password: BACKEND_PASSWORD }], users: USERS, tls: true, server: NO_THROTTLE, logger: log.logger });
  try {
    const msg = async (user: string, password: string) => {
      const e = await sqlError(h.connect({ user, password }));
      return { errno: e.errno, sqlState: e.sqlState, message: e.message };
    };
    assert.equal(await msg('nobody', 'app'), { errno: 1045, sqlState: '28000', message: denied('nobody') });
    assert.equal(await msg('app', 'wrong'), { errno: 1045, sqlState: '28000', message: denied('app') });
    assert.equal(await msg('secure', 'wrong'), { errno: 1045, sqlState: '28000', message: denied('secure') });
    assert.equal(await msg('secure', 'secure-pw'), { errno: 1045, sqlState: '28000', message: `${denied('secure')} (this user requires a TLS connection)` });
    // unknown users get the same exchange as known ones with the caching_sha2 plugin too
    assert.equal(await msg('nobody', 'x'), { errno: 1045, sqlState: '28000', message: denied('nobody') });
    const c = await h.connect({ user: 'secure', password: 'secure-pw', ssl: { ca: h.tls!.ca } });
    await c.query('SELECT 1');
    assert.equal(refusals(log.lines), [
      ['nobody', 'unknown user'],
      ['app', 'wrong password'],
      ['secure', 'wrong password'],
      ['secure', 'require_tls'],
      ['nobody', 'unknown user'],
    ]);
    assert.ok(log.lines.filter((l) => l.msg === 'login refused').every((l) => l.client === '127.0.0.1'), 'client address logged');
  } finally {
    await h.stop();
  }
}));

t('repeated failures are throttled per address and per user, then blocked whatever the password', timed(async () => {
  const log = collectingLogger();
  const h = await startProxy({
    backends: [{ name: 'b', port: server.port }],
    users: USERS,
    server: { login_throttle: { free_failures: 2, base_delay_ms: 1, max_delay_ms: 4, block_after_failures: 6, block_ms: 600_000 } },
    logger: log.logger,
  });
  try {
    for (let i = 0; i < 6; i++) assert.is((await sqlError(h.connect({ user: 'app', password: `wrong${i}` }))).errno, 1045);
    // blocked: the right password is refused too, with the same error
    const e = await sqlError(h.connect({ user: 'app', password: 'app' }));
    assert.equal({ errno: e.errno, message: e.message }, { errno: 1045, message: denied('app') });
    // the user is blocked from another address; another user from this address is blocked too
    assert.is((await sqlError(h.connect({ user: 'app', password: 'app', stream: from2(h) }))).errno, 1045);
    assert.is((await sqlError(h.connect({ user: 'other', password: 'other-pw' }))).errno, 1045);
    // another user from another address is not
    const ok = await h.connect({ user: 'other', password: 'other-pw', stream: from2(h) });
    await ok.query('SELECT 1');
    const reasons = refusals(log.lines).map((r) => r[1]);
    assert.equal(reasons, [...Array(6).fill('wrong password'), 'throttled', 'throttled', 'throttled']);
    const delays = log.lines.filter((l) => l.msg === 'login refused').map((l) => l.delayMs);
    assert.equal(delays, [0, 0, 1, 2, 4, 4, 4, 4, 4]);
    const m = await h.proxy.metrics.logins.get();
    const count = (r: string) => m.values.find((v) => v.labels.result === r)?.value;
    assert.equal([count('denied'), count('throttled')], [6, 3]);
  } finally {
    await h.stop();
  }
}));

t('backend failures reach the client by the backend\'s config name only (no host, port or backend account)', timed(async () => {
  for (const [label, backend] of [
    ['wrong backend password', { name: 'b', port: server.port, user: BACKEND_USER, password: 'not-it', acquireTimeoutMs: 300 }],
    ['nothing listening', { name: 'b', port: 1, user: BACKEND_USER, password: BACKEND_PASSWORD, acquireTimeoutMs: 300 }],
  ] as const) {
    const log = collectingLogger();
    const h = await startProxy({ backends: [backend], server: NO_THROTTLE, logger: log.logger });
    try {
      const e = await sqlError(h.connect());
      assert.is(e.errno, 9001, label);
      assert.is(e.message, "tenantgate: backend 'b' unavailable: no connection within 300 ms", label);
      const logged = JSON.stringify(log.lines);
      assert.ok(logged.includes(`127.0.0.1:${backend.port}`) && logged.includes(BACKEND_USER), `${label}: the details are logged`);
    } finally {
      await h.stop();
    }
  }
}));

t('a character set the server refuses (ucs2) fails that client with the server\'s error; the backend is not marked failing', timed(async () => {
  const UCS2 = 35;
  let direct = '';
  try {
    (await RawClient.connect(server.port, 'root', '', 'test', 0, UCS2)).close();
  } catch (e) {
    direct = (e as Error).message;
  }
  assert.match(direct, /character_set_client/);
  const h = await startProxy({ backends: [{ name: 'b', port: server.port, acquireTimeoutMs: 1000 }], server: NO_THROTTLE });
  try {
    for (let i = 0; i < 2; i++) {
      let got = '';
      try {
        (await RawClient.connect(h.port, 'app', 'app', 'test', 0, UCS2)).close();
      } catch (e) {
        got = (e as Error).message;
      }
      assert.is(got, direct, `attempt ${i + 1}`);
    }
    const b = h.proxy.backends.get('b')!;
    assert.equal({ failures: b.failures, lastError: b.lastError }, { failures: 0, lastError: null });
    // other clients, including utf8mb4_bin (46), go on
    for (const coll of [45, 46]) {
      const c = await RawClient.connect(h.port, 'app', 'app', 'test', 0, coll);
      assert.equal((await c.query('SELECT 1')).rows, [['1']]);
      c.close();
    }
  } finally {
    await h.stop();
  }
}));

t.run();
