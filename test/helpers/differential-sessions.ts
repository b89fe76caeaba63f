/**
 * Driver of the randomized multi-session differential test: runs the actions of
 * test/helpers/state-steps.ts on two "worlds" in lockstep — sessions through the proxy, and for each
 * session a model (a dedicated direct connection to a second, identically set-up server, logged in as
 * the server user of the same name into the same schema) — and compares every result and every
 * observation. Ids are compared modulo identity: CONNECTION_ID() must equal the id the session got in
 * its handshake, IS_USED_LOCK() only says whether a lock is held.
 */
import mysql from 'mysql2/promise';
import type { MariaDbServer } from './mariadb';
import type { Conn, Mode } from './proxy';
import { run, withTimeout } from './proxy';
import type { Action, BurstStep, GenerateOptions, SessionUser } from './state-steps';
import { generateActions, lockNames, observationSql, PASSWORD, SLOTS, TEMP_TABLES } from './state-steps';

/** How one world opens a session for a user. */
export interface World {
  name: string;
  /** The server whose state this world's sessions change (for waiting on cleanup after a disconnect). */
  server: MariaDbServer;
  connect(user: SessionUser, db: string | null): Promise<Conn>;
}

/** A world of direct connections to `server` as the server user of the same name. */
export function directWorld(name: string, server: MariaDbServer): World {
  return {
    name,
    server,
    connect: (user, db) => open(server.port, user.name, db ?? undefined),
  };
}

/**
 * A world of sessions through a proxy listening on `port` in front of `server`. The user's default
 * schema is left to the proxy (no database sent) unless the action names another one.
 */
export function proxyWorld(name: string, server: MariaDbServer, port: number): World {
  return {
    name,
    server,
    connect: (user, db) => open(port, user.name, db === user.schema ? undefined : db ?? undefined),
  };
}

async function open(port: number, user: string, database: string | undefined): Promise<Conn> {
  const c = await mysql.createConnection({
    host: '127.0.0.1', port, user, password: PASSWORD, database, multipleStatements: true, connectTimeout: 10_000,
  });
  c.on('error', () => {});
  return c;
}

interface Live {
  conn: Conn | null;
  /** The id from the handshake: what CONNECTION_ID() must return. */
  id: number;
  user: SessionUser | null;
  /**
   * No SELECT has completed since the session connected: FOUND_ROWS() is not defined yet (a server
   * answers with whatever the thread last had — 0 or 1 in the same setup, depending on thread reuse).
   */
  fresh: boolean;
}

const UNDEFINED_FOUND_ROWS = 'not defined before the first SELECT';

/** Runs one statement; FOUND_ROWS() read before the session's first SELECT is masked (see Live.fresh). */
async function runTracked(l: Live, sql: string, mode: Mode, frKey: string | null): Promise<unknown> {
  const fresh = l.fresh;
  const r = await runOne(l, sql, mode);
  if (fresh && frKey !== null && Array.isArray(r)) for (const row of r as Array<Record<string, unknown>>) if (frKey in row) row[frKey] = UNDEFINED_FOUND_ROWS;
  if (/^\s*SELECT\b/i.test(sql) && !(typeof r === 'object' && r !== null && 'err' in r)) l.fresh = false;
  return r;
}

/** A value made comparable across worlds. */
function norm(v: unknown, selfId: number, key = ''): unknown {
  if (v === null || v === undefined) return null;
  if (key === 'cid') return Number(v) === selfId ? 'self' : `id:${String(v)}`;
  if (Buffer.isBuffer(v)) return `hex:${v.toString('hex')}`;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map((x) => norm(x, selfId));
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (o.constructor?.name === 'ResultSetHeader') {
      return {
        ok: true, affected: o.affectedRows, insertId: o.insertId, warnings: o.warningStatus, info: o.info,
        status: Number(o.serverStatus) & 0x3,
      };
    }
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(o)) out[k] = norm(o[k], selfId, k);
    return out;
  }
  return v;
}

