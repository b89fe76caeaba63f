import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { ConfigDiff, diffConfigs, formatDiff, isEmptyDiff } from './diff';
import { appendHistory, HistoryEntry, historyPath, readHistory, writeFileAtomic } from './history';
import { ConfigError, ConfigProblem, formatProblem, parseConfig } from './load';
import type { Config } from './types';

/** The running config: an immutable snapshot and its version. */
export interface ConfigSnapshot {
  readonly version: number;
  readonly config: Config;
  /** SHA-256 of the YAML text it was parsed from ('' when built in memory). */
  readonly hash: string;
  readonly appliedAt: string;
  readonly source: string;
}

/** Outcome of a reload or rollback. */
export type ReloadResult =
  | { readonly ok: true; readonly changed: boolean; readonly version: number; readonly diff: readonly string[]; readonly restartRequired: readonly string[] }
  | { readonly ok: false; readonly version: number; readonly error: string; readonly problems: readonly ConfigProblem[] };

/** Called synchronously with the new snapshot right after the swap (the proxy rebuilds users and pools). */
export type SwapListener = (next: ConfigSnapshot, prev: ConfigSnapshot, diff: ConfigDiff) => void;

export function textHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Holds the current config snapshot and swaps it on reload. A reload validates the whole file
 * first (the same parser and messages as `check-config`); an invalid file changes nothing. A valid
 * one becomes the current snapshot in one synchronous step, so a statement reads either the old
 * snapshot or the new one, never a mix. Every applied change is appended to the history file.
 */
export class ConfigStore {
  private snap: ConfigSnapshot;
  private readonly listeners: SwapListener[] = [];
  private readonly resultListeners: ((r: 'applied' | 'unchanged' | 'refused') => void)[] = [];
  private watcher: fs.FSWatcher | null = null;
  private watchTimer: NodeJS.Timeout | null = null;
  private readonly firstHistoryDir: string | undefined;

  /**
   * @param file the config file (null: a config built in memory; reload from file is then refused)
   * @param initial the parsed config and the text it came from
   */
  constructor(
    readonly file: string | null,
    initial: { config: Config; text?: string },
    /** Where reloads are logged (settable: the CLI makes its logger from the config it loads). */
    public log?: Logger,
  ) {
    this.firstHistoryDir = initial.config.historyDir;
    const hash = initial.text !== undefined ? textHash(initial.text) : '';
    let version = 1;
    if (file !== null && initial.text !== undefined) {
      const hist = readHistory(this.historyFile as string);
      const last = hist[hist.length - 1];
      if (last && last.hash === hash) version = last.version;
      else {
        version = (last?.version ?? 0) + 1;
        const prevConfig = last ? this.tryParse(last.text) : null;
        const diff = prevConfig ? formatDiff(diffConfigs(prevConfig, initial.config)) : ['(first version)'];
        appendHistory(this.historyFile as string, { version, time: new Date().toISOString(), source: 'start', hash, diff, text: initial.text });
      }
    }
    this.snap = { version, config: initial.config, hash, appliedAt: new Date().toISOString(), source: 'start' };
  }

  /** Reads and parses `file`; throws ConfigError like loadConfig. */
  static open(file: string, log?: Logger): ConfigStore {
    const text = readConfigText(file);
    return new ConfigStore(file, { config: parseConfig(text, file, { baseDir: path.dirname(path.resolve(file)) }), text }, log);
  }

  get current(): ConfigSnapshot {
    return this.snap;
  }

  get version(): number {
    return this.snap.version;
  }

  /** The history file, or null for an in-memory config. */
  get historyFile(): string | null {
    if (this.file === null) return null;
    // Read before the first snapshot exists, during construction.
    return historyPath(this.file, this.snap ? this.snap.config.historyDir : this.firstHistoryDir);
  }

  onSwap(fn: SwapListener): void {
    this.listeners.push(fn);
  }

  /** Hears every reload outcome: applied, unchanged or refused (metrics). */
  onResult(fn: (result: 'applied' | 'unchanged' | 'refused') => void): void {
    this.resultListeners.push(fn);
  }

  /** Re-reads the config file and applies it if valid. `source`: signal, file, api:<token>. */
  reload(source: string): ReloadResult {
    if (this.file === null) return this.fail(source, 'this proxy was started without a config file', []);
    let text: string;
    try {
      text = readConfigText(this.file);
    } catch (e) {
      return this.failFrom(source, e);
    }
    return this.applyText(text, source);
  }

