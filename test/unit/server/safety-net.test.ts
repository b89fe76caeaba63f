import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Faultable, installSafetyNet, NetOwner, removeSafetyNet, setRunning } from '../../../src/server/safety-net';

function owner(): NetOwner & { stray: string[] } {
  const stray: string[] = [];
  return { stray, onStrayError: (_e, origin) => stray.push(origin) };
}

function session(): Faultable & { faults: string[] } {
  const faults: string[] = [];
  return { closed: false, faults, fault: (e, where) => faults.push(`${where}: ${(e as Error).message}`) };
}

test('an exception escaping a session handler ends that session (not the process)', () => {
  const o = owner();
  const s = session();
  installSafetyNet(o);
  try {
    setRunning(s);
    (process.emit as (ev: string, ...a: unknown[]) => boolean)('uncaughtException', new RangeError('boom'), 'uncaughtException');
    assert.equal(s.faults, ['uncaught_exception: boom']);
    assert.equal(o.stray, []);
    // the mark is consumed: a later stray error is not pinned on the same session
    (process.emit as (ev: string, ...a: unknown[]) => boolean)('uncaughtException', new Error('later'), 'uncaughtException');
    assert.equal(s.faults.length, 1);
    assert.equal(o.stray, ['uncaughtException']);
  } finally {
    removeSafetyNet(o);
  }
});

test('an unhandled rejection is reported to the owner, never pinned on whichever session ran last', () => {
  const o = owner();
  const s = session();
  installSafetyNet(o);
  try {
    setRunning(s);
    process.emit('unhandledRejection', new Error('late'), Promise.resolve());
    assert.equal(s.faults, []);
    assert.equal(o.stray, ['unhandledRejection']);
  } finally {
    removeSafetyNet(o);
  }
});

test('the process handlers exist only while an owner is registered', () => {
  const before = process.listenerCount('uncaughtException');
  const a = owner();
  const b = owner();
  installSafetyNet(a);
  installSafetyNet(b);
  assert.is(process.listenerCount('uncaughtException'), before + 1);
  removeSafetyNet(a);
  assert.is(process.listenerCount('uncaughtException'), before + 1);
  removeSafetyNet(b);
  assert.is(process.listenerCount('uncaughtException'), before);
  assert.is(process.listenerCount('unhandledRejection'), 0);
});

test.run();
