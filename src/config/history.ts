import * as fs from 'node:fs';
import * as path from 'node:path';

/** One applied config change, a line of the history JSONL file. */
export interface HistoryEntry {
  /** Config version, counting up from 1 over the life of the history file. */
  readonly version: number;
  /** ISO time it was applied. */
  readonly time: string;
  /** What applied it: `start`, `signal`, `file`, `api:<token name>`, `rollback:<version> by ...`. */
  readonly source: string;
  /** SHA-256 of the YAML text. */
  readonly hash: string;
  /** Readable diff from the previous version (see formatDiff). */
  readonly diff: readonly string[];
  /**
   * The full YAML text, so that rollback and replay reproduce the snapshot exactly. It holds the
   * same secrets as the config file, so the history file is created with mode 0600.
   */
  readonly text: string;
}

/** Where the history of `configFile` lives: `<dir>/<config base name>.history.jsonl`. */
export function historyPath(configFile: string, dir?: string): string {
  const abs = path.resolve(configFile);
  return path.join(dir ?? path.dirname(abs), `${path.basename(abs)}.history.jsonl`);
}

/**
 * Every entry of a history file, oldest first; [] when there is none. A torn last line (a crash
 * mid-append) is ignored: the entries before it are intact, since the file is only appended to.
 */
export function readHistory(file: string): HistoryEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: HistoryEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as HistoryEntry);
    } catch (e) {
      if (i >= lines.length - 2) break; // the last, unfinished line
      throw new Error(`${file}:${i + 1}: not a history entry: ${(e as Error).message}`);
    }
  }
  return out;
}

/** Appends one entry (one write call, one line). */
export function appendHistory(file: string, e: HistoryEntry): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, JSON.stringify(e) + '\n', { mode: 0o600 });
}

/** Replaces a file's contents atomically (write a temp file beside it, then rename). */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  let mode = 0o600;
  try {
    mode = fs.statSync(file).mode & 0o777;
  } catch {
    // new file
  }
  fs.writeFileSync(tmp, text, { mode });
  fs.renameSync(tmp, file);
}
