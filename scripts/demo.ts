/**
 * `npm run demo`: a throwaway multi-tenant topology to try tenantgate against.
 *
 * Starts private mariadbd servers (temp datadirs, random ports; the MariaDB on 3306 is never
 * touched): a GTID primary + replica shared by separate_schema tenants, a dedicated server
 * (separate_database) and a tenant's own primary + replica (separate_cluster). Loads a small `shop`
 * schema for each of three tenants (acme, globex, initech) with its own backend account, writes a
 * self-signed cert and a YAML config into a temp dir, starts the proxy on 6033 (or a free port) and
 * prints commands that show a tenant's reads on the replica and its writes on the primary.
 * Ctrl-C / SIGTERM stops everything and removes the temp dir.
 *
 *   node dist/scripts/demo.js [--port N] [--no-wait]
 *
 * `--port 0` picks a random free port. `--no-wait` starts, prints, runs self-checks through the proxy
 * (plain TCP and TLS, where reads and writes land, a cross-tenant refusal) and shuts down; exit
 * status 0 means every check passed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mysql from 'mysql2/promise';

import { parseConfig } from '../src/config/load';
import { generateSelfSignedCert } from '../src/config/self-signed';
import { nativeHash, sha2CryptHash } from '../src/protocol/auth';
import { Proxy } from '../src/server/proxy';
import { destroyAll, installHint, mariadbdPath, startReplicaSet, startServer, type MariaDbServer, type ReplicaSet } from '../test/helpers/mariadb';
import { tenantGrantStatements } from '../src/routing/grants';

/** Resolves once every replica is in rotation (or after 20 s, leaving reads on the primaries). */
function waitForReplicas(proxy: Proxy): Promise<void> {
  const topo = proxy.topology;
  if (!topo) return Promise.resolve();
  const ready = () => [...topo.snapshot().clusters.values()].every((c) => c.replicas.every((r) => r.inRotation));
  if (ready()) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      off();
      resolve();
    }, 20_000);
    const off = topo.onSample(() => {
      if (!ready()) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

const LISTEN_HOST = '127.0.0.1';
const PREFERRED_PORT = 6033;
const BACKEND_USER = 'tenantgate';
/** Demo users' password; printed on screen, so never reuse this config outside a demo. */
const APP_PASSWORD = 'app';

// ---------------------------------------------------------------------------------------------------
// Sample data
// ---------------------------------------------------------------------------------------------------

type Row = readonly (string | number)[];

/** [name, email, country, created_at]; several names need more than Latin-1, one needs 4-byte UTF-8. */
const CUSTOMERS: readonly Row[] = [
  ['Amelia Clarke', 'amelia.clarke@example.co.uk', 'GB', '2023-01-14 09:12:00'],
  ['José Álvarez', 'jose.alvarez@example.es', 'ES', '2023-02-03 17:40:00'],
  ['Zoë Fischer', 'zoe.fischer@example.de', 'DE', '2023-02-21 08:05:00'],
  ['Łukasz Wiśniewski', 'lukasz.w@example.pl', 'PL', '2023-03-09 12:30:00'],
  ['Søren Kierkegaard', 'soren.k@example.dk', 'DK', '2023-03-18 19:02:00'],
  ['François Lefèvre', 'francois.lefevre@example.fr', 'FR', '2023-04-01 10:45:00'],
  ['山田 太郎', 'taro.yamada@example.jp', 'JP', '2023-04-22 03:15:00'],
  ['Ngozi Okonkwo', 'ngozi.okonkwo@example.ng', 'NG', '2023-05-06 14:20:00'],
  ['Иван Петров', 'ivan.petrov@example.ru', 'RU', '2023-05-19 06:55:00'],
  ['Αλέξανδρος Παπαδόπουλος', 'alex.papadopoulos@example.gr', 'GR', '2023-06-02 11:11:00'],
  ['Priya Raghunathan', 'priya.r@example.in', 'IN', '2023-06-27 05:30:00'],
  ['Müge Yılmaz', 'muge.yilmaz@example.com.tr', 'TR', '2023-07-08 16:48:00'],
  ['Nguyễn Thị Hoa', 'hoa.nguyen@example.vn', 'VN', '2023-07-30 02:10:00'],
  ['Björn Þórsson', 'bjorn.thorsson@example.is', 'IS', '2023-08-15 13:37:00'],
  ['김민준', 'minjun.kim@example.kr', 'KR', '2023-09-01 01:05:00'],
  ['Siobhán Ní Bhriain', 'siobhan.nb@example.ie', 'IE', '2023-09-19 18:22:00'],
  ['Mateus Gonçalves', 'mateus.goncalves@example.com.br', 'BR', '2023-10-05 21:14:00'],
  ['𠮷田 花子', 'hanako.yoshida@example.jp', 'JP', '2023-10-26 04:44:00'],
  ['Chloé Dubois', 'chloe.dubois@example.be', 'BE', '2023-11-11 09:09:00'],
  ['Oliver Bennett', 'oliver.bennett@example.com', 'US', '2023-12-02 15:00:00'],
];

/** [sku, name, price, stock] */
const PRODUCTS: readonly Row[] = [
  ['MUG-001', 'Ceramic mug, 350 ml', '12.50', 240],
  ['TEE-BLK-M', 'Organic cotton T-shirt, black, M', '24.00', 85],
  ['TEE-WHT-L', 'Organic cotton T-shirt, white, L', '24.00', 60],
  ['NB-A5-DOT', 'Notebook A5, dotted, 120 pages', '9.90', 410],
  ['PEN-FNT-02', 'Fountain pen, fine nib', '38.00', 42],
  ['BAG-TOTE', 'Canvas tote bag', '15.00', 130],
  ['CAP-NAVY', 'Baseball cap, navy', '19.50', 75],
  ['STK-PACK', 'Sticker pack (12 pcs) 🎉', '4.99', 900],
  ['HOOD-GRY-M', 'Hoodie, heather grey, M', '49.00', 33],
  ['BTL-STEEL', 'Insulated steel bottle, 750 ml', '27.00', 58],
  ['KBD-CAP', 'Keycap set «Café»', '34.90', 20],
  ['PST-A2', 'Poster A2, “Ship it”', '14.00', 150],
];

const STATUSES = ['pending', 'paid', 'shipped', 'delivered', 'cancelled'] as const;
const OLD_ORDER_STATUSES = ['delivered', 'delivered', 'delivered', 'delivered', 'shipped', 'cancelled'] as const;

/** Number of rows in `shop.orders`; the `--no-wait` self-check compares against it. */
export const DEMO_ORDER_COUNT = 48;

/** Deterministic orders (a small LCG, so every demo run has the same data). */
function sampleOrders(): Row[] {
  let seed = 20240601;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    // The low bits of this LCG cycle with a short period; the high ones do not.
    return Math.floor(seed / 65536) % n;
  };
  const rows: Row[] = [];
  const start = Date.UTC(2024, 0, 2, 8, 0, 0);
  for (let i = 0; i < DEMO_ORDER_COUNT; i++) {
    const customerId = next(CUSTOMERS.length) + 1;
    const productIdx = next(PRODUCTS.length);
    const quantity = next(4) + 1;
    const price = PRODUCTS[productIdx]![2] as string;
    // Older orders are mostly delivered; the newest few are still pending, paid or shipped.
    const status = i < DEMO_ORDER_COUNT - 8 ? OLD_ORDER_STATUSES[next(OLD_ORDER_STATUSES.length)]! : STATUSES[next(3)]!;
    const orderedAt = new Date(start + i * 3.5 * 86_400_000 + next(86_400) * 1000)
      .toISOString()
      .replace('T', ' ')
      .slice(0, 19);
    rows.push([customerId, productIdx + 1, quantity, price, status, orderedAt]);
  }
  return rows;
}

/** The sample shop's tables in schema `db` (each tenant gets its own copy). */
function schemaSql(db: string): string[] {
  return [
    `CREATE DATABASE ${db} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    `CREATE TABLE ${db}.customers (
       id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
       name VARCHAR(100) NOT NULL,
       email VARCHAR(190) NOT NULL,
       country CHAR(2) NOT NULL,
       created_at DATETIME NOT NULL,
       UNIQUE KEY uq_customers_email (email)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
    `CREATE TABLE ${db}.products (
       id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
       sku VARCHAR(64) NOT NULL,
       name VARCHAR(200) NOT NULL,
       price DECIMAL(10,2) NOT NULL,
       stock INT UNSIGNED NOT NULL DEFAULT 0,
       UNIQUE KEY uq_products_sku (sku)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
    `CREATE TABLE ${db}.orders (
       id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
       customer_id INT UNSIGNED NOT NULL,
       product_id INT UNSIGNED NOT NULL,
       quantity SMALLINT UNSIGNED NOT NULL,
       unit_price DECIMAL(10,2) NOT NULL,
       status ENUM('pending','paid','shipped','delivered','cancelled') NOT NULL DEFAULT 'pending',
       ordered_at DATETIME NOT NULL,
       KEY ix_orders_customer (customer_id),
       KEY ix_orders_product (product_id),
       CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES ${db}.customers (id),
       CONSTRAINT fk_orders_product FOREIGN KEY (product_id) REFERENCES ${db}.products (id)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
  ];
}

/** One multi-row INSERT with placeholders (works whether the helper uses query or execute). */
function insertSql(db: string, table: string, columns: readonly string[], rows: readonly Row[]): [string, (string | number)[]] {
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  const sql = `INSERT INTO ${db}.${table} (${columns.join(', ')}) VALUES ${rows.map(() => tuple).join(', ')}`;
  return [sql, rows.flat()];
}

/** A demo tenant: its tier, where it lives, and its own backend account (granted only its schema). */
interface DemoTenant {
  readonly id: string;
  readonly tier: 'separate_schema' | 'separate_database' | 'separate_cluster';
  readonly cluster: string;
  readonly schema: string;
  readonly backendUser: string;
}

export const DEMO_TENANTS: readonly DemoTenant[] = [
  { id: 'acme', tier: 'separate_schema', cluster: 'shared', schema: 't_acme', backendUser: 'tg_acme' },
  { id: 'globex', tier: 'separate_database', cluster: 'dedicated', schema: 't_globex', backendUser: 'tg_globex' },
  { id: 'initech', tier: 'separate_cluster', cluster: 'initech', schema: 't_initech', backendUser: 'tg_initech' },
];

/** The sample data in `db`, and the proxy's own account (monitoring and pooling; tenants log in as their own). */
async function loadSampleSchema(server: MariaDbServer, db: string): Promise<void> {
  for (const sql of schemaSql(db)) await server.query(sql);
  await server.query(...insertSql(db, 'customers', ['name', 'email', 'country', 'created_at'], CUSTOMERS));
  await server.query(...insertSql(db, 'products', ['sku', 'name', 'price', 'stock'], PRODUCTS));
  await server.query(...insertSql(db, 'orders', ['customer_id', 'product_id', 'quantity', 'unit_price', 'status', 'ordered_at'], sampleOrders()));
}

/**
 * The proxy's own account on a primary (replicated to its replicas): it pools connections and
 * monitors replication, and switches each borrowed connection to the tenant's account. 127.0.0.1
 * for TCP (the server runs with skip-name-resolve), localhost for the socket.
 */
async function createProxyAccount(server: MariaDbServer, backendPassword: string): Promise<void> {
  for (const host of ['localhost', '127.0.0.1']) {
    await server.query(`CREATE USER '${BACKEND_USER}'@'${host}' IDENTIFIED BY '${backendPassword}'`);
    await server.query(`GRANT SLAVE MONITOR, BINLOG MONITOR ON *.* TO '${BACKEND_USER}'@'${host}'`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------------

/** JSON strings are valid YAML double-quoted scalars, and escape anything a hash salt may contain. */
const q = (s: string | number): string => JSON.stringify(String(s));

interface DemoFiles {
  readonly dir: string;
  readonly configFile: string;
  readonly caFile: string;
}

/** The demo's servers: a primary + replica shared by separate_schema tenants, a dedicated server, a tenant's own cluster. */
interface DemoServers {
  readonly shared: ReplicaSet;
  readonly dedicated: MariaDbServer;
  readonly initech: ReplicaSet;
}

function writeDemoConfig(dir: string, port: number, sv: DemoServers, backendPassword: string, tenantPassword: string): DemoFiles {
  const cert = generateSelfSignedCert(dir);
  const native = nativeHash(APP_PASSWORD);
  const sha2 = sha2CryptHash(APP_PASSWORD);
  const backend = (name: string, server: MariaDbServer) => `  - name: ${name}
    host: ${q(server.host)}
    port: ${server.port}
    user: ${q(BACKEND_USER)}
    password: ${q(backendPassword)}
    max_connections: 10
`;
  const tenants = DEMO_TENANTS.map(
    (t) => `  - id: ${t.id}
    tier: ${t.tier}
    cluster: ${t.cluster}
    schema: ${t.schema}
    logical_schema: shop        # the app says "shop"; the proxy maps it to ${t.schema}
    backend_user: ${t.backendUser}
    backend_password: ${q(tenantPassword)}
`,
  );
  const yaml = `# Written by \`npm run demo\`; deleted when the demo stops.
# Reference: config/examples/*.yaml.
listen:
  host: ${q(LISTEN_HOST)}
  port: ${port}
tls:
  cert_file: ${q(cert.certFile)}
  key_file: ${q(cert.keyFile)}
  ca_file: ${q(cert.caFile)}
server:
  default_auth_plugin: mysql_native_password
  max_client_connections: 1000
backends:
${backend('shared-primary', sv.shared.primary)}${backend('shared-replica', sv.shared.replicas[0]!)}${backend('dedicated', sv.dedicated)}${backend('initech-primary', sv.initech.primary)}${backend('initech-replica', sv.initech.replicas[0]!)}clusters:
  - name: shared                # separate_schema tenants share this primary + replica
    primary: shared-primary
    replicas: [{ backend: shared-replica }]
  - name: dedicated             # one tenant's own server (separate_database)
    primary: dedicated
  - name: initech               # one tenant's own primary + replica (separate_cluster)
    primary: initech-primary
    replicas: [{ backend: initech-replica }]
users:
  # password: ${APP_PASSWORD}; log in as app@<tenant>
  - name: app
    password_hash: ${q(native)}
    sha2_hash: ${q(sha2)}
  # password: ${APP_PASSWORD}; app_tls@<tenant>, refused unless the client connection uses TLS
  - name: app_tls
    password_hash: ${q(native)}
    sha2_hash: ${q(sha2)}
    require_tls: true
tenants:
${tenants.join('')}tenant_identification:
  strategies:
    - { type: user_pattern, pattern: "{user}@{tenant}" }
    - { type: connect_attr, attribute: tenant }
read_your_writes:
  scope: session
  gtid_wait_timeout_ms: 500
log:
  level: warn
`;
  const configFile = join(dir, 'tenantgate.yaml');
  writeFileSync(configFile, yaml, { mode: 0o600 });
  return { dir, configFile, caFile: cert.caFile };
}

// ---------------------------------------------------------------------------------------------------
// Ports and arguments
// ---------------------------------------------------------------------------------------------------

/** Binds `port` (0 = any) on `host` and releases it; resolves the port number, or null when taken. */
function probePort(host: string, port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(null));
    srv.listen({ host, port, exclusive: true }, () => {
      const addr = srv.address();
      const bound = typeof addr === 'object' && addr ? addr.port : null;
      srv.close(() => resolve(bound));
    });
  });
}

interface Args {
  /** undefined: 6033 if free, else random. */
  readonly port?: number;
  readonly wait: boolean;
}

function usage(): string {
  return 'usage: node dist/scripts/demo.js [--port N] [--no-wait]\n' +
    '  --port N    listen on N (0 = random free port; default 6033 if free, else random)\n' +
    '  --no-wait   start, print, run a self-check query through the proxy, then shut down\n';
}

function parseArgs(argv: readonly string[]): Args {
  let port: number | undefined;
  let wait = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--no-wait') wait = false;
    else if (a === '--port' || a.startsWith('--port=')) {
      const v = a === '--port' ? argv[++i] : a.slice('--port='.length);
      const n = v !== undefined && /^\d+$/.test(v) ? Number(v) : NaN;
      if (!(n >= 0 && n <= 65535)) throw new UsageError(`--port needs a number 0-65535, got ${v ?? 'nothing'}`);
      port = n;
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(usage());
      process.exit(0);
    } else throw new UsageError(`unknown argument ${a}`);
  }
  return { port, wait };
}

class UsageError extends Error {}

async function choosePort(requested: number | undefined): Promise<{ port: number; why: string }> {
  if (requested !== undefined && requested !== 0) return { port: requested, why: 'from --port' };
  if (requested === undefined) {
    const p = await probePort(LISTEN_HOST, PREFERRED_PORT);
    if (p !== null) return { port: p, why: 'the default' };
  }
  const p = await probePort(LISTEN_HOST, 0);
  if (p === null) throw new Error('could not find a free TCP port on 127.0.0.1');
  const why = requested === 0 ? 'random, --port 0' : `random: ${PREFERRED_PORT} is in use`;
  return { port: p, why };
}

// ---------------------------------------------------------------------------------------------------
// Self-check
// ---------------------------------------------------------------------------------------------------

async function withConn<T>(opts: mysql.ConnectionOptions, fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const conn = await mysql.createConnection({ connectTimeout: 10_000, ...opts });
  try {
    return await fn(conn);
  } finally {
    await conn.end().catch(() => conn.destroy());
  }
}

async function scalar(c: mysql.Connection, sql: string): Promise<unknown> {
  const [rows] = await c.query<mysql.RowDataPacket[]>(sql);
  return rows[0] ? Object.values(rows[0])[0] : undefined;
}

/** Server ids of the demo's servers, by role (what the printed commands show). */
function serverIds(sv: DemoServers): { sharedPrimary: number; sharedReplica: number; dedicated: number; initechPrimary: number; initechReplica: number } {
  return {
    sharedPrimary: sv.shared.primary.serverId,
    sharedReplica: sv.shared.replicas[0]!.serverId,
    dedicated: sv.dedicated.serverId,
    initechPrimary: sv.initech.primary.serverId,
    initechReplica: sv.initech.replicas[0]!.serverId,
  };
}

async function selfCheck(port: number, caFile: string, sv: DemoServers): Promise<boolean> {
  const ids = serverIds(sv);
  const base = { host: LISTEN_HOST, port, password: APP_PASSWORD, database: 'shop' };
  let ok = true;
  const check = async (label: string, fn: () => Promise<[string, boolean]>) => {
    try {
      const [text, good] = await fn();
      ok &&= good;
      console.log(`self-check (${label}): ${text}${good ? ' (ok)' : ' (UNEXPECTED)'}`);
    } catch (err) {
      ok = false;
      console.log(`self-check (${label}): FAILED: ${(err as Error).message}`);
    }
  };
  await check('app@acme, plain TCP', () =>
    withConn({ ...base, user: 'app@acme' }, async (c) => {
      const n = Number(await scalar(c, 'SELECT COUNT(*) FROM orders'));
      return [`SELECT COUNT(*) FROM orders -> ${n}`, n === DEMO_ORDER_COUNT];
    }),
  );
  await check('app_tls@acme, TLS', () =>
    withConn({ ...base, user: 'app_tls@acme', ssl: { ca: readFileSync(caFile) } }, async (c) => {
      const n = Number(await scalar(c, 'SELECT COUNT(*) FROM orders'));
      return [`SELECT COUNT(*) FROM orders -> ${n}`, n === DEMO_ORDER_COUNT];
    }),
  );
  await check('app@acme, read on the replica', () =>
    withConn({ ...base, user: 'app@acme' }, async (c) => {
      const id = Number(await scalar(c, 'SELECT @@server_id'));
      return [`SELECT @@server_id -> ${id}`, id === ids.sharedReplica];
    }),
  );
  await check('app@acme, write on the primary', () =>
    withConn({ ...base, user: 'app@acme' }, async (c) => {
      await c.query("INSERT INTO products (sku, name, price, stock) VALUES ('DEMO-1', CONCAT('written on ', @@server_id), '1.00', 1)");
      const where = String(await scalar(c, "SELECT name FROM products WHERE sku = 'DEMO-1'"));
      return [`INSERT ... @@server_id -> "${where}", read back at once (read-your-writes)`, where === `written on ${ids.sharedPrimary}`];
    }),
  );
  await check('app@globex, own server', () =>
    withConn({ ...base, user: 'app@globex' }, async (c) => {
      const id = Number(await scalar(c, 'SELECT @@server_id'));
      return [`SELECT @@server_id -> ${id}`, id === ids.dedicated];
    }),
  );
  await check('app@initech, own cluster', () =>
    withConn({ ...base, user: 'app@initech' }, async (c) => {
      const id = Number(await scalar(c, 'SELECT @@server_id'));
      return [`SELECT @@server_id -> ${id}`, id === ids.initechReplica];
    }),
  );
  await check('app@acme, another tenant\'s schema', () =>
    withConn({ ...base, user: 'app@acme' }, async (c) => {
      try {
        await c.query('SELECT COUNT(*) FROM t_initech.orders');
        return ['SELECT ... FROM t_initech.orders was allowed', false];
      } catch (e) {
        const errno = (e as { errno?: number }).errno;
        return [`SELECT ... FROM t_initech.orders -> ERROR ${errno}`, errno === 1044];
      }
    }),
  );
  return ok;
}

// ---------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------

function banner(port: number, why: string, files: DemoFiles, sv: DemoServers): string {
  const ids = serverIds(sv);
  const tlsCmd = `mariadb -h127.0.0.1 -P${port} -uapp_tls@acme -papp --ssl --ssl-ca=${files.caFile} shop`;
  return `
tenantgate demo is running
  proxy      ${LISTEN_HOST}:${port} (${why})
  config     ${files.configFile}
  TLS cert   ${files.caFile} (self-signed; also the CA file)
  servers    shared cluster: primary server_id ${ids.sharedPrimary} (${sv.shared.primary.port}), replica server_id ${ids.sharedReplica} (${sv.shared.replicas[0]!.port})
             dedicated: server_id ${ids.dedicated} (${sv.dedicated.port})
             initech cluster: primary server_id ${ids.initechPrimary}, replica server_id ${ids.initechReplica}
  tenants    acme (separate_schema on shared), globex (separate_database on dedicated), initech (separate_cluster)
             each sees its data as database "shop"; each has its own backend account granted only its schema

Connect as a tenant (user app@<tenant>, password app):
  mariadb -h127.0.0.1 -P${port} -uapp@acme -papp shop

A tenant's reads go to the replica, its writes to the primary:
  mariadb -h127.0.0.1 -P${port} -uapp@acme -papp shop -e 'SELECT @@server_id AS read_on, DATABASE(), CURRENT_USER()'
  mariadb -h127.0.0.1 -P${port} -uapp@acme -papp shop -e 'INSERT INTO products (sku, name, price) VALUES (UUID(), CONCAT("written on ", @@server_id), 1); SELECT name FROM products ORDER BY id DESC LIMIT 1'
  mariadb -h127.0.0.1 -P${port} -uapp@acme -papp shop -e 'BEGIN; SELECT @@server_id AS in_transaction_on; COMMIT'
Other tenants, other servers; another tenant's schema is refused:
  mariadb -h127.0.0.1 -P${port} -uapp@globex -papp shop -e 'SELECT @@server_id, DATABASE()'
  mariadb -h127.0.0.1 -P${port} -uapp@acme -papp shop -e 'SELECT * FROM t_globex.orders'
  mariadb -h127.0.0.1 -P${port} -uapp@acme -papp shop -e 'SHOW DATABASES'

Over TLS (user app_tls is refused without it):
  ${tlsCmd}

From Node with mysql2 (the tenant can also come from a connect attribute):
  const mysql = require('mysql2/promise');
  const conn = await mysql.createConnection({
    host: '127.0.0.1', port: ${port}, user: 'app', password: 'app', database: 'shop',
    connectAttributes: { tenant: 'initech' },
  });
  const [rows] = await conn.query('SELECT @@server_id, name, country FROM customers LIMIT 5');
`;
}

/**
 * The test harness installs SIGINT/SIGTERM hooks that SIGKILL its servers and exit 130/143 at once,
 * which would skip proxy.stop() and leave the temp dir behind. The demo shuts down gracefully itself
 * (the harness's process 'exit' hook stays as the last resort), so it drops every other handler.
 */
function keepOnlyOurSignalHandlers(ours: (sig: NodeJS.Signals) => void): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    for (const l of process.listeners(sig)) if (l !== ours) process.removeListener(sig, l);
  }
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`demo: ${err.message}\n${usage()}`);
    return 2;
  }

  if (mariadbdPath() === null) {
    process.stderr.write(`demo: mariadbd was not found, so there is no MariaDB to put behind the proxy.\n${installHint()}\n`);
    return 1;
  }

  let sv: DemoServers | undefined;
  let proxy: Proxy | undefined;
  let dir: string | undefined;
  let stopping: Promise<void> | undefined;

  /** Idempotent: every step runs even if an earlier one fails. */
  const cleanup = (): Promise<void> => {
    stopping ??= (async () => {
      const step = async (what: string, fn: () => unknown): Promise<void> => {
        try {
          await fn();
        } catch (e) {
          console.error(`demo: ${what}: ${(e as Error).message}`);
        }
      };
      const p = proxy;
      const s = sv;
      if (p) await step('proxy.stop()', () => p.stop());
      if (s) await step('servers.destroy()', () => Promise.all([s.shared.destroy(), s.dedicated.destroy(), s.initech.destroy()]));
      await step('destroyAll()', () => destroyAll());
      if (dir) rmSync(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  let signalled = false;
  let onSignal: (sig: NodeJS.Signals) => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    onSignal = (sig: NodeJS.Signals): void => {
      if (signalled) {
        // Second Ctrl-C: stop waiting for a graceful drain.
        console.error(`demo: ${sig} again, forcing exit`);
        void destroyAll();
        if (dir) rmSync(dir, { recursive: true, force: true });
        process.exit(130);
      }
      signalled = true;
      console.log(`\n${sig} received: stopping proxy and MariaDB, removing ${dir ?? 'temp files'}`);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });

  try {
    dir = mkdtempSync(join(tmpdir(), 'tenantgate-demo-'));

    console.log('starting private MariaDB servers (temp datadirs, random ports): a primary + replica, a dedicated server, a tenant cluster ...');
    const [shared, dedicated, initech] = await Promise.all([startReplicaSet(1), startServer(), startReplicaSet(1)]);
    sv = { shared, dedicated, initech };
    keepOnlyOurSignalHandlers(onSignal);
    if (signalled) return 0;
    const backendPassword = `demo-${randomBytes(9).toString('base64url')}`;
    const tenantPassword = `tenant-${randomBytes(9).toString('base64url')}`;
    const primaryOf = (cluster: string) => (cluster === 'shared' ? shared.primary : cluster === 'dedicated' ? dedicated : initech.primary);
    for (const p of [shared.primary, dedicated, initech.primary]) await createProxyAccount(p, backendPassword);
    for (const t of DEMO_TENANTS) {
      const primary = primaryOf(t.cluster);
      await loadSampleSchema(primary, t.schema);
      const grants = tenantGrantStatements({ id: t.id, tier: t.tier, cluster: t.cluster, schema: t.schema, backendUser: t.backendUser, backendPassword: tenantPassword, reads: 'replica', users: [], allowUseSwitch: false });
      for (const g of grants.slice(1)) await primary.query(g);
    }
    await Promise.all([shared.waitForReplication(), initech.waitForReplication()]);
    console.log(`loaded sample database "shop" for tenants ${DEMO_TENANTS.map((t) => t.id).join(', ')}: ${CUSTOMERS.length} customers, ${PRODUCTS.length} products, ${DEMO_ORDER_COUNT} orders each`);

    // Chosen as late as possible, so the probed port is still free when the proxy binds it.
    const { port, why } = await choosePort(args.port);
    const files = writeDemoConfig(dir, port, sv, backendPassword, tenantPassword);
    const config = parseConfig(readFileSync(files.configFile, 'utf8'), files.configFile, { baseDir: dir });
    if (signalled) return 0;
    proxy = new Proxy(config, { monitorIntervalMs: 200 });
    await proxy.start();
    // Reads go to replicas once the health monitor has seen them replicating.
    await waitForReplicas(proxy);

    console.log(banner(proxy.port, why, files, sv));

    if (!args.wait) {
      const ok = await Promise.race([selfCheck(proxy.port, files.caFile, sv), done.then(() => true)]);
      return ok ? 0 : 1;
    }
    console.log('Press Ctrl-C to stop (removes the temp dir and the demo database).');
    await done;
    return 0;
  } catch (err) {
    console.error(`demo: ${(err as Error).stack ?? String(err)}`);
    return 1;
  } finally {
    await cleanup();
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
