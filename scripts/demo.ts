/**
 * `npm run demo`: a throwaway local topology to try tenantgate against.
 *
 * Starts a private mariadbd (temp datadir, random port; the MariaDB on 3306 is never touched), loads a
 * small `shop` schema, writes a self-signed cert and a YAML config into a temp dir, starts the proxy on
 * 6033 (or a free port) and prints how to connect. Ctrl-C / SIGTERM stops everything and removes the
 * temp dir.
 *
 *   node dist/scripts/demo.js [--port N] [--no-wait]
 *
 * `--port 0` picks a random free port. `--no-wait` starts, prints, runs a self-check query through the
 * proxy (plain TCP as `app`, TLS as `app_tls`) and shuts down; exit status 0 means the check passed.
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
import { destroyAll, installHint, mariadbdPath, startServer, type MariaDbServer } from '../test/helpers/mariadb';

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

const SCHEMA_SQL = [
  'CREATE DATABASE shop CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci',
  `CREATE TABLE shop.customers (
     id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
     name VARCHAR(100) NOT NULL,
     email VARCHAR(190) NOT NULL,
     country CHAR(2) NOT NULL,
     created_at DATETIME NOT NULL,
     UNIQUE KEY uq_customers_email (email)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
  `CREATE TABLE shop.products (
     id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
     sku VARCHAR(32) NOT NULL,
     name VARCHAR(200) NOT NULL,
     price DECIMAL(10,2) NOT NULL,
     stock INT UNSIGNED NOT NULL DEFAULT 0,
     UNIQUE KEY uq_products_sku (sku)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
  `CREATE TABLE shop.orders (
     id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
     customer_id INT UNSIGNED NOT NULL,
     product_id INT UNSIGNED NOT NULL,
     quantity SMALLINT UNSIGNED NOT NULL,
     unit_price DECIMAL(10,2) NOT NULL,
     status ENUM('pending','paid','shipped','delivered','cancelled') NOT NULL DEFAULT 'pending',
     ordered_at DATETIME NOT NULL,
     KEY ix_orders_customer (customer_id),
     KEY ix_orders_product (product_id),
     CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES shop.customers (id),
     CONSTRAINT fk_orders_product FOREIGN KEY (product_id) REFERENCES shop.products (id)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
];

/** One multi-row INSERT with placeholders (works whether the helper uses query or execute). */
function insertSql(table: string, columns: readonly string[], rows: readonly Row[]): [string, (string | number)[]] {
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  const sql = `INSERT INTO shop.${table} (${columns.join(', ')}) VALUES ${rows.map(() => tuple).join(', ')}`;
  return [sql, rows.flat()];
}

