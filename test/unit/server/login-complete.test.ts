/** loginTarget: a login's tenant and starting schema (golden cases in test/fixtures/login-target-cases.json). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loginTarget } from '../../../src/server/login-complete';
import { jsonEqual, readCases, removeActual, writeActual } from '../../helpers/golden';
import { snapshotNamed } from '../../helpers/routing-fixtures';

interface Case {
  comment: string;
  /** Snapshot name in test/fixtures/snapshots (null: no tenants configured). */
  snapshot: string | null;
  login: string;
  attrs?: Record<string, string>;
  database: string | null;
  defaultSchema?: string | null;
  unsafeSkip?: boolean;
  target: unknown;
}

const FILE = 'login-target-cases.json';
const cases = readCases<Case>(FILE, ['comment', 'snapshot', 'login', 'attrs', 'database', 'defaultSchema', 'unsafeSkip', 'target'], ['comment', 'snapshot', 'login', 'database', 'target']);

test('loginTarget: golden cases', () => {
  const failures: string[] = [];
  const actual = cases.map((c) => {
    const snap = c.snapshot === null ? null : snapshotNamed(c.snapshot);
    const d = loginTarget({ login: c.login, attrs: new Map(Object.entries(c.attrs ?? {})), database: c.database, defaultSchema: c.defaultSchema ?? null }, snap, c.unsafeSkip === true);
    const got = d.action === 'refuse' ? { refuse: `${d.errno} ${d.sqlState} ${d.message}` } : { tenant: d.tenant ? d.tenant.tenant : null, schema: d.schema };
    if (!jsonEqual(got, c.target)) failures.push(c.comment);
    return { ...c, target: got };
  });
  if (failures.length > 0) {
    const p = writeActual(FILE, actual);
    assert.unreachable(`${failures.length} case(s) differ: ${failures.join(' | ')}; actual written to ${p}`);
  }
  removeActual(FILE);
});

test.run();