function errView(e: unknown): unknown {
  const x = e as { errno?: number; sqlState?: string; code?: string; fatal?: boolean; message?: string };
  if (x.errno !== undefined && x.errno !== null) return { err: x.errno, state: x.sqlState };
  return { err: `fatal:${x.code ?? x.message}` };
}

async function runOne(l: Live, sql: string, mode: Mode): Promise<unknown> {
  if (!l.conn) return { err: 'no connection' };
  try {
    const [rows] = await run(l.conn, mode, sql);
    return norm(rows, l.id);
  } catch (e) {
    return errView(e);
  }
}

/** One step of a burst: parameters go with it; FOUND_ROWS() of a fresh session is masked as in runTracked. */
async function runBurstStep(l: Live, b: BurstStep): Promise<unknown> {
  if (b.params === undefined) return runTracked(l, b.sql, b.mode, /FOUND_ROWS\(\) AS fr/i.test(b.sql) ? 'fr' : null);
  if (!l.conn) return { err: 'no connection' };
  try {
    const [rows] = await run(l.conn, b.mode, b.sql, b.params);
    l.fresh = false;
    return norm(rows, l.id);
  } catch (e) {
    return errView(e);
  }
}

/** The statements of one observation of slot `i`. */
export function observationStatements(i: number, mode: Mode): Array<[string, Mode]> {
  return [
    [observationSql(), mode],
    [`SELECT COUNT(*) AS n, SUM(v) AS s, MAX(id) AS m FROM t_${i}`, mode],
    ...TEMP_TABLES.map((t): [string, Mode] => [`SELECT * FROM ${t} ORDER BY 1`, 'query']),
  ];
}

