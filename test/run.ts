/**
 * Test runner behind `npm test`: runs uvu over the compiled unit tests, then the integration tests,
 * and ends with one line `N passed, N failed` that CI reads.
 *
 * Usage: node dist/test/run.js [--random] [filter]   (filter: only test files whose path contains it)
 * --random runs test/random instead (`npm run test:random`: the randomized tests for any seed and length;
 * `npm test` runs fixed seeds of them from test/integration).
 * TEST_TIMEOUT_MS bounds each uvu run (default 15 min); a run that hangs is terminated and fails.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { installHint, mariadbdPath } from './helpers/mariadb';

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

const distTest = __dirname;
// uvu's package exports do not expose bin.js; it sits next to dist/ in the package root.
const uvuBin = path.join(path.dirname(require.resolve('uvu')), '..', 'bin.js');
const timeoutMs = Number(process.env.TEST_TIMEOUT_MS) || 15 * 60_000;

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** uvu matches this against each file's path relative to the group directory. */
function filePattern(filter: string | undefined): string {
  return filter ? `^(?=.*${escapeRegex(filter)}).*\\.test\\.js$` : '\\.test\\.js$';
}

function listFiles(dir: string, pattern: RegExp, rel = ''): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const name = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) return listFiles(path.join(dir, entry.name), pattern, name);
    return pattern.test(name) ? [name] : [];
  });
}

/** Run one uvu process over dir, echoing its output, and count results from its summary. */
function runGroup(dir: string, pattern: string): Promise<Counts> {
  const args = [uvuBin, dir, pattern];
  if (!process.stdout.isTTY) args.push('--no-color');
  const child = spawn(process.execPath, args, { stdio: ['inherit', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    out += chunk.toString('utf8');
  });
  const timer = setTimeout(() => {
    console.error(`\n[run] ${dir} did not finish within ${timeoutMs} ms; terminating it`);
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  }, timeoutMs);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // eslint-disable-next-line no-control-regex
      const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
      // Each suite ends with "(passed / total)". Summing those instead of reading uvu's final
      // "Total:" block still counts the suites that ran when a throwing after hook aborts uvu.
      let passed = 0;
      let failed = 0;
      for (const m of plain.matchAll(/\((\d+) \/ (\d+)\)\s*$/gm)) {
        passed += Number(m[1]);
        failed += Number(m[2]) - Number(m[1]);
      }
      const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
      // A throwing before hook shows only as tests not passed (exit code 0). A run that died before
      // its summary (after-hook error, timeout, crash) counts one more failure for what never ran.
      const ended = signal ?? `exit code ${code}`;
      if (!/Total:\s+\d+/.test(plain)) {
        failed += 1;
        console.error(`[run] uvu over ${dir} stopped before its summary (${ended}); later suites did not run`);
      } else if (code !== 0 && failed === 0) {
        failed = 1;
        console.error(`[run] uvu over ${dir} ended with ${ended} although every counted test passed`);
      }
      resolve({ passed, failed, skipped });
    });
  });
}

async function main(): Promise<void> {
  const random = process.argv[2] === '--random';
  const filter = process.argv[random ? 3 : 2];
  if (!mariadbdPath()) {
    const bar = '='.repeat(72);
    console.error(`${bar}\nCannot run the integration tests: mariadbd is not installed.\n\n${installHint()}\n${bar}`);
    process.exit(1);
  }
  const pattern = filePattern(filter);
  const totals: Counts = { passed: 0, failed: 0, skipped: 0 };
  let ranFiles = 0;
  for (const group of random ? ['random'] : ['unit', 'integration']) {
    const dir = path.join(distTest, group);
    const files = listFiles(dir, new RegExp(pattern, 'i'));
    if (files.length === 0) continue;
    ranFiles += files.length;
    const counts = await runGroup(dir, pattern);
    totals.passed += counts.passed;
    totals.failed += counts.failed;
    totals.skipped += counts.skipped;
  }
  if (ranFiles === 0) {
    console.error(`[run] no compiled test files${filter ? ` matching '${filter}'` : ''} under ${distTest}`);
    totals.failed += 1;
  }
  if (totals.skipped) console.log(`${totals.skipped} skipped`);
  console.log(`${totals.passed} passed, ${totals.failed} failed`);
  process.exitCode = totals.failed > 0 ? 1 : 0;
}

void main();
