/** onBackendLoss: what a session does when the backend connection under its statement is lost. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { onBackendLoss, type BackendLoss } from '../../../src/session/backend-loss';
import { Pin } from '../../../src/session/pins';

const cases: [string, BackendLoss, string][] = [
  ['in a transaction, before sending', { pins: Pin.TX, sent: false, retried: false, fetch: false }, 'close'],
  ['in a transaction, after sending', { pins: Pin.TX, sent: true, retried: false, fetch: false }, 'close'],
  ['holding a temporary table', { pins: Pin.TEMP, sent: false, retried: false, fetch: false }, 'close'],
  ['holding LOCK TABLES', { pins: Pin.LOCK_TABLES, sent: true, retried: true, fetch: false }, 'close'],
  ['after a stored procedure', { pins: Pin.ROUTINE, sent: false, retried: false, fetch: false }, 'close'],
  ['open cursor, fetching', { pins: Pin.CURSOR, sent: true, retried: false, fetch: true }, 'close'],
  ['no state, dead before sending', { pins: 0, sent: false, retried: false, fetch: false }, 'retry'],
  ['no state, dead again after one retry', { pins: 0, sent: false, retried: true, fetch: false }, 'error'],
  ['no state, lost after sending (may have run)', { pins: 0, sent: true, retried: false, fetch: false }, 'error'],
];

for (const [name, loss, want] of cases) {
  test(`onBackendLoss: ${name} → ${want}`, () => {
    assert.is(onBackendLoss(loss), want);
  });
}

test.run();
