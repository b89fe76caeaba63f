/**
 * Child processes of the bench (proxies, idle client) and their cleanup. Every child is registered so
 * that an error, Ctrl-C or a normal exit kills exactly the processes this run started, nothing else.
 */
import { ChildProcess, spawn, SpawnOptions } from 'node:child_process';
import { connect, createServer } from 'node:net';

/** A spawned child with the tail of its output kept for error messages. */
export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Last lines of stdout+stderr, newest last. */
  readonly tail: string[];
  exited: boolean;
  exitDescription?: string;
}

const live = new Set<Child>();
const TAIL_LINES = 30;

function keepTail(child: Child, chunk: Buffer): void {
  for (const line of chunk.toString('utf8').split('\n')) {
    if (line.trim() === '') continue;
    child.tail.push(line.length > 4000 ? line.slice(0, 4000) + '…' : line);
    if (child.tail.length > TAIL_LINES) child.tail.shift();
  }
}

/**
 * Spawns and registers a child. stdout/stderr are drained into `tail` unless `onStdout` takes stdout
 * (a child that blocks on a full pipe would distort its CPU numbers).
 */
export function startChild(
  name: string,
  command: string,
  args: readonly string[],
  opts: SpawnOptions & { onStdout?: (chunk: Buffer) => void } = {},
): Child {
  const { onStdout, ...spawnOpts } = opts;
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOpts });
  if (proc.pid === undefined) throw new Error(`${name}: spawn of ${command} failed`);
  const child: Child = { name, proc, pid: proc.pid, tail: [], exited: false };
  live.add(child);
  proc.stdout?.on('data', (c: Buffer) => {
    keepTail(child, c);
    onStdout?.(c);
  });
  proc.stderr?.on('data', (c: Buffer) => keepTail(child, c));
  proc.on('error', (err) => {
    child.exited = true;
    child.exitDescription = `spawn error: ${err.message}`;
    live.delete(child);
  });
  proc.on('exit', (code, signal) => {
    child.exited = true;
    child.exitDescription = signal ? `killed by ${signal}` : `exited with code ${code}`;
    live.delete(child);
  });
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child is gone. */
export function stopChild(child: Child, graceMs = 3000): Promise<void> {
  if (child.exited) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      try {
        child.proc.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }, graceMs);
    child.proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      child.proc.kill('SIGTERM');
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

/** Kills every registered child that is still running (used on exit paths). */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...live].map((c) => stopChild(c, 2000)));
}

/** Synchronous last resort for process 'exit': SIGKILL whatever is still registered. */
export function killAllChildrenSync(): void {
  for (const c of live) {
    try {
      c.proc.kill('SIGKILL');
    } catch {
      /* ignore */
    }
  }
}

/** One TCP connect attempt; resolves true if the port accepted it. */
function tryConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean): void => {
      s.removeAllListeners();
      s.on('error', () => undefined);
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Waits until `port` accepts TCP connections; throws if the child exits first or on timeout. */
export async function waitForPort(child: Child, host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exited) {
      throw new Error(`${child.name} ${child.exitDescription ?? 'exited'} before listening; last output: ${lastOutput(child)}`);
    }
    if (await tryConnect(host, port)) return;
    if (Date.now() > deadline) throw new Error(`${child.name} did not accept connections on ${host}:${port} within ${timeoutMs} ms; last output: ${lastOutput(child)}`);
    await sleep(100);
  }
}

/**
 * A short reason from a child's last output: for JSON log lines (pino) the error message or msg of
 * the last line that has one, else the last plain lines. One line, at most 240 characters.
 */
export function lastOutput(child: Child, lines = 3): string {
  for (let i = child.tail.length - 1; i >= 0; i--) {
    const line = child.tail[i]!;
    if (!line.startsWith('{')) continue;
    try {
      const j = JSON.parse(line) as { msg?: unknown; err?: { message?: unknown } };
      const m = typeof j.err?.message === 'string' ? j.err.message : typeof j.msg === 'string' ? j.msg : undefined;
      if (m) return clip(m.split('\n')[0]!);
    } catch {
      // a truncated JSON line: fall through to plain text
    }
  }
  const t = child.tail.slice(-lines).join(' | ');
  return t === '' ? '(no output)' : clip(t);
}

function clip(s: string, n = 240): string {
  return s.length > n ? s.slice(0, n) + '…' : s;
}

/** A free TCP port on 127.0.0.1 (bind to 0, read it back, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
