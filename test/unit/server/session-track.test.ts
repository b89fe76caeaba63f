/** clientSessionState: what a client is told of the session-state block a backend reported. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseSessionState, schemaStateEntry } from '../../../src/protocol/ok-err';
import { clientSessionState } from '../../../src/server/session-track';

const lenstr = (s: string | Buffer): Buffer => {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  return Buffer.concat([Buffer.from([b.length]), b]);
};
const sysvar = (name: string, value: string) => Buffer.concat([Buffer.from([0]), lenstr(Buffer.concat([lenstr(name), lenstr(value)]))]);
const block = (...entries: Buffer[]) => Buffer.concat(entries);
const told = (b: Buffer | null) => (b === null ? null : parseSessionState(b).map((e) => (e.type === 0 ? `${e.name}=${e.value}` : `schema:${e.name}`)));

const all = block(sysvar('autocommit', 'OFF'), sysvar('sql_mode', 'ANSI'), sysvar('time_zone', '+01:00'), schemaStateEntry('shop'), sysvar('pseudo_thread_id', '7'), sysvar('session_track_schema', 'OFF'));

test("server defaults: the default variable list and the schema", () => {
  assert.equal(told(clientSessionState(all, null, null)), ['autocommit=OFF', 'time_zone=+01:00', 'schema:shop']);
});

test("the client's own session_track_system_variables and session_track_schema win over the server's defaults", () => {
  const defaults = new Map([['session_track_system_variables', 'autocommit'], ['session_track_schema', 'ON']]);
  assert.equal(told(clientSessionState(all, null, defaults)), ['autocommit=OFF', 'schema:shop']);
  const prefs = new Map([['session_track_system_variables', 'SQL_MODE, time_zone'], ['session_track_schema', 'OFF']]);
  assert.equal(told(clientSessionState(all, prefs, defaults)), ['sql_mode=ANSI', 'time_zone=+01:00']);
});

test("'*': every variable except those the proxy manages itself (session_track_* are the client's)", () => {
  const prefs = new Map([['session_track_system_variables', '*']]);
  assert.equal(told(clientSessionState(all, prefs, null)), ['autocommit=OFF', 'sql_mode=ANSI', 'time_zone=+01:00', 'schema:shop', 'session_track_schema=OFF']);
});

test('nothing asked for: null', () => {
  const prefs = new Map([['session_track_system_variables', ''], ['session_track_schema', '0']]);
  assert.is(clientSessionState(all, prefs, null), null);
  assert.is(clientSessionState(Buffer.alloc(0), null, null), null);
});

test.run();
