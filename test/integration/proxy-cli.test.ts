/**
 * The `mariadb` command-line client (libmariadb) through the proxy, compared with the same invocation
 * straight against the server: output, exit codes and error lines must be identical.
 */
import * as assert from 'uvu/assert';
import type { MariaDbServer } from '../helpers/mariadb';
import { startServer } from '../helpers/mariadb';
import type { CliResult, ProxyHandle } from '../helpers/proxy';
import { cli, connectDirect, startProxy, timed } from '../helpers/proxy';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('proxy-cli');

let server: MariaDbServer;
let h: ProxyHandle;
let version: string;

test.before(async () => {
  server = await startServer();
  const d = await connectDirect(server.port);
  await d.query('CREATE DATABASE db2');
  await d.query('CREATE TABLE db2.t2 (x INT)');
  await d.query('INSERT INTO db2.t2 VALUES (7)');
  const [[v]] = (await d.query('SELECT VERSION() AS v')) as unknown as [{ v: string }[]];
  version = v.v;
  d.destroy();
  h = await startProxy({ backends: [{ name: 'b1', port: server.port }] });
});

test.after(async () => {
  await h?.stop();
  await server?.destroy();
});

/** Runs the CLI directly (as root) and through the proxy (as app) with the same SQL/stdin/args. */
async function both(sql: string | null, args: string[] = [], input?: string): Promise<{ d: CliResult; p: CliResult }> {
  const d = await cli(server.port, sql, args, { user: 'root', password: '', input });
  const p = await cli(h.port, sql, args, { input });
  return { d, p };
}

test('-e "SELECT 1+1"', timed(async () => {
  const { d, p } = await both('SELECT 1+1');
  assert.equal(d, { code: 0, stdout: '1+1\n2\n', stderr: '' }, 'direct (test sanity)');
  assert.equal(p, d);
}));

test('multi-statement batch from stdin', timed(async () => {
  const input = [
    'SELECT 1 AS a;',
    "SELECT 'x' AS b, 2 AS c;",
    'CREATE TABLE cli_t (id INT PRIMARY KEY, s VARCHAR(20));',
    "INSERT INTO cli_t VALUES (1, 'one'), (2, 'two');",
    'SELECT * FROM cli_t ORDER BY id;',
    "SELECT 'multi\\tline' AS m UNION ALL SELECT NULL;",
    'DROP TABLE cli_t;',
    '',
  ].join('\n');
  const { d, p } = await both(null, [], input);
  assert.equal(
    d,
    { code: 0, stdout: 'a\n1\nb\tc\nx\t2\nid\ts\n1\tone\n2\ttwo\nm\nmulti\tline\nNULL\n', stderr: '' },
    'direct (test sanity)',
  );
  assert.equal(p, d);
}));

test('a failing statement exits 1 with "ERROR 1146 (42S02)"; --force runs the rest of the batch', timed(async () => {
  const { d, p } = await both('SELECT * FROM no_such_table');
  assert.is(d.code, 1, 'direct (test sanity)');
  assert.is(d.stdout, '');
  // (with -e the client also echoes the failed statement between dashes)
  assert.ok(
    d.stderr.endsWith("ERROR 1146 (42S02) at line 1: Table 'test.no_such_table' doesn't exist\n"),
    `direct (test sanity): ${d.stderr}`,
  );
  assert.equal(p, d);
  const input = 'SELECT 1 AS before_err;\nSELECT * FROM no_such_table;\nSELECT 2 AS after_err;\n';
  const forced = await both(null, ['--force'], input);
  // with --force this client exits 0 and reports the error on stderr
  assert.is(forced.d.code, 0);
  assert.is(forced.d.stdout, 'before_err\n1\nafter_err\n2\n');
  assert.match(forced.d.stderr, /ERROR 1146 \(42S02\) at line 2/);
  assert.equal(forced.p, forced.d);
  const stopped = await both(null, [], input);
  assert.is(stopped.d.code, 1);
  assert.is(stopped.d.stdout, 'before_err\n1\n');
  assert.equal(stopped.p, stopped.d);
}));

test('status (\\s) shows the server version and a connection id equal to CONNECTION_ID()', timed(async () => {
  // client commands such as `status` must start a line of stdin
  const r = await cli(h.port, null, ['--skip-ssl'], { input: 'SELECT CONNECTION_ID() AS id;\nstatus\n' });
  assert.is(r.code, 0, r.stderr);
  const id = /^id\n(\d+)\n/.exec(r.stdout);
  assert.ok(id, r.stdout);
  assert.match(r.stdout, new RegExp(`^Connection id:\\s+${id![1]}$`, 'm'));
  const sv = /^Server version:\s+(.*)$/m.exec(r.stdout);
  assert.ok(sv, r.stdout);
  assert.ok(sv![1].startsWith(version), `"${sv![1]}" starts with the backend VERSION() "${version}"`);
  assert.match(r.stdout, /^Current database:\s+test$/m);
  assert.match(r.stdout, /^Server:\s+MariaDB$/m);
  // the `\s` short form from stdin
  const r2 = await cli(h.port, null, ['--skip-ssl'], { input: '\\s\n' });
  assert.is(r2.code, 0, r2.stderr);
  assert.match(r2.stdout, new RegExp(`^Server version:\\s+${version.replace(/[.+]/g, '\\$&')}`, 'm'));
}));

test('the `use` command (COM_INIT_DB) switches schema; unknown schema is ERROR 1049', timed(async () => {
  const ok = await both('use db2; SELECT DATABASE() AS db, x FROM t2; use test; SELECT DATABASE() AS db');
  assert.equal(ok.d, { code: 0, stdout: 'db\tx\ndb2\t7\ndb\ntest\n', stderr: '' }, 'direct (test sanity)');
  assert.equal(ok.p, ok.d);
  const bad = await both('use nope');
  assert.equal(bad.d, { code: 1, stdout: '', stderr: "ERROR 1049 (42000) at line 1: Unknown database 'nope'\n" });
  assert.equal(bad.p, bad.d);
  // --database on the command line (schema in the handshake)
  const db = await both('SELECT DATABASE() AS db', ['--database=db2']);
  assert.equal(db.d.stdout, 'db\ndb2\n');
  assert.equal(db.p, db.d);
}));

test.run();
