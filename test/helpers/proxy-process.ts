/**
 * The proxy as a child process (`tenantgate start --config FILE`), for tests and scripts that must
 * survive it crashing: the fuzzer checks it is alive, reads its RSS from /proc, and restarts it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildProxyYaml, type StartProxyOpts } from './proxy';

const CLI = path.resolve(__dirname, '../../src/cli.js');

export interface ProxyProcess {
  readonly pid: number;
  readonly port: number;
  /** null while running; the exit code or signal once it ended. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
  alive(): boolean;
  /** Resident set size in KiB (from /proc), or null when the process is gone. */
  rssKb(): number | null;
  /**
   * The resident set split (KiB, from /proc/PID/smaps_rollup): `anon` (heaps, V8 and malloc, stacks)
   * and `file` (the mapped node binary and libraries, constant), or null when the process is gone.
   */
  rssSplitKb(): { rss: number; anon: number; file: number } | null;
  /** The last 64 KiB of stdout + stderr (logs, a crash's stack trace). */
  output(): string;
  /**
   * Sends SIGUSR2 and resolves the proxy's "memory" log line (process.memoryUsage() and the sizes of its
   * long-lived maps, after a full GC when started with `exposeGc`), or null if none came within 5 s.
   */
  memory(): Promise<Record<string, number> | null>;
  /** SIGTERM, then SIGKILL after 10 s; resolves when it has exited. Removes the config dir. */
  stop(): Promise<void>;
}

/** Starts the compiled CLI with a config built like startProxy's; resolves once it listens. */
export async function startProxyProcess(opts: StartProxyOpts, proc: { exposeGc?: boolean; nodeArgs?: readonly string[] } = {}): Promise<ProxyProcess> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-proc-'));
  const file = path.join(dir, 'config.yaml');
  // The "listening" line is an info log; keep info so the port can be read from it.
  fs.writeFileSync(file, buildProxyYaml({ ...opts, logLevel: opts.logLevel ?? 'info' }));
  const child: ChildProcess = spawn(process.execPath, [...(proc.exposeGc ? ['--expose-gc'] : []), ...(proc.nodeArgs ?? []), CLI, 'start', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let memoryWaiter: ((line: string) => void) | null = null;
  const keep = (d: Buffer) => {
    const text = d.toString('utf8');
    if (memoryWaiter !== null && text.includes('"msg":"memory"')) {
      const line = text.split('\n').find((l) => l.includes('"msg":"memory"'));
      if (line) memoryWaiter(line);
    }
    out += text;
    if (out.length > 128 * 1024) out = out.slice(-64 * 1024);
  };
  child.stderr?.on('data', keep);
  const handle: ProxyProcess = {
    pid: child.pid as number,
    port: 0,
    exit: null,
    alive: () => handle.exit === null,
    rssKb() {
      try {
        const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${handle.pid}/status`, 'utf8'));
        return m ? Number(m[1]) : null;
      } catch {
        return null;
      }
    },
    rssSplitKb() {
      try {
        const text = fs.readFileSync(`/proc/${handle.pid}/smaps_rollup`, 'utf8');
        const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
        const rss = kb('Rss');
        const anon = kb('Anonymous');
        return Number.isFinite(rss) && Number.isFinite(anon) ? { rss, anon, file: rss - anon } : null;
      } catch {
        return null;
      }
    },
    output: () => out.slice(-64 * 1024),
    memory() {
      if (handle.exit !== null) return Promise.resolve(null);
      return new Promise((resolve) => {
        const t = setTimeout(() => {
          memoryWaiter = null;
          resolve(null);
        }, 5000);
        memoryWaiter = (line) => {
          clearTimeout(t);
          memoryWaiter = null;
          try {
            resolve(JSON.parse(line) as Record<string, number>);
          } catch {
            resolve(null);
          }
        };
        child.kill('SIGUSR2');
      });
    },
    async stop() {
      if (handle.exit === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  const exited = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      handle.exit = { code, signal };
      resolve();
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`proxy did not start within 20 s:\n${out}`)), 20_000);
    child.stdout?.on('data', (d: Buffer) => {
      keep(d);
      const m = /"port":(\d+)[^\n]*tenantgate listening/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    void exited.then(() => {
      clearTimeout(t);
      reject(new Error(`proxy exited during start (${JSON.stringify(handle.exit)}):\n${out}`));
    });
  });
  (handle as { port: number }).port = port;
  return handle;
}
