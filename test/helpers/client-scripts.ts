/**
 * Runs the step scripts under test/clients/ (PyMySQL via /usr/bin/python3, PHP PDO via php) as child
 * processes, so regression tests can compare what strict third-party clients see directly and through
 * the proxy. Spawned asynchronously: the proxy usually runs in the test process, and a spawnSync
 * would block the event loop the proxy needs to answer.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';

export type ClientLang = 'python' | 'php';

/** Where one script connection goes. */
export interface StepConn {
  host?: string;
  port: number;
  user: string;
  password: string;
  db?: string | null;
  /** Enable multi-statements on this connection. */
  multi?: boolean;
}

/** One step; see test/clients/steps.py. */
export type Step =
  | { conn: string; open: true }
  | { conn: string; close: true }
  | { conn: string; sql: string; prepared?: boolean }
  | { pause: string };

/** What a script reported for one step. */
export interface StepResult {
  opened?: string;
  closed?: string;
  paused?: string;
  sets?: Array<{ rows?: (string | null)[][]; affected?: number }>;
  error?: { type: string; errno: number | null; sqlstate?: string | null; message: string };
  warnings?: string[];
}

const CLIENTS_DIR = path.resolve(__dirname, '../../../test/clients');

/**
 * Runs `steps` with the script for `lang`. At each pause step `onPause(label)` runs, then the script
 * continues. Rejects if the script fails or prints no RESULT line within `timeoutMs`.
 */
export function runClientSteps(
  lang: ClientLang,
  conns: Record<string, StepConn>,
  steps: Step[],
  onPause: (label: string) => Promise<void> = async () => undefined,
  timeoutMs = 60_000,
): Promise<StepResult[]> {
  const [cmd, script] = lang === 'python' ? ['/usr/bin/python3', 'steps.py'] : ['php', 'steps.php'];
  const spec = {
    conns: Object.fromEntries(Object.entries(conns).map(([k, c]) => [k, { host: '127.0.0.1', ...c }])),
    steps,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [path.join(CLIENTS_DIR, script)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let buf = '';
    let result: StepResult[] | null = null;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${lang} client did not finish within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`));
    }, timeoutMs);
    child.stdin.on('error', () => {});
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('PAUSE ')) {
          onPause(line.slice(6)).then(
            () => child.stdin.write('go\n'),
            (e: unknown) => {
              child.kill('SIGKILL');
              reject(e);
            },
          );
        } else if (line.startsWith('RESULT ')) {
          result = JSON.parse(line.slice(7)) as StepResult[];
        }
      }
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    // Resolved only once the process is gone, so its connections are closed when the test goes on.
    child.on('close', (code) => {
      clearTimeout(timer);
      if (result) resolve(result);
      else reject(new Error(`${lang} client exited with ${code} without a result\nstdout: ${out}\nstderr: ${err}`));
    });
    child.stdin.write(`${JSON.stringify(spec)}\n`);
  });
}

/** The rows of the first result set of a step, or its error as `ERR <errno>` (what tests compare). */
export function stepView(r: StepResult): unknown {
  if (r.error) return `ERR ${r.error.errno ?? r.error.type}`;
  if (r.sets) return r.sets.map((s) => (s.rows !== undefined ? s.rows : { affected: s.affected }));
  return r;
}

/** Clients the regression tests drive: mysql2 in-process, and the two scripts. */
export type AnyClient = 'mysql2' | ClientLang;

/**
 * The same step runner for mysql2 (in this process): `prepared` steps use `execute` (binary protocol),
 * others `query`. Results have the shape the scripts print, so transcripts compare across clients.
 * mysql2 reports a wrong sequence id as a 'warn' event; those land in `warnings`.
 */
export async function runMysql2Steps(
  conns: Record<string, StepConn>,
  steps: Step[],
  onPause: (label: string) => Promise<void> = async () => undefined,
): Promise<StepResult[]> {
  const mysql = (await import('mysql2/promise')).default;
  const open = new Map<string, import('mysql2/promise').Connection>();
  const out: StepResult[] = [];
  let warnings: string[] = [];
  try {
    for (const step of steps) {
      warnings = [];
      let r: StepResult;
      if ('pause' in step) {
        await onPause(step.pause);
        out.push({ paused: step.pause });
        continue;
      }
      try {
        if ('open' in step) {
          const c = conns[step.conn];
          const conn = await mysql.createConnection({
            host: c.host ?? '127.0.0.1', port: c.port, user: c.user, password: c.password,
            database: c.db ?? undefined, multipleStatements: !!c.multi, connectTimeout: 10_000,
          });
          conn.on('error', () => {});
          (conn as unknown as { connection: { on(e: string, f: (err: Error) => void): void } }).connection.on('warn', (e) => warnings.push(e.message));
          open.set(step.conn, conn);
          r = { opened: step.conn };
        } else if ('close' in step) {
          const conn = open.get(step.conn);
          open.delete(step.conn);
          await conn?.end().catch(() => conn.destroy());
          r = { closed: step.conn };
        } else {
          const conn = open.get(step.conn);
          if (!conn) throw new Error(`connection ${step.conn} is not open`);
          const [res] = step.prepared ? await conn.execute(step.sql) : await conn.query(step.sql);
          r = { sets: mysql2Sets(res) };
        }
      } catch (e) {
        const x = e as { errno?: number; sqlState?: string; code?: string; message: string; fatal?: boolean };
        r = { error: { type: x.fatal ? `fatal ${x.code}` : String(x.code), errno: x.errno ?? null, sqlstate: x.sqlState ?? null, message: x.message } };
      }
      if (warnings.length) r.warnings = warnings;
      out.push(r);
    }
  } finally {
    for (const c of open.values()) c.destroy();
  }
  return out;
}

function mysql2Sets(res: unknown): NonNullable<StepResult['sets']> {
  const one = (x: unknown): { rows?: (string | null)[][]; affected?: number } => {
    if (Array.isArray(x)) {
      return { rows: x.map((row) => Object.values(row as Record<string, unknown>).map((v) => (v === null ? null : Buffer.isBuffer(v) ? v.toString('utf8') : String(v)))) };
    }
    return { affected: (x as { affectedRows: number }).affectedRows };
  };
  // A multi-result answer is an array whose items are row arrays or OK headers.
  if (Array.isArray(res) && res.length > 0 && (Array.isArray(res[0]) || (res[0] as object)?.constructor?.name === 'ResultSetHeader')) {
    return res.map(one);
  }
  return [one(res)];
}

/** Runs steps with any of the three clients. */
export function runSteps(
  client: AnyClient,
  conns: Record<string, StepConn>,
  steps: Step[],
  onPause?: (label: string) => Promise<void>,
): Promise<StepResult[]> {
  return client === 'mysql2' ? runMysql2Steps(conns, steps, onPause) : runClientSteps(client, conns, steps, onPause);
}
