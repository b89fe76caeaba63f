import { BUILTIN_FUNCTIONS } from './builtin-functions';

/**
 * A single-pass SQL scanner over the raw COM_QUERY bytes. It does not build an AST: it finds the
 * statement kind and the handful of constructs that decide how a statement must be routed and
 * what session state it touches. Strings, identifiers and comments are skipped correctly
 * (executable comments `/*! ... *\/` are scanned as code, as the server runs them).
 */

/** Flags describing what a query touches. */
export const Q = {
  USER_VAR_ASSIGN: 1 << 0,
  LAST_INSERT_ID: 1 << 1,
  ROW_COUNT: 1 << 2,
  FOUND_ROWS: 1 << 3,
  CONNECTION_ID: 1 << 4,
  CALC_FOUND_ROWS: 1 << 5,
  GET_LOCK: 1 << 6,
  RELEASE_LOCK: 1 << 7,
  RELEASE_ALL_LOCKS: 1 << 8,
  LOCK_TABLES: 1 << 9,
  UNLOCK_TABLES: 1 << 10,
  CREATE_TEMPORARY: 1 << 11,
  SQL_PREPARE: 1 << 12,
  SET_TRANSACTION: 1 << 13,
  READS_DIAGNOSTICS: 1 << 14,
  KILL: 1 << 15,
  SESSION_TRACK_VAR: 1 << 16,
  HANDLER: 1 << 17,
  MULTI: 1 << 18,
  USER_VAR_READ: 1 << 19,
  LOAD_DATA: 1 << 20,
  XA: 1 << 21,
  /** A CALL statement, or a call of a known stored function: server-side code may change any session state. */
  CALL: 1 << 22,
  /** CREATE/DROP/ALTER of a FUNCTION, PROCEDURE, TRIGGER or VIEW: what the proxy knows of routines may have changed. */
  ROUTINE_DDL: 1 << 23,
  /** LAST_INSERT_ID(expr) with an argument: sets the session's LAST_INSERT_ID() (no OK packet reports it after a SELECT). */
  SETS_LAST_INSERT_ID: 1 << 24,
  /** The word KILL anywhere in the code (also inside procedural text, where Q.KILL is not set): see batch-split.ts. */
  KILL_WORD: 1 << 25,
} as const;

/** What the scanner found. */
export interface QueryInfo {
  /** First keyword of the (first) statement, upper-case ('' when none). */
  kind: string;
  flags: number;
  /** Names (lower-case, without @) of user variables the query assigns. */
  userVars: string[] | null;
  /** For KILL: the id and whether only the query is killed. */
  killId: number;
  killQuery: boolean;
  /** GET_LOCK( occurrences minus RELEASE_LOCK( occurrences. */
  lockDelta: number;
  /** Literal names passed to GET_LOCK/RELEASE_LOCK, when every such call has one. */
  lockNames: string[] | null;
  /** A GET_LOCK/RELEASE_LOCK call whose name is not a string literal. */
  lockNameUnknown: boolean;
  /** Byte offsets of each `ROW_COUNT` word that is called (for the proxy to substitute its value). */
  rowCountAt: number[] | null;
  /** Byte offsets of each `CONNECTION_ID` word that is called (tenant sessions substitute the proxy's id). */
  connIdAt: number[] | null;
  /** Byte offsets of each `DATABASE` / `SCHEMA` word that is called (see server/row-count.ts substituteCalls). */
  schemaFnAt: number[] | null;
  /**
   * Byte offsets of each `@@[session.|local.]warning_count|error_count|session_track_system_variables`
   * (at the first `@`): variables whose value is the session's, not the backend connection's
   * (see server/sysvar-substitute.ts).
   */
  sysVarAt: number[] | null;
}

const enum C {
  SPACE = 1,
  WORD = 2,
  DIGIT = 3,
}

