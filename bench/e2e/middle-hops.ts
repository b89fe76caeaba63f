/**
 * The two middle hops the bench measures against a direct connection: HAProxy in TCP mode (the L4
 * reference) and tenantgate. Both run as child processes so their CPU time and RSS can be read from
 * /proc/<pid>.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativeHash } from '../../src/protocol/auth';
import { Child, freePort, startChild, waitForPort } from './children';

export const HAPROXY = '/usr/sbin/haproxy';

export interface Hop {
  child: Child;
  host: string;
  port: number;
}

/**
 * HAProxy 2.6 in TCP mode with one backend server, no health checks and no logging. One thread
 * (`nbthread 1`): tenantgate is a single event loop, and on two cores a second HAProxy thread would
 * only compete with sysbench and mariadbd.
 */
export async function startHaproxy(dir: string, serverPort: number): Promise<Hop> {
  if (!existsSync(HAPROXY)) throw new Error(`${HAPROXY} not installed`);
  const port = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    [
      'global',
      '  maxconn 4096',
      '  nbthread 1',
      '',
      'defaults',
      '  mode tcp',
      '  timeout connect 5s',
      '  timeout client 1h',
      '  timeout server 1h',
      '',
      'frontend bench_in',
      `  bind 127.0.0.1:${port}`,
      '  maxconn 4096',
      '  default_backend bench_db',
      '',
      'backend bench_db',
      `  server db 127.0.0.1:${serverPort} maxconn 4096`,
      '',
    ].join('\n'),
  );
  // -db: stay in the foreground (so the pid we hold is the one doing the work); -q: quiet.
  const child = startChild('haproxy', HAPROXY, ['-f', cfg, '-db', '-q']);
  await waitForPort(child, '127.0.0.1', port, 10_000);
  return { child, host: '127.0.0.1', port };
}

export interface TenantgateOptions {
  dir: string;
  cliPath: string;
  serverPort: number;
  /** Soft RLIMIT_NOFILE to give the proxy (the idle test needs one fd per client). */
  nofile: number;
  backendMaxConnections: number;
}

/** Writes the proxy config: one backend (root@server), one user `sbtest`/`sbtest` landing in schema sbtest. */
export function writeTenantgateConfig(path: string, listenPort: number, o: TenantgateOptions): void {
  writeFileSync(
    path,
    [
      `listen: { host: 127.0.0.1, port: ${listenPort} }`,
      'backends:',
      `  - { name: primary, host: 127.0.0.1, port: ${o.serverPort}, user: root, password: "", max_connections: ${o.backendMaxConnections} }`,
      'users:',
      `  - { name: sbtest, password_hash: "${nativeHash('sbtest')}", backend: primary, default_schema: sbtest }`,
      // warn keeps the proxy's logging off the measured path; BENCH_PROXY_LOG=info helps diagnose.
      `log: { level: ${process.env.BENCH_PROXY_LOG ?? 'warn'} }`,
      '',
    ].join('\n'),
  );
}

/**
 * Extra node flags for the proxy from env BENCH_PROXY_NODE_ARGS (space-separated), e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it under load (the profile is written when the
 * bench stops it with SIGTERM).
 */
function proxyNodeArgs(): string[] {
  const v = process.env.BENCH_PROXY_NODE_ARGS;
  return v ? v.split(/\s+/).filter((a) => a !== '') : [];
}

/** Starts `node dist/src/cli.js start --config FILE` and waits until it accepts TCP connections. */
export async function startTenantgate(o: TenantgateOptions): Promise<Hop> {
  if (!existsSync(o.cliPath)) throw new Error(`${o.cliPath} not built (src/cli.ts missing or not compiled)`);
  const port = await freePort();
  const cfg = join(o.dir, 'tenantgate.yaml');
  writeTenantgateConfig(cfg, port, o);
  // `exec` keeps the pid: the pid we measure is node's, not bash's.
  const child = startChild('tenantgate', 'bash', [
    '-c',
    `ulimit -n ${o.nofile} 2>/dev/null || ulimit -n hard 2>/dev/null; exec "$0" "$@"`,
    process.execPath,
    ...proxyNodeArgs(),
    o.cliPath,
    'start',
    '--config',
    cfg,
  ]);
  await waitForPort(child, '127.0.0.1', port, 15_000);
  return { child, host: '127.0.0.1', port };
}
