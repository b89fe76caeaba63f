/** Config loading: a full file, defaults, every kind of problem with its YAML path, many at once. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { ConfigError, loadConfig, parseConfig, summarizeConfig, type ConfigProblem } from '../../../src/config/load';

const NATIVE = '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'; // "password"
const SHA2 = '$A$005$abcdefghijklmnopqrst5h1v5FsOOkZe9oB5eilHTkorw62QcaKthhxPA7B5ukD'; // sha2CryptHash('password', 'abcdefghijklmnopqrst')

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-config-'));
fs.mkdirSync(path.join(dir, 'certs'));
for (const f of ['certs/server.pem', 'certs/server.key', 'certs/ca.pem', 'rsa.pem']) fs.writeFileSync(path.join(dir, f), 'x');
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

const FULL = `
listen: { host: 0.0.0.0, port: 7033 }
tls: { cert_file: certs/server.pem, key_file: certs/server.key, ca_file: certs/ca.pem }
server:
  version: 8.0.36-tenantgate
  default_auth_plugin: caching_sha2_password
  max_allowed_packet: 16777216
  max_client_connections: 500
  rsa_key_exchange: false
  rsa_private_key_file: rsa.pem
  mariadb_extended_capabilities: false
  compression: false
  compression_level: 6
  compression_min_length: 50
  compression_zstd: false
  compression_zstd_max_level: 19
  raw_io: false
  fast_lane: false
  idle_gc_after_ms: 0
backends:
  - name: primary
    host: db1.internal
    port: 3307
    user: proxy
    password: "backend-secret"
    min_connections: 2
    max_connections: 50
    idle_timeout_ms: 30000
    acquire_timeout_ms: 1500
    connect_timeout_ms: 1000
    max_prepared_per_connection: 128
  - name: reports
    host: db2.internal
    user: proxy
users:
  - name: app
    password_hash: "${NATIVE}"
    sha2_hash: "${SHA2}"
    backend: primary
    default_schema: shop
    require_tls: true
  - name: report
    sha2_hash: "${SHA2}"
    backend: reports
  - name: dev
    password_hash: ""
    backend: primary
admin: { host: 127.0.0.1, port: 9104 }
log: { level: debug }
`;

function writeConfig(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

/** A minimal valid config as data, to break one piece at a time. */
function base(): any {
  return {
    backends: [{ name: 'primary', host: '127.0.0.1', user: 'root' }],
    users: [{ name: 'app', password_hash: NATIVE, backend: 'primary' }],
  };
}

function problemsOf(fn: () => unknown): ConfigProblem[] {
  try {
    fn();
  } catch (e) {
    assert.instance(e, ConfigError);
    return (e as ConfigError).problems;
  }
  assert.unreachable('expected a ConfigError');
  return [];
}

function problemsFor(data: unknown, opts = { baseDir: dir }): ConfigProblem[] {
  return problemsOf(() => parseConfig(stringify(data), 'test.yaml', opts));
}

function expectProblem(problems: ConfigProblem[], pathStr: string, message: RegExp): void {
  const hit = problems.find((p) => p.path === pathStr);
  assert.ok(hit, `no problem at ${pathStr}; got:\n${problems.map((p) => `${p.path}: ${p.message}`).join('\n')}`);
  assert.match(hit!.message, message);
}

