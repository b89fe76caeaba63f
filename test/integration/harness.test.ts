/** Proves the MariaDB test harness: independent servers, restarts, kill, and GTID replica sets. */
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { destroyAll, startReplicaSet, startServers, type MariaDbServer, type ReplicaSet } from '../helpers/mariadb';
import { integrationSuite } from '../helpers/uvu';

const test = integrationSuite('harness');
let servers: MariaDbServer[] = [];
let set: ReplicaSet;

test.before(async () => {
  servers = await startServers(2);
  set = await startReplicaSet(2);
});

test.after(async () => {
  await destroyAll();
});

test('two independent servers with distinct server ids', async () => {
  const [a, b] = servers;
  assert.is.not(a.port, b.port);
  assert.is.not(a.serverId, b.serverId);
  const [[ra], [rb]] = await Promise.all([a.query('SELECT @@server_id AS id'), b.query('SELECT @@server_id AS id')]);
  assert.is(Number(ra.id), a.serverId);
  assert.is(Number(rb.id), b.serverId);
  await a.query('CREATE TABLE only_on_a (id INT PRIMARY KEY)');
  const onB = await b.query("SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'test' AND table_name = 'only_on_a'");
  assert.is(Number(onB[0].n), 0);
});

test('root with empty password over TCP, mariadb CLI included, has SUPER and GRANT OPTION', async () => {
  const [a] = servers;
  const [who] = await a.query('SELECT CURRENT_USER() AS u');
  assert.is(who.u, 'root@127.0.0.1');
  const grants = (await a.query('SHOW GRANTS')).map((r: Record<string, string>) => Object.values(r)[0]).join('\n');
  assert.match(grants, /GRANT ALL PRIVILEGES ON \*\.\* TO `root`@`127\.0\.0\.1` WITH GRANT OPTION/);
  const [pct] = await a.query("SELECT COUNT(*) AS n FROM mysql.user WHERE user = 'root' AND host = '%' AND Super_priv = 'Y' AND Grant_priv = 'Y'");
  assert.is(Number(pct.n), 1);
  const cli = spawnSync('mariadb', ['-h127.0.0.1', `-P${a.port}`, '-uroot', '-N', '-e', 'SELECT DATABASE(), @@port'], {
    encoding: 'utf8',
  });
  if (cli.error) throw cli.error;
  assert.is(cli.status, 0, cli.stderr);
  assert.is(cli.stdout.trim(), `NULL\t${a.port}`);
});

test('stop()/start() keeps the port and the data', async () => {
  const [, b] = servers;
  await b.query('CREATE TABLE kept (id INT PRIMARY KEY, v VARCHAR(20))');
  await b.query('INSERT INTO kept VALUES (?, ?)', [1, 'survives']);
  const port = b.port;
  await b.stop();
  await assert_rejects(() => b.query('SELECT 1'));
  await b.start();
  assert.is(b.port, port);
  const rows = await b.query('SELECT v FROM kept WHERE id = 1');
  assert.equal(rows, [{ v: 'survives' }]);
});

test('kill() ends the server, queries reject, start() recovers it', async () => {
  const [a] = servers;
  await a.query('CREATE TABLE after_kill (id INT PRIMARY KEY)');
  await a.query('INSERT INTO after_kill VALUES (42)');
  // Handled at once: it rejects while kill() is awaited.
  const slow = a.query('SELECT SLEEP(30)').then(
    () => null,
    (err: Error) => err,
  );
  await new Promise((r) => setTimeout(r, 200));
  await a.kill();
  const err = await slow;
  assert.instance(err, Error);
  assert.match(err!.message, /Connection lost|closed/i);
  await assert_rejects(() => a.query('SELECT 1'));
  await a.start();
  const rows = await a.query('SELECT id FROM after_kill');
  assert.equal(rows, [{ id: 42 }]);
});

test('replica set: rows written on the primary reach both replicas', async () => {
  const { primary, replicas } = set;
  assert.is(replicas.length, 2);
  await primary.query('CREATE TABLE repl (id INT PRIMARY KEY, v VARCHAR(20))');
  await primary.query('INSERT INTO repl VALUES (1, ?)', ['hello']);
  await set.waitForReplication();
  const [{ pos }] = await primary.query('SELECT @@gtid_binlog_pos AS pos');
  assert.ok(pos, 'primary has a GTID position');
  for (const r of replicas) {
    assert.equal(await r.query('SELECT id, v FROM repl'), [{ id: 1, v: 'hello' }]);
    const [{ slavePos }] = await r.query('SELECT @@gtid_slave_pos AS slavePos');
    assert.is(slavePos, pos);
  }
  const ids = new Set([primary, ...replicas].map((s) => s.serverId));
  assert.is(ids.size, 3);
});

test('replicas are read-only, the primary is not', async () => {
  const { primary, replicas } = set;
  const [p] = await primary.query('SELECT @@read_only AS ro, @@log_bin AS lb, @@gtid_strict_mode AS strict');
  assert.equal([Number(p.ro), Number(p.lb), Number(p.strict)], [0, 1, 1]);
  for (const r of replicas) {
    const [row] = await r.query('SELECT @@read_only AS ro');
    assert.is(Number(row.ro), 1);
    const [st] = await r.query('SHOW SLAVE STATUS');
    assert.is(st.Slave_IO_Running, 'Yes');
    assert.is(st.Slave_SQL_Running, 'Yes');
    assert.is(st.Using_Gtid, 'Slave_Pos');
  }
});

test('replication resumes after the primary restarts', async () => {
  const { primary } = set;
  await primary.stop();
  await primary.start();
  await primary.query('INSERT INTO repl VALUES (2, ?)', ['again']);
  await set.waitForReplication();
  for (const r of set.replicas) {
    const rows = await r.query('SELECT COUNT(*) AS n FROM repl');
    assert.is(Number(rows[0].n), 2);
  }
});

async function assert_rejects(fn: () => Promise<unknown>): Promise<void> {
  let rejected = false;
  try {
    await fn();
  } catch {
    rejected = true;
  }
  assert.ok(rejected, 'expected the promise to reject');
}

test.run();
