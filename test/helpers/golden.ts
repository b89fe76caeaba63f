/**
 * Golden JSON fixtures, as Vitess's planbuilder tests keep them: cases are read from
 * test/fixtures/NAME.json (in the source tree), unknown fields are rejected, and when any case
 * differs the whole file is written with the actual values next to it as NAME.actual.json, so a
 * reviewed change is one `cp` (and a `diff` shows what changed).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Absolute path of test/fixtures/NAME in the source tree (tests run from dist/). */
export function fixturePath(name: string): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const p = path.join(dir, 'test', 'fixtures', name);
    if (fs.existsSync(p)) return p;
    if (path.dirname(dir) === dir) throw new Error(`fixture ${name} not found above ${__dirname}`);
  }
}

export function readCases<T extends object>(name: string, allowedKeys: readonly string[], requiredKeys: readonly string[]): T[] {
  const cases = JSON.parse(fs.readFileSync(fixturePath(name), 'utf8')) as T[];
  if (!Array.isArray(cases)) throw new Error(`${name}: expected a JSON array`);
  cases.forEach((c, i) => {
    for (const k of Object.keys(c)) if (!allowedKeys.includes(k)) throw new Error(`${name}[${i}]: unknown field "${k}" (allowed: ${allowedKeys.join(', ')})`);
    for (const k of requiredKeys) if (!(k in c)) throw new Error(`${name}[${i}]: missing field "${k}"`);
  });
  return cases;
}

/** Writes NAME.actual.json beside the fixture; returns its path. */
export function writeActual(name: string, cases: readonly object[]): string {
  const p = fixturePath(name).replace(/\.json$/, '.actual.json');
  fs.writeFileSync(p, JSON.stringify(cases, null, 1) + '\n');
  return p;
}

/** Removes a stale NAME.actual.json after a clean run. */
export function removeActual(name: string): void {
  const p = fixturePath(name).replace(/\.json$/, '.actual.json');
  if (fs.existsSync(p)) fs.rmSync(p);
}

/** Deterministic deep equality for JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}
