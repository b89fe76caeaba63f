/**
 * The step generator of the randomized multi-session test (test/random/multiplex-random.test.ts):
 * a pure function of a seed that yields (re)connects, state-changing statements and observations for
 * several session slots, over the text (`query`) and binary (`execute`) protocols.
 *
 * Deadlock-free by design, whatever a correct proxy pins:
 * - every slot touches only its own table `t_<slot>` and its own lock names `lk_<slot>`, `lk_<slot>p`,
 *   so no session ever waits on a lock another live session holds;
 * - statements that leave state tied to one backend connection (temporary tables, LOCK TABLES,
 *   GET_LOCK, SQL PREPARE, HANDLER OPEN, transactions, autocommit=0, CALL of a procedure that changes
 *   state) are only generated for one "holder" slot at a time, and a holder keeps that role until it
 *   reconnects, so with a pool of 2 one backend connection is always left for everybody else;
 * - a statement that pins for one statement (SQL_CALC_FOUND_ROWS) is observed at once.
 * A non-holder's observation may be deferred while other slots run, so FOUND_ROWS(), ROW_COUNT() and
 * LAST_INSERT_ID() are read after the backend connection served other sessions.
 */
import { Prng } from './prng';
import type { Mode } from './proxy';
import { burstSteps } from './lane-steps';

/** A proxy user and the server user of the same name that the model logs in as. */
export interface SessionUser {
  name: string;
  /** The user's default schema; null: none (statements on unqualified names must fail with 1046). */
  schema: string | null;
}

export const PASSWORD = 'pw';
export const SCHEMAS = ['sa', 'sb', 'sc'] as const;
export const USERS: readonly SessionUser[] = [
  { name: 'app', schema: 'sa' },
  { name: 'bob', schema: 'sb' },
  { name: 'carol', schema: 'sc' },
  { name: 'dave', schema: null },
];
export const SLOTS = 6;
/** Temporary table names every slot may create: a leak shows as another session seeing one. */
export const TEMP_TABLES = ['tmp_0', 'tmp_1', 'tmp_p'] as const;
/** User variable names every slot may set. */
export const USER_VARS = ['v0', 'v1', 'v2', 'pv'] as const;

/** Setup SQL for one world (server): schemas, per-slot tables, procedures, server users. */
export function worldSetupSql(): string[] {
  const out: string[] = [];
  for (const u of USERS) {
    out.push(`CREATE USER IF NOT EXISTS '${u.name}'@'%' IDENTIFIED BY '${PASSWORD}'`);
    out.push(`GRANT ALL PRIVILEGES ON *.* TO '${u.name}'@'%'`);
  }
  for (const s of SCHEMAS) {
    out.push(`CREATE DATABASE IF NOT EXISTS ${s}`);
    for (let i = 0; i < SLOTS; i++) {
      out.push(`CREATE TABLE ${s}.t_${i} (id INT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB`);
      out.push(`INSERT INTO ${s}.t_${i} (v) VALUES (1), (2), (3)`);
    }
    out.push(`CREATE PROCEDURE ${s}.p_uv(x VARCHAR(40)) SET @pv = x`);
    out.push(
      `CREATE PROCEDURE ${s}.p_tmp(x VARCHAR(40)) BEGIN CREATE TEMPORARY TABLE IF NOT EXISTS tmp_p (x VARCHAR(40)); ` +
        `INSERT INTO tmp_p VALUES (x); END`,
    );
    out.push(`CREATE PROCEDURE ${s}.p_lock(n VARCHAR(40)) DO GET_LOCK(n, 2)`);
    out.push(`CREATE PROCEDURE ${s}.p_sys(n INT) SET SESSION group_concat_max_len = n`);
  }
  return out;
}

export type Action =
  | { kind: 'connect'; slot: number; user: SessionUser; db: string | null }
  | { kind: 'stmt'; slot: number; sql: string; mode: Mode }
  | { kind: 'observe'; slot: number; mode: Mode }
  /** COM_RESET_CONNECTION by the client (mysql2 reset()). */
  | { kind: 'reset'; slot: number }
  /** Statements sent back to back (no other session in between): what lets a fast lane take the session over. */
  | { kind: 'burst'; slot: number; steps: BurstStep[] };

export interface BurstStep {
  sql: string;
  mode: Mode;
  params?: unknown[];
}

export interface GenerateOptions {
  /** Chance of a burst (lane-steps.ts) after a statement; bursts come from their own PRNG, so the other actions stay those of the seed. */
  bursts?: number;
}

interface SlotGen {
  user: SessionUser | null;
  epoch: number;
  /** Statements run since it became the holder (-1: not the holder). */
  holderSteps: number;
  holderLimit: number;
  pendingObserve: boolean;
  n: number;
}

const SQL_MODES = ["''", "'ANSI_QUOTES'", "'PIPES_AS_CONCAT,NO_ZERO_DATE'", "'TRADITIONAL'", 'DEFAULT'];
const CHARSETS = ['latin1', 'utf8mb4', 'utf8mb3', 'binary'];
const ISOLATION = ['READ UNCOMMITTED', 'READ COMMITTED', 'REPEATABLE READ', 'SERIALIZABLE'];

