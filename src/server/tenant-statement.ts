/**
 * The glue between a tenant session's commands and the pure routing layer: scan → isolation +
 * plan (through the plan cache) → topology selector → the pool of the chosen backend and the
 * tenant's backend account. Refusals become ERR packets; what the proxy answers itself (process
 * list, schema list) is answered here from the proxy's own sessions.
 */
import { Status } from '../protocol/constants';
import type { Frame } from '../protocol/framer';
import { buildErr } from '../protocol/ok-err';
import { framePayload } from '../protocol/packet-writer';
import { scanStatement } from '../classify/digest';
import type { ScanOptions, StatementScan } from '../classify/scan-types';
import { Q, scanQuery, type QueryInfo } from '../classify/lexer';
import { substituteConnectionId } from './row-count';
import { formatGtidPos, type GtidPos } from '../backend/gtid';
import { rywScopeKey } from '../backend/ryw-store';
import { selectBackend, withoutDrained } from '../backend/selector';
import type { BackendPool } from '../backend/pool';
import { checkSchemaSwitch, type ProxyAnswer } from '../routing/isolation';
import { placementFor, type Placement } from '../routing/placement';
import { tenantForUse } from '../routing/tenant';
import { classifyRoute, finishPlan, type RoutePlan, type SessionFlags, type StatementRoute } from '../routing/planner';
import { dbAccessDenied, notVerifiable, type Refusal } from '../routing/refusal';
import { applyRewrites } from '../routing/rewrite';
import { decideStatement, literalDependent, optionBits } from '../routing/route';
import { lastKeyBytes, literalFreeKey } from '../classify/literal-free-key';
import type { ClientSession } from './client-session';
import { Resp } from './result-relay';
import { textResult } from './text-result';
import { localStatus, writeLocalResult } from './local-result';

/** Where one statement of a tenant session runs: a pool, as which account, after which GTID. */
export interface RouteChoice {
  readonly pool: BackendPool;
  readonly account: string;
  readonly password: string;
  /** Backend name (for in-flight counts and errors). */
  readonly backend: string;
  readonly role: 'primary' | 'replica';
  /** MASTER_GTID_WAIT for this position on the replica first; null: none. */
  readonly waitGtid: GtidPos | null;
  readonly cluster: string;
}

/** The read-your-writes scope key of a session, or null when read-your-writes is off (cached per placement). */
export function rywKey(s: ClientSession, p: Placement): string | null {
  if (s.rywKeyFor === p) return s.rywKeyValue;
  const scope = s.ctx.routing.config.readYourWrites.scope;
  s.rywKeyFor = p;
  s.rywKeyValue = scope === 'off' ? null : rywScopeKey(scope, p.cluster, p.tenant, s.id);
  return s.rywKeyValue;
}

function required(s: ClientSession, p: Placement): GtidPos | null {
  const k = rywKey(s, p);
  return k === null ? null : s.ctx.ryw.requiredGtid(k);
}

/** The session flags the planner reads. */
function flags(s: ClientSession, gtid: GtidPos | null): SessionFlags {
  const st = s.st;
  return {
    inTransaction: (st.lastStatus & Status.IN_TRANS) !== 0,
    pinned: s.runner.conn !== null,
    lastWriteGtid: gtid ? formatGtidPos(gtid) : null,
  };
}

/** Scan options from the session's sql_mode and character_set_client (cached per state version). */
export function scanOptions(s: ClientSession): ScanOptions {
  const st = s.st;
  if (s.scanOptsVersion === st.version && s.scanOpts) return s.scanOpts;
  const defaults = s.pool ? s.pool.defaults : null;
  const mode = (st.vars.get('sql_mode') ?? defaults?.get('sql_mode') ?? '').toUpperCase();
  const charset = st.vars.get('character_set_client') ?? defaults?.get('character_set_client') ?? undefined;
  s.scanOpts = { ansiQuotes: mode.includes('ANSI_QUOTES'), noBackslashEscapes: mode.includes('NO_BACKSLASH_ESCAPES'), charset };
  s.scanOptsVersion = st.version;
  return s.scanOpts;
}