test('a full valid config maps every field, resolving file paths against the config file', () => {
  const c = loadConfig(writeConfig('full.yaml', FULL));
  assert.equal(c.listen, { host: '0.0.0.0', port: 7033 });
  assert.equal(c.tls, {
    certFile: path.join(dir, 'certs/server.pem'),
    keyFile: path.join(dir, 'certs/server.key'),
    caFile: path.join(dir, 'certs/ca.pem'),
  });
  assert.equal(c.server, {
    version: '8.0.36-tenantgate',
    defaultAuthPlugin: 'caching_sha2_password',
    maxAllowedPacket: 16777216,
    maxClientConnections: 500,
    rsaKeyExchange: false,
    rsaPrivateKeyFile: path.join(dir, 'rsa.pem'),
    mariadbExtendedCapabilities: false,
    shutdownTimeoutMs: 30000,
    maxHandshakeConnections: 1000,
    netReadTimeoutMs: 30000,
    maxClientBufferBytes: 256 * 1024 * 1024,
    loginThrottle: { freeFailures: 3, baseDelayMs: 250, maxDelayMs: 5000, blockAfterFailures: 30, blockMs: 300000, forgetAfterMs: 900000 },
    compression: false,
    compressionLevel: 6,
    compressionMinLength: 50,
    compressionZstd: false,
    compressionZstdMaxLevel: 19,
    rawIo: false,
    fastLane: false,
    idleGcAfterMs: 0,
    maxPreparedStatementsPerSession: 16382,
    maxLongDataPerSession: 128 * 1024 * 1024,
  });
  assert.equal(c.backends[0], {
    name: 'primary',
    host: 'db1.internal',
    port: 3307,
    user: 'proxy',
    password: 'backend-secret',
    minConnections: 2,
    maxConnections: 50,
    maxConnectionsPerUser: 49, // two users (app, dev) share it: one connection is left for the other
    idleTimeoutMs: 30000,
    acquireTimeoutMs: 1500,
    connectTimeoutMs: 1000,
    maxPreparedPerConnection: 128,
    readTimeoutMs: 0,
    idleInTransactionTimeoutMs: 300000,
    validateAfterIdleMs: 1000,
  });
  assert.equal(c.users[0], {
    name: 'app',
    nativeHash: NATIVE,
    sha2Hash: SHA2,
    backend: 'primary',
    defaultSchema: 'shop',
    requireTls: true,
  });
  assert.equal(c.users[1], { name: 'report', sha2Hash: SHA2, backend: 'reports', requireTls: false });
  assert.equal(c.users[2], { name: 'dev', nativeHash: '', backend: 'primary', requireTls: false });
  assert.equal(c.admin, { host: '127.0.0.1', port: 9104, tokens: [], openMetrics: true });
  assert.equal(c.log, { level: 'debug' });
});

test('max_connections_per_user: set, or max_connections - 1 when several users share the backend', () => {
  const c = base();
  c.backends[0].max_connections = 3;
  assert.is(parseConfig(stringify(c)).backends[0].maxConnectionsPerUser, 3, 'one user: the whole pool');
  c.users.push({ ...c.users[0], name: 'other' });
  assert.is(parseConfig(stringify(c)).backends[0].maxConnectionsPerUser, 2, 'two users: one left for the other');
  c.backends[0].max_connections = 1;
  assert.is(parseConfig(stringify(c)).backends[0].maxConnectionsPerUser, 1, 'never below 1');
  c.backends[0].max_connections = 10;
  c.backends[0].max_connections_per_user = 4;
  assert.is(parseConfig(stringify(c)).backends[0].maxConnectionsPerUser, 4, 'as set');
});

test('the result is deeply frozen', () => {
  const c = loadConfig(writeConfig('frozen.yaml', FULL));
  for (const o of [c, c.listen, c.server, c.tls, c.backends, c.backends[0], c.users, c.users[0], c.admin, c.log]) {
    assert.ok(Object.isFrozen(o));
  }
  assert.throws(() => {
    (c.backends[0] as any).port = 1;
  });
});

