import type { Logger } from 'pino';
import { Status } from '../protocol/constants';
import type { BackendConnection, BackendSink } from '../backend/backend-connection';
import type { BackendPool } from '../backend/pool';
import type { LeaseShare } from '../backend/lease-share';
import type { DigestEntry, DigestStats } from '../metrics/digest-stats';
import type { Metrics } from '../metrics/metrics';
import type { RoutineInfo } from '../classify/routines';
import { LATENCY_BUCKETS } from '../metrics/metrics';
import { type LaneNative, PH_NONE, PROTOCOL, SLOW, BACKEND_WRITE, BACKEND_CLOSED, socketFd } from '../io/lane-native';
import { type ClientStmt, sameTypes } from './prepared';
import { type ClusterView, infoFacts, laneAttachBlock, laneBackendValid, lanePlainStatement, tenantLaneRoute, TX_STATUS } from './lane-eligibility';
import { watch } from './statement-loss';
import { ownFoundRows } from './found-rows-owner';
import type { RouteChoice } from './tenant-statement';
import { Resp, type ResultRelay } from './result-relay';
import type { Current } from './statement';
import { adoptInFlight } from './lane-adopt';
import { scanOptions, singleByteSafe } from './tenant-statement';
import { S, type ClientSession } from './client-session';

/*
 * The JS side of the native fast lane (README "Fast lane"). A session whose last statement was
 * plain (lane-eligibility.ts) and whose client is sending statements back to back hands its client
 * socket and the backend connection it just used to a native lane (native/lane/lane.cc), which
 * relays the statements this module approved — prepared statements by id, text statements by shape
 * — without entering JS, and gives the session back ("eject") on anything else. Per-statement
 * bookkeeping the lane skips is applied here: statement metrics and digest statistics from the
 * lane's per-slot counters (folded every sweep, before a scrape and at each eject), and the session
 * state a plain SELECT leaves (FOUND_ROWS(), ROW_COUNT(), server status) at the eject.
 */

/** A session attached to a lane. */
export interface LaneOf {
  readonly id: number;
  readonly conn: BackendConnection;
  readonly table: number;
  readonly routines: RoutineInfo | undefined;
  /** A tenant session's lane: the role and cluster of its backend (checked every sweep), else null. */
  readonly role: 'primary' | 'replica' | null;
  readonly cluster: string | null;
  /** The session holds the connection (a transaction): it stays the session's at the eject, never the pool's. */
  readonly pinned: boolean;
  /** The session is being closed: its client bytes are not handled after the eject. */
  closing: boolean;
}

/** What the lane's statistics slot counts into: a command kind, a tenant label and a digest entry. */
interface Slot {
  readonly cmd: 'query' | 'stmt_execute';
  /** A tenant lane's route role (counted in the route metrics), null for passthrough. */
  readonly role: 'primary' | 'replica' | null;
  readonly tenant: string | null;
  readonly tenantKey: string;
  readonly digest: string | null;
  entry: DigestEntry | null;
}

/** What the lane manager needs of the proxy. */
export interface LaneHost {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly digestStats: DigestStats;
  readonly config: { digests: { maxEntries: number; slowQueryMs: number } };
  /** Tenant statements per route role (lane statements are added when folded). */
  readonly routes: { primary: number; replica: number };
  /** Live cluster health (null: no clusters) and drained backends: tenant lanes must stay on a backend the selector could pick. */
  readonly topology: { snapshot(): { clusters: ReadonlyMap<string, ClusterView> } } | null;
  readonly drained: ReadonlySet<string>;
  /** Tenant text statements whose plan their shape found (a lane's tenant text statements each count as one such hit). */
  readonly fastPlans: { hits: number };
  /** Borrowed connections already logged in as the statement's account (each tenant lane statement is one). */
  readonly identity: { hits: number };
  tenantOf(user: string): string | null;
}

/** Sent back-to-back: the client's command arrived within this long of the previous one's end (ms). */
export const HOT_GAP_MS = 10;
/** A lane idle this long gives the session (and its connection, to the pool) back (ms). */
export const LANE_IDLE_MS = 200;
/** A statement running this long in a lane is handed to JS (timeouts, process list) (ms). */
export const LANE_BUSY_MS = 1000;
const MAX_SLOTS = 4096;
const MAX_LANES = 65536;

export const EJECT_REASONS = ['', 'declined', 'response', 'slow', 'client_closed', 'backend_closed', 'detach', 'idle', 'busy_long', 'write_error', 'backend_write', 'protocol', 'requested'];