const cls = new Uint8Array(256);
for (const c of ' \t\r\n\f\v') cls[c.charCodeAt(0)] = C.SPACE;
for (let c = 0x41; c <= 0x5a; c++) cls[c] = C.WORD;
for (let c = 0x61; c <= 0x7a; c++) cls[c] = C.WORD;
cls[0x5f] = C.WORD; // _
cls[0x24] = C.WORD; // $
for (let c = 0x80; c <= 0xff; c++) cls[c] = C.WORD; // multi-byte UTF-8 identifier bytes
for (let c = 0x30; c <= 0x39; c++) cls[c] = C.DIGIT;

function upperWord(buf: Buffer, s: number, e: number): string {
  // Only ASCII words up to 64 bytes (keywords, and stored function names) matter to the classifier.
  if (e - s > 64) return '';
  let out = '';
  for (let i = s; i < e; i++) {
    let c = buf[i];
    if (c >= 0x61 && c <= 0x7a) c -= 0x20;
    else if (c >= 0x80) return '';
    out += String.fromCharCode(c);
  }
  return out;
}

/** Server-side code the scanner should recognise (see routines.ts); upper-case names. */
export interface RoutineNames {
  readonly functions: ReadonlySet<string>;
  readonly tables: ReadonlySet<string>;
  /** Procedures proven not to change session state: CALL of one is not flagged. */
  readonly statelessProcedures?: ReadonlySet<string>;
  /** Stored functions proven not to change session state: a call of one is not flagged. */
  readonly statelessFunctions?: ReadonlySet<string>;
}

/**
 * Words a '(' follows without a function being called: keywords, column types, and clauses
 * (`INSERT INTO t (a)`, `VALUES (`, `IN (`, `VARCHAR(10)`, `JOIN (`, `USING (`, `KEY idx (a)`, ...).
 */
const NOT_CALLS = new Set([
  'IN', 'VALUES', 'VALUE', 'USING', 'ON', 'AS', 'AND', 'OR', 'NOT', 'XOR', 'IS', 'LIKE', 'BETWEEN', 'WHEN', 'THEN', 'ELSE',
  'ELSEIF', 'CASE', 'DIV', 'MOD', 'SELECT', 'DO', 'SET', 'JOIN', 'STRAIGHT_JOIN', 'FROM', 'WHERE', 'HAVING', 'BY', 'KEY', 'INDEX',
  'UNIQUE', 'PRIMARY', 'FOREIGN', 'REFERENCES', 'CHECK', 'CONSTRAINT', 'DEFAULT', 'PARTITION', 'PARTITIONS', 'SUBPARTITION',
  'OVER', 'WINDOW', 'EXISTS', 'ANY', 'ALL', 'SOME', 'INTERVAL', 'DISTINCT', 'RETURNING', 'LIMIT', 'OFFSET', 'UNION', 'EXCEPT',
  'INTERSECT', 'INTO', 'TABLE', 'TABLES', 'WITH', 'RECURSIVE', 'LATERAL', 'COLUMNS', 'PATH', 'AGAINST', 'ESCAPE', 'REGEXP',
  'RLIKE', 'RETURN', 'RETURNS', 'GROUP', 'ORDER', 'FOR', 'UPDATE', 'USE', 'FORCE', 'IGNORE', 'ROW', 'ROWS', 'TO', 'WHILE',
  'UNTIL', 'CALL', 'FULLTEXT', 'SPATIAL', 'GENERATED', 'ALWAYS', 'VIRTUAL', 'PERSISTENT', 'STORED', 'INT', 'INTEGER', 'TINYINT',
  'SMALLINT', 'MEDIUMINT', 'BIGINT', 'DECIMAL', 'DEC', 'NUMERIC', 'FIXED', 'FLOAT', 'DOUBLE', 'REAL', 'BIT', 'CHAR', 'VARCHAR',
  'VARCHAR2', 'BINARY', 'VARBINARY', 'NCHAR', 'NVARCHAR', 'NATIONAL', 'CHARACTER', 'TEXT', 'BLOB', 'TINYTEXT', 'MEDIUMTEXT',
  'LONGTEXT', 'DATETIME', 'TIME', 'TIMESTAMP', 'YEAR', 'ENUM', 'SIGNED', 'UNSIGNED', 'PRECISION', 'RAW', 'NUMBER', 'KILL',
  'EXECUTE', 'IMMEDIATE', 'EXPLAIN', 'LEAVE', 'ITERATE', 'SIGNAL', 'RESIGNAL', 'OUTFILE', 'DUMPFILE', 'LIKE', 'SEPARATOR',
]);

