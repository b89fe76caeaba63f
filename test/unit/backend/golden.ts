/** Golden-file helpers for backend decision tests: fixtures read from the source tree, actuals written beside them on failure. */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Path of test/fixtures/<name> in the source tree (tests run from dist/). */
export function fixturePath(name: string): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const p = path.join(dir, 'test', 'fixtures', name);
    if (fs.existsSync(p)) return p;
    if (path.dirname(dir) === dir) throw new Error(`fixture ${name} not found above ${__dirname}`);
  }
}

/** Reads a JSON fixture. */
export function readFixture<T>(name: string): T {
  return JSON.parse(fs.readFileSync(fixturePath(name), 'utf8')) as T;
}

/**
 * Writes what the code produced next to the fixture (`<name>.actual.json`), so a failing golden
 * test can be inspected with a diff and, if the change is intended, copied over the fixture.
 * Returns the path written.
 */
export function writeActual(name: string, actual: unknown): string {
  const p = fixturePath(name).replace(/\.json$/, '.actual.json');
  fs.writeFileSync(p, formatGolden(actual));
  return p;
}

/**
 * The fixtures' layout: one case per line, except that a case's arrays of objects (a sequence of
 * steps) get one element per line, so a diff points at the step that changed.
 */
export function formatGolden(cases: unknown): string {
  if (!Array.isArray(cases)) return JSON.stringify(cases, null, 2) + '\n';
  const one = (c: unknown): string => {
    if (c === null || typeof c !== 'object' || Array.isArray(c)) return '  ' + JSON.stringify(c);
    const parts = Object.entries(c).map(([k, v]) =>
      Array.isArray(v) && v.some((x) => x !== null && typeof x === 'object')
        ? `${JSON.stringify(k)}: [\n    ${v.map((x) => JSON.stringify(x)).join(',\n    ')}\n  ]`
        : `${JSON.stringify(k)}: ${JSON.stringify(v)}`,
    );
    return `  {${parts.join(', ')}}`;
  };
  return `[\n${cases.map(one).join(',\n')}\n]\n`;
}

/** Rejects keys a case may not have (a typo in a fixture must not silently test nothing). */
export function checkKeys(what: string, obj: object, allowed: readonly string[]): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) throw new Error(`${what}: unknown field '${k}' (allowed: ${allowed.join(', ')})`);
}