/**
 * The native module's state is per process; a process may run several proxies (the tests do). The
 * hub owns what they share — the eject callback, the info and statistics arrays, lane ids, slot and
 * table numbers — and hands each eject to the proxy whose lane it was.
 */
class LaneHub {
  readonly info = new Float64Array(16);
  readonly bounds = new Float64Array(LATENCY_BUCKETS.map((s) => s * 1e6));
  readonly stride = 8 + LATENCY_BUCKETS.length;
  readonly stats = new Float64Array(MAX_SLOTS * (8 + LATENCY_BUCKETS.length));
  readonly owners = new Map<number, LaneManager>();
  private readonly freeLanes: number[] = [];
  private nextLane = 0;
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  private readonly freeTables: number[] = [];
  private nextTable = 0;

  constructor(readonly native: LaneNative) {
    native.init((lane, reason, clientRest, backendRest, cmd) => this.owners.get(lane)?.onEject(lane, reason, clientRest, backendRest, cmd), this.info, this.stats, this.stride, this.bounds);
  }

  allocLane(m: LaneManager): number {
    const id = this.freeLanes.length > 0 ? (this.freeLanes.pop() as number) : this.nextLane < MAX_LANES ? this.nextLane++ : -1;
    if (id >= 0) this.owners.set(id, m);
    return id;
  }

  freeLane(id: number): void {
    if (this.owners.delete(id)) this.freeLanes.push(id);
  }

  allocSlot(): number {
    return this.freeSlots.length > 0 ? (this.freeSlots.pop() as number) : this.nextSlot < MAX_SLOTS ? this.nextSlot++ : -1;
  }

  freeSlot(i: number): void {
    this.stats.fill(0, i * this.stride, (i + 1) * this.stride);
    this.freeSlots.push(i);
  }

  allocTable(): number {
    return this.freeTables.length > 0 ? (this.freeTables.pop() as number) : this.nextTable < 4096 ? this.nextTable++ : -1;
  }

  freeTable(id: number): void {
    this.native.clearShapes(id);
    this.freeTables.push(id);
  }
}

let hubOf: LaneHub | null = null;

export class LaneManager {
  private readonly hub: LaneHub;
  private readonly info: Float64Array;
  private readonly stride: number;
  private readonly stats: Float64Array;
  private readonly nbuckets: number;
  /** This proxy's statistics slots by number. */
  private readonly slots = new Map<number, Slot>();
  private readonly slotIndex = new Map<string, number>();
  /** Slots by digest entry, per command and route role (query/execute × none/primary/replica). */
  private readonly bySlotEntry: Map<DigestEntry, number>[] = Array.from({ length: 6 }, () => new Map<DigestEntry, number>());
  /** Sessions in a lane, by lane id. */
  private readonly lanes = new Map<number, ClientSession>();
  private readonly tables = new Map<string, { id: number; routines: RoutineInfo | undefined }>();
  /** Approvals (ClientStmt.laneEpoch, table contents) of an older epoch are void (config or routines changed). */
  epoch = 1;
  attached = 0;
  readonly ejects = new Float64Array(EJECT_REASONS.length);
  statements = 0;

  constructor(private readonly native: LaneNative, private readonly host: LaneHost) {
    if (hubOf === null || hubOf.native !== native) hubOf = new LaneHub(native);
    this.hub = hubOf;
    this.info = this.hub.info;
    this.stride = this.hub.stride;
    this.stats = this.hub.stats;
    this.nbuckets = this.hub.bounds.length + 1;
  }

  // ---- attach ---------------------------------------------------------------------------------