/** Generates `total` actions for {@link SLOTS} slots from `seed`. */
export function* generateActions(seed: number, total: number, opts: GenerateOptions = {}): Generator<Action> {
  const r = new Prng(seed);
  const rb = new Prng((seed ^ 0x5bd1e995) >>> 0);
  const slots: SlotGen[] = Array.from({ length: SLOTS }, () => ({
    user: null, epoch: 0, holderSteps: -1, holderLimit: 0, pendingObserve: false, n: 0,
  }));
  let holder: number | null = null;
  let emitted = 0;

  const connect = (i: number): Action => {
    const s = slots[i];
    // The first six logins cover every user; later ones are random.
    const user = emitted < SLOTS ? USERS[i % USERS.length] : r.pick(USERS);
    s.user = user;
    s.epoch++;
    s.pendingObserve = true;
    if (holder === i) holder = null;
    s.holderSteps = -1;
    // Mostly the user's default schema; sometimes an explicit other one at connect.
    const db = r.chance(0.2) ? r.pick([...SCHEMAS]) : user.schema;
    return { kind: 'connect', slot: i, user, db };
  };

  while (emitted < total) {
    const i = emitted < SLOTS ? emitted : r.int(SLOTS);
    const s = slots[i];
    let a: Action;
    if (s.user === null) a = connect(i);
    else if (s.pendingObserve) {
      s.pendingObserve = false;
      a = { kind: 'observe', slot: i, mode: r.chance(0.5) ? 'query' : 'execute' };
    } else if ((s.holderSteps >= s.holderLimit && holder === i) || r.chance(0.03)) a = connect(i);
    else if (r.chance(0.02)) {
      // the session's own COM_RESET_CONNECTION: locks, transaction, temporary tables, variables go
      if (holder === i) holder = null;
      s.holderSteps = -1;
      s.pendingObserve = true;
      a = { kind: 'reset', slot: i };
    } else {
      const tag = `s${i}e${s.epoch}n${s.n++}`;
      const canHold = holder === null || holder === i;
      const st = statement(r, i, tag, canHold);
      if (st.holds && holder !== i) {
        holder = i;
        s.holderSteps = 0;
        s.holderLimit = r.range(4, 14);
      }
      if (holder === i) s.holderSteps++;
      s.pendingObserve = true;
      a = { kind: 'stmt', slot: i, sql: st.sql, mode: st.textOnly ? 'query' : r.chance(0.5) ? 'query' : 'execute' };
      if (st.observeNow) {
        yield a;
        emitted++;
        s.pendingObserve = false;
        a = { kind: 'observe', slot: i, mode: r.chance(0.5) ? 'query' : 'execute' };
      } else if (opts.bursts !== undefined && rb.chance(opts.bursts)) {
        yield a;
        emitted++;
        a = { kind: 'burst', slot: i, steps: burstSteps(rb, i, `s${i}e${s.epoch}b${s.n++}`) };
      }
    }
    yield a;
    emitted++;
  }
}

interface Gen {
  sql: string;
  /** Leaves state on the backend connection: only the holder may run it. */
  holds?: boolean;
  /** Multi-statement or otherwise text-only. */
  textOnly?: boolean;
  /** Pins for the next statement only: observe at once. */
  observeNow?: boolean;
}

