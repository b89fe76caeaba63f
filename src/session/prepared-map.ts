import type { ClientStmt } from '../server/prepared';
import { ownedCopy } from '../protocol/owned-copy';
import { LONG_DATA_CHUNK_COST, longDataVerdict } from './long-data';

/**
 * A session's prepared statements by the ids the proxy gave the client, and how many of them have
 * an open cursor (a count, so nothing loops over the statements after every statement).
 */
export class PreparedMap {
  private readonly byId = new Map<number, ClientStmt>();
  private nextId = 1;
  /** Statements with an open cursor. */
  openCursors = 0;
  /** Long data buffered by all of them, as charged (see long-data.ts). */
  longDataCost = 0;

  /** A new client-side id (wraps well below 2^32, as ids are u32 on the wire). */
  allocId(): number {
    const id = this.nextId++;
    if (this.nextId > 0xfffffff0) this.nextId = 1;
    return id;
  }

  add(st: ClientStmt): void {
    this.byId.set(st.id, st);
  }

  get(id: number): ClientStmt | null {
    return this.byId.get(id) ?? null;
  }

  /** Forgets a statement (its cursor, if open, is closed in the count). */
  delete(st: ClientStmt): void {
    this.setCursor(st, false);
    this.dropLongData(st);
    this.byId.delete(st.id);
  }

  /**
   * A COM_STMT_SEND_LONG_DATA payload `p` for `st`: buffered until its execute, or, past a limit
   * (see long-data.ts), the statement's buffered data dropped and its error state set.
   */
  takeLongData(st: ClientStmt, p: Buffer, maxAllowedPacket: number, maxSession: number): void {
    if (st.longDataError) return; // already refused: nothing more is kept until COM_STMT_RESET
    const param = p.readUInt16LE(5);
    const n = p.length - 7;
    const held = st.longDataParams ? (st.longDataParams.get(param) ?? 0) : 0;
    const v = longDataVerdict(held, this.longDataCost, n, maxAllowedPacket, maxSession);
    if (v !== 'keep') {
      st.longDataError = v;
      this.dropLongData(st);
      return;
    }
    this.addLongData(st, param, ownedCopy(p, 7), n + LONG_DATA_CHUNK_COST);
  }

  /** Buffers a chunk of long data already judged to fit (`cost`: as charged). */
  private addLongData(st: ClientStmt, param: number, data: Buffer, cost: number): void {
    (st.longData ??= []).push({ param, data });
    const m = (st.longDataParams ??= new Map());
    m.set(param, (m.get(param) ?? 0) + data.length);
    st.longDataBytes += cost;
    this.longDataCost += cost;
  }

  /** The statement's buffered long data is gone (sent with an execute, reset, or refused). */
  dropLongData(st: ClientStmt): void {
    this.longDataCost -= st.longDataBytes;
    st.longData = null;
    st.longDataBytes = 0;
    if (st.longDataParams) st.longDataParams = null;
  }

  setCursor(st: ClientStmt, open: boolean): void {
    if (st.cursorOpen === open) return;
    st.cursorOpen = open;
    this.openCursors += open ? 1 : -1;
  }

  /** Every cursor is gone (the backend connection holding them was lost). */
  closeAllCursors(): void {
    if (this.openCursors === 0) return;
    for (const s of this.byId.values()) s.cursorOpen = false;
    this.openCursors = 0;
  }

  /** The statements (to release their backend statements before a clear). */
  values(): IterableIterator<ClientStmt> {
    return this.byId.values();
  }

  clear(): void {
    this.byId.clear();
    this.openCursors = 0;
    this.longDataCost = 0;
  }

  get size(): number {
    return this.byId.size;
  }
}