  /**
   * Called when a session went idle after a statement: hands its sockets to a lane when
   * lane-eligibility.ts says it may (the connection it just released is taken back from the pool).
   */
  maybeAttach(s: ClientSession): void {
    const approved = s.laneApproved;
    s.laneApproved = false;
    const shape = s.laneShape;
    s.laneShape = null;
    const run = s.runner;
    // In a transaction the session holds its connection; otherwise it is the one just released.
    const held = run.conn;
    const conn = held ?? run.lastConn;
    if (conn === null || s.lane !== null || s.state !== S.IDLE) return;
    const pool = conn.pool as BackendPool;
    const route = s.laneRoute;
    s.laneRoute = null;
    const t = s.tenant;
    const tenantRoute = t === null ? 'none' : route !== null && route.pool === pool && conn.account === t.backendUser && conn.account === route.account ? 'ok' : 'no';
    const block = laneAttachBlock({
      available: true,
      approved,
      hot: s.cmd.gapMs < HOT_GAP_MS,
      tenantRoute,
      rawPlain: s.client.rawPlain,
      clientCaps: s.clientCaps,
      pins: s.st.pins,
      lastStatus: s.st.lastStatus,
      batch: s.batch !== null,
      buffered: s.client.buffered,
      diagnostics: s.st.diag !== null || conn.diagOwner !== null,
      connReady: !conn.closed && conn.lastSession === s && !conn.internalSinceClient && !conn.needsReinit && conn.pendingStmtCloses === null && (held === null ? conn.sink === null : conn.sink === run.watchObj),
      poolSlack: held !== null || pool.hasSlack(),
      stateLost: s.stateLost,
    });
    if (block !== null) return;
    const pinned = held !== null;
    if (!pinned && !pool.takeIfIdle(conn, s.leaseShare(pool.backend))) return;
    const giveBack = (): void => (pinned ? watch(run, conn) : pool.release(conn));
    const role = t !== null && route !== null ? route.role : null;
    const table = this.tableFor(s, conn, role);
    if (table === null) return giveBack();
    const id = this.hub.allocLane(this);
    if (id < 0) return giveBack();
    const n = this.native;
    n.clearStmts(id);
    for (const st of s.prepared.values()) {
      if (st.laneEpoch !== this.epoch || st.laneRoutines !== s.routines || st.laneRole !== role || st.longData !== null || st.cursorOpen) continue;
      const bs = conn.stmts.get(st.key);
      if (bs === undefined) continue;
      if (st.numParams > 0 && (st.paramTypes === null || bs.types === null || !sameTypes(bs.types, st.paramTypes))) continue;
      const slot = this.slotFor(s, 'stmt_execute', st.statsEntry ?? null, st.digest ?? null, role);
      if (slot < 0) continue;
      n.setStmt(id, st.id, bs.id, st.numParams, st.numParams > 0 ? st.paramTypes : null, slot);
    }
    if (shape !== null) {
      const e = s.cmd.lastEntry;
      const slot = this.slotFor(s, 'query', e, e !== null ? e.digest : null, role);
      if (slot >= 0) n.addShape(table.id, shape, slot, this.shapeOpts(s));
    }
    const cfd = socketFd(s.client.socket);
    const bfd = socketFd(conn.socket);
    s.client.holdForLane();
    conn.socket.pause();
    const slowMs = this.host.config.digests.slowQueryMs;
    // The lane checks that every terminator keeps these transaction flags (a SELECT cannot change them).
    const expect = s.st.lastStatus & TX_STATUS;
    if (cfd < 0 || bfd < 0 || !n.attach(id, cfd, bfd, table.id, expect, slowMs > 0 ? slowMs * 1000 : 0)) {
      s.client.releaseFromLane();
      conn.socket.resume();
      giveBack();
      this.hub.freeLane(id);
      return;
    }
    // The idle-in-transaction timer counts JS socket inactivity, which a lane's traffic does not reset: off until the eject.
    if (pinned) conn.armTimeout(0);
    this.lanes.set(id, s);
    s.lane = { id, conn, table: table.id, routines: s.routines, role, cluster: route !== null && t !== null ? route.cluster : null, pinned, closing: false };
    // A parked connection is not idle: statement closes queue up (stmt-lifetime.ts), and its death reaches the lane.
    conn.sink = laneSink(this, s);
    this.attached++;
  }

  /**
   * A statement finished on the JS path (statement.ts finishStatement, before the connection is
   * released): whether a lane may run it again (lane-eligibility.ts), remembered for maybeAttach.
   */
  noteFinished(s: ClientSession, cur: Current, relay: ResultRelay | null, endedWithOk: boolean, armed: boolean): void {
    s.laneApproved = false;
    s.laneShape = null;
    s.laneRoute = null;
    const info = cur.info;
    if (!armed || relay === null || info === null || info.flags !== 0 || info.kind !== 'SELECT' || relay.errClass !== '' || endedWithOk) return;
    if ((cur.kind !== Resp.QUERY && cur.kind !== Resp.EXECUTE) || s.batch !== null || s.st.lastWarnings !== 0) return;
    const execute = cur.kind === Resp.EXECUTE;
    let route: RouteChoice | null = null;
    if (s.tenant !== null) {
      // A tenant's statement: its isolation decision and route must hold for the whole shape.
      route = cur.route ?? null;
      const decided = execute ? cur.stmt !== null && cur.stmt.route !== undefined : s.cmd.shapeDecided;
      if (!tenantLaneRoute({ decidedByShape: decided, role: route !== null ? route.role : null, waitGtid: route !== null && route.waitGtid !== null, rywScope: s.ctx.routing.config.readYourWrites.scope })) return;
    }
    const plain = lanePlainStatement({
      command: execute ? 'execute' : 'query',
      ...infoFacts(info),
      ownStmt: cur.exec === undefined || cur.exec === cur.stmt,
      cursor: execute && cur.frame.payload.length > 5 && cur.frame.payload[5] !== 0,
      resultSet: relay.lastWasResultSet && relay.rows >= 0,
      endedWithOk,
      error: false,
      warnings: s.st.lastWarnings,
      status: s.st.lastStatus,
    });
    if (!plain) return;
    if (execute) {
      if (cur.stmt === null) return;
      this.approveExecute(s, cur.stmt, route !== null ? route.role : null);
    } else s.laneShape = cur.frame.payload;
    s.laneRoute = route;
    s.laneApproved = true;
  }

