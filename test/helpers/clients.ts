/** Running the strict clients (PHP, PyMySQL, mysqltest, the mariadb CLI) for differential tests. */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** Where the client scripts live (test/clients in the source tree; dist/test is two levels below it). */
export const CLIENTS_DIR = join(__dirname, '..', '..', '..', 'test', 'clients');

/** The system Python with pymysql (the `python3` on PATH may be a pyenv shim without it). */
export const PYTHON = '/usr/bin/python3';

export interface ProcResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion (killed after `timeoutMs`). Never rejects for a non-zero exit. */
export function runProc(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number; cwd?: string } = {}): Promise<ProcResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

function ok(cmd: string, args: string[]): boolean {
  try {
    return spawnSync(cmd, args, { stdio: 'ignore', timeout: 20_000 }).status === 0;
  } catch {
    return false;
  }
}

/** Why a client cannot run here (with the Debian package that provides it), or null when it can. */
export function missingClient(name: 'php' | 'pymysql' | 'mysqltest' | 'mariadb'): string | null {
  switch (name) {
    case 'php':
      if (!ok('php', ['-v'])) return 'php not installed (Debian: php-cli php-mysql)';
      if (!ok('php', ['-r', 'exit(extension_loaded("pdo_mysql") && extension_loaded("mysqli") ? 0 : 1);'])) return 'php has no pdo_mysql/mysqli (Debian: php-mysql)';
      return null;
    case 'pymysql':
      return ok(PYTHON, ['-c', 'import pymysql']) ? null : `${PYTHON} cannot import pymysql (Debian: python3-pymysql)`;
    case 'mysqltest':
      return ok('mysqltest', ['--version']) ? null : 'mysqltest not installed (Debian: mariadb-test)';
    case 'mariadb':
      return ok('mariadb', ['--version']) ? null : 'mariadb CLI not installed (Debian: mariadb-client)';
  }
}
