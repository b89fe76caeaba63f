#!/usr/bin/env node
/**
 * The `tenantgate` command: start the proxy, check a config file, hash a password for it.
 * Exit codes: 0 success, 1 failure (bad config, start failed), 2 usage error.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type pino from 'pino';
import { ConfigError, formatProblem, loadConfig, summarizeConfig } from './config/load';
import type { Config } from './config/types';
import { createLogger } from './log';
import { nativeHash, sha2CryptHash } from './protocol/auth';
import { ConfigStore } from './config/store';
import { configCommand, hashToken, topCommand } from './cli-ops';

const USAGE = `Usage: tenantgate <command> [options]

Commands:
  start --config FILE        run the proxy (SIGINT/SIGTERM: graceful stop; a second signal exits at once)
  check-config FILE          validate a config file; print a summary, or every problem with its YAML path
  hash-password [PASSWORD]   print password_hash / sha2_hash lines for a user entry
                             (reads the password from stdin when not given, which keeps it out of shell history)
  grants TENANT --config FILE [--apply]
                             print the CREATE USER/GRANT statements of the tenant's own backend account
                             (--apply: run them on the primary of its cluster)
  hash-token [TOKEN]         print the token_hash line for an admin.tokens entry (stdin when not given)
  config history --config FILE            list applied config versions (time, source, diff)
  config diff A B --config FILE           what changed from version A to version B
  config rollback VERSION --config FILE   re-apply version VERSION: through the running proxy's admin API
                             with --admin URL (token in TENANTGATE_ADMIN_TOKEN), or with --offline
                             only validate it and write it to FILE (a running proxy applies it on SIGHUP)
  top --admin URL            busiest tenants and digests of a running proxy, refreshed (token in TENANTGATE_ADMIN_TOKEN)

Signals to a running proxy: SIGHUP reloads the config; SIGTERM/SIGINT stop gracefully (transactions
finish, up to server.shutdown_timeout_ms); a second SIGTERM/SIGINT exits at once.

Options:
  -h, --help                 show this help
  -v, --version              print the version
`;

/** What cli.ts needs from src/server/proxy.ts; loaded lazily so the other commands never pull in the server. */
interface ProxyLike {
  start(): Promise<void>;
  stop(): Promise<void>;
  shutdown(timeoutMs: number): Promise<void>;
  readonly port: number;
  memoryReport?(): Record<string, number>;
}
type ProxyConstructor = new (config: Config, opts?: { logger?: pino.Logger; store?: ConfigStore }) => ProxyLike;

function version(): string {
  // dist/src/cli.js → ../../package.json; src/cli.ts (ts-node style) → ../package.json.
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, rel), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tenantgate' && pkg.version) return pkg.version;
    } catch {
      // try the next location
    }
  }
  return 'unknown';
}

function usageError(message: string): number {
  process.stderr.write(`tenantgate: ${message}\n\n${USAGE}`);
  return 2;
}

/** `--config FILE`, `--config=FILE` or `-c FILE`; returns undefined when absent. */
function optionValue(args: string[], long: string, short?: string): string | undefined | null {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === long || (short !== undefined && a === short)) return args[i + 1] ?? null;
    if (a.startsWith(long + '=')) return a.slice(long.length + 1);
  }
  return undefined;
}

function printConfigError(e: unknown): number {
  if (e instanceof ConfigError) {
    const n = e.problems.length;
    process.stderr.write(`${e.sourceName}: ${n} problem${n === 1 ? '' : 's'}\n`);
    for (const p of e.problems) process.stderr.write(formatProblem(p) + '\n');
    return 1;
  }
  throw e;
}

function checkConfig(args: string[]): number {
  const file = optionValue(args, '--config', '-c') ?? args.find((a) => !a.startsWith('-'));
  if (!file) return usageError('check-config needs a FILE');
  let config: Config;
  try {
    config = loadConfig(file);
  } catch (e) {
    return printConfigError(e);
  }
  process.stdout.write(`${file}: OK\n${summarizeConfig(config)}\n`);
  return 0;
}