/** One random statement for slot `i`; `tag` is a value unique to this session and step. */
function statement(r: Prng, i: number, tag: string, canHold: boolean): Gen {
  const free: Array<() => Gen> = [
    () => ({ sql: `USE ${r.pick(['sa', 'sb', 'sc', 'no_such_db'])}` }),
    () => ({ sql: `SET SESSION sql_mode = ${r.pick(SQL_MODES)}` }),
    () => ({ sql: `SET time_zone = '+0${r.int(10)}:00'` }),
    () => ({ sql: `SET SESSION group_concat_max_len = ${1024 + r.int(5000)}` }),
    () => ({ sql: `SET NAMES ${r.pick(CHARSETS.filter((c) => c !== 'binary'))}` }),
    () => ({ sql: `SET CHARACTER SET ${r.pick(CHARSETS)}` }),
    () => ({ sql: `SET SESSION TRANSACTION ISOLATION LEVEL ${r.pick(ISOLATION)}` }),
    () => ({ sql: `SET @${r.pick(['v0', 'v1', 'v2'])} = '${tag}'` }),
    () => ({ sql: `SET @${r.pick(['v0', 'v1', 'v2'])} = ${r.int(1000)}` }),
    () => ({ sql: `SET @${r.pick(['v0', 'v1', 'v2'])} = NULL` }),
    () => ({ sql: `SELECT @${r.pick(['v0', 'v1', 'v2'])} := '${tag}' AS a` }),
    () => ({ sql: `SET SESSION sql_mode = ${r.pick(SQL_MODES)}, @v1 = '${tag}'` }),
    () => ({ sql: `INSERT INTO t_${i} (v) VALUES (${r.int(100)})` }),
    () => ({ sql: `INSERT INTO t_${i} (v) VALUES (${r.int(100)}), (${r.int(100)})` }),
    () => ({ sql: `UPDATE t_${i} SET v = v + 1 WHERE id % ${r.range(2, 4)} = 0` }),
    () => ({ sql: `SELECT SQL_CALC_FOUND_ROWS id FROM t_${i} ORDER BY id LIMIT 1`, observeNow: true }),
    () => ({ sql: 'SELECT FOUND_ROWS() AS fr' }),
    () => ({ sql: 'SELECT ROW_COUNT() AS rc' }),
    () => ({ sql: 'SELECT LAST_INSERT_ID() AS lid' }),
    () => ({ sql: `SELECT LAST_INSERT_ID(${r.range(1000, 9999)}) AS lid` }),
    () => ({ sql: 'SELECT CONNECTION_ID() AS cid' }),
    () => ({ sql: "SELECT CAST('x1' AS INT) AS w" }),
    () => ({ sql: 'SHOW WARNINGS' }),
    () => ({ sql: 'SELECT @@warning_count AS wc' }),
    () => ({ sql: 'EXECUTE ps1', textOnly: true }),
    () => ({ sql: 'HANDLER h READ FIRST' }),
    () => ({ sql: `SELECT RELEASE_LOCK('lk_${i}') AS rl` }),
    () => ({ sql: 'SELECT @@in_transaction AS t' }),
    () => ({
      sql: `SET @v2 = '${tag}'; SELECT @v2 AS a, DATABASE() AS db; SET SESSION group_concat_max_len = ${2000 + r.int(100)}`,
      textOnly: true,
    }),
    () => ({ sql: `USE ${r.pick(['sa', 'sb', 'sc'])}; SELECT DATABASE() AS db`, textOnly: true }),
  ];
  const holding: Array<() => Gen> = [
    () => ({ sql: `CREATE TEMPORARY TABLE ${r.pick(['tmp_0', 'tmp_1'])} (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(40))` }),
    () => ({ sql: `INSERT INTO ${r.pick(['tmp_0', 'tmp_1'])} (v) VALUES ('${tag}')` }),
    () => ({ sql: `DROP TEMPORARY TABLE ${r.pick(['tmp_0', 'tmp_1', 'tmp_p'])}` }),
    () => ({ sql: `LOCK TABLES t_${i} WRITE` }),
    () => ({ sql: 'UNLOCK TABLES' }),
    () => ({ sql: `UNLOCK TABLES; LOCK TABLES t_${i} WRITE`, textOnly: true }),
    () => ({ sql: `SELECT GET_LOCK('lk_${i}', 2) AS g` }),
    () => ({ sql: `PREPARE ps1 FROM 'SELECT CONCAT(''ps-'', @v0) AS x'`, textOnly: true }),
    () => ({ sql: 'DEALLOCATE PREPARE ps1', textOnly: true }),
    () => ({ sql: `HANDLER t_${i} OPEN AS h` }),
    () => ({ sql: 'HANDLER h CLOSE' }),
    () => ({ sql: r.pick(['BEGIN', 'START TRANSACTION']) }),
    () => ({ sql: r.pick(['COMMIT', 'ROLLBACK']) }),
    () => ({ sql: `SET autocommit = ${r.int(2)}` }),
    () => ({ sql: `BEGIN; INSERT INTO t_${i} (v) VALUES (${r.int(100)})`, textOnly: true }),
    () => ({ sql: `CALL p_uv('${tag}')` }),
    () => ({ sql: `CALL p_tmp('${tag}')` }),
    () => ({ sql: `CALL p_lock('lk_${i}p')` }),
    () => ({ sql: `CALL p_sys(${3000 + r.int(100)})` }),
  ];
  if (canHold && r.chance(0.35)) return { ...r.pick(holding)(), holds: true };
  return r.pick(free)();
}

/** Lock names a slot may hold; every observation reads all of them. */
export function lockNames(): string[] {
  const out: string[] = [];
  for (let i = 0; i < SLOTS; i++) out.push(`lk_${i}`, `lk_${i}p`);
  return out;
}

/**
 * The observation's first statement: everything session-scoped that is not a table, in one SELECT,
 * so FOUND_ROWS()/ROW_COUNT()/LAST_INSERT_ID() still describe the statement observed.
 */
export function observationSql(): string {
  const locks = lockNames().map((n) => `IS_USED_LOCK('${n}') IS NOT NULL AS \`${n}\``);
  return (
    'SELECT FOUND_ROWS() AS fr, ROW_COUNT() AS rc, LAST_INSERT_ID() AS lid, CONNECTION_ID() AS cid, ' +
    'DATABASE() AS db, @@in_transaction AS trx, @@autocommit AS ac, @@sql_mode AS mode, @@time_zone AS tz, ' +
    '@@character_set_client AS csc, @@character_set_results AS csr, @@collation_connection AS coll, ' +
    '@@group_concat_max_len AS gcml, @@tx_isolation AS iso, @@character_set_database AS csdb, @@collation_database AS cdb, ' +
    USER_VARS.map((v) => `@${v} AS ${v}`).join(', ') +
    ', ' +
    locks.join(', ')
  );
}