/** Turns a plan into a backend choice (null: the statement runs on the session's pinned connection). */
export function choose(s: ClientSession, p: Placement, plan: RoutePlan, gtid: GtidPos | null): RouteChoice | Refusal | null {
  const ctx = s.ctx;
  if (plan.target === 'pinned' && s.runner.conn !== null) {
    ctx.routes.pinned++;
    return null;
  }
  const live = ctx.topology?.snapshot().clusters.get(plan.cluster);
  if (!live) return notVerifiable(p.tenant, `cluster '${plan.cluster}' is not configured`);
  const cluster = ctx.drained.size > 0 ? withoutDrained(live, ctx.drained) : live;
  const sel = selectBackend(plan.target === 'replica' ? { kind: 'replica', requiredGtid: plan.waitGtid ? gtid : null } : { kind: 'primary' }, cluster, ctx.inFlight, Math.random);
  if (!sel.ok) return { action: 'refuse', errno: sel.errno, sqlState: sel.sqlState, message: sel.message };
  // Without a GTID wait the choice depends only on (placement, backend): reuse it, no allocation per statement.
  const cache = s.choices;
  if (sel.waitGtid === null && s.choicesFor === p) {
    const hit = cache.get(sel.backend);
    if (hit !== undefined) {
      ctx.routes[hit.role]++;
      return hit;
    }
  }
  const backend = ctx.backends.get(sel.backend);
  if (!backend) return notVerifiable(p.tenant, `backend '${sel.backend}' is not configured`);
  const t = ctx.routing.tenantsById.get(p.tenant);
  const choice: RouteChoice = {
    pool: backend.pool(s.profileCaps, s.collation, s.extMeta),
    account: p.backendUser,
    password: t ? t.backendPassword : '',
    backend: sel.backend,
    role: sel.role,
    waitGtid: sel.waitGtid,
    cluster: plan.cluster,
  };
  if (sel.waitGtid === null) {
    if (s.choicesFor !== p) {
      cache.clear();
      s.choicesFor = p;
    }
    cache.set(sel.backend, choice);
  }
  ctx.routes[choice.role]++;
  return choice;
}

/** The primary of the tenant's cluster (commands with no statement to plan: INIT_DB, FIELD_LIST, ...). */
export function primaryChoice(s: ClientSession, p: Placement): RouteChoice | Refusal | null {
  return choose(s, p, { target: s.runner.conn !== null ? 'pinned' : 'primary', cluster: p.cluster, schema: p.schema, identity: { tenant: p.tenant, backendUser: p.backendUser }, waitGtid: null, reason: 'command' }, null);
}

function refuse(s: ClientSession, r: Refusal): void {
  s.ctx.metrics.errors.inc({ kind: 'tenant_refused' });
  s.sendPacket(buildErr(r.errno, r.sqlState, r.message), 1);
}

function rewritten(f: Frame, p: Buffer, start: number, rewrites: readonly { start: number; end: number; text: string }[]): Frame {
  const sql = applyRewrites(p, start, p.length, rewrites);
  const payload = Buffer.concat([p.subarray(0, start), sql]);
  return { payload, seq: f.seq, lastSeq: f.seq, raw: framePayload(payload, 0) };
}

/**
 * Scan-option bits for the literal-free key, or -1 when the session's charset pairs bytes (gbk,
 * big5, sjis, ...: a trail byte 0x5c is not an escape there, so only the full scanner reads it).
 */
function keyBits(s: ClientSession, o: ScanOptions): number {
  if (s.keyBitsFor === o) return s.keyBits;
  s.keyBits = singleByteSafe(o) ? optionBits(o) : -1;
  s.keyBitsFor = o;
  return s.keyBits;
}

