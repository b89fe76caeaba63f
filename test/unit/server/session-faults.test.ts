/** protocolErrorReply: the ERR (and sequence id) a session sends on a malformed client packet. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PacketTooLargeError } from '../../../src/protocol/framer';
import { ProtocolError } from '../../../src/protocol/packet-reader';
import { HandshakeRefusedError } from '../../../src/server/login';
import { protocolErrorReply } from '../../../src/server/session-faults';

test('during login: Bad handshake (1043) after the last login packet', () => {
  assert.equal(protocolErrorReply(new ProtocolError('truncated handshake response'), true, 1), { errno: 1043, sqlState: '08S01', message: 'Bad handshake: truncated handshake response', seq: 2 });
});

test('during login: the refusal the login chose, sequence id wrapping at 255', () => {
  assert.equal(protocolErrorReply(new HandshakeRefusedError(1251, '08004', 'Client does not support authentication protocol'), true, 255), { errno: 1251, sqlState: '08004', message: 'Client does not support authentication protocol', seq: 0 });
});

test('during login an oversized packet is a Bad handshake too', () => {
  const r = protocolErrorReply(new PacketTooLargeError(70000, 65536, 1), true, 1);
  assert.is(r.errno, 1043);
  assert.is(r.seq, 2);
});

test('after login: an oversized packet gets 1153 after its own sequence id', () => {
  assert.equal(protocolErrorReply(new PacketTooLargeError(2000, 1024, 3), false, 9), { errno: 1153, sqlState: '08S01', message: "Got a packet bigger than 'max_allowed_packet' bytes (2000 > 1024)", seq: 4 });
});

test('after login: anything else malformed is 1156, as the first response packet', () => {
  assert.equal(protocolErrorReply(new ProtocolError('command packet with sequence id 3 (expected 0)'), false, 9), { errno: 1156, sqlState: '08S01', message: 'Got packets out of order or malformed: command packet with sequence id 3 (expected 0)', seq: 1 });
});

test.run();