async function loadSampleSchema(server: MariaDbServer, backendPassword: string): Promise<void> {
  for (const sql of SCHEMA_SQL) await server.query(sql);
  await server.query(...insertSql('customers', ['name', 'email', 'country', 'created_at'], CUSTOMERS));
  await server.query(...insertSql('products', ['sku', 'name', 'price', 'stock'], PRODUCTS));
  await server.query(
    ...insertSql('orders', ['customer_id', 'product_id', 'quantity', 'unit_price', 'status', 'ordered_at'], sampleOrders()),
  );
  // The proxy logs in to the backend with its own account, as it would in production: 127.0.0.1 for TCP
  // (the server runs with skip-name-resolve), localhost for someone poking at it over the socket.
  for (const host of ['localhost', '127.0.0.1']) {
    await server.query(`CREATE USER '${BACKEND_USER}'@'${host}' IDENTIFIED BY '${backendPassword}'`);
    await server.query(`GRANT ALL PRIVILEGES ON shop.* TO '${BACKEND_USER}'@'${host}'`);
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

function writeDemoConfig(dir: string, port: number, server: MariaDbServer, backendPassword: string): DemoFiles {
  const cert = generateSelfSignedCert(dir);
  const native = nativeHash(APP_PASSWORD);
  const sha2 = sha2CryptHash(APP_PASSWORD);
  const yaml = `# Written by \`npm run demo\`; deleted when the demo stops.
# Reference: config/examples/single.yaml and config/examples/tls.yaml.
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
  - name: primary
    host: ${q(server.host)}
    port: ${server.port}
    user: ${q(BACKEND_USER)}
    password: ${q(backendPassword)}
    min_connections: 0
    max_connections: 10
users:
  # password: ${APP_PASSWORD}
  - name: app
    password_hash: ${q(native)}
    sha2_hash: ${q(sha2)}
    backend: primary
    default_schema: shop
  # password: ${APP_PASSWORD}; refused unless the client connection uses TLS
  - name: app_tls
    password_hash: ${q(native)}
    sha2_hash: ${q(sha2)}
    backend: primary
    default_schema: shop
    require_tls: true
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

async function countOrders(opts: mysql.ConnectionOptions): Promise<number> {
  const conn = await mysql.createConnection({ connectTimeout: 10_000, ...opts });
  try {
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM orders');
    return Number(rows[0]!['n']);
  } finally {
    await conn.end().catch(() => conn.destroy());
  }
}

async function selfCheck(port: number, caFile: string): Promise<boolean> {
  const base = { host: LISTEN_HOST, port, password: APP_PASSWORD, database: 'shop' };
  const checks: [string, mysql.ConnectionOptions][] = [
    ['app, plain TCP', { ...base, user: 'app' }],
    ['app_tls, TLS', { ...base, user: 'app_tls', ssl: { ca: readFileSync(caFile) } }],
  ];
  let ok = true;
  for (const [label, opts] of checks) {
    try {
      const n = await countOrders(opts);
      const good = n === DEMO_ORDER_COUNT;
      ok &&= good;
      console.log(`self-check (${label}): SELECT COUNT(*) FROM orders -> ${n}` +
        (good ? ' (ok)' : ` (expected ${DEMO_ORDER_COUNT})`));
    } catch (err) {
      ok = false;
      console.log(`self-check (${label}): FAILED: ${(err as Error).message}`);
    }
  }
  return ok;
}

// ---------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------

function banner(port: number, why: string, files: DemoFiles, server: MariaDbServer): string {
  const tlsCmd = `mariadb -h127.0.0.1 -P${port} -uapp_tls -papp --ssl --ssl-ca=${files.caFile} shop`;
  return `
tenantgate demo is running
  proxy      ${LISTEN_HOST}:${port} (${why})
  backend    MariaDB at ${server.host}:${server.port}, datadir ${server.datadir}
  config     ${files.configFile}
  TLS cert   ${files.caFile} (self-signed; also the CA file)

Connect with the mariadb client:
  mariadb -h127.0.0.1 -P${port} -uapp -papp shop
  (add --default-character-set=utf8mb4 if emoji and rare CJK characters show up as '?')

Over TLS (user app_tls is refused without it):
  ${tlsCmd}

From Node with mysql2:
  const mysql = require('mysql2/promise');
  const conn = await mysql.createConnection({
    host: '127.0.0.1', port: ${port}, user: 'app', password: 'app', database: 'shop',
    // TLS: user: 'app_tls', ssl: { ca: require('fs').readFileSync(${q(files.caFile)}) },
  });
  const [rows] = await conn.query('SELECT name, country FROM customers LIMIT 5');

Try: SELECT c.name, p.name, o.quantity, o.status FROM orders o JOIN customers c ON c.id = o.customer_id
     JOIN products p ON p.id = o.product_id ORDER BY o.ordered_at DESC LIMIT 10;
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

  let server: MariaDbServer | undefined;
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
      const s = server;
      if (p) await step('proxy.stop()', () => p.stop());
      if (s) await step('server.destroy()', () => s.destroy());
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
        server?.kill();
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

    console.log('starting a private MariaDB (temp datadir, random port) ...');
    server = await startServer();
    keepOnlyOurSignalHandlers(onSignal);
    if (signalled) return 0;
    const backendPassword = `demo-${randomBytes(9).toString('base64url')}`;
    await loadSampleSchema(server, backendPassword);
    console.log(`loaded sample database shop: ${CUSTOMERS.length} customers, ${PRODUCTS.length} products, ${DEMO_ORDER_COUNT} orders`);

    // Chosen as late as possible, so the probed port is still free when the proxy binds it.
    const { port, why } = await choosePort(args.port);
    const files = writeDemoConfig(dir, port, server, backendPassword);
    const config = parseConfig(readFileSync(files.configFile, 'utf8'), files.configFile, { baseDir: dir });
    if (signalled) return 0;
    proxy = new Proxy(config);
    await proxy.start();

    console.log(banner(proxy.port, why, files, server));

    if (!args.wait) {
      const ok = await Promise.race([selfCheck(proxy.port, files.caFile), done.then(() => true)]);
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
