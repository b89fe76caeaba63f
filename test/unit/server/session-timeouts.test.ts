/** timeoutAction / waitTimeoutSec: which timeout closes a session (golden cases in test/fixtures/timeout-cases.json). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Cap } from '../../../src/protocol/constants';
import { timeoutAction, waitTimeoutSec, type TimeoutFacts } from '../../../src/server/session-timeouts';
import { jsonEqual, readCases, removeActual, writeActual } from '../../helpers/golden';

interface Case {
  comment: string;
  facts: TimeoutFacts;
  action: string | null;
}

const FILE = 'timeout-cases.json';
const cases = readCases<Case>(FILE, ['comment', 'facts', 'action'], ['comment', 'facts', 'action']);

test('timeoutAction: golden cases', () => {
  const failures: string[] = [];
  const actual = cases.map((c) => {
    const got = timeoutAction(c.facts);
    if (!jsonEqual(got, c.action)) failures.push(c.comment);
    return { ...c, action: got };
  });
  if (failures.length > 0) {
    const p = writeActual(FILE, actual);
    assert.unreachable(`${failures.length} case(s) differ: ${failures.join(' | ')}; actual written to ${p}`);
  }
  removeActual(FILE);
});

test('waitTimeoutSec: the session value, else interactive_timeout for interactive clients, else wait_timeout', () => {
  const b = { interactiveTimeout: 28800, waitTimeout: 600 };
  assert.is(waitTimeoutSec('5', 0, b), 5);
  assert.is(waitTimeoutSec('5', Cap.INTERACTIVE, null), 5);
  assert.is(waitTimeoutSec(undefined, 0, b), 600);
  assert.is(waitTimeoutSec(undefined, Cap.INTERACTIVE, b), 28800);
  assert.is(waitTimeoutSec(undefined, 0, null), 0);
  assert.is(waitTimeoutSec(undefined, 0, { interactiveTimeout: -1, waitTimeout: -1 }), 0);
});

test.run();