  /** Validates `text` in full and, if valid and different, swaps it in and records it. */
  applyText(text: string, source: string): ReloadResult {
    let config: Config;
    try {
      config = parseConfig(text, this.file ?? '<config>', { baseDir: this.file ? path.dirname(path.resolve(this.file)) : process.cwd() });
    } catch (e) {
      return this.failFrom(source, e);
    }
    return this.swap(config, textHash(text), text, source);
  }

  /** Swaps in a config built in memory (tests, embedding); no history is written for it. */
  applyConfig(config: Config, source: string): ReloadResult {
    return this.swap(config, '', undefined, source);
  }

  /**
   * Re-applies the snapshot of an earlier version through the same validation, and writes its text
   * back to the config file so that the next reload does not undo the rollback.
   */
  rollback(version: number, source: string): ReloadResult {
    const file = this.historyFile;
    if (file === null) return this.fail(source, 'no config history: this proxy was started without a config file', []);
    const entry = readHistory(file).find((e) => e.version === version);
    if (!entry) return this.fail(source, `no version ${version} in ${file}`, []);
    const r = this.applyText(entry.text, `rollback:${version} by ${source}`);
    if (r.ok && this.file !== null) writeFileAtomic(this.file, entry.text);
    return r;
  }

  /** Reload when the file changes (debounced: editors write in several steps). */
  watch(): void {
    if (this.file === null || this.watcher) return;
    const dir = path.dirname(path.resolve(this.file));
    const base = path.basename(this.file);
    // Watching the directory also sees an editor's rename-over-the-file.
    this.watcher = fs.watch(dir, (_ev, name) => {
      if (name !== base) return;
      if (this.watchTimer) clearTimeout(this.watchTimer);
      this.watchTimer = setTimeout(() => {
        this.watchTimer = null;
        if (this.file && fs.existsSync(this.file) && textHash(readConfigText(this.file)) !== this.snap.hash) this.reload('file');
      }, 200);
    });
    this.watcher.unref();
  }

  close(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.watchTimer) clearTimeout(this.watchTimer);
  }

  private swap(config: Config, hash: string, text: string | undefined, source: string): ReloadResult {
    const prev = this.snap;
    const diff = diffConfigs(prev.config, config);
    if ((hash !== '' && hash === prev.hash) || isEmptyDiff(diff)) {
      this.log?.info({ source, version: prev.version }, 'config reload: no change');
      for (const fn of this.resultListeners) fn('unchanged');
      return { ok: true, changed: false, version: prev.version, diff: [], restartRequired: [] };
    }
    const next: ConfigSnapshot = { version: prev.version + 1, config, hash, appliedAt: new Date().toISOString(), source };
    const lines = formatDiff(diff);
    this.snap = next;
    for (const fn of this.listeners) fn(next, prev, diff);
    const hist = this.historyFile;
    if (hist !== null && text !== undefined) {
      const e: HistoryEntry = { version: next.version, time: next.appliedAt, source, hash, diff: lines, text };
      try {
        appendHistory(hist, e);
      } catch (err) {
        this.log?.error({ err: (err as Error).message, file: hist }, 'config history: append failed (the new config is applied)');
      }
    }
    this.log?.info({ source, version: next.version, from: prev.version, diff: lines }, 'config reloaded');
    for (const fn of this.resultListeners) fn('applied');
    return { ok: true, changed: true, version: next.version, diff: lines, restartRequired: diff.restartRequired };
  }

  private failFrom(source: string, e: unknown): ReloadResult {
    if (e instanceof ConfigError) {
      return this.fail(source, `${e.sourceName}: ${e.problems.length} problem${e.problems.length === 1 ? '' : 's'}`, e.problems);
    }
    return this.fail(source, (e as Error).message, []);
  }

  private fail(source: string, error: string, problems: readonly ConfigProblem[]): ReloadResult {
    this.log?.error({ source, version: this.snap.version, error, problems: problems.map(formatProblem) }, 'config reload refused; the running config is unchanged');
    for (const fn of this.resultListeners) fn('refused');
    return { ok: false, version: this.snap.version, error, problems };
  }

  private tryParse(text: string): Config | null {
    try {
      return parseConfig(text, this.file ?? '<config>', { baseDir: this.file ? path.dirname(path.resolve(this.file)) : process.cwd() });
    } catch {
      return null;
    }
  }
}

/** The config file's text; a missing or unreadable file is a ConfigError like loadConfig's. */
export function readConfigText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'file not found' : err.code === 'EACCES' ? 'permission denied' : err.message;
    throw new ConfigError(file, [{ path: '', message: `cannot read config: ${why}` }]);
  }
}