  /** The session's statements are approved for lanes (called when a plain statement finished; see statement.ts). */
  approveExecute(s: ClientSession, st: ClientStmt, role: 'primary' | 'replica' | null): void {
    st.laneEpoch = this.epoch;
    st.laneRoutines = s.routines;
    st.laneRole = role;
  }

  /** Shape-key options (lane-native.ts): bit 0 NO_BACKSLASH_ESCAPES, bit 1 bytes >= 0x80 allowed in quotes (a charset without ASCII trail bytes). */
  private shapeOpts(s: ClientSession): number {
    const o = scanOptions(s);
    return (o.noBackslashEscapes === true ? 1 : 0) | (singleByteSafe(o) ? 2 : 0);
  }

  /**
   * The shape table of sessions that classify text the same way: the backend (its routines), the
   * user — or for tenant sessions the tenant (isolation decides per tenant) and the route role — and
   * the scan options.
   */
  private tableFor(s: ClientSession, conn: BackendConnection, role: 'primary' | 'replica' | null): { id: number; routines: RoutineInfo | undefined } | null {
    const who = s.tenant !== null ? `t:${s.tenant.tenant}:${role}` : `u:${s.user ? s.user.name : ''}`;
    const key = `${conn.cfg.name}\u0000${who}\u0000${this.shapeOpts(s)}\u0000${scanOptions(s).ansiQuotes === true ? 1 : 0}`;
    let t = this.tables.get(key);
    if (t === undefined) {
      const id = this.hub.allocTable();
      if (id < 0) return null;
      t = { id, routines: s.routines };
      this.tables.set(key, t);
    } else if (t.routines !== s.routines) {
      this.native.clearShapes(t.id);
      t.routines = s.routines;
    }
    return t;
  }

  private slotFor(s: ClientSession, cmd: 'query' | 'stmt_execute', entry: DigestEntry | null, digest: string | null, role: 'primary' | 'replica' | null): number {
    const tenant = s.tenant !== null ? s.tenant.tenant : s.user ? this.host.tenantOf(s.user.name) : null;
    const tenantKey = tenant ?? s.cmd.userKey(s.user);
    if (entry !== null) {
      const m = this.bySlotEntry[(cmd === 'query' ? 0 : 3) + (role === null ? 0 : role === 'primary' ? 1 : 2)] as Map<DigestEntry, number>;
      const i = m.get(entry);
      if (i !== undefined) return i;
      const n = this.hub.allocSlot();
      if (n < 0) return -1;
      m.set(entry, n);
      this.slots.set(n, { cmd, role, tenant, tenantKey, digest, entry });
      return n;
    }
    const k = `${cmd}\u0000${tenantKey}\u0000${role}`;
    const i = this.slotIndex.get(k);
    if (i !== undefined) return i;
    const n = this.hub.allocSlot();
    if (n < 0) return -1;
    this.slotIndex.set(k, n);
    this.slots.set(n, { cmd, role, tenant, tenantKey, digest, entry });
    return n;
  }

  // ---- detach and eject ---------------------------------------------------------------------------

  /** Gives the session back to JS now (a statement in flight is adopted). `closing`: the session is being closed. */
  detach(s: ClientSession, closing = false): void {
    const l = s.lane;
    if (l === null) return;
    l.closing = closing;
    this.native.detach(l.id);
  }

  /** Every lane gives its session back (reload, shutdown, routine changes). */
  detachAll(): void {
    for (const s of [...this.lanes.values()]) this.detach(s);
  }