/** The connection charset has no ASCII-range trail bytes (utf8*, latin1, ascii, binary): a 0x5c byte is always `\`. */
export function singleByteSafe(o: ScanOptions): boolean {
  const cs = (o.charset ?? 'utf8mb4').toLowerCase();
  return cs.startsWith('utf8') || cs === 'latin1' || cs === 'ascii' || cs === 'binary';
}

/** COM_QUERY of a tenant session. `info` is the session lexer's view of the original payload. */
export function tenantQuery(s: ClientSession, f: Frame, info: QueryInfo, clearDiag = false): void {
  const p = f.payload;
  const ctx = s.ctx;
  const opts = scanOptions(s);
  let plan: RoutePlan;
  let frame = f;
  let qi = info;
  // A statement of a shape seen before (only its literal values differ) skips the digest scan.
  let h = -1;
  if (!ctx.unsafeSkipProxyIsolation) {
    const bits = keyBits(s, opts);
    if (bits >= 0) h = literalFreeKey(p, 1, p.length, opts.noBackslashEscapes === true, opts.ansiQuotes === true, bits);
    if (h >= 0) {
      const placement = s.tenant as Placement;
      // The same key finds the statement's digest statistics; on a miss keep a copy of it (a new
      // shape only) so the entry made at the statement's end is found by it next time.
      const e = ctx.digestKeys.get(h, placement.tenant);
      if (e !== null) s.cmd.statsEntry = e;
      else {
        s.cmd.statsKeyHash = h;
        s.cmd.statsKeyBytes = lastKeyBytes();
      }
      const route = ctx.fastPlans.get(h, placement.tenant, ctx.routing.version);
      if (route !== undefined) {
        s.cmd.shapeDecided = true;
        const gtid = required(s, placement);
        return send(s, f, qi, placement, finishPlan(route, placement, flags(s, gtid), ctx.routing.config.readYourWrites), gtid, clearDiag);
      }
    }
  }
  const scan = scanStatement(p, 1, p.length, opts);
  s.cmd.statsDigest = scan.digest;
  if (scan.kind === 'use' && scan.statements.length === 1 && s.runner.conn === null) maybeSwitchTenant(s, scan);
  const placement = s.tenant as Placement;
  const gtid = required(s, placement);
  const fl = flags(s, gtid);
  if (ctx.unsafeSkipProxyIsolation) {
    plan = finishPlan(classifyRoute(scan), placement, fl, ctx.routing.config.readYourWrites);
  } else {
    const d = decideStatement(scan, p, 1, p.length, placement, fl, { user: s.loginName, scanOptions: opts }, ctx.routing, ctx.planCache);
    if (d.action === 'refuse') return refuse(s, d);
    if (d.action === 'answer') return answer(s, d.answer, scan.kind !== 'show', p.toString('utf8', 1));
    plan = d.plan;
    if (d.rewrites.length > 0) {
      frame = rewritten(f, p, 1, d.rewrites);
      qi = scanQuery(frame.payload, 1, frame.payload.length, s.routines);
    } else if (h >= 0 && scan.kind !== 'use' && scan.definers === null && !literalDependent(scan)) {
      // Allowed unchanged, and nothing in the decision read a literal's value (dynamic SQL,
      // information_schema schema filters and DEFINER accounts do; USE may switch tenant): the shape
      // alone decides, so remember it.
      ctx.fastPlans.set(h, placement.tenant, ctx.routing.version, classifyRoute(scan));
      s.cmd.shapeDecided = true;
    }
  }
  send(s, frame, qi, placement, plan, gtid, clearDiag);
}

