/**
 * Strict clients, differential: PHP (PDO with emulated and with native prepares, mysqli), PyMySQL,
 * mysqltest (text and --ps-protocol) and the mariadb CLI run the same scripts (test/clients/)
 * straight against MariaDB and through the proxy; their outputs must be identical. These clients
 * are strict parsers (mysqlnd, libmariadb): a byte out of place breaks them where mysql2 shrugs.
 * A client that is not installed is skipped with the reason printed (.ci/run installs them).
 */
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { ProxyHandle } from '../helpers/proxy';
import { cli, startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';
import { CLIENTS_DIR, missingClient, ProcResult, PYTHON, runProc } from '../helpers/clients';
import { Cap } from '../../src/protocol/constants';
import { parseServerHandshake } from '../../src/protocol/handshake';
import { zstdCodec } from '../../src/protocol/zstd';
import { RawClient } from '../helpers/raw-client';

const test = integrationSuite('strict-clients');

let server: MariaDbServer;
let h: ProxyHandle;

test.before(async () => {
  server = await startServer();
  h = await startProxy({ backends: [{ name: 'b1', port: server.port }] });
});

test.after(async () => {
  await h?.stop();
  await server?.destroy();
});

/** Registers a test that is reported as skipped (with the reason) when `client` is missing. */
function clientTest(name: string, client: Parameters<typeof missingClient>[0], fn: () => Promise<void>, ms = 120_000): void {
  const why = missingClient(client);
  if (why) {
    console.error(`[strict-clients] SKIPPED '${name}': ${why}`);
    test.skip(`${name} (skipped: ${why})`, () => {});
    return;
  }
  test(name, timed(fn, ms));
}

/** Runs `argsFor(port, user, password)` directly (root) and through the proxy (app); returns both. */
async function both(cmd: string, argsFor: (port: number, user: string, password: string) => string[], input?: string): Promise<{ d: ProcResult; p: ProcResult }> {
  const d = await runProc(cmd, argsFor(server.port, 'root', ''), { input });
  const p = await runProc(cmd, argsFor(h.port, 'app', 'app'), { input });
  return { d, p };
}

function lines(r: ProcResult): string[] {
  return r.stdout.split('\n');
}

/** Direct output must be a clean run (sanity), and the proxy's must equal it line by line. */
function assertSame(d: ProcResult, p: ProcResult, what: string): void {
  assert.is(d.code, 0, `${what} direct exit code (test sanity): ${d.stderr}`);
  assert.is(d.stderr, '', `${what} direct stderr (test sanity)`);
  assert.equal(lines(p), lines(d), `${what}: proxy output differs from direct`);
  assert.is(p.stderr, d.stderr, `${what}: stderr`);
  assert.is(p.code, d.code, `${what}: exit code`);
}

const PHP = join(CLIENTS_DIR, 'php', 'strict.php');

for (const mode of ['pdo-emulated', 'pdo-native', 'mysqli']) {
  clientTest(`PHP ${mode}: exec/query with OK info, ids up to 2^64, warnings, errors, prepares, transactions, multi-results`, 'php', async () => {
    const { d, p } = await both('php', (port, user, pw) => [PHP, mode, String(port), user, pw]);
    assertSame(d, p, `php ${mode}`);
    // what the issue reported: exec of a multi-row INSERT returned false and broke the connection
    assert.ok(d.stdout.includes(mode === 'mysqli' ? 'multi-row INSERT info: {"affected":3,"insert_id":1,"info":"Records: 3  Duplicates: 0  Warnings: 0"' : 'exec multi-row INSERT (OK info): 3'), 'sanity: the OK info step ran');
  });
}

test('the proxy under test announces CLIENT_ZSTD_COMPRESSION_ALGORITHM, which MariaDB does not: every client below runs with it', timed(async () => {
  // None of these clients knows the flag (libmariadb, mysqlnd, PyMySQL, mysql2 have no zstd): they must
  // ignore it. Only its presence is checked here; the outputs compared below carry no capability bits.
  const c = await RawClient.open(h.port, 0);
  const caps = parseServerHandshake((await c.read()).payload).capabilities;
  c.close();
  const d = await RawClient.open(server.port, 0);
  const dcaps = parseServerHandshake((await d.read()).payload).capabilities;
  d.close();
  assert.is(dcaps & Cap.ZSTD_COMPRESSION_ALGORITHM, 0, 'MariaDB 10.11 (test sanity)');
  assert.is(caps & Cap.ZSTD_COMPRESSION_ALGORITHM, zstdCodec() ? Cap.ZSTD_COMPRESSION_ALGORITHM : 0);
}));

clientTest('PyMySQL: OK info, ids up to 2^64, warnings, errors, multi-statements, compound statement, transactions', 'pymysql', async () => {
  const { d, p } = await both(PYTHON, (port, user, pw) => [join(CLIENTS_DIR, 'python', 'strict_pymysql.py'), String(port), user, pw]);
  assertSame(d, p, 'pymysql');
  assert.ok(d.stdout.includes('"lastrowid": 18446744073709550617'), 'sanity: negative id step ran');
});

for (const ps of [false, true]) {
  clientTest(`mysqltest${ps ? ' --ps-protocol' : ''}: info, metadata, BEGIN NOT ATOMIC, diagnostics, errors`, 'mysqltest', async () => {
    const { d, p } = await both('mysqltest', (port, user, pw) => [
      '--no-defaults', '-h127.0.0.1', `-P${port}`, `-u${user}`, ...(pw ? [`-p${pw}`] : []), 'test',
      ...(ps ? ['--ps-protocol'] : []), `--test-file=${join(CLIENTS_DIR, 'mysqltest', 'strict.test')}`,
    ]);
    assertSame(d, p, 'mysqltest');
    assert.match(d.stdout, /x_value\n5\n/, 'sanity: the compound statement ran');
  });
}

for (const ps of [false, true]) {
  clientTest(`mysqltest${ps ? ' --ps-protocol' : ''}: two sessions on one backend connection each read their own warnings and errors`, 'mysqltest', async () => {
    const one = await startProxy({ backends: [{ name: 'b1', port: server.port, maxConnections: 1, acquireTimeoutMs: 5000 }] });
    try {
      const run = (port: number, user: string, pw: string) =>
        runProc('env', [
          `MT_USER=${user}`, `MT_PASSWORD=${pw}`, `MT_PORT=${port}`, 'mysqltest', '--no-defaults', '-h127.0.0.1', `-P${port}`, `-u${user}`, ...(pw ? [`-p${pw}`] : []), 'test',
          ...(ps ? ['--ps-protocol'] : []), `--test-file=${join(CLIENTS_DIR, 'mysqltest', 'sessions.test')}`,
        ]);
      const d = await run(server.port, 'root', '');
      const p = await run(one.port, 'app', 'app');
      assertSame(d, p, 'mysqltest sessions');
      assert.match(d.stdout, /Error\t1146\tTable 'test.no_such_table' doesn't exist/, 'sanity: b sees its error');
    } finally {
      await one.stop();
    }
  });
}

/** Drops what changes between runs and connections: timings, ids, ports, uptime and server counters. */
function maskCli(s: string): string {
  return s
    .replace(/\(\d+\.\d+ sec\)/g, '(N sec)')
    .replace(/^(Connection id|TCP port|Uptime):.*$/gm, '$1: N')
    .replace(/^Threads: .*$/gm, 'Threads: N');
}

clientTest('mariadb CLI -vvv --show-warnings: several statements with OK info, warnings, synthesized diagnostics', 'mariadb', async () => {
  const sql = [
    'CREATE TEMPORARY TABLE t1 (a INT)', 'INSERT INTO t1 VALUES (1),(2)', 'UPDATE t1 SET a = a + 1', 'ALTER TABLE t1 ADD COLUMN b INT',
    'SELECT 1/0', 'SHOW WARNINGS', 'SELECT @@warning_count', 'SHOW COUNT(*) WARNINGS', 'SELECT @@error_count', 'SELECT * FROM t1',
  ].join('; ');
  const args = ['-vvv', '--show-warnings', '--table'];
  const d = await cli(server.port, sql, args, { user: 'root', password: '' });
  const p = await cli(h.port, sql, args);
  assert.is(d.code, 0, d.stderr);
  assert.equal(maskCli(p.stdout).split('\n'), maskCli(d.stdout).split('\n'));
  assert.is(p.stderr, d.stderr);
  assert.is(p.code, d.code);
  assert.match(d.stdout, /Rows matched: 2 {2}Changed: 2 {2}Warnings: 0/);
});

clientTest('mariadb CLI: which statements keep the previous warnings (@@warning_count after each), as the server decides', 'mariadb', async () => {
  const stmts = [
    'SELECT DATABASE(), USER() LIMIT 1', 'SELECT 1 FROM DUAL', 'SET @a = 1', 'DO 1', 'SELECT NOW() IS NOT NULL', 'BEGIN', 'COMMIT', 'USE test',
    'SELECT (SELECT 1)', 'SELECT 1 FROM information_schema.CHARACTER_SETS LIMIT 0', "SHOW VARIABLES LIKE 'x'", 'SELECT COUNT(*) FROM mysql.db',
  ];
  const sql = stmts.map((s) => `SELECT 1/0; ${s}; SELECT @@warning_count; SHOW COUNT(*) WARNINGS; SHOW WARNINGS`).join('; ');
  const d = await cli(server.port, sql, ['-N'], { user: 'root', password: '' });
  const p = await cli(h.port, sql, ['-N']);
  assert.is(d.code, 0, d.stderr);
  assert.equal(p.stdout.split('\n'), d.stdout.split('\n'));
  assert.is(p.stderr, d.stderr);
});

clientTest('mariadb CLI \\s (status) after an error and a warning', 'mariadb', async () => {
  const input = 'SELECT 1/0;\n\\s\nSELECT @@warning_count;\n';
  const d = await cli(server.port, null, ['--table', '--show-warnings'], { user: 'root', password: '', input });
  const p = await cli(h.port, null, ['--table', '--show-warnings'], { input });
  assert.is(d.code, 0, d.stderr);
  assert.equal(maskCli(p.stdout).split('\n'), maskCli(d.stdout).split('\n'));
  assert.is(p.code, d.code);
  assert.match(d.stdout, /Server version:/);
});

test.run();