  /** The proxy stops: sessions back to JS, this proxy's slots and tables back to the process's hub. */
  dispose(): void {
    this.reset('proxy stopping');
  }

  /** Config reloaded: every approval is void (routing, users and digests may have changed). */
  onConfig(): void {
    this.reset('config reloaded');
  }

  private reset(why: string): void {
    this.host.log.debug({ why }, 'fast lane approvals reset');
    this.detachAll();
    this.fold();
    this.epoch++;
    for (const t of this.tables.values()) this.hub.freeTable(t.id);
    this.tables.clear();
    for (const i of this.slots.keys()) this.hub.freeSlot(i);
    this.slots.clear();
    this.slotIndex.clear();
    for (const m of this.bySlotEntry) m.clear();
  }

  /**
   * A pool needs a connection and has none idle at its cap (share !== null: the user's share is at
   * its cap): an idle lane of that pool (share) gives its connection back now; lanes busy with a
   * statement give it back when that statement ends. True when one was given back now.
   */
  reclaim(pool: BackendPool, share: LeaseShare | null): boolean {
    for (const s of this.lanes.values()) {
      if (s.lane === null) continue;
      const c = s.lane.conn;
      // A transaction's connection is the session's until it ends: giving the lane back frees nothing.
      if (s.lane.pinned || c.pool !== pool || (share !== null && c.share !== share)) continue;
      if (!this.native.isBusy(s.lane.id)) {
        this.native.detach(s.lane.id);
        return true;
      }
    }
    for (const s of this.lanes.values()) {
      if (s.lane === null) continue;
      const c = s.lane.conn;
      if (!s.lane.pinned && c.pool === pool && (share === null || c.share === share)) this.native.requestEject(s.lane.id);
    }
    return false;
  }

  /** The proxy's periodic sweep: idle and long-running lanes give their sessions back; counters are folded. */
  sweep(): void {
    const topo = this.host.topology;
    const clusters = topo !== null ? topo.snapshot().clusters : null;
    for (const s of [...this.lanes.values()]) {
      const l = s.lane;
      if (l === null) continue;
      // The backend's routine definitions changed: the lane's approvals may be stale.
      if (l.routines !== s.routines) this.detach(s);
      // A tenant lane's backend must stay one the selector could choose (health, lag, failover, drain).
      else if (l.role !== null && !laneBackendValid(l.role, l.conn.cfg.name, (l.cluster !== null && clusters !== null ? clusters.get(l.cluster) : undefined) ?? null, this.host.drained.has(l.conn.cfg.name))) this.detach(s);
    }
    this.native.sweep(LANE_IDLE_MS, LANE_BUSY_MS);
    this.fold();
  }

  /** The lane `lane` (this proxy's) gave its session back (called by the hub from the native module). */
  onEject(lane: number, reason: number, clientRest: Buffer | null, backendRest: Buffer | null, cmd: Buffer | null): void {
    const s = this.lanes.get(lane);
    this.hub.freeLane(lane);
    if (s === undefined) return;
    this.lanes.delete(lane);
    this.attached--;
    if (reason > 0 && reason < this.ejects.length) this.ejects[reason]!++;
    const l = s.lane as LaneOf;
    s.lane = null;
    try {
      this.resume(s, l, reason, clientRest, backendRest, cmd);
    } catch (e) {
      s.fault(e, 'lane_eject');
    }
  }