/** The common tail of a tenant COM_QUERY: CONNECTION_ID() substituted, backend chosen, statement sent. */
function send(s: ClientSession, f: Frame, qi: QueryInfo, placement: Placement, plan: RoutePlan, gtid: GtidPos | null, clearDiag: boolean): void {
  let frame = f;
  if (qi.connIdAt !== null) {
    // SET pseudo_thread_id needs SUPER/BINLOG REPLAY, which no tenant account has: the proxy's id goes in as a literal.
    const payload = substituteConnectionId(frame.payload, qi.connIdAt, s.id);
    frame = { payload, seq: f.seq, lastSeq: f.seq, raw: framePayload(payload, 0) };
    qi = scanQuery(payload, 1, payload.length, s.routines);
    qi.flags &= ~Q.CONNECTION_ID;
  }
  // A call of a stored function (stateful, or not known to be stateless) may leave session state that
  // pins the session to the connection it ran on: never a replica's, where later writes would go.
  if (qi.flags & Q.CALL && plan.target === 'replica') plan = { ...plan, target: 'primary', waitGtid: null, reason: 'stored function call' };
  const c = choose(s, placement, plan, gtid);
  if (c !== null && 'action' in c) return refuse(s, c);
  s.runner.forward(Resp.QUERY, frame, qi, null, clearDiag, c);
}

/**
 * `USE db` by a trusted worker whose tenant allows switching (allow_use_switch, database strategy):
 * the connection becomes the tenant owning `db`. Otherwise the tenant stays and isolation judges `db`.
 */
function maybeSwitchTenant(s: ClientSession, scan: StatementScan): void {
  const cur = s.tenant as Placement;
  const ref = scan.schemaRefs.find((r) => r.via === 'use');
  if (!ref || !s.user) return;
  const snap = s.ctx.routing;
  const d = tenantForUse(cur.tenant, s.user.name, s.loginName, ref.name, snap);
  if (d.action !== 'switch') return;
  const next = placementFor(d.tenant, snap);
  if ('action' in next) return;
  s.log.info({ from: cur.tenant, to: next.tenant }, 'tenant switched by USE');
  s.tenant = next;
  // The old tenant's schema is not the new account's to select: the replay selects the new one.
  s.st.schema = next.schema;
  s.st.version++;
}

/** COM_STMT_PREPARE of a tenant session: isolation at PREPARE time; the route class is kept for EXECUTE. */
export function tenantPrepare(s: ClientSession, f: Frame): void {
  const p = f.payload;
  const placement = s.tenant as Placement;
  const ctx = s.ctx;
  const opts = scanOptions(s);
  const scan: StatementScan = scanStatement(p, 1, p.length, opts);
  let frame = f;
  if (!ctx.unsafeSkipProxyIsolation) {
    const d = decideStatement(scan, p, 1, p.length, placement, flags(s, null), { user: s.loginName, scanOptions: opts }, ctx.routing, ctx.planCache);
    if (d.action === 'refuse') return refuse(s, d);
    if (d.action === 'answer') return refuse(s, notVerifiable(placement.tenant, 'a prepared statement the proxy answers itself'));
    if (d.rewrites.length > 0) frame = rewritten(f, p, 1, d.rewrites);
  }
  // CONNECTION_ID() is the proxy's session id, as in text queries (a tenant account cannot set
  // pseudo_thread_id): written into the statement at PREPARE, so every EXECUTE and re-prepare has it.
  const qi = scanQuery(frame.payload, 1, frame.payload.length, s.routines);
  if (qi.connIdAt !== null) {
    const payload = substituteConnectionId(frame.payload, qi.connIdAt, s.id);
    frame = { payload, seq: f.seq, lastSeq: f.seq, raw: framePayload(payload, 0) };
  }
  const c = primaryChoice(s, placement);
  if (c !== null && 'action' in c) return refuse(s, c);
  const route = qi.flags & Q.CALL ? { read: false, reason: 'stored function call', hint: null } : classifyRoute(scan);
  s.runner.forward(Resp.PREPARE, frame, null, null, false, c, route, (qi.flags & Q.READS_DIAGNOSTICS) !== 0);
}

