/** sqlModeAfterReset: the sql_mode a reset leaves (the server drops the IGNORE_SPACE CLIENT_IGNORE_SPACE added). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Cap } from '../../../src/protocol/constants';
import { sqlModeAfterReset } from '../../../src/server/session-reset';

const cases: [string, number, string | undefined, string | undefined][] = [
  ['a client without CLIENT_IGNORE_SPACE: the default', 0, 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION', undefined],
  ['CLIENT_IGNORE_SPACE: the default without IGNORE_SPACE', Cap.IGNORE_SPACE, 'IGNORE_SPACE,STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION', 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION'],
  ['CLIENT_IGNORE_SPACE, IGNORE_SPACE last', Cap.IGNORE_SPACE, 'STRICT_TRANS_TABLES,IGNORE_SPACE', 'STRICT_TRANS_TABLES'],
  ['CLIENT_IGNORE_SPACE, only IGNORE_SPACE: empty', Cap.IGNORE_SPACE, 'IGNORE_SPACE', ''],
  ['CLIENT_IGNORE_SPACE, pool defaults not read yet', Cap.IGNORE_SPACE, undefined, undefined],
];

for (const [name, caps, def, want] of cases) {
  test(`sqlModeAfterReset: ${name}`, () => {
    assert.is(sqlModeAfterReset(caps, def), want);
  });
}

test.run();
