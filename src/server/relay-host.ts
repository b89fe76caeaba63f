/** The session side of a result relay (result-relay.ts), and small packet helpers it uses. */
import { buildOk, OkPacket } from '../protocol/ok-err';
import { Status } from '../protocol/constants';

/** The session side of a relay: where bytes go and who hears about terminators. */
export interface RelayHost {
  /** Writes bytes to the client. Returns false when the client socket wants a drain. */
  writeClient(b: Buffer): boolean;
  /** Buffers client writes until uncorkClient (several writes of one backend chunk become one writev). */
  corkClient(): void;
  uncorkClient(): void;
  readonly clientCaps: number;
  /** The client tracks session state changes itself (session_track_state_change): it sees SERVER_SESSION_STATE_CHANGED. */
  readonly clientStateChange: boolean;
  /** Called for every OK/EOF that ends a result (intermediate ones of multi-results too). */
  onTerminator(status: number, warnings: number, ok: OkPacket | null): void;
  /** Filters a session-state block down to what the client tracks; null drops it. */
  filterSessionState(block: Buffer): Buffer | null;
  /** A PREPARE_OK arrived: returns the id to show the client. */
  onPrepareOk(backendId: number, numColumns: number, numParams: number, warnings: number): number;
  /** The backend asked for a LOCAL INFILE; the session now feeds client packets to the backend. */
  onLocalInfile(backendSeq: number): void;
  /** The whole response was relayed (`err`: it ended with an ERR packet). */
  onRelayDone(err: boolean): void;
  /** The backend broke the protocol or went away mid-response. */
  onRelayFailed(e: Error): void;
  /**
   * The backend refused a PREPARE with 1461 (max_prepared_stmt_count reached). Returns true when
   * the host freed statements on the connection and sent the PREPARE again (the relay then waits
   * for the new answer instead of relaying the ERR).
   */
  retryPrepare(): boolean;
  /** Called when the client socket is over its high-water mark; the relay paused the backend. */
  onClientBackpressure(): void;
}

/** Writes `status` into an OK packet's payload (after its header byte and two length-encoded integers). */
export function setOkStatus(p: Buffer, status: number): void {
  let at = 1;
  for (let k = 0; k < 2; k++) {
    const f = p[at];
    at += f < 0xfb ? 1 : f === 0xfc ? 3 : f === 0xfd ? 4 : 9;
  }
  if (at + 2 <= p.length) p.writeUInt16LE(status, at);
}

/** An EOF turned into the OK-style terminator of a CLIENT_DEPRECATE_EOF client. */
export function eofAsOk(warnings: number, status: number, caps: number) {
  // A server tracking state changes puts its STATE_CHANGE entry on the OK that replaces the EOF
  // (for clients with SESSION_TRACK; buildOk drops flag and block for the others).
  const sessionState = status & Status.SESSION_STATE_CHANGED ? STATE_CHANGED_ENTRY : null;
  return buildOk({ affectedRows: 0, lastInsertId: 0, status, warnings, info: EMPTY, sessionState }, caps, 0xfe);
}

/** The tracker's STATE_CHANGE entry: type 2, length 1, '1'. */
const STATE_CHANGED_ENTRY = Buffer.from([2, 1, 0x31]);

const EMPTY = Buffer.alloc(0);
