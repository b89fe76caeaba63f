/** execVariantFor: which variant of a prepared statement an execute runs on its backend connection. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EXEC_NO_SCHEMA, EXEC_ROW_COUNT, EXEC_SYSVARS, execVariantFor } from '../../../src/server/statement-restore';

const NONE = 0;
const RC = EXEC_ROW_COUNT;
const NS = EXEC_NO_SCHEMA;

// [name, readsRowCount, cursor, foreignOrReplay, needsPrep, schemaLess, pinned, want]
const cases: [string, boolean, boolean, boolean, boolean, boolean, boolean, number][] = [
  ['plain execute on a connection that ran this session last', false, false, false, false, false, false, NONE],
  ['ROW_COUNT() after another session (or a replay) ran on the connection', true, false, true, false, false, false, RC],
  ['ROW_COUNT() when the statement must be prepared here first', true, false, false, true, false, false, RC],
  ['ROW_COUNT() on a connection this session ran on last, prepared there', true, false, false, false, false, false, NONE],
  ['a cursor never runs a variant (a fetch needs the statement itself)', true, true, true, true, true, true, NONE],
  ['prepared without a schema, pinned connection with one, must be prepared', false, false, false, true, true, true, NS],
  ['prepared without a schema, pinned, already prepared there', false, false, true, false, true, true, NONE],
  ['prepared without a schema, not pinned (the connection is reset to no schema instead)', false, false, false, true, true, false, NONE],
  ['both: ROW_COUNT() and no schema on a pinned connection', true, false, true, false, true, true, RC | NS],
];

for (const [name, rc, cursor, foreign, prep, schemaLess, pinned, want] of cases) {
  test(`execVariantFor: ${name}`, () => {
    assert.is(execVariantFor(rc, cursor, foreign, prep, schemaLess, pinned), want);
  });
}

test('execVariantFor: the session\'s @@warning_count / @@session_track_system_variables substituted (a variant, prepared under the schema on a pinned connection); never for a cursor', () => {
  assert.is(execVariantFor(false, false, false, false, false, false, true), EXEC_SYSVARS);
  assert.is(execVariantFor(true, false, true, false, false, false, true), EXEC_SYSVARS | RC);
  assert.is(execVariantFor(false, false, false, false, true, true, true), EXEC_SYSVARS | NS);
  assert.is(execVariantFor(false, true, false, false, false, false, true), NONE);
});

test.run();