  /** The session is JS's again: what the lane's statements changed, then whatever was in flight or pending. */
  private resume(s: ClientSession, l: LaneOf, reason: number, clientRest: Buffer | null, backendRest: Buffer | null, cmd: Buffer | null): void {
    // A copy: what follows may eject another lane (a pool reclaiming a connection), which rewrites the shared array.
    const info = this.info.slice();
    const conn = l.conn;
    const run = s.runner;
    const st = s.st;
    conn.sink = null;
    const completed = info[3] as number;
    if (completed > 0) {
      const now = Date.now();
      st.foundRows = info[4] as number;
      ownFoundRows(s, conn);
      st.rowCount = -1;
      st.lastStatus = info[5] as number;
      st.lastWarnings = 0;
      run.endedWithOk = false;
      const last = now - (info[6] as number);
      s.client.lastInput = Math.max(s.client.lastInput, last);
      s.idleSince = Math.max(s.idleSince, last);
      conn.lastUsed = now;
      s.cmd.markEnded(performance.now() - (info[6] as number));
      this.fold();
    }
    if (reason === SLOW) this.logSlow(s, info);
    s.client.releaseFromLane();
    // Relayed bytes the client socket had not taken yet (a detach or close while it was slow): sent first.
    const unwritten = info[13] as number;
    if (unwritten > 0 && backendRest !== null) {
      if (!s.closed) s.client.write(backendRest.subarray(0, unwritten));
      backendRest = unwritten < backendRest.length ? backendRest.subarray(unwritten) : null;
    }
    if (!conn.closed) conn.socket.resume();
    if ((info[0] as number) === PH_NONE) {
      if (l.pinned) {
        // Still the session's (its transaction): watched again; a dead one is found by the JS socket's EOF, as between statements.
        run.lastConn = conn;
        watch(run, conn);
        if (conn.closed) (run.watchObj as BackendSink).onBackendClose(new Error('backend connection closed'));
        else if (backendRest !== null || reason === PROTOCOL || reason === BACKEND_WRITE) conn.destroy(new Error('backend connection out of step after the fast lane'));
      } else if (backendRest !== null || reason === PROTOCOL || reason === BACKEND_WRITE || reason === BACKEND_CLOSED || conn.closed) {
        // The connection is gone or out of step (its EOF may not have reached the JS socket yet): never back to the pool.
        run.dropConn(conn);
      } else run.releaseConn(conn);
      if (l.closing || s.closed) return;
      if (clientRest !== null) {
        s.client.pushLaneBytes(clientRest);
        s.onInput();
      }
      return;
    }
    adoptInFlight(s, conn, cmd as Buffer, info);
    if (clientRest !== null && !l.closing) s.client.pushLaneBytes(clientRest);
    if (backendRest !== null) run.onBackendData(backendRest);
    if (conn.closed && run.cur !== null && run.conn === conn) run.onBackendClose(new Error('backend connection closed'));
  }

  private logSlow(s: ClientSession, info: Float64Array): void {
    const slot = this.slots.get(info[8] as number);
    const tenant = slot ? slot.tenant : null;
    this.host.metrics.slowQueries.inc();
    s.log.warn({ tenant, user: s.user?.name, backend: s.backend?.cfg.name, durationMs: Math.round((info[9] as number) / 1000), rows: info[4], digest: slot ? (slot.digest ?? undefined) : undefined, lane: true }, 'slow query');
  }

  /** Folds the lanes' per-slot counters into the statement metrics and digest statistics. */
  fold(): void {
    const st = this.stats;
    const stride = this.stride;
    const nb = this.nbuckets;
    const m = this.host.metrics;
    const digestsOn = this.host.config.digests.maxEntries > 0;
    const now = Date.now();
    for (const [i, slot] of this.slots) {
      const o = i * stride;
      const n = st[o] as number;
      if (n === 0) continue;
      this.statements += n;
      if (slot.role !== null) {
        this.host.routes[slot.role] += n;
        this.host.identity.hits += n;
        // On the JS path each of these would have found its plan by its shape (plan-cache hit metrics).
        if (slot.cmd === 'query') this.host.fastPlans.hits += n;
      }
      m.recordLaneBatch(slot.cmd, slot.tenant, n, (st[o + 1] as number) / 1e6, st.subarray(o + 7, o + 7 + nb), st[o + 5] as number, st[o + 6] as number);
      if (digestsOn && slot.digest !== null) {
        const ds = this.host.digestStats;
        let e = slot.entry;
        if (e === null || !e.live) e = slot.entry = ds.entry(slot.tenantKey, slot.digest, now);
        ds.addMany(e, n, st[o + 1] as number, st[o + 2] as number, st[o + 3] as number, st[o + 4] as number, now);
      }
      st.fill(0, o, o + stride);
    }
  }

  /** A pooled connection parked in a lane died (destroyed by the proxy: health, reload, timeout). */
  connLost(s: ClientSession): void {
    if (s.lane !== null) this.native.detach(s.lane.id);
  }

  /** Ejects so far by reason name (metrics). */
  ejectCounts(): [string, number][] {
    const out: [string, number][] = [];
    for (let i = 1; i < EJECT_REASONS.length; i++) out.push([EJECT_REASONS[i] as string, this.ejects[i] as number]);
    return out;
  }

  /** Sessions attached now (metrics). */
  get attachedCount(): number {
    return this.attached;
  }
}

/** The sink a parked connection carries: never fed (JS does not read it); its death detaches the lane. */
function laneSink(m: LaneManager, s: ClientSession): BackendSink {
  return {
    onBackendData: () => false,
    onBackendClose: () => m.connLost(s),
  };
}