/** The choice for COM_STMT_EXECUTE of a statement prepared with route class `route`. */
export function executeChoice(s: ClientSession, route: StatementRoute | undefined): RouteChoice | Refusal | null {
  const placement = s.tenant as Placement;
  if (!route) return primaryChoice(s, placement);
  const gtid = required(s, placement);
  return choose(s, placement, finishPlan(route, placement, flags(s, gtid), s.ctx.routing.config.readYourWrites), gtid);
}

/** COM_INIT_DB of a tenant session: only the tenant's schema (by its logical or physical name). */
export function tenantInitDb(s: ClientSession, f: Frame): void {
  const placement = s.tenant as Placement;
  const db = f.payload.toString('utf8', 1);
  let frame = f;
  if (!s.ctx.unsafeSkipProxyIsolation) {
    const phys = physicalSchema(placement, db);
    if (phys === null) return refuse(s, dbAccessDenied(s.loginName, db));
    if (phys !== db) {
      const payload = Buffer.concat([f.payload.subarray(0, 1), Buffer.from(phys, 'utf8')]);
      frame = { payload, seq: f.seq, lastSeq: f.seq, raw: framePayload(payload, 0) };
    }
  }
  const c = primaryChoice(s, placement);
  if (c !== null && 'action' in c) return refuse(s, c);
  s.runner.forward(Resp.SIMPLE, frame, null, null, false, c);
}

/** The physical name of `db` for this tenant, or null when it is not the tenant's schema. */
export function physicalSchema(p: Placement, db: string): string | null {
  const d = checkSchemaSwitch(db, p, '');
  return d.action === 'allow' ? d.schema : null;
}

/** The name the tenant knows its schema by (its logical name when it has one). */
function shownSchema(p: Placement, phys: string | null): string | null {
  if (phys === null) return null;
  return phys === p.schema && p.logicalSchema !== null ? p.logicalSchema : phys;
}

/** Answers a statement the isolation layer keeps from the server. */
function answer(s: ClientSession, a: ProxyAnswer, infoSchema: boolean, sql: string | null = null): void {
  const placement = s.tenant as Placement;
  const status = localStatus(s);
  const ext = s.extMeta;
  let packets: Buffer[];
  switch (a) {
    case 'databases':
      packets = textResult([{ name: 'Database' }], [['information_schema'], [shownSchema(placement, placement.schema)]], s.clientCaps, status, ext);
      break;
    case 'schemata':
      packets = textResult(
        [{ name: 'CATALOG_NAME' }, { name: 'SCHEMA_NAME' }],
        [['def', 'information_schema'], ['def', shownSchema(placement, placement.schema)]],
        s.clientCaps,
        status,
        ext,
      );
      break;
    case 'processlist': {
      const rows: (string | null)[][] = [];
      const now = Date.now();
      const own = sql ?? 'SHOW PROCESSLIST';
      for (const o of s.ctx.sessions.values()) {
        if (!o.tenant || o.tenant.tenant !== placement.tenant) continue;
        // as a server shows its own user's threads: time in the current command, the statement text
        const text = o === s ? own : o.runner.currentSql;
        rows.push([String(o.id), o.loginName, o.remoteHost, shownSchema(placement, o.st.schema), o === s || text !== null ? 'Query' : 'Sleep', String(o === s ? 0 : o.secondsInState(now)), '', text]);
      }
      const names = ['Id', 'User', 'Host', 'db', 'Command', 'Time', 'State', 'Info'].map((n) => (infoSchema ? n.toUpperCase() : n));
      packets = textResult(
        names.map((name, i) => ({ name, numeric: i === 0 || i === 5 })),
        rows,
        s.clientCaps,
        status,
        ext,
      );
      break;
    }
    case 'show_explain':
      if (sql !== null && showExplain(s, placement, sql)) return;
      return refuse(s, notVerifiable(placement.tenant, 'this form of SHOW EXPLAIN/ANALYZE FOR; use SHOW EXPLAIN [FORMAT=JSON] FOR <connection id>'));
    default:
      return refuse(s, notVerifiable(placement.tenant, 'this form of KILL; use KILL [QUERY] <connection id>'));
  }
  // A result set: ROW_COUNT() -1. What reads information_schema (SHOW DATABASES does) uses tables,
  // which clears the diagnostics area on a server; SHOW PROCESSLIST reads none.
  s.runner.noteLocalResult(null);
  if (a !== 'processlist' || infoSchema) s.st.diag = null;
  writeLocalResult(s, packets);
}

