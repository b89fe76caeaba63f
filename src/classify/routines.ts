import { Q, scanQuery } from './lexer';

/** What the classifier knows about the server-side code a statement may run. */
export interface RoutineInfo {
  /** Upper-case names of stored functions that may change session state. */
  readonly functions: ReadonlySet<string>;
  /** Upper-case names of tables with such triggers, and of views that call such functions. */
  readonly tables: ReadonlySet<string>;
  /** Upper-case names of procedures proven NOT to change session state (CALL of them does not pin). */
  readonly statelessProcedures: ReadonlySet<string>;
  /** Upper-case names of stored functions proven NOT to change session state (any other non-built-in call pins). */
  readonly statelessFunctions: ReadonlySet<string>;
}

/** Nothing known: no stored function or table gets special treatment. */
export const NO_ROUTINES: RoutineInfo = { functions: new Set(), tables: new Set(), statelessProcedures: new Set(), statelessFunctions: new Set() };

/** Flags of a routine body that change session state beyond what the server tracks. */
const STATEFUL =
  Q.USER_VAR_ASSIGN | Q.GET_LOCK | Q.CREATE_TEMPORARY | Q.LOCK_TABLES | Q.SQL_PREPARE | Q.HANDLER | Q.CALL | Q.CALC_FOUND_ROWS |
  Q.LAST_INSERT_ID | Q.CONNECTION_ID | Q.SET_TRANSACTION;

/** One definition from information_schema (the body is null when the backend account cannot read it). */
export interface RoutineDef {
  name: string;
  body: string | null;
}

/**
 * Statements inside BEGIN ... END, THEN, ELSE, LOOP are not where the scanner expects statements to
 * start, so positional checks (SET @x = ..., CALL, PREPARE) are replaced by conservative ones: any
 * user variable reference, and the words CALL and PREPARE anywhere (even in a string), count.
 */
const ANYWHERE = /\b(CALL|PREPARE|EXECUTE|LOCK)\b|\bHANDLER\s+\S+\s+OPEN\b|\bSET\s+TRANSACTION\b/i;

function stateful(body: string | null, functions: ReadonlySet<string>, known: ReadonlySet<string>): boolean {
  if (body === null) return true;
  const b = Buffer.from(body, 'utf8');
  // calls of stored functions not (yet) found stateful count as stateless; unknown names as calls
  const flags = scanQuery(b, 0, b.length, { functions, tables: NO_ROUTINES.tables, statelessFunctions: known }).flags;
  return (flags & (STATEFUL | Q.USER_VAR_READ)) !== 0 || ANYWHERE.test(body);
}

/**
 * Decides, from their definitions, which stored functions, triggers and views may change session
 * state (user variables, locks, temporary tables, ...): a body that does so itself, calls a
 * procedure, or calls a function that does. Unreadable bodies count as stateful. Pure.
 */
export function analyzeRoutines(
  functions: RoutineDef[],
  triggers: { table: string; body: string | null }[],
  views: RoutineDef[],
  procedures: RoutineDef[] = [],
): RoutineInfo {
  const fns = new Set<string>();
  const known = new Set(functions.map((f) => f.name.toUpperCase()));
  // Fixed point: a function is stateful if its body is, counting calls of functions found so far.
  for (let changed = true; changed; ) {
    changed = false;
    for (const f of functions) {
      const n = f.name.toUpperCase();
      if (!fns.has(n) && stateful(f.body, fns, known)) {
        fns.add(n);
        changed = true;
      }
    }
  }
  const tables = new Set<string>();
  for (const t of triggers) if (stateful(t.body, fns, known)) tables.add(t.table.toUpperCase());
  for (const v of views) if (stateful(v.body, fns, known)) tables.add(v.name.toUpperCase());
  // Names are matched without their schema: one stateful procedure of a name makes the name stateful.
  const statefulProcs = new Set<string>();
  for (const p of procedures) if (stateful(p.body, fns, known)) statefulProcs.add(p.name.toUpperCase());
  const statelessProcedures = new Set<string>();
  for (const p of procedures) if (!statefulProcs.has(p.name.toUpperCase())) statelessProcedures.add(p.name.toUpperCase());
  // Names are matched without their schema: one stateful function of a name makes the name stateful.
  const statelessFunctions = new Set<string>();
  for (const f of functions) if (!fns.has(f.name.toUpperCase())) statelessFunctions.add(f.name.toUpperCase());
  return { functions: fns, tables, statelessProcedures, statelessFunctions };
}
