/**
 * Test harness that starts real, throw-away `mariadbd` processes: random free ports on 127.0.0.1,
 * temp datadirs copied from one cached template, root with an empty password, database `test`, and
 * real GTID replication for replica sets. Everything started is killed and deleted on process exit.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mysql from 'mysql2/promise';

/** A running (or stopped) throw-away MariaDB server owned by this process. */
export interface MariaDbServer {
  readonly host: string;
  readonly port: number;
  readonly datadir: string;
  readonly serverId: number;
  /**
   * Run SQL as root (default database `test`, multiple statements allowed) on a connection kept by
   * the harness and opened lazily; resolves to the rows, or the OK result for writes.
   */
  query(sql: string, params?: unknown[]): Promise<any>;
  /** Graceful shutdown (SIGTERM, wait for exit). Keeps datadir so start() can restart it. */
  stop(): Promise<void>;
  /** SIGKILL, wait for exit. */
  kill(): Promise<void>;
  /** (Re)start the same datadir on the SAME port; resolves when it accepts connections. */
  start(): Promise<void>;
  /** stop + delete datadir. */
  destroy(): Promise<void>;
}

/** A GTID primary with replicas replicating from it (`master_use_gtid=slave_pos`). */
export interface ReplicaSet {
  readonly primary: MariaDbServer;
  readonly replicas: MariaDbServer[];
  /** Wait until every replica's gtid_slave_pos has caught up with the primary's gtid_binlog_pos. */
  waitForReplication(timeoutMs?: number): Promise<void>;
  destroy(): Promise<void>;
}

/** Options for {@link startServer}. */
export interface StartServerOptions {
  /** Defaults to a per-process counter, so servers of one process never share an id. */
  serverId?: number;
  /** Enable the binary log with GTID strict mode, ROW format and log_slave_updates. */
  binlog?: boolean;
  /** Appended last, so they override the harness defaults. */
  extraArgs?: string[];
}

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 60_000;
/** Bump when the template recipe below changes, so stale cached templates are not reused. */
const TEMPLATE_RECIPE = 'tenantgate-template-v2';
const TEMPLATE_MARKER = '.tenantgate-template-ready';
/** InnoDB sizing must match between template and servers, or every start resizes the redo log. */
const INNODB_ARGS = ['--innodb-buffer-pool-size=32M', '--innodb-log-file-size=16M'];

const BOOTSTRAP_SQL = `
USE mysql;
DELETE FROM global_priv WHERE User = 'root' AND Host NOT IN ('localhost', '127.0.0.1', '::1');
DELETE FROM proxies_priv WHERE Host NOT IN ('localhost', '127.0.0.1', '::1');
INSERT INTO global_priv (Host, User, Priv) SELECT '%', User, Priv FROM global_priv WHERE User = 'root' AND Host = '127.0.0.1';
CREATE DATABASE IF NOT EXISTS test;
`;

let nextServerId = 1;
const live = new Set<Server>();
let hooksInstalled = false;
let templateDir: string | null = null;

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function findExecutable(names: string[], extraDirs: string[]): string | null {
  const dirs = [...extraDirs, ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean)];
  for (const dir of dirs) {
    for (const name of names) {
      if (isExecutable(path.join(dir, name))) return path.join(dir, name);
    }
  }
  return null;
}

/** Absolute path of `mariadbd` (or of `$MARIADBD` when set), or null when it is not installed. */
export function mariadbdPath(): string | null {
  const override = process.env.MARIADBD;
  if (override) return isExecutable(override) ? path.resolve(override) : null;
  return findExecutable(['mariadbd', 'mysqld'], ['/usr/sbin', '/usr/local/sbin', '/usr/local/mysql/bin']);
}

/** A message telling a person how to install the MariaDB server the integration tests need. */
export function installHint(): string {
  return (
    'Integration tests need a MariaDB server binary (mariadbd) and mariadb-install-db.\n' +
    'Install them with:  sudo apt-get install -y mariadb-server mariadb-client\n' +
    '(the system service is not used; tests start their own servers on random ports).\n' +
    'Or point MARIADBD=/path/to/mariadbd at a binary elsewhere.'
  );
}

function requireMariadbd(): string {
  const bin = mariadbdPath();
  if (!bin) throw new Error(installHint());
  return bin;
}

function run(cmd: string, args: string[], input?: string): void {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(`${cmd} exited with ${r.status ?? r.signal}:\n${tail(`${r.stdout}\n${r.stderr}`)}`);
  }
}