async function readPassword(): Promise<string> {
  const stdin = process.stdin;
  if (stdin.isTTY) {
    // Interactive: one line. (Echo is not suppressed; pipe the password in to avoid showing it.)
    process.stderr.write('Password: ');
    return new Promise((resolve, reject) => {
      let buf = '';
      stdin.setEncoding('utf8');
      const onData = (chunk: string) => {
        buf += chunk;
        const nl = buf.indexOf('\n');
        if (nl !== -1) {
          stdin.off('data', onData);
          stdin.pause();
          resolve(buf.slice(0, nl).replace(/\r$/, ''));
        }
      };
      stdin.on('data', onData);
      stdin.once('error', reject);
    });
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  // `echo pw | tenantgate hash-password` adds one newline that is not part of the password.
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function hashPassword(args: string[]): Promise<number> {
  if (args[0] === '-h' || args[0] === '--help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args[0] === '--') args = args.slice(1); // `hash-password -- --help` hashes "--help"
  if (args.length > 1) return usageError('hash-password takes at most one argument (quote a password with spaces)');
  const password = args.length === 1 ? args[0]! : await readPassword();
  if (password === '') {
    process.stderr.write('tenantgate: empty password: this user will log in without a password\n');
    process.stdout.write('password_hash: ""\n');
    return 0;
  }
  // JSON strings are valid YAML double-quoted scalars, so these lines paste into a config as they are.
  process.stdout.write(`password_hash: ${JSON.stringify(nativeHash(password))}\n`);
  process.stdout.write(`sha2_hash: ${JSON.stringify(sha2CryptHash(password))}\n`);
  return 0;
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGINT: 2, SIGTERM: 15 };

async function start(args: string[]): Promise<number | undefined> {
  const file = optionValue(args, '--config', '-c');
  if (!file) return usageError('start needs --config FILE');
  let store: ConfigStore;
  try {
    store = ConfigStore.open(file);
  } catch (e) {
    return printConfigError(e);
  }
  const config = store.current.config;
  const logger = createLogger(config.log.level);
  store.log = logger;

  let ProxyClass: ProxyConstructor;
  try {
    // Lazy and loosely typed: the server is a separate module that the other commands never load.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    ProxyClass = (require('./server/proxy') as { Proxy: ProxyConstructor }).Proxy;
    if (typeof ProxyClass !== 'function') throw new Error('src/server/proxy does not export a Proxy class');
  } catch (err) {
    logger.fatal({ err }, 'cannot load the proxy server module');
    return 1;
  }

  const proxy = new ProxyClass(config, { logger, store });
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without waiting for the drain');
      process.exit(128 + (SIGNAL_NUMBERS[signal] ?? 1));
    }
    stopping = true;
    const timeoutMs = store.current.config.server.shutdownTimeoutMs;
    logger.info({ signal, timeoutMs }, 'stopping'); // no new connections; open transactions may finish
    proxy.shutdown(timeoutMs).then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', () => {
    if (!stopping) store.reload('signal');
  });
  if (config.watchFile) store.watch();
  // SIGUSR2: one "memory" log line (process figures and the sizes of the proxy's long-lived maps),
  // after a full GC when node runs with --expose-gc, so heap left after a load is told from garbage.
  process.on('SIGUSR2', () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc) gc();
    logger.info({ gc: gc !== undefined, ...(proxy.memoryReport?.() ?? process.memoryUsage()) }, 'memory');
  });

  try {
    await proxy.start();
  } catch (err) {
    logger.fatal({ err }, 'failed to start');
    await proxy.stop().catch(() => undefined);
    return 1;
  }
  if (stopping) return undefined; // a signal arrived during start; its handler finishes the job
  logger.info(
    {
      host: config.listen.host,
      port: proxy.port,
      tls: config.tls !== undefined,
      backends: config.backends.length,
      users: config.users.length,
      admin: config.admin ? `${config.admin.host}:${config.admin.port}` : null,
      version: version(),
    },
    `tenantgate listening on ${config.listen.host}:${proxy.port}`,
  );
  return undefined; // keep running until a signal
}

async function grants(args: string[]): Promise<number> {
  const file = optionValue(args, '--config', '-c');
  if (!file) return usageError('grants needs --config FILE');
  const tenant = args.find((a, i) => !a.startsWith('-') && args[i - 1] !== '--config' && args[i - 1] !== '-c');
  if (!tenant) return usageError('grants needs a TENANT id');
  let config: Config;
  try {
    config = loadConfig(file);
  } catch (e) {
    return printConfigError(e);
  }
  const t = config.tenants.find((x) => x.id === tenant);
  if (!t) {
    process.stderr.write(`tenantgate: unknown tenant "${tenant}"; defined: ${config.tenants.map((x) => x.id).join(', ') || 'none'}\n`);
    return 1;
  }
  const { tenantGrantStatements } = await import('./routing/grants');
  if (!args.includes('--apply')) {
    process.stdout.write(tenantGrantStatements(t).map((s) => s + ';\n').join(''));
    return 0;
  }
  const { applyTenantGrants } = await import('./admin/grants-apply');
  try {
    for (const s of await applyTenantGrants(config, tenant)) process.stdout.write(`${s};  -- ok\n`);
  } catch (e) {
    process.stderr.write(`tenantgate: grants for "${tenant}" failed: ${(e as Error).message}\n`);
    return 1;
  }
  return 0;
}

/** Runs one command; resolves to the exit code, or undefined when the process should keep running. */
export async function main(argv: string[]): Promise<number | undefined> {
  const [cmd, ...rest] = argv;
  if (cmd !== 'hash-password' && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(USAGE);
    return 0;
  }
  switch (cmd) {
    case undefined:
      return usageError('no command given');
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case '-v':
    case '--version':
    case 'version':
      process.stdout.write(version() + '\n');
      return 0;
    case 'check-config':
      return checkConfig(rest);
    case 'hash-password':
      return hashPassword(rest);
    case 'hash-token':
      return hashToken(rest[0] ?? (await readPassword()));
    case 'config':
      return configCommand(rest, usageError);
    case 'top':
      return topCommand(rest, usageError);
    case 'start':
      return start(rest);
    case 'grants':
      return grants(rest);
    default:
      return usageError(`unknown command "${cmd}"`);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code !== undefined) process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`tenantgate: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