/** Waits (bounded) until the slot's old session is gone from the world's server. */
async function quiesce(world: World, oldThread: number | null, slot: number): Promise<void> {
  const deadline = Date.now() + 3000;
  const names = lockNames().filter((n) => n === `lk_${slot}` || n === `lk_${slot}p`);
  for (;;) {
    const [row] = (await world.server.query(
      `SELECT (SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?) AS alive, ` +
        names.map((n) => `(IS_USED_LOCK('${n}') IS NOT NULL)`).join(' + ') + ' AS held',
      [oldThread ?? 0],
    )) as Array<{ alive: number; held: number }>;
    if (Number(row.alive) === 0 && Number(row.held) === 0) return;
    // A proxy that leaks the lock never gets here; the observations then show the leak.
    if (Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const IGNORED = (process.env.MULTIPLEX_IGNORE ?? '').split(',').filter(Boolean);

interface LogEntry {
  n: number;
  action: Action;
  a: unknown;
  b: unknown;
}

/** A divergence between the worlds, with what is needed to replay it. */
export class Divergence extends Error {}

/**
 * Runs `total` actions from `seed` on worlds `a` (under test) and `b` (the model) and throws a
 * {@link Divergence} at the first difference. Returns the number of actions and observations run.
 */
export async function runDifferential(
  seed: number,
  total: number,
  a: World,
  b: World,
  reproduce: string,
  gen: GenerateOptions = {},
): Promise<{ actions: number; observations: number; statements: number }> {
  const la: Live[] = Array.from({ length: SLOTS }, () => ({ conn: null, id: 0, user: null, fresh: true }));
  const lb: Live[] = Array.from({ length: SLOTS }, () => ({ conn: null, id: 0, user: null, fresh: true }));
  const log: LogEntry[] = [];
  let observations = 0;
  let statements = 0;
  let n = 0;
  let first: string | null = null;
  const classes = new Map<string, { first: number; count: number }>();
  const note = (entry: LogEntry, what: string): void => {
    for (const k of diffKeys(entry)) {
      const c = classes.get(k);
      if (c) c.count++;
      else classes.set(k, { first: entry.n, count: 1 });
    }
    if (first !== null) return;
    const recent = log.slice(-30).map((e) => `  #${e.n} ${describe(e.action, la)}\n      ${a.name}: ${short(e.a)}\n      ${b.name}: ${short(e.b)}`);
    const leak = foreignTags(JSON.stringify(entry.a), entry.action.slot);
    first =
      `${what} at action #${entry.n} (seed ${seed}): ${describe(entry.action, la)}\n` +
      `${a.name}: ${JSON.stringify(entry.a)}\n${b.name}: ${JSON.stringify(entry.b)}\n` +
      (leak.length ? `values of OTHER sessions seen by ${a.name}: ${leak.join(', ')}\n` : '') +
      `replay: ${reproduce.replace('<seed>', String(seed))}\nlast actions:\n${recent.join('\n')}`;
  };
  const closeOld = async (w: World, l: Live, slot: number): Promise<void> => {
    if (!l.conn) return;
    const c = l.conn;
    l.conn = null;
    await withTimeout(c.end(), 5000, 'end').catch(() => c.destroy());
    await quiesce(w, l.id, slot);
  };
  const openIn = async (w: World, l: Live, act: Extract<Action, { kind: 'connect' }>): Promise<unknown> => {
    await closeOld(w, l, act.slot);
    try {
      l.conn = await w.connect(act.user, act.db);
      l.id = l.conn.threadId as number;
      l.user = act.user;
      l.fresh = true;
      return 'connected';
    } catch (e) {
      return errView(e);
    }
  };

  try {
    for (const act of generateActions(seed, total, gen)) {
      n++;
      const sa = la[act.slot];
      const sb = lb[act.slot];
      let ra: unknown;
      let rb: unknown;
      const step = async (l: Live, w: World): Promise<unknown> => {
        if (act.kind === 'connect') return openIn(w, l, act);
        if (act.kind === 'stmt') return runTracked(l, act.sql, act.mode, /FOUND_ROWS\(\) AS fr/i.test(act.sql) ? 'fr' : null);
        if (act.kind === 'reset') return l.conn ? l.conn.reset().then(() => 'reset', errView) : { err: 'no connection' };
        if (act.kind === 'burst') {
          const res: unknown[] = [];
          for (const b of act.steps) res.push(await runBurstStep(l, b));
          return res;
        }
        const out: unknown[] = [];
        let first = true;
        for (const [sql, mode] of observationStatements(act.slot, act.mode)) {
          out.push(await runTracked(l, sql, mode, first ? 'fr' : null));
          first = false;
        }
        // Diagnosis only: MULTIPLEX_IGNORE=fr,rc leaves fields out, to see past a known difference.
        if (Array.isArray(out[0])) for (const row of out[0] as Array<Record<string, unknown>>) for (const k of IGNORED) delete row[k];
        return out;
      };
      ra = await withTimeout(step(sa, a), 20_000, `${a.name} action #${n}`).catch((e: Error) => ({ hang: e.message }));
      rb = await withTimeout(step(sb, b), 20_000, `${b.name} action #${n}`).catch((e: Error) => ({ hang: e.message }));
      if (act.kind === 'observe') observations++;
      if (act.kind === 'stmt') statements++;
      const entry = { n, action: act, a: ra, b: rb };
      log.push(entry);
      if (process.env.MULTIPLEX_TRACE) {
        const same = JSON.stringify(ra) === JSON.stringify(rb);
        console.log(`#${n} ${describe(act, la)}\n   ${a.name}: ${short(ra)}${same ? '' : `\n   ${b.name}: ${short(rb)}`}`);
      }
      // A hang or harness error is never "equal": it must not pass the self-check unnoticed.
      if (JSON.stringify(ra) !== JSON.stringify(rb) || isHang(ra) || isHang(rb)) {
        note(entry, act.kind === 'observe' ? 'observed state differs' : 'result differs');
        // A hang leaves the worlds out of step for good; later differences would say nothing new.
        if (isHang(ra) || isHang(rb)) break;
      }
    }
  } finally {
    // Closed with the same wait as a reconnect, so the next run starts from settled servers.
    for (let i = 0; i < SLOTS; i++) {
      await closeOld(a, la[i], i).catch(() => la[i].conn?.destroy());
      await closeOld(b, lb[i], i).catch(() => lb[i].conn?.destroy());
    }
  }
  if (first !== null) {
    const summary = [...classes].sort((x, y) => x[1].first - y[1].first)
      .map(([k, c]) => `  ${k}: first at #${c.first}, ${c.count} time(s)`).join('\n');
    throw new Divergence(`${first}\n\nall differences of the run (later ones may follow from earlier ones):\n${summary}`);
  }
  return { actions: n, observations, statements };
}

function isHang(v: unknown): boolean {
  return typeof v === 'object' && v !== null && 'hang' in v;
}

/** Names for what differs: observation fields, or the statement's first words. */
function diffKeys(e: LogEntry): string[] {
  if (e.action.kind === 'connect' || e.action.kind === 'reset') return [e.action.kind];
  if (e.action.kind === 'burst') {
    const a = e.a as unknown[];
    const b = e.b as unknown[];
    if (!Array.isArray(a) || !Array.isArray(b)) return ['burst'];
    return e.action.steps.flatMap((st, k) => (JSON.stringify(a[k]) === JSON.stringify(b[k]) ? [] : [`burst ${st.mode} ${st.sql.split(/[ (]/).slice(0, 3).join(' ')}`]));
  }
  if (e.action.kind === 'stmt') return [`${e.action.mode} ${e.action.sql.split(/[ (]/).slice(0, 2).join(' ')}`];
  const a = e.a as unknown[];
  const b = e.b as unknown[];
  if (!Array.isArray(a) || !Array.isArray(b)) return ['observe'];
  const keys: string[] = [];
  const what = ['main', 'own table', ...TEMP_TABLES];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (JSON.stringify(a[i]) === JSON.stringify(b[i])) continue;
    const ra = (Array.isArray(a[i]) ? (a[i] as unknown[])[0] : a[i]) as Record<string, unknown> | undefined;
    const rb = (Array.isArray(b[i]) ? (b[i] as unknown[])[0] : b[i]) as Record<string, unknown> | undefined;
    if (i === 0 && ra && rb && typeof ra === 'object' && typeof rb === 'object' && !('err' in ra) && !('err' in rb)) {
      for (const k of Object.keys(rb)) {
        if (JSON.stringify(ra[k]) !== JSON.stringify(rb[k])) keys.push(`observe ${k} (${e.action.mode})`);
      }
    } else keys.push(`observe ${what[i]}`);
  }
  return keys;
}

function describe(act: Action, la: Live[]): string {
  const who = `slot ${act.slot} (${la[act.slot].user?.name ?? '?'})`;
  if (act.kind === 'connect') return `${who} connects as ${act.user.name} to ${act.db ?? '(no schema)'}`;
  if (act.kind === 'stmt') return `${who} ${act.mode}: ${act.sql}`;
  if (act.kind === 'reset') return `${who} resets the connection (COM_RESET_CONNECTION)`;
  if (act.kind === 'burst') return `${who} burst: ${act.steps.map((b) => `[${b.mode}] ${b.sql}${b.params ? ` ${JSON.stringify(b.params)}` : ''}`).join(' | ')}`;
  return `${who} observes (${act.mode})`;
}

function short(v: unknown): string {
  const s = JSON.stringify(v) ?? 'undefined';
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

/** Session tags (`s<slot>e<epoch>n<k>`) of other slots found in a result. */
function foreignTags(text: string, slot: number): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/s(\d)e(\d+)n\d+/g)) if (Number(m[1]) !== slot) out.add(m[0]);
  return [...out];
}