function tail(text: string, chars = 3000): string {
  return text.length > chars ? `...${text.slice(-chars)}` : text;
}

/**
 * Return a datadir with system tables, root grants and `test` already in place. Built once per
 * mariadbd version under os.tmpdir() and shared by concurrent test processes: each builds into its
 * own temp dir and renames it into place, so a reader never sees a half-built template.
 */
function ensureTemplate(): string {
  if (templateDir && fs.existsSync(path.join(templateDir, TEMPLATE_MARKER))) return templateDir;
  const mariadbd = requireMariadbd();
  const version = spawnSync(mariadbd, ['--version'], { encoding: 'utf8' }).stdout ?? '';
  const key = createHash('sha1').update(`${TEMPLATE_RECIPE}\n${mariadbd}\n${version}`).digest('hex').slice(0, 12);
  const finalDir = path.join(os.tmpdir(), `tenantgate-mariadb-template-${key}`);
  if (!fs.existsSync(path.join(finalDir, TEMPLATE_MARKER))) {
    const installDb = findExecutable(['mariadb-install-db', 'mysql_install_db'], [path.dirname(mariadbd), '/usr/bin']);
    if (!installDb) throw new Error(`mariadb-install-db not found.\n${installHint()}`);
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantgate-template-build-'));
    try {
      const data = path.join(work, 'data');
      const common = ['--no-defaults', '--user=root', `--datadir=${data}`, '--performance-schema=OFF', ...INNODB_ARGS];
      run(installDb, [...common, '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve']);
      run(mariadbd, [...common, '--bootstrap', '--skip-networking', `--log-error=${path.join(work, 'bootstrap.err')}`], BOOTSTRAP_SQL);
      fs.writeFileSync(path.join(data, TEMPLATE_MARKER), `${version}`);
      try {
        fs.renameSync(data, finalDir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Another process won the race; its template is as good as ours.
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      }
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }
  templateDir = finalDir;
  return finalDir;
}

/** A port that was free a moment ago; start() retries with another one if it got taken. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves true when the child exits, false after ms (the ref'd timer keeps Node alive meanwhile). */
function waitExit(child: ChildProcess, exited: Promise<void>, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    exited.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.once('exit', cleanupSync);
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      cleanupSync();
      process.exit(code);
    });
  }
}

/** Synchronous last resort for process exit: SIGKILL every server and delete its files. */
function cleanupSync(): void {
  for (const server of live) server.killAndRemoveSync();
  live.clear();
}

class Server implements MariaDbServer {
  readonly host = '127.0.0.1';
  readonly datadir: string;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private conn: Promise<mysql.Connection> | null = null;
  private startedOnce = false;
  private readonly socket: string;
  private readonly logFile: string;

  constructor(
    private readonly root: string,
    public port: number,
    readonly serverId: number,
    private readonly opts: StartServerOptions,
  ) {
    this.datadir = path.join(root, 'data');
    this.socket = path.join(root, 's.sock');
    this.logFile = path.join(root, 'error.log');
  }

  private args(): string[] {
    const args = [
      '--no-defaults',
      '--user=root',
      `--datadir=${this.datadir}`,
      `--socket=${this.socket}`,
      `--pid-file=${path.join(this.root, 'mariadbd.pid')}`,
      `--log-error=${this.logFile}`,
      // Its own tmpdir: on-disk internal temporary tables (information_schema queries with TEXT
      // columns) in a /tmp shared with other processes went missing under the server, which then
      // crashed with signal 11 ("Error on delete of '/tmp/#sql-temptable-...MAI'").
      `--tmpdir=${this.root}`,
      `--port=${this.port}`,
      '--bind-address=127.0.0.1',
      `--server-id=${this.serverId}`,
      '--skip-name-resolve',
      '--performance-schema=OFF',
      ...INNODB_ARGS,
      '--innodb-buffer-pool-load-at-startup=0',
      '--innodb-buffer-pool-dump-at-shutdown=0',
      // Durability is irrelevant for throw-away servers; fsyncs only slow tests down.
      '--innodb-flush-log-at-trx-commit=2',
      '--max-connections=1000',
      '--max-allowed-packet=256M',
      '--character-set-server=utf8mb4',
      '--collation-server=utf8mb4_general_ci',
    ];
    if (this.opts.binlog) {
      args.push(
        '--log-bin=mysql-bin',
        '--relay-log=relay-bin',
        '--log-slave-updates',
        '--gtid-strict-mode=1',
        '--binlog-format=ROW',
        '--sync-binlog=0',
      );
    }
    // On a restart the old listener may linger briefly; the port must stay the same.
    if (this.startedOnce) args.push('--port-open-timeout=10');
    return [...args, ...(this.opts.extraArgs ?? [])];
  }

