/** uvu glue for suites that need real MariaDB servers. */
import { suite, type Test } from 'uvu';
import { installHint, mariadbdPath } from './mariadb';

/**
 * A uvu suite for integration tests. When mariadbd is not installed every test (and hook) of the
 * suite is skipped and the reason is printed once, so unit tests still run on such machines.
 * Errors thrown by `before`/`after` hooks are printed: uvu itself swallows them silently.
 */
export function integrationSuite<T extends Record<string, any> = Record<string, any>>(name: string): Test<T> {
  const s = suite<T>(name);
  const reportHookErrors = (register: (fn: any) => void, hook: string) => (fn: (ctx: any) => unknown) =>
    register(async (ctx: any) => {
      try {
        await fn(ctx);
      } catch (err) {
        console.error(`\n[${name}] ${hook} hook failed:`, err);
        throw err;
      }
    });
  const before = s.before;
  const after = s.after;
  s.before = Object.assign(reportHookErrors(before, 'before'), { each: before.each });
  s.after = Object.assign(reportHookErrors(after, 'after'), { each: after.each });
  if (mariadbdPath()) return s;

  console.error(`[${name}] SKIPPED: mariadbd not found.\n${installHint()}`);
  const noop = Object.assign(() => undefined, { each: () => undefined });
  const skipped = Object.assign((testName: string) => s.skip(testName), {
    only: s.skip,
    skip: s.skip,
    before: noop,
    after: noop,
    run: s.run,
  });
  return skipped as Test<T>;
}
