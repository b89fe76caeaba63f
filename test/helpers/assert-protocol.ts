import * as assert from 'uvu/assert';
import { ProtocolError } from '../../src/protocol/packet-reader';

/** Asserts that `fn` throws a ProtocolError (and nothing else), optionally with a matching message. */
export function protoErr(fn: () => unknown, re?: RegExp): void {
  let err: unknown = null;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ProtocolError, `expected ProtocolError, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  if (re) assert.match((err as Error).message, re);
}