  private running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running()) return;
    const logOffset = fs.existsSync(this.logFile) ? fs.statSync(this.logFile).size : 0;
    const child = spawn(requireMariadbd(), this.args(), { stdio: 'ignore' });
    // Unref'd: a server alone must not keep the test process alive (its exit hook kills it). The
    // harness connection still does while open, so suites must destroy() what they start.
    child.unref();
    this.child = child;
    let spawnError: Error | null = null;
    this.exited = new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', (err) => {
        spawnError = err;
        resolve();
      });
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let lastError: unknown = null;
    while (Date.now() < deadline) {
      if (!this.running() || spawnError) {
        await this.exited;
        throw new StartError(this.failure(`exited during startup`, spawnError ?? lastError, logOffset));
      }
      try {
        const probe = await mysql.createConnection({ ...this.connectOptions(), connectTimeout: 2000 });
        this.adoptConnection(probe);
        this.startedOnce = true;
        return;
      } catch (err) {
        lastError = err;
      }
      await sleep(50);
    }
    child.kill('SIGKILL');
    await waitExit(child, this.exited, STOP_TIMEOUT_MS);
    throw new StartError(this.failure(`not ready after ${READY_TIMEOUT_MS} ms`, lastError, logOffset));
  }

  private failure(what: string, err: unknown, logOffset: number): string {
    let log = '';
    try {
      log = fs.readFileSync(this.logFile, 'utf8').slice(logOffset);
    } catch {
      log = '(no error log)';
    }
    const cause = err instanceof Error ? `\nlast error: ${err.message}` : '';
    return `mariadbd on port ${this.port} (${this.root}) ${what}${cause}\n--- error log tail ---\n${tail(log)}`;
  }

  /** True when a failed first start looks like someone else grabbed the port in between. */
  portTaken(message: string): boolean {
    return !this.startedOnce && /Address already in use|Bind on TCP\/IP port|errno: 98/i.test(message);
  }

  private connectOptions(): mysql.ConnectionOptions {
    return { host: this.host, port: this.port, user: 'root', password: '', database: 'test', multipleStatements: true };
  }

  private connection(): Promise<mysql.Connection> {
    return this.conn ?? this.adoptConnection(mysql.createConnection(this.connectOptions()));
  }

  /** Make c the harness connection; it is forgotten as soon as it fails. */
  private adoptConnection(c: mysql.Connection | Promise<mysql.Connection>): Promise<mysql.Connection> {
    const pending: Promise<mysql.Connection> = Promise.resolve(c).then((conn) => {
      // A dead server surfaces as an 'error' event; without a listener it would crash the process.
      conn.on('error', () => this.dropConnection(pending));
      return conn;
    });
    pending.catch(() => this.dropConnection(pending));
    this.conn = pending;
    return pending;
  }

  /**
   * Forget the harness connection. It is not destroyed: mysql2's destroy() leaves in-flight queries
   * pending forever, whereas the server closing the socket (it is dead or about to be) rejects them.
   */
  private dropConnection(which: Promise<mysql.Connection> | null = this.conn): void {
    if (which && this.conn === which) this.conn = null;
  }

  async query(sql: string, params?: unknown[]): Promise<any> {
    const pending = this.connection();
    const c = await pending;
    try {
      const [rows] = await c.query(sql, params);
      return rows;
    } catch (err) {
      if ((err as { fatal?: boolean }).fatal) this.dropConnection(pending);
      throw err;
    }
  }

  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  private async signal(sig: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    this.dropConnection();
    const child = this.child;
    if (!child || !this.running()) return;
    child.kill(sig);
    if (!(await waitExit(child, this.exited, STOP_TIMEOUT_MS))) {
      child.kill('SIGKILL');
      await waitExit(child, this.exited, STOP_TIMEOUT_MS);
    }
  }

  async destroy(): Promise<void> {
    await this.stop();
    live.delete(this);
    await fs.promises.rm(this.root, { recursive: true, force: true, maxRetries: 3 });
  }

  /** @internal for the process-exit hook only. */
  killAndRemoveSync(): void {
    if (this.child?.pid && this.running()) {
      try {
        process.kill(this.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    fs.rmSync(this.root, { recursive: true, force: true, maxRetries: 3 });
  }
}

class StartError extends Error {
  override name = 'MariaDbStartError';
}

/** Temp root for one server; falls back to /tmp when TMPDIR would push the socket past 107 chars. */
function makeServerRoot(): string {
  const base = path.join(os.tmpdir(), 'tg-').length + 16 < 100 ? os.tmpdir() : '/tmp';
  return fs.mkdtempSync(path.join(base, 'tg-'));
}

/** Start one server from the template on a fresh random port; resolves when it accepts connections. */
export async function startServer(opts: StartServerOptions = {}): Promise<MariaDbServer> {
  const template = ensureTemplate();
  installExitHooks();
  const serverId = opts.serverId ?? nextServerId++;
  const root = makeServerRoot();
  const server = new Server(root, await freePort(), serverId, opts);
  live.add(server);
  try {
    fs.cpSync(template, server.datadir, { recursive: true });
    for (let attempt = 1; ; attempt++) {
      try {
        await server.start();
        return server;
      } catch (err) {
        if (attempt >= 5 || !server.portTaken((err as Error).message)) throw err;
        server.port = await freePort();
      }
    }
  } catch (err) {
    await server.destroy().catch(() => undefined);
    throw err;
  }
}

async function startAll(starts: Array<Promise<MariaDbServer>>): Promise<MariaDbServer[]> {
  const results = await Promise.allSettled(starts);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (failed) {
    await Promise.all(ok.map((s) => s.destroy().catch(() => undefined)));
    throw failed.reason;
  }
  return ok;
}

/** Start n independent servers in parallel (distinct server ids, no replication). */
export function startServers(n: number): Promise<MariaDbServer[]> {
  return startAll(Array.from({ length: n }, () => startServer()));
}

/**
 * Start a GTID primary and `replicas` read-only replicas wired with
 * `CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos` and a 1 s connect retry, so replicas reconnect
 * promptly after the primary restarts.
 */
export async function startReplicaSet(replicas: number): Promise<ReplicaSet> {
  const [primary, ...reps] = await startAll([
    startServer({ binlog: true }),
    ...Array.from({ length: replicas }, () => startServer({ binlog: true, extraArgs: ['--read-only=1'] })),
  ]);
  const destroy = async (): Promise<void> => {
    await Promise.all([primary, ...reps].map((s) => s.destroy()));
  };
  try {
    await Promise.all(
      reps.map(async (r) => {
        await r.query(
          `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${primary.port}, MASTER_USER='root', ` +
            `MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1`,
        );
        await r.query('START SLAVE');
      }),
    );
  } catch (err) {
    await destroy().catch(() => undefined);
    throw err;
  }
  return {
    primary,
    replicas: reps,
    waitForReplication: (timeoutMs = 10_000) => waitForReplication(primary, reps, timeoutMs),
    destroy,
  };
}

async function waitForReplication(primary: MariaDbServer, replicas: MariaDbServer[], timeoutMs: number): Promise<void> {
  const [{ pos }] = await primary.query('SELECT @@GLOBAL.gtid_binlog_pos AS pos');
  await Promise.all(
    replicas.map(async (r) => {
      // MASTER_GTID_WAIT returns 0 once gtid_slave_pos has reached pos, -1 on timeout.
      const [{ w }] = await r.query('SELECT MASTER_GTID_WAIT(?, ?) AS w', [pos, timeoutMs / 1000]);
      if (Number(w) === 0) return;
      const [st] = (await r.query('SHOW SLAVE STATUS')) as Array<Record<string, unknown>>;
      const [{ slavePos }] = await r.query('SELECT @@GLOBAL.gtid_slave_pos AS slavePos');
      throw new Error(
        `replica on port ${r.port} did not reach primary gtid_binlog_pos '${pos}' within ${timeoutMs} ms ` +
          `(gtid_slave_pos '${slavePos}', IO ${st?.Slave_IO_Running}, SQL ${st?.Slave_SQL_Running}, ` +
          `last IO error '${st?.Last_IO_Error ?? ''}', last SQL error '${st?.Last_SQL_Error ?? ''}')`,
      );
    }),
  );
}

/** Stop and delete every server this process started (also run on exit, SIGINT and SIGTERM). */
export async function destroyAll(): Promise<void> {
  await Promise.all([...live].map((s) => s.destroy().catch(() => undefined)));
}