/** `SHOW EXPLAIN|ANALYZE [FORMAT=JSON] FOR <id>`: the id's digits located in the statement. */
const SHOW_EXPLAIN = /^\s*SHOW\s+(?:EXPLAIN|ANALYZE)(?:\s+FORMAT\s*=\s*\w+)?\s+FOR\s+(\d{1,10})\s*;?\s*$/i;

/**
 * SHOW EXPLAIN/ANALYZE FOR one of the tenant's own sessions: run on the server of the backend
 * connection executing that session's statement, for its thread (the proxy's account, on a
 * connection of its own). Another tenant's id is unknown (1094, as for an id that does not exist);
 * an idle session gets the server's own error for an idle thread. False: a form not handled.
 */
function showExplain(s: ClientSession, placement: Placement, sql: string): boolean {
  const m = SHOW_EXPLAIN.exec(sql);
  if (!m) return false;
  const id = Number(m[1]);
  const target = s.ctx.sessions.get(id);
  if (!target || !target.tenant || target.tenant.tenant !== placement.tenant) {
    s.sendPacket(buildErr(1094, 'HY000', `Unknown thread id: ${id}`), 1);
    return true;
  }
  const conn = target === s ? null : target.runner.runningOn;
  if (conn === null) {
    // what the server answers for a thread that runs nothing explainable (MariaDB ER_TARGET_NOT_EXPLAINABLE)
    s.sendPacket(buildErr(1933, 'HY000', 'Target is not executing an operation with a query plan'), 1);
    return true;
  }
  const at = sql.indexOf(m[1]!, sql.search(/\bFOR\b/i));
  const backendSql = sql.slice(0, at) + String(conn.threadId) + sql.slice(at + m[1]!.length);
  s.toBusy();
  s.ctx.queryBeside(conn, backendSql).then(
    (r) =>
      s.guard('show_explain', () => {
        if (r.err) {
          // the backend's thread id must not show through: a thread gone meanwhile is the session's id unknown
          const e = r.err.errno === 1094 ? buildErr(1094, 'HY000', `Unknown thread id: ${id}`) : buildErr(r.err.errno, r.err.sqlState, r.err.message);
          s.sendPacket(e, 1);
        } else {
          const rows = r.rows.map((row) => row.map((v) => (v === null ? null : v.toString('utf8'))));
          const packets = textResult(r.columns.map((c) => ({ name: c.name })), rows, s.clientCaps, localStatus(s), s.extMeta);
          // inside a split batch this ends the statement (and the batch goes on)
          if (s.batch !== null) return writeLocalResult(s, packets);
          writeLocalResult(s, packets);
        }
        s.toIdle();
      }),
    (e: Error) =>
      s.guard('show_explain', () => {
        s.sendErr(e, 1);
        s.toIdle();
      }),
  );
  return true;
}

const STARTED = Date.now();

/**
 * COM_STATISTICS for a tenant: the server's line carries server-wide counters (threads, questions,
 * slow queries), so the proxy answers with its own uptime and the tenant's own session count.
 */
export function tenantStatistics(s: ClientSession): void {
  const placement = s.tenant as Placement;
  let n = 0;
  for (const o of s.ctx.sessions.values()) if (o.tenant && o.tenant.tenant === placement.tenant) n++;
  const up = Math.floor((Date.now() - STARTED) / 1000);
  const text = `Uptime: ${up}  Threads: ${n}  Questions: 0  Slow queries: 0  Opens: 0  Open tables: 0  Queries per second avg: 0.000`;
  s.client.write(framePayload(Buffer.from(text, 'latin1'), 1));
}