/** Words after which the next name is a table (so `t (` is not a call). */
const TABLE_KEYWORDS = new Set(['INTO', 'TABLE', 'JOIN', 'FROM', 'UPDATE', 'REFERENCES', 'STRAIGHT_JOIN', 'INSERT', 'REPLACE', 'WITH', 'RECURSIVE']);

/** Statements that call no function when they run (definitions, grants, SHOW): `(` there is never a call. */
const NO_CALL_STATEMENTS = new Set(['CREATE', 'ALTER', 'DROP', 'RENAME', 'TRUNCATE', 'GRANT', 'REVOKE', 'SHOW', 'DESCRIBE', 'DESC', 'OPTIMIZE', 'REPAIR', 'CHECK']);

/**
 * Scans `buf[start:end)`. Never throws; unterminated strings/comments just end the scan.
 * `routines`: calls of these stored functions, and any mention of these tables (stateful
 * triggers, views calling such functions), are flagged Q.CALL like a CALL statement.
 */
export function scanQuery(buf: Buffer, start: number, end: number, routines?: RoutineNames): QueryInfo {
  const storedFunctions = routines !== undefined && routines.functions.size > 0 ? routines.functions : undefined;
  const routineTables = routines !== undefined && routines.tables.size > 0 ? routines.tables : undefined;
  const pureProcs = routines !== undefined && routines.statelessProcedures !== undefined && routines.statelessProcedures.size > 0 ? routines.statelessProcedures : undefined;
  const pureFns = routines !== undefined ? routines.statelessFunctions : undefined;
  /** Statement token count at the last table keyword (the name after it is a table, not a function). */
  let tableKwTok = -9;
  /** A SELECT in the current statement (CREATE TABLE ... SELECT runs what it calls). */
  let selectSeen = false;
  /** End of the last backtick-quoted name (a quoted name before '(' is never a built-in). */
  let quotedAt = -1;
  /** A CALL whose procedure name is not known yet (flagged at the name, or at the end of its statement). */
  let callPending = false;
  const info: QueryInfo = { kind: '', flags: 0, userVars: null, killId: -1, killQuery: false, lockDelta: 0, lockNames: null, lockNameUnknown: false, rowCountAt: null, connIdAt: null, schemaFnAt: null, sysVarAt: null };
  let prevWordStart = -1;
  let lockArg = false; // just saw GET_LOCK( or RELEASE_LOCK(
  let i = start;
  let stmtIndex = 0;
  let tokInStmt = 0; // words seen in the current statement
  let prevWord = '';
  let prev2Word = '';
  let pendingUserVar: string | null = null; // an @var waiting to see if ':=' or '=' follows
  let firstOfStmt = '';
  let inSet = false;
  let afterInto = false;
  while (i < end) {
    const c = buf[i];
    const k = cls[c];
    if (k === C.SPACE) {
      i++;
      continue;
    }
    if (lockArg && c !== 0x27 && c !== 0x22) {
      lockArg = false;
      info.lockNameUnknown = true;
    }
    if (k === C.WORD || k === C.DIGIT) {
      const s = i;
      while (i < end && (cls[buf[i]] === C.WORD || cls[buf[i]] === C.DIGIT)) i++;
      if (k === C.DIGIT) {
        if (firstOfStmt === 'KILL' && info.killId === -1) info.killId = Number(buf.toString('latin1', s, i));
        prevWord = '';
        pendingUserVar = null;
        continue;
      }
      const w = upperWord(buf, s, i);
      pendingUserVar = null;
      if (tokInStmt === 0) {
        firstOfStmt = w;
        if (stmtIndex === 0) info.kind = w;
        inSet = w === 'SET';
        afterInto = false;
        selectSeen = false;
        tableKwTok = -9;
      }
      tokInStmt++;
      quotedAt = -1;
      // (INSERT / REPLACE are table keywords only as the statement's verb: REPLACE(s, a, b) is a function)
      if (TABLE_KEYWORDS.has(w) && (tokInStmt === 1 || (w !== 'INSERT' && w !== 'REPLACE'))) tableKwTok = tokInStmt;
      else if (w === 'SELECT') selectSeen = true;
      onWord(w);
      if (routineTables !== undefined && routineTables.has(w)) info.flags |= Q.CALL;
      prev2Word = prevWord;
      prevWord = w;
      prevWordStart = s;
      continue;
    }
    switch (c) {
      case 0x27: // '
      case 0x22: {
        // "
        const s = i + 1;
        i = skipQuoted(buf, i + 1, end, c);
        if (lockArg) {
          lockArg = false;
          (info.lockNames ??= []).push(unquote(buf.toString('utf8', s, i - 1), c));
        }
        prevWord = '';
        pendingUserVar = null;
        continue;
      }
      case 0x60: {
        // `
        const s = i + 1;
        i = skipQuoted(buf, i + 1, end, 0x60);
        tokInStmt++;
        // a quoted name may be a stored function being called, or a table with stateful triggers
        // (the name is only built when one of those can matter: ORMs quote every identifier)
        if (i - s <= 65 && (routineTables !== undefined || parenNext(i))) {
          prevWord = buf.toString('utf8', s, i - 1).toUpperCase();
          quotedAt = i;
          if (routineTables !== undefined && routineTables.has(prevWord)) info.flags |= Q.CALL;
        } else prevWord = '';
        pendingUserVar = null;
        continue;
      }
      case 0x23: // # comment
        i = skipLine(buf, i, end);
        continue;
      case 0x2d: // -- comment
        if (i + 2 <= end && buf[i + 1] === 0x2d && (i + 2 === end || cls[buf[i + 2]] === C.SPACE)) {
          i = skipLine(buf, i, end);
          continue;
        }
        break;
      case 0x2f: // /* comment */
        if (i + 1 < end && buf[i + 1] === 0x2a) {
          if (i + 2 < end && buf[i + 2] === 0x21) {
            // /*!NNNNN code */ : scan the code
            i += 3;
            while (i < end && cls[buf[i]] === C.DIGIT) i++;
            continue;
          }
          if (i + 3 < end && buf[i + 2] === 0x4d && buf[i + 3] === 0x21) {
            i += 4; // /*M! MariaDB executable comment
            while (i < end && cls[buf[i]] === C.DIGIT) i++;
            continue;
          }
          const e = buf.indexOf('*/', i + 2, 'latin1');
          i = e < 0 || e >= end ? end : e + 2;
          continue;
        }
        break;
      case 0x2a: // '*/' closing an executable comment
        if (i + 1 < end && buf[i + 1] === 0x2f) {
          i += 2;
          continue;
        }
        break;
      case 0x40: {
        // @var or @@var
        if (i + 1 < end && buf[i + 1] === 0x40) {
          let s = i + 2;
          let e = s;
          while (e < end && (cls[buf[e]] === C.WORD || cls[buf[e]] === C.DIGIT || buf[e] === 0x2e)) e++;
          const name = buf.toString('latin1', s, e).toLowerCase();
          const dot = name.lastIndexOf('.');
          const v = dot >= 0 ? name.slice(dot + 1) : name;
          if (v === 'identity' || v === 'last_insert_id') info.flags |= Q.LAST_INSERT_ID;
          else if (v === 'warning_count' || v === 'error_count') {
            info.flags |= Q.READS_DIAGNOSTICS;
            (info.sysVarAt ??= []).push(i);
          } else if (v.startsWith('session_track_')) {
            info.flags |= Q.SESSION_TRACK_VAR;
            if (v === 'session_track_system_variables') (info.sysVarAt ??= []).push(i);
          }
          i = e;
          s = e;
          prevWord = '';
          tokInStmt++;
          continue;
        }
        let s = i + 1;
        let e = s;
        if (e < end && (buf[e] === 0x60 || buf[e] === 0x27 || buf[e] === 0x22)) {
          const q = buf[e];
          e = skipQuoted(buf, e + 1, end, q);
          s = s + 1;
          pendingUserVar = buf.toString('utf8', s, Math.max(s, e - 1)).toLowerCase();
        } else {
          while (e < end && (cls[buf[e]] === C.WORD || cls[buf[e]] === C.DIGIT || buf[e] === 0x2e)) e++;
          pendingUserVar = buf.toString('utf8', s, e).toLowerCase();
        }
        info.flags |= Q.USER_VAR_READ;
        i = e;
        tokInStmt++;
        // SELECT ... INTO @v assigns; so may CALL p(@v) (an OUT/INOUT parameter).
        if (afterInto || firstOfStmt === 'CALL') addUserVar(info, pendingUserVar);
        prevWord = '';
        // In SET, '@x =' assigns; elsewhere only ':=' does.
        continue;
      }
      case 0x3a: // :=
        if (i + 1 < end && buf[i + 1] === 0x3d) {
          if (pendingUserVar !== null) addUserVar(info, pendingUserVar);
          pendingUserVar = null;
          i += 2;
          continue;
        }
        break;
      case 0x3d: // =
        if (inSet && pendingUserVar !== null) addUserVar(info, pendingUserVar);
        pendingUserVar = null;
        i++;
        continue;
      case 0x28: // (
        if (quotedAt >= 0 && prevWord !== '' && !callPending && adjacent(quotedAt)) {
          if (storedFunctions !== undefined && storedFunctions.has(prevWord) && firstOfStmt !== 'CREATE' && firstOfStmt !== 'DROP') info.flags |= Q.CALL;
          else if (unknownCall(prevWord, true)) info.flags |= Q.CALL;
        } else onCall(prevWord);
        i++;
        pendingUserVar = null;
        continue;
      case 0x3b: // ;
        i++;
        if (callPending) {
          callPending = false;
          info.flags |= Q.CALL;
        }
        // trailing ';' with only whitespace/comments after it is not a second statement
        if (hasMoreCode(buf, i, end)) {
          stmtIndex++;
          info.flags |= Q.MULTI;
        }
        tokInStmt = 0;
        prevWord = '';
        pendingUserVar = null;
        continue;
      case 0x2c: // ,
        i++;
        if (!afterInto) pendingUserVar = null;
        continue;
    }
    pendingUserVar = null;
    i++;
  }
  if (callPending) info.flags |= Q.CALL;
  return info;

  function onWord(w: string): void {
    switch (w) {
      case 'KILL':
        info.flags |= Q.KILL_WORD;
        break;
      case 'SQL_CALC_FOUND_ROWS':
        info.flags |= Q.CALC_FOUND_ROWS;
        break;
      case 'TEMPORARY':
        if (prevWord === 'CREATE' || prev2Word === 'CREATE' || (prevWord === 'REPLACE' && prev2Word === 'OR')) {
          info.flags |= Q.CREATE_TEMPORARY;
        }
        break;
      case 'TABLES':
      case 'TABLE':
        // In a multi-statement query the last of LOCK / UNLOCK TABLES decides what is left held.
        if (prevWord === 'LOCK' && firstOfStmt === 'LOCK') info.flags = (info.flags | Q.LOCK_TABLES) & ~Q.UNLOCK_TABLES;
        if (prevWord === 'UNLOCK') info.flags = (info.flags | Q.UNLOCK_TABLES) & ~Q.LOCK_TABLES;
        break;
      case 'INTO':
        if (firstOfStmt === 'SELECT' || firstOfStmt === 'WITH' || firstOfStmt === '(') afterInto = true;
        break;
      case 'FROM':
      case 'WHERE':
      case 'FOR':
      case 'LIMIT':
      case 'UNION':
        afterInto = false;
        break;
      case 'TRANSACTION':
        if (firstOfStmt === 'SET' && tokInStmt === 2) info.flags |= Q.SET_TRANSACTION;
        break;
      case 'QUERY':
        if (firstOfStmt === 'KILL') info.killQuery = true;
        break;
      case 'ID':
      case 'USER':
        // KILL QUERY ID <query id> / KILL USER <name>: not a connection id the proxy can map
        if (firstOfStmt === 'KILL') info.killId = -2;
        break;
      case 'INFILE':
        if (firstOfStmt === 'LOAD') info.flags |= Q.LOAD_DATA;
        break;
      case 'FUNCTION':
      case 'PROCEDURE':
      case 'TRIGGER':
      case 'VIEW':
        if (firstOfStmt === 'CREATE' || firstOfStmt === 'DROP' || firstOfStmt === 'ALTER') info.flags |= Q.ROUTINE_DDL;
        break;
    }
    if (tokInStmt === 1) {
      if (w === 'PREPARE' || w === 'EXECUTE' || w === 'DEALLOCATE') info.flags |= Q.SQL_PREPARE;
      else if (w === 'KILL') info.flags |= Q.KILL;
      else if (w === 'HANDLER') info.flags |= Q.HANDLER;
      else if (w === 'XA') info.flags |= Q.XA;
      else if (w === 'CALL') {
        if (pureProcs !== undefined) callPending = true;
        else info.flags |= Q.CALL;
      }
    } else if (firstOfStmt === 'SHOW' && tokInStmt <= 3 && (w === 'WARNINGS' || w === 'ERRORS')) {
      info.flags |= Q.READS_DIAGNOSTICS;
    } else if (firstOfStmt === 'DROP' && w === 'PREPARE') {
      info.flags |= Q.SQL_PREPARE;
    }
    if (w.startsWith('SESSION_TRACK_')) info.flags |= Q.SESSION_TRACK_VAR;
  }

  /** The next byte after `from` that is not whitespace is '('. */
  function parenNext(from: number): boolean {
    let j = from;
    while (j < end && cls[buf[j]] === C.SPACE) j++;
    return j < end && buf[j] === 0x28;
  }

  /** Only whitespace between `from` and the '(' at i. */
  function adjacent(from: number): boolean {
    for (let j = from; j < i; j++) if (cls[buf[j]] !== C.SPACE) return false;
    return true;
  }

  function onCall(fn: string): void {
    if (callPending) {
      // the first call in a CALL statement names the procedure
      callPending = false;
      if (!(pureProcs as ReadonlySet<string>).has(fn)) info.flags |= Q.CALL;
      return;
    }
    switch (fn) {
      case 'LAST_INSERT_ID': {
        info.flags |= Q.LAST_INSERT_ID;
        let j = i + 1;
        while (j < end && (buf[j] === 0x20 || buf[j] === 0x09 || buf[j] === 0x0a || buf[j] === 0x0d)) j++;
        if (j >= end || buf[j] !== 0x29) info.flags |= Q.SETS_LAST_INSERT_ID;
        break;
      }
      case 'ROW_COUNT':
        info.flags |= Q.ROW_COUNT;
        (info.rowCountAt ??= []).push(prevWordStart);
        break;
      case 'FOUND_ROWS':
        info.flags |= Q.FOUND_ROWS;
        break;
      case 'CONNECTION_ID':
        info.flags |= Q.CONNECTION_ID;
        (info.connIdAt ??= []).push(prevWordStart);
        break;
      case 'DATABASE':
      case 'SCHEMA':
        (info.schemaFnAt ??= []).push(prevWordStart);
        break;
      case 'GET_LOCK':
        info.flags |= Q.GET_LOCK;
        info.lockDelta++;
        lockArg = true;
        break;
      case 'RELEASE_LOCK':
        info.flags |= Q.RELEASE_LOCK;
        info.lockDelta--;
        lockArg = true;
        break;
      case 'RELEASE_ALL_LOCKS':
        info.flags |= Q.RELEASE_ALL_LOCKS;
        break;
      default:
        if (storedFunctions !== undefined && storedFunctions.has(fn) && firstOfStmt !== 'CREATE' && firstOfStmt !== 'DROP') info.flags |= Q.CALL;
        else if (unknownCall(fn, false)) info.flags |= Q.CALL;
    }
  }

  /**
   * A call of a function that is neither built-in nor a stored function known to be stateless
   * (one created on the server a moment ago, say): it may change session state, so it pins
   * (fails closed). Schema-qualified calls (`db.f(`) are stored functions.
   */
  function unknownCall(fn: string, quoted: boolean): boolean {
    if (fn === '' || (!quoted && NOT_CALLS.has(fn))) return false;
    // the name must be right before '(' (`c = (` is no call of c)
    if (!quoted && !adjacent(prevWordStart + fn.length)) return false;
    if (tokInStmt - tableKwTok <= 2) return false; // INSERT INTO t (a), INTO db.t (a)
    if (NO_CALL_STATEMENTS.has(firstOfStmt) && !(selectSeen && firstOfStmt === 'CREATE' && !(info.flags & Q.ROUTINE_DDL))) return false;
    const dotted = prevWordStart > 0 && buf[prevWordStart - 1] === 0x2e;
    if (!dotted && !quoted && BUILTIN_FUNCTIONS.has(fn)) return false;
    return pureFns === undefined || !pureFns.has(fn);
  }
}