test('defaults are filled in', () => {
  const c = parseConfig(stringify(base()));
  assert.equal(c.listen, { host: '127.0.0.1', port: 6033 });
  assert.is(c.tls, undefined);
  assert.equal(c.server, {
    defaultAuthPlugin: 'mysql_native_password',
    maxAllowedPacket: 64 * 1024 * 1024,
    maxClientConnections: 20000,
    rsaKeyExchange: true,
    mariadbExtendedCapabilities: true,
    shutdownTimeoutMs: 30000,
    maxHandshakeConnections: 1000,
    netReadTimeoutMs: 30000,
    maxClientBufferBytes: 256 * 1024 * 1024,
    loginThrottle: { freeFailures: 3, baseDelayMs: 250, maxDelayMs: 5000, blockAfterFailures: 30, blockMs: 300000, forgetAfterMs: 900000 },
    compression: true,
    compressionLevel: 1,
    compressionMinLength: 1024,
    compressionZstd: true,
    compressionZstdMaxLevel: 1,
    rawIo: true,
    fastLane: true,
    idleGcAfterMs: 10000,
    maxPreparedStatementsPerSession: 16382,
    maxLongDataPerSession: 128 * 1024 * 1024,
  });
  assert.equal(c.backends[0], {
    name: 'primary',
    host: '127.0.0.1',
    port: 3306,
    user: 'root',
    password: '',
    minConnections: 0,
    maxConnections: 20,
    maxConnectionsPerUser: 20, // its only user: nobody to leave a connection for
    idleTimeoutMs: 60000,
    acquireTimeoutMs: 2000,
    connectTimeoutMs: 2000,
    maxPreparedPerConnection: 256,
    readTimeoutMs: 0,
    idleInTransactionTimeoutMs: 300000,
    validateAfterIdleMs: 1000,
  });
  assert.equal(c.users[0], { name: 'app', nativeHash: NATIVE, backend: 'primary', requireTls: false });
  assert.is(c.admin, undefined);
  assert.equal(c.log, { level: 'info' });
  const anyPort = base();
  anyPort.listen = { port: 0 };
  anyPort.admin = { port: 0 };
  assert.is(parseConfig(stringify(anyPort)).listen.port, 0, 'port 0 = any free port, for listeners');
  const withAdmin = base();
  withAdmin.admin = { port: 9104 };
  assert.equal(parseConfig(stringify(withAdmin)).admin, { host: '127.0.0.1', port: 9104, tokens: [], openMetrics: true });
});

