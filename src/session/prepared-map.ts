import type { ClientStmt } from '../server/prepared';

/**
 * A session's prepared statements by the ids the proxy gave the client, and how many of them have
 * an open cursor (a count, so nothing loops over the statements after every statement).
 */
export class PreparedMap {
  private readonly byId = new Map<number, ClientStmt>();
  private nextId = 1;
  /** Statements with an open cursor. */
  openCursors = 0;

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
    this.byId.delete(st.id);
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
  }

  get size(): number {
    return this.byId.size;
  }
}