function addUserVar(info: QueryInfo, name: string): void {
  info.flags |= Q.USER_VAR_ASSIGN;
  if (!info.userVars) info.userVars = [];
  if (!info.userVars.includes(name)) info.userVars.push(name);
}

function unquote(s: string, q: number): string {
  const qc = String.fromCharCode(q);
  return s.replace(/\\(.)/g, '$1').split(qc + qc).join(qc);
}

/**
 * Index just past the quoted string (or identifier) whose body starts at `i`, closed by `q`
 * (doubled `q` is one character; a backslash escapes the next byte except in backticks or under
 * NO_BACKSLASH_ESCAPES, `nbe`); `end` when unterminated.
 */
export function skipQuoted(buf: Buffer, i: number, end: number, q: number, nbe = false): number {
  while (i < end) {
    const c = buf[i];
    if (c === 0x5c && q !== 0x60 && !nbe) {
      i += 2;
      continue;
    }
    if (c === q) {
      if (i + 1 < end && buf[i + 1] === q) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return end;
}

function skipLine(buf: Buffer, i: number, end: number): number {
  const e = buf.indexOf(0x0a, i);
  return e < 0 || e >= end ? end : e + 1;
}

function hasMoreCode(buf: Buffer, i: number, end: number): boolean {
  while (i < end) {
    const c = buf[i];
    if (cls[c] === C.SPACE || c === 0x3b) {
      i++;
      continue;
    }
    if (c === 0x23) {
      i = skipLine(buf, i, end);
      continue;
    }
    // '--' ends a statement's code when followed by whitespace or by the end of the query (as in scanQuery)
    if (c === 0x2d && i + 1 < end && buf[i + 1] === 0x2d && (i + 2 === end || cls[buf[i + 2]] === C.SPACE)) {
      i = skipLine(buf, i, end);
      continue;
    }
    if (c === 0x2f && i + 1 < end && buf[i + 1] === 0x2a) {
      // executable comments (/*! and MariaDB's /*M!) are code; never look past `end`
      if (i + 2 < end && (buf[i + 2] === 0x21 || (buf[i + 2] === 0x4d && i + 3 < end && buf[i + 3] === 0x21))) return true;
      const e = buf.indexOf('*/', i + 2, 'latin1');
      i = e < 0 || e >= end ? end : e + 2;
      continue;
    }
    return true;
  }
  return false;
}