// Each case: a way to break the minimal config, the YAML path that must be reported, its message.
const CASES: [string, (c: any) => void, string, RegExp][] = [
  ['port out of range', (c) => (c.backends[0].port = 70000), 'backends[0].port', /^expected a number from 1 to 65535$/],
  ['backend port zero', (c) => (c.backends[0].port = 0), 'backends[0].port', /from 1 to 65535/],
  ['listen port out of range', (c) => (c.listen = { port: 65536 }), 'listen.port', /^expected a number from 0 to 65535 \(0 = any free port\)$/],
  ['port as string', (c) => (c.backends[0].port = '3306'), 'backends[0].port', /from 1 to 65535/],
  ['port fractional', (c) => (c.admin = { port: 80.5 }), 'admin.port', /from 0 to 65535/],
  ['admin without port', (c) => (c.admin = { host: '::1' }), 'admin.port', /^is required$/],
  ['missing backend host', (c) => delete c.backends[0].host, 'backends[0].host', /^is required$/],
  ['missing user backend', (c) => delete c.users[0].backend, 'users[0].backend', /^is required$/],
  ['wrong type', (c) => (c.users[0].require_tls = 'yes'), 'users[0].require_tls', /expected true or false, got a string/],
  ['section of wrong type', (c) => (c.server = [1]), 'server', /expected a mapping, got a list/],
  ['enum', (c) => (c.log = { level: 'verbose' }), 'log.level', /expected one of "trace".*"silent"; got "verbose"/],
  ['auth plugin enum', (c) => (c.server = { default_auth_plugin: 'sha256_password' }), 'server.default_auth_plugin', /mysql_native_password/],
  ['unknown top-level key', (c) => (c.listne = { port: 1 }), 'listne', /unknown key; did you mean "listen"\?/],
  ['unknown nested key', (c) => (c.backends[0].max_conections = 5), 'backends[0].max_conections', /did you mean "max_connections"/],
  ['camelCase key', (c) => (c.backends[0].maxConnections = 5), 'backends[0].maxConnections', /did you mean "max_connections"/],
  ['unknown key, no close match', (c) => (c.users[0].color = 'red'), 'users[0].color', /unknown key; expected one of: name, password_hash, sha2_hash/],
  ['plaintext user password', (c) => (c.users[0].password = 'hunter2'), 'users[0].password', /tenantgate hash-password/],
  ['lowercase native hash', (c) => (c.users[0].password_hash = NATIVE.toLowerCase()), 'users[0].password_hash', /40 uppercase hex/],
  ['native hash without *', (c) => (c.users[0].password_hash = NATIVE.slice(1)), 'users[0].password_hash', /mysql_native_password form/],
  ['sha2 hash wrong length', (c) => (c.users[0].sha2_hash = SHA2.slice(0, -1)), 'users[0].sha2_hash', /"\$A\$005\$" followed by 63 characters/],
  ['sha2 hash wrong prefix', (c) => (c.users[0].sha2_hash = SHA2.replace('$A$', '$5$')), 'users[0].sha2_hash', /caching_sha2_password form/],
  ['no credentials', (c) => delete c.users[0].password_hash, 'users[0]', /needs password_hash and\/or sha2_hash.*hash-password/],
  ['"" plus sha2', (c) => Object.assign(c.users[0], { password_hash: '', sha2_hash: SHA2 }), 'users[0].sha2_hash', /keep only one/],
  ['unknown backend', (c) => (c.users[0].backend = 'primry'), 'users[0].backend', /unknown backend "primry"; defined backends: primary/],
  ['duplicate backend', (c) => c.backends.push({ ...c.backends[0] }), 'backends[1].name', /duplicate backend name "primary"/],
  ['duplicate user', (c) => c.users.push({ ...c.users[0] }), 'users[1].name', /duplicate user name "app"/],
  ['bad backend name', (c) => (c.backends[0].name = 'has space'), 'backends[0].name', /letters, digits/],
  ['min > max', (c) => Object.assign(c.backends[0], { min_connections: 30 }), 'backends[0].min_connections', /must not exceed max_connections \(30 > 20\)/],
  ['per user > max', (c) => Object.assign(c.backends[0], { max_connections_per_user: 21 }), 'backends[0].max_connections_per_user', /must not exceed max_connections \(21 > 20\)/],
  ['per user zero', (c) => Object.assign(c.backends[0], { max_connections_per_user: 0 }), 'backends[0].max_connections_per_user', /from 1 to 100000/],
  ['prepared per session zero', (c) => (c.server = { max_prepared_statements_per_session: 0 }), 'server.max_prepared_statements_per_session', /from 1 to 1048576/],
  ['negative min', (c) => (c.backends[0].min_connections = -1), 'backends[0].min_connections', /from 0 to/],
  ['timeout beyond Node timers', (c) => (c.backends[0].acquire_timeout_ms = 2 ** 31), 'backends[0].acquire_timeout_ms', /milliseconds from 1 to 2147483647/],
  ['max_allowed_packet too small', (c) => (c.server = { max_allowed_packet: 100 }), 'server.max_allowed_packet', /from 1024/],
  ['bad version', (c) => (c.server = { version: 'latest' }), 'server.version', /major\.minor\.patch/],
  ['zstd level above 22', (c) => (c.server = { compression_zstd_max_level: 23 }), 'server.compression_zstd_max_level', /zstd level from 1 \(fastest\) to 22/],
  ['zstd switch not a boolean', (c) => (c.server = { compression_zstd: 'on' }), 'server.compression_zstd', /expected true or false/],
  ['schema name too long', (c) => (c.users[0].default_schema = 'x'.repeat(65)), 'users[0].default_schema', /1 to 64/],
  ['no backends', (c) => (c.backends = []), 'backends', /at least one backend is required/],
  ['no users', (c) => (c.users = []), 'users', /at least one user is required/],
  ['missing backends', (c) => delete c.backends, 'backends', /^is required$/],
  ['tls cert missing', (c) => (c.tls = { cert_file: 'nope.pem', key_file: 'certs/server.key' }), 'tls.cert_file', /file not found: .*nope\.pem/],
  ['tls key missing', (c) => (c.tls = { cert_file: 'certs/server.pem' }), 'tls.key_file', /^is required$/],
  ['tls file is a directory', (c) => (c.tls = { cert_file: 'certs', key_file: 'certs/server.key' }), 'tls.cert_file', /not a regular file/],
  ['rsa key file missing', (c) => (c.server = { rsa_private_key_file: 'missing.pem' }), 'server.rsa_private_key_file', /file not found/],
  ['admin port equals listen port', (c) => (c.admin = { port: 6033 }), 'admin.port', /conflicts with listen\.port/],
];

for (const [name, breakIt, pathStr, message] of CASES) {
  test(`problem: ${name} → ${pathStr}`, () => {
    const c = base();
    breakIt(c);
    const problems = problemsFor(c);
    expectProblem(problems, pathStr, message);
  });
}

test('problem messages never echo values (a mistyped value may be a secret)', () => {
  const c = base();
  c.backends[0].password = 123456789;
  const problems = problemsFor(c);
  expectProblem(problems, 'backends[0].password', /expected a string, got an integer/);
  assert.not.match(JSON.stringify(problems), /123456789/);
});

