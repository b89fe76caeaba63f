/**
 * Operator commands of the `tenantgate` CLI: config history/diff/rollback, hash-token, top.
 * Kept apart from cli.ts so that file stays about starting the proxy.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { diffConfigs, formatDiff } from './config/diff';
import { historyPath, readHistory, writeFileAtomic } from './config/history';
import { ConfigError, formatProblem, parseConfig } from './config/load';
import { readConfigText } from './config/store';

type UsageError = (message: string) => number;

function opt(args: string[], long: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === long) return args[i + 1];
    if (args[i]!.startsWith(long + '=')) return args[i]!.slice(long.length + 1);
  }
  return undefined;
}

/** Positional arguments (not options or their values). */
function positional(args: string[], withValue: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (withValue.includes(a)) i++;
    else if (!a.startsWith('-')) out.push(a);
  }
  return out;
}

/** `hash-token TOKEN`: the admin.tokens token_hash line. */
export function hashToken(token: string): number {
  if (token === '') {
    process.stderr.write('tenantgate: an empty token is not allowed\n');
    return 1;
  }
  process.stdout.write(`token_hash: ${createHash('sha256').update(token).digest('hex')}\n`);
  return 0;
}

/** The history file for `--config FILE`, with history.dir honoured when the file parses. */
function historyFileFor(file: string): string {
  try {
    const c = parseConfig(readConfigText(file), file, { baseDir: path.dirname(path.resolve(file)) });
    return historyPath(file, c.historyDir);
  } catch {
    return historyPath(file);
  }
}

/** `config history|diff|rollback`. */
export async function configCommand(args: string[], usage: UsageError): Promise<number> {
  const file = opt(args, '--config') ?? opt(args, '-c');
  const [sub, ...pos] = positional(args, ['--config', '-c', '--admin']);
  if (!file) return usage('config commands need --config FILE');
  const hist = readHistory(historyFileFor(file));
  const entry = (v: string | undefined) => hist.find((e) => String(e.version) === v);
  switch (sub) {
    case 'history': {
      if (hist.length === 0) process.stdout.write(`no history yet (${historyFileFor(file)})\n`);
      for (const e of hist) {
        process.stdout.write(`${e.version}\t${e.time}\t${e.source}\t${e.diff.length} change${e.diff.length === 1 ? '' : 's'}\n`);
        for (const d of e.diff) process.stdout.write(`\t${d}\n`);
      }
      return 0;
    }
    case 'diff': {
      const [a, b] = pos;
      if (!a || !b) return usage('config diff needs two versions');
      const ea = entry(a);
      const eb = entry(b);
      if (!ea || !eb) {
        process.stderr.write(`tenantgate: no version ${!ea ? a : b} in the history\n`);
        return 1;
      }
      const base = path.dirname(path.resolve(file));
      const lines = formatDiff(diffConfigs(parseConfig(ea.text, `v${a}`, { baseDir: base }), parseConfig(eb.text, `v${b}`, { baseDir: base })));
      process.stdout.write(lines.length ? lines.join('\n') + '\n' : 'no difference\n');
      return 0;
    }
    case 'rollback': {
      const v = pos[0];
      if (!v || !/^\d+$/.test(v)) return usage('config rollback needs a VERSION number');
      const admin = opt(args, '--admin');
      if (admin) return rollbackViaAdmin(admin, Number(v));
      if (!args.includes('--offline')) return usage('config rollback needs --admin URL (running proxy) or --offline');
      const e = entry(v);
      if (!e) {
        process.stderr.write(`tenantgate: no version ${v} in the history\n`);
        return 1;
      }
      try {
        parseConfig(e.text, `version ${v}`, { baseDir: path.dirname(path.resolve(file)) });
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        process.stderr.write(`tenantgate: version ${v} no longer validates:\n${err.problems.map(formatProblem).join('\n')}\n`);
        return 1;
      }
      writeFileAtomic(file, e.text);
      process.stdout.write(`${file}: now holds version ${v}; a running proxy applies it on SIGHUP\n`);
      return 0;
    }
    default:
      return usage('config needs history, diff or rollback');
  }
}

async function adminFetch(base: string, p: string, method = 'GET'): Promise<{ status: number; body: unknown }> {
  const token = process.env.TENANTGATE_ADMIN_TOKEN;
  const res = await fetch(new URL(p, base), { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body };
}

async function rollbackViaAdmin(base: string, version: number): Promise<number> {
  const r = await adminFetch(base, `/config/rollback/${version}`, 'POST');
  process.stdout.write(JSON.stringify(r.body, null, 2) + '\n');
  return r.status === 200 ? 0 : 1;
}

interface DigestRow {
  tenant: string;
  digest: string;
  count: number;
  errors: number;
  sumTimeUs: number;
}

/** `top --admin URL [--interval S] [--once]`: busiest tenants and digests, refreshed. */
export async function topCommand(args: string[], usage: UsageError): Promise<number> {
  const base = opt(args, '--admin');
  if (!base) return usage('top needs --admin URL');
  const interval = Number(opt(args, '--interval') ?? '2') * 1000;
  const once = args.includes('--once');
  for (;;) {
    const r = await adminFetch(base, '/digests?sort=sum_time&limit=1000');
    if (r.status !== 200) {
      process.stderr.write(`tenantgate: ${base}/digests: HTTP ${r.status} ${JSON.stringify(r.body)}\n`);
      return 1;
    }
    const rows = (r.body as { digests: DigestRow[] }).digests;
    const tenants = new Map<string, { count: number; errors: number; us: number }>();
    for (const d of rows) {
      const t = tenants.get(d.tenant) ?? { count: 0, errors: 0, us: 0 };
      t.count += d.count;
      t.errors += d.errors;
      t.us += d.sumTimeUs;
      tenants.set(d.tenant, t);
    }
    const out: string[] = [];
    if (!once) out.push('\x1b[2J\x1b[H');
    out.push(`tenantgate top — ${new Date().toISOString()} — ${base}`, '', 'TENANT                   STATEMENTS    ERRORS   TOTAL ms');
    for (const [name, t] of [...tenants].sort((a, b) => b[1].us - a[1].us).slice(0, 10)) {
      out.push(`${name.padEnd(24).slice(0, 24)} ${String(t.count).padStart(10)} ${String(t.errors).padStart(9)} ${(t.us / 1000).toFixed(1).padStart(10)}`);
    }
    out.push('', 'TENANT           COUNT   TOTAL ms  DIGEST');
    for (const d of rows.slice(0, 15)) {
      out.push(`${d.tenant.padEnd(16).slice(0, 16)} ${String(d.count).padStart(6)} ${(d.sumTimeUs / 1000).toFixed(1).padStart(10)}  ${d.digest.slice(0, 80)}`);
    }
    process.stdout.write(out.join('\n') + '\n');
    if (once) return 0;
    await new Promise((res) => setTimeout(res, interval));
  }
}