test('several problems are reported at once, in file order, with line numbers', () => {
  const text = [
    'listen: { port: 99999 }', // 1
    'backends:', // 2
    '  - name: primary', // 3
    '    host: h', // 4
    '    user: u', // 5
    '    min_connections: 50', // 6
    'users:', // 7
    '  - name: app', // 8
    '    password: plain', // 9
    '    backend: nowhere', // 10
    'log: { level: loud, colour: true }', // 11
  ].join('\n');
  const problems = problemsOf(() => parseConfig(text, 'multi.yaml'));
  assert.equal(
    problems.map((p) => [p.path, p.line]),
    [
      ['listen.port', 1],
      ['backends[0].min_connections', 6],
      ['users[0].password', 9],
      ['users[0].backend', 10],
      ['log.level', 11],
      ['log.colour', 11],
    ],
  );
  try {
    parseConfig(text, 'multi.yaml');
  } catch (e) {
    assert.match((e as Error).message, /^multi\.yaml: 6 config problems:\n {2}listen\.port: expected a number from 0 to 65535 \(0 = any free port\) \(line 1\)/);
  }
});

test('YAML syntax errors, empty files, non-mapping documents, unreadable files', () => {
  const syntax = problemsOf(() => parseConfig('backends: [\nusers: 1\n'));
  assert.is(syntax.length, 1);
  assert.match(syntax[0]!.message, /^YAML syntax error: /);
  assert.type(syntax[0]!.line, 'number');
  assert.match(problemsOf(() => parseConfig('a: 1\na: 2\n'))[0]!.message, /Map keys must be unique/);
  assert.match(problemsOf(() => parseConfig(''))[0]!.message, /empty/);
  assert.match(problemsOf(() => parseConfig('# only a comment\n'))[0]!.message, /empty/);
  assert.match(problemsOf(() => parseConfig('- a\n- b\n'))[0]!.message, /must be a YAML mapping/);
  const missing = problemsOf(() => loadConfig(path.join(dir, 'does-not-exist.yaml')));
  assert.match(missing[0]!.message, /cannot read config: file not found/);
});

test('parseConfig resolves relative file paths against baseDir', () => {
  const c = base();
  c.tls = { cert_file: 'certs/server.pem', key_file: path.join(dir, 'certs/server.key') };
  assert.is(parseConfig(stringify(c), 'x', { baseDir: dir }).tls!.certFile, path.join(dir, 'certs/server.pem'));
  expectProblem(problemsFor(c, { baseDir: os.tmpdir() }), 'tls.cert_file', /file not found/);
});

test('a copied MySQL hash whose salt holds control bytes is accepted (YAML escapes)', () => {
  const c = base();
  // TiDB's test vector for "foobar": salt bytes 03 1A 69 25 1C 34 29 5C 4B 35 16 7C 7F 1E 5A 7B 63 09 13 49.
  c.users[0].sha2_hash = Buffer.from(
    '24412430303524031A69251C34295C4B35167C7F1E5A7B63091349503974624D34504B5A424679354856336868686F52485A736E4A733368786E427575516C73446469496537',
    'hex',
  ).toString('latin1');
  assert.match(stringify(c), /\\x1a|\\x1A|\\u001a|\\x03/i, 'stringify escapes the control bytes');
  assert.is(parseConfig(stringify(c)).users[0]!.sha2Hash, c.users[0].sha2_hash);
});

test('summarizeConfig: listen, backends, users; never passwords or hashes', () => {
  const c = loadConfig(writeConfig('summary.yaml', FULL));
  const s = summarizeConfig(c);
  assert.match(s, /listen: 0\.0\.0\.0:7033, TLS on/);
  assert.match(s, /primary: proxy@db1\.internal:3307, pool 2\.\.50/);
  assert.match(s, /reports: proxy@db2\.internal:3306/);
  assert.match(s, /app -> primary \(native \+ caching_sha2, schema shop, TLS required\)/);
  assert.match(s, /dev -> primary \(no password\)/);
  assert.match(s, /admin: 127\.0\.0\.1:9104/);
  assert.not.match(s, /backend-secret/);
  assert.not.ok(s.includes(NATIVE) || s.includes(SHA2) || s.includes('$A$'));
  assert.ok(s.split('\n').length < 15);
});

test.run();
