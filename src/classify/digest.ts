/**
 * The digest scanner: one pass over the raw COM_QUERY bytes `buf[start:end)` that produces the
 * statement digest (the plan-cache key), the statement kind(s), the tables and schemas named (with
 * byte offsets for rewriting), literals, routing hints and the constructs isolation and routing
 * look at. No AST is built.
 *
 * It reads bytes as the server's lexer does: strings with `\` escapes unless NO_BACKSLASH_ESCAPES,
 * `"` as identifier quotes under ANSI_QUOTES, backticks, `/*! *\/` and `/*M! *\/` bodies as code,
 * and in gbk/big5/sjis/cp932/gb18030 a lead byte + trail byte as one character (a 0x5c trail byte
 * is not an escape). The scanner is not reentrant (module-level state keeps the hot path free of
 * allocations beyond its result); it never throws.
 */
import { KEYWORDS, RESERVED } from './keywords';
import { mbLength, mbTablesFor, type MbTables } from './multibyte';
import { kindOf } from './statement-kind';
import { S, type Literal, type NameRef, type ScanOptions, type SchemaRef, type SchemaVia, type StatementPart, type StatementScan, type TableRef } from './scan-types';

export { S } from './scan-types';
export type { ScanOptions, StatementScan } from './scan-types';

const SPACE = 1;
const WORD = 2;
const DIGIT = 3;
const cls = new Uint8Array(256);
for (const c of ' \t\r\n\f\v') cls[c.charCodeAt(0)] = SPACE;
for (let c = 0x41; c <= 0x5a; c++) cls[c] = WORD;
for (let c = 0x61; c <= 0x7a; c++) cls[c] = WORD;
cls[0x5f] = WORD;
cls[0x24] = WORD;
for (let c = 0x80; c <= 0xff; c++) cls[c] = WORD;
for (let c = 0x30; c <= 0x39; c++) cls[c] = DIGIT;

/** Words after which, inside a table context, the context continues (modifiers, IF [NOT] EXISTS). */
const SKIP_IN_NAME_CONTEXT = new Set(['IF', 'NOT', 'EXISTS', 'LOW_PRIORITY', 'DELAYED', 'HIGH_PRIORITY', 'IGNORE', 'QUICK', 'TEMPORARY', 'LATERAL', 'ONLY', 'TABLE', 'OR', 'REPLACE', 'CONCURRENT', 'LOCAL']);
/** Words that may follow a table name inside one FROM item (index hints, partitions) without ending it. */
const TABLE_ITEM_WORDS = new Set(['USE', 'FORCE', 'IGNORE', 'INDEX', 'KEY', 'FOR', 'PARTITION', 'AS', 'OF', 'SYSTEM_TIME', 'TABLESAMPLE']);
/** Keywords that end a FROM/UPDATE/DELETE table list at their depth. */
const END_TABLE_LIST = new Set(['DUPLICATE', 'WHERE', 'SET', 'GROUP', 'ORDER', 'HAVING', 'LIMIT', 'WINDOW', 'UNION', 'EXCEPT', 'INTERSECT', 'INTO', 'VALUES', 'VALUE', 'SELECT', 'RETURNING', 'PROCEDURE']);
/** Functions whose parentheses may hold FROM as part of their syntax (not a table list). */
const FROM_FUNCTIONS = new Set(['TRIM', 'SUBSTRING', 'SUBSTR', 'EXTRACT', 'MID', 'OVERLAY']);
/** Side-effect functions: routed to the primary. */
const SIDE_EFFECT_FNS = new Set(['GET_LOCK', 'RELEASE_LOCK', 'RELEASE_ALL_LOCKS', 'NEXTVAL', 'SETVAL', 'SLEEP', 'MASTER_GTID_WAIT', 'MASTER_POS_WAIT', 'BENCHMARK']);
const SESSION_FNS = new Set(['ROW_COUNT', 'FOUND_ROWS', 'LASTVAL']);
const SEQUENCE_FNS = new Set(['NEXTVAL', 'LASTVAL', 'SETVAL']);
const REMOTE_ENGINES = new Set(['FEDERATED', 'FEDERATEDX', 'CONNECT', 'SPIDER']);

/** Words `keywordSwitch` handles; a Set lookup (hash cached on the string) saves ~100 string compares per other word. */
const SWITCH_WORDS = new Set(['AS', 'CALL', 'DATABASE', 'DEFINER', 'DELETE', 'DESC', 'DESCRIBE', 'DIRECTORY', 'DUMPFILE', 'EVENT', 'EVENTS', 'EXPLAIN', 'FOR', 'FROM', 'FUNCTION', 'GLOBAL', 'HANDLER', 'IMMEDIATE', 'IN', 'INDEX', 'INFILE', 'INSERT', 'INTO', 'JOIN', 'KEY', 'LIKE', 'LOCAL', 'MODE', 'ON', 'OUTFILE', 'PERSIST', 'PERSIST_ONLY', 'PROCEDURE', 'REFERENCES', 'RENAME', 'REPLACE', 'SCHEMA', 'SELECT', 'SEQUENCE', 'SHARE', 'SQL_CALC_FOUND_ROWS', 'STATUS', 'STRAIGHT_JOIN', 'TABLE', 'TABLES', 'TEMPORARY', 'TO', 'TRIGGER', 'TRIGGERS', 'TRUNCATE', 'UPDATE', 'USE', 'USING', 'VIEW']);

const MAX_WORDS = 6;
/** Literals kept per query: a multi-megabyte bulk INSERT must not allocate an object per value. */
export const MAX_LITERALS = 4096;
const MAX_DEPTH = 63;

// ---- scanner state (module level: no closures per call) -------------------------------------------------
let B: Buffer = Buffer.alloc(0);
let END = 0;
let NBE = false;
let ANSI = false;
let MB: MbTables | null = null;
let UTF8 = true;

let digest = '';
let lastTok = 0; // 0 none, 1 word/literal/other, 2 '(' , 3 operator
let flags = 0;
let hint: 'primary' | 'replica' | null = null;
let tables: TableRef[] = [];
let schemaRefs: SchemaRef[] = [];
let qualifiers: NameRef[] = [];
let literals: MutableLiteral[] = [];
let sideEffects: string[] | null = null;
let definers: string[] | null = null;
let dynamicSql: MutableLiteral[] | null = null;
let statements: StatementPart[] = [];
let aliases: string[] = [];

// statement-level
let stmtStart = 0;
let verb = '';
let words: string[] = [];
let tokInStmt = 0;
let withMain = '';
let lastWord = '';
let prevWord = '';
let prev2Word = '';
let showFromCount = 0;
let showListsSchema = false;
let sawTableWord = false;
let sawSelect = false;
let sawTrigger = false;
let sawIndex = false;
let definerPending = false;
let dynPending = 0; // 1: PREPARE .. FROM seen; 2: EXECUTE IMMEDIATE seen
let pendingVar = false;

// table context
let tstate = 0; // 0 none, 1 expect name, 2 after name, 3 expect alias
let tmodeSchema = false;
let tvia: SchemaVia = 'object';
let renameFlag = false;
let depth = 0;
const listAt = new Uint8Array(MAX_DEPTH + 1);
/** resumeAt[d] = 1: when the parenthesis opened at depth d closes, a table item ends there (alias may follow). */
const resumeAt = new Uint8Array(MAX_DEPTH + 1);
const parenFn: string[] = new Array<string>(MAX_DEPTH + 1).fill('');
let pendingFn = '';

// name chain: up to 3 parts kept, more counted
let chainLen = 0;
let pendingDot = false;
const chainS = [0, 0, 0, 0];
const chainE = [0, 0, 0, 0];
const chainQ = [false, false, false, false];
let chainStar = false;

// list collapse (IN (...), VALUES (...))
let collapseDepth = -1;
let collapseMark = 0;
let collapseOk = false;
let collapseValues = false;
let valuesRowMark = -1;
let lastCollapsedEnd = -1;

let sawSpace = false;
/** `lastTok` before the word being processed was emitted. */
let tokBeforeWord = 0;
/** The string literal just emitted, while nothing else has followed it (for 'a' 'b' concatenation). */
let lastStringLit: MutableLiteral | null = null;
interface MutableLiteral {
  type: Literal['type'];
  start: number;
  end: number;
}

function reset(buf: Buffer, start: number, end: number, opts: ScanOptions): void {
  B = buf;
  END = end;
  NBE = opts.noBackslashEscapes === true;
  ANSI = opts.ansiQuotes === true;
  MB = mbTablesFor(opts.charset);
  const cs = (opts.charset ?? 'utf8mb4').toLowerCase();
  UTF8 = cs.startsWith('utf8');
  digest = '';
  lastTok = 0;
  flags = 0;
  hint = null;
  tables = [];
  schemaRefs = [];
  qualifiers = [];
  literals = [];
  sideEffects = null;
  definers = null;
  dynamicSql = null;
  statements = [];
  aliases = [];
  depth = 0;
  sawSpace = false;
  listAt.fill(0);
  resumeAt.fill(0);
  collapseDepth = -1;
  valuesRowMark = -1;
  lastCollapsedEnd = -1;
  startStatement(start);
}

function startStatement(at: number): void {
  stmtStart = at;
  verb = '';
  words = [];
  tokInStmt = 0;
  withMain = '';
  lastWord = prevWord = prev2Word = '';
  showFromCount = 0;
  showListsSchema = false;
  sawTableWord = sawSelect = sawTrigger = sawIndex = false;
  definerPending = false;
  dynPending = 0;
  pendingVar = false;
  tstate = 0;
  renameFlag = false;
  chainLen = 0;
  pendingDot = false;
  chainStar = false;
  pendingFn = '';
  lastStringLit = null;
}

function endStatement(at: number): void {
  if (chainLen > 0) finalizeChain(false);
  if (tokInStmt === 0) return;
  const v = verb === 'WITH' && withMain ? withMain : verb;
  statements.push({ verb, kind: verb === '' ? 'unknown' : kindOf(v, words), words, start: stmtStart, end: at });
}

// ---- digest emission ----------------------------------------------------------------------------------

/** Appends a token; `kind` 1 = word/literal, 2 = '(', 3 = operator, 4 = ')' or ',' or ';'. */
function emit(text: string, kind: number, adjacentParen = false): void {
  if (digest.length > 0 && lastTok !== 2 && kind !== 4 && !(kind === 2 && adjacentParen)) digest += ' ';
  digest += text;
  lastTok = kind;
  lastStringLit = null;
  if (collapseDepth >= 0 && depth === collapseDepth && kind !== 4 && !(kind === 1 && (text === '?' || text === 'NULL' || text === 'DEFAULT' || text === 'TRUE' || text === 'FALSE')) && text !== '-' && text !== '+') {
    collapseOk = false;
  }
}

function emitLiteral(type: Literal['type'], s: number, e: number): void {
  if (type === 'string' && lastStringLit !== null) {
    // 'a' 'b' is one literal to the server: extend the same object, wherever it is referenced
    // (the literal list, dynamicSql), so PREPARE s FROM 'a' 'b' is checked as 'ab'
    lastStringLit.end = e;
    return;
  }
  const lit: MutableLiteral = { type, start: s, end: e };
  if (literals.length < MAX_LITERALS) literals.push(lit);
  else flags |= S.LITERALS_TRUNCATED;
  tokInStmt++;
  emit('?', 1);
  if (type === 'string') lastStringLit = lit;
  if (dynPending > 0) {
    if (type === 'string') (dynamicSql ??= []).push(lit);
    else flags |= S.DYNAMIC_SQL_UNKNOWN;
    dynPending = 0;
  }
  afterValueToken();
}

/** A token that is a value (literal, variable) seen where a name was expected ends that context. */
function afterValueToken(): void {
  if (tstate === 1 || tstate === 3) tstate = 0;
}

// ---- words and names ----------------------------------------------------------------------------------

/**
 * Text of `buf[s:e)`. Short ASCII runs are built in JS: a Buffer#toString call per word costs more
 * than the whole rest of the scan of that word.
 */
function text(s: number, e: number): string {
  if (e - s <= 48) {
    let out = '';
    for (let i = s; i < e; i++) {
      const c = B[i]!;
      if (c >= 0x80) return UTF8 ? B.toString('utf8', s, e) : B.toString('latin1', s, e);
      out += String.fromCharCode(c);
    }
    return out;
  }
  return UTF8 ? B.toString('utf8', s, e) : B.toString('latin1', s, e);
}

/** Upper-case ASCII form of a short unquoted word; '' when it is long or not ASCII (never a keyword). */
function upperAscii(s: number, e: number): string {
  if (e - s > 32) return '';
  let out = '';
  for (let i = s; i < e; i++) {
    let c = B[i]!;
    if (c >= 0x80) return '';
    if (c >= 0x61 && c <= 0x7a) c -= 0x20;
    out += String.fromCharCode(c);
  }
  return out;
}

function unquoteName(s: number, e: number, q: number): string {
  const inner = text(s + 1, e - 1);
  const qc = String.fromCharCode(q);
  return inner.indexOf(qc) >= 0 ? inner.split(qc + qc).join(qc) : inner;
}

function nameAt(k: number): NameRef {
  const s = chainS[k]!;
  const e = chainE[k]!;
  const quoted = chainQ[k]!;
  return { name: quoted ? unquoteName(s, e, B[s]!) : text(s, e), start: s, end: e, quoted };
}

function addSchemaRef(n: NameRef, via: SchemaVia): void {
  schemaRefs.push({ name: n.name, start: n.start, end: n.end, quoted: n.quoted, via });
}

/** The chain of names just ended; `isCall` when '(' follows. */
function finalizeChain(isCall: boolean): void {
  const n = chainLen;
  chainLen = 0;
  pendingDot = false;
  const star = chainStar;
  chainStar = false;
  // digest text for the chain
  let d = '';
  let up1 = '';
  for (let k = 0; k < n && k < 4; k++) {
    if (k > 0) d += '.';
    const s = chainS[k]!;
    const e = chainE[k]!;
    if (chainQ[k] || n > 1) d += text(s, e);
    else {
      up1 = upperAscii(s, e);
      d += up1 !== '' && KEYWORDS.has(up1) ? up1 : text(s, e);
    }
  }
  if (star) d += '.*';
  if (n === 1 && !chainQ[0] && !star) {
    const s = chainS[0]!;
    const e = chainE[0]!;
    tokBeforeWord = lastTok;
    emit(d, 1);
    onWord(up1, isCall, s, e);
    return;
  }
  emit(d, 1);
  onName(n, star, isCall);
}

/** A quoted or dotted name (or `x.*`). */
function onName(n: number, star: boolean, isCall: boolean): void {
  tokInStmt++;
  if (dynPending > 0) {
    flags |= S.DYNAMIC_SQL_UNKNOWN;
    dynPending = 0;
  }
  if (tstate === 1 || tstate === 3) {
    if (tstate === 3) {
      aliases.push(nameAt(n - 1).name.toLowerCase());
      tstate = 0;
      return;
    }
    if (tmodeSchema) {
      addSchemaRef(nameAt(0), tvia);
      tstate = 0;
      return;
    }
    if (star && n === 1) {
      // GRANT ... ON db.*
      addSchemaRef(nameAt(0), 'object');
      tstate = 0;
      return;
    }
    if (n === 1) tables.push({ schema: null, table: nameAt(0) });
    else {
      // db.tbl (a longer chain is not a valid object name; its first part is still a schema to check)
      const schema = nameAt(0);
      addSchemaRef(schema, 'object');
      tables.push({ schema, table: nameAt(Math.min(n, 4) - 1) });
    }
    tstate = 2;
    return;
  }
  if (tstate === 2 && n === 1) {
    // a quoted alias
    aliases.push(nameAt(0).name.toLowerCase());
    tstate = 0;
    return;
  }
  tstate = 0;
  if (n >= 3 || (n === 2 && star)) addSchemaRef(nameAt(0), 'column');
  else if (n === 2 && isCall) addSchemaRef(nameAt(0), 'function');
  else if (n === 2 || (n === 1 && star)) qualifiers.push(nameAt(0));
}

function setTableContext(schemaMode: boolean, via: SchemaVia = 'object'): void {
  tstate = 1;
  tmodeSchema = schemaMode;
  tvia = via;
}

function onWord(w: string, isCall: boolean, s: number, e: number): void {
  tokInStmt++;
  if (tokInStmt === 1) {
    if (verb === '') verb = w;
  }
  if (words.length < MAX_WORDS && w !== '') words.push(w);
  if (dynPending > 0 && !(dynPending === 2 && w === 'IMMEDIATE')) {
    flags |= S.DYNAMIC_SQL_UNKNOWN;
    dynPending = 0;
  }
  // Table/name context first: is this word a name?
  if (tstate === 1) {
    if (renameFlag && (w === 'TO' || w === 'AS')) {
      renameFlag = false;
      shiftWords(w);
      return;
    }
    if (renameFlag && (w === 'COLUMN' || w === 'INDEX' || w === 'KEY' || w === 'CONSTRAINT')) {
      renameFlag = false;
      tstate = 0;
      shiftWords(w);
      return;
    }
    if (SKIP_IN_NAME_CONTEXT.has(w) && !tmodeSchema) {
      shiftWords(w);
      return;
    }
    if (tmodeSchema && (w === 'IF' || w === 'NOT' || w === 'EXISTS')) {
      shiftWords(w);
      return;
    }
    if (!RESERVED.has(w) || w === '') {
      chainLen = 1;
      // reuse onName for a single unquoted name
      chainS[0] = s;
      chainE[0] = e;
      chainQ[0] = false;
      tokInStmt--;
      onName(1, false, isCall);
      chainLen = 0;
      shiftWords(w);
      return;
    }
    tstate = 0;
  } else if (tstate === 3) {
    if (!RESERVED.has(w)) {
      aliases.push(text(s, e).toLowerCase());
      tstate = 0; // one alias per table item
      shiftWords(w);
      return;
    }
    tstate = 0;
  } else if (tstate === 2) {
    if (w === 'AS') {
      tstate = 3;
      shiftWords(w);
      return;
    }
    if (!RESERVED.has(w) && w !== '' && !TABLE_ITEM_WORDS.has(w)) {
      aliases.push(text(s, e).toLowerCase());
      tstate = 0;
      shiftWords(w);
      return;
    }
    if (!TABLE_ITEM_WORDS.has(w)) tstate = 0;
  }
  if (pendingVar) pendingVar = false;
  keyword(w, isCall, s, e);
  shiftWords(w);
}

function shiftWords(w: string): void {
  prev2Word = prevWord;
  prevWord = lastWord;
  lastWord = w;
}

function keyword(w: string, isCall: boolean, s: number, e: number): void {
  if (isCall) {
    pendingFn = w;
    if (SIDE_EFFECT_FNS.has(w)) {
      flags |= S.SIDE_EFFECT;
      if (!sideEffects) sideEffects = [];
      if (!sideEffects.includes(w)) sideEffects.push(w);
    }
    if (SESSION_FNS.has(w)) flags |= S.SESSION_FN;
    if (w === 'LAST_INSERT_ID') {
      // LAST_INSERT_ID() reads the connection's value; LAST_INSERT_ID(x) sets it
      const open = nextCodeIndex(e);
      if (open >= 0 && nextCodeByte(open + 1) === 0x29) flags |= S.SESSION_FN;
      else {
        flags |= S.SIDE_EFFECT;
        if (!sideEffects) sideEffects = [];
        if (!sideEffects.includes(w)) sideEffects.push(w);
      }
    }
    if (w === 'LOAD_FILE') flags |= S.LOAD_FILE;
    if (SEQUENCE_FNS.has(w)) {
      tstate = -1; // the sequence name is read after '(' (see onOpen)
      return;
    }
    // keywords such as FROM, IN, JOIN, USING written right before '(' still act below
  }
  if (verb === 'WITH' && withMain === '' && depth === 0 && (w === 'SELECT' || w === 'INSERT' || w === 'UPDATE' || w === 'DELETE' || w === 'REPLACE')) {
    withMain = w;
    if (w === 'UPDATE' || w === 'DELETE') {
      setTableContext(false);
      listAt[depth] = 1;
    }
  }
  if (depth <= MAX_DEPTH && END_TABLE_LIST.has(w)) listAt[depth] = 0;
  if (SWITCH_WORDS.has(w)) keywordSwitch(w, isCall);
  if (REMOTE_ENGINES.has(w) && lastWord === 'ENGINE') flags |= S.REMOTE_ENGINE;
  void s;
}

/** The keyword-specific part of `keyword` (only called for the words it handles: most words skip it). */
function keywordSwitch(w: string, isCall: boolean): void {
  switch (w) {
    case 'SELECT':
      sawSelect = true;
      break;
    case 'AS':
      // INSERT ... VALUES (...) AS new ON DUPLICATE KEY UPDATE c = new.c (MySQL 8 row alias; Laravel's upsert)
      if ((verb === 'INSERT' || verb === 'REPLACE') && depth === 0 && tokBeforeWord === 4 && !sawSelect) tstate = 3;
      break;
    case 'FROM':
      if (verb === 'SHOW') {
        showFrom();
        break;
      }
      if (verb === 'PREPARE') {
        dynPending = 1;
        break;
      }
      if (depth > 0 && FROM_FUNCTIONS.has(parenFn[depth]!)) break;
      setTableContext(false);
      listAt[depth] = 1;
      break;
    case 'IN':
      if (verb === 'SHOW' && depth === 0) showFrom();
      break;
    case 'JOIN':
    case 'STRAIGHT_JOIN':
      setTableContext(false);
      break;
    case 'UPDATE':
      if (tokInStmt === 1) {
        setTableContext(false);
        listAt[depth] = 1;
      } else if (lastWord === 'FOR') flags |= S.LOCKING_READ;
      break;
    case 'DELETE':
      if (tokInStmt === 1) {
        setTableContext(false);
        listAt[depth] = 1;
      }
      break;
    case 'INSERT':
    case 'REPLACE':
      // INTO is optional: INSERT [IGNORE] db.t VALUES ...
      if (tokInStmt === 1 && !isCall) setTableContext(false);
      break;
    case 'INTO':
      setTableContext(false);
      break;
    case 'USING':
      setTableContext(false);
      if (verb === 'DELETE') listAt[depth] = 1;
      break;
    case 'TABLE':
    case 'VIEW':
    case 'PROCEDURE':
    case 'FUNCTION':
    case 'TRIGGER':
    case 'EVENT':
    case 'SEQUENCE':
      if (w === 'TABLE') sawTableWord = true;
      if (w === 'TRIGGER') sawTrigger = true;
      if (w === 'TABLE' && verb === 'SHOW' && tokInStmt === 2) {
        showListsSchema = true;
        break;
      }
      if (w === 'PROCEDURE' && sawSelect) break; // SELECT ... PROCEDURE ANALYSE()
      setTableContext(false);
      if (verb === 'DROP' || verb === 'CHECK' || verb === 'OPTIMIZE' || verb === 'REPAIR' || verb === 'ANALYZE' || verb === 'CHECKSUM' || verb === 'RENAME' || verb === 'TRUNCATE' || verb === 'FLUSH') listAt[depth] = 1;
      break;
    case 'TABLES':
      sawTableWord = true;
      if (verb === 'SHOW') showListsSchema = true;
      else {
        setTableContext(false);
        listAt[depth] = 1;
      }
      break;
    case 'TRIGGERS':
    case 'EVENTS':
      if (verb === 'SHOW') showListsSchema = true;
      break;
    case 'STATUS':
      if (verb === 'SHOW' && lastWord === 'TABLE') showListsSchema = true;
      break;
    case 'DATABASE':
    case 'SCHEMA':
      if (verb === 'CREATE' || verb === 'DROP' || verb === 'ALTER' || (verb === 'SHOW' && lastWord === 'CREATE')) setTableContext(true, 'database');
      break;
    case 'USE':
      if (tokInStmt === 1) setTableContext(true, 'use');
      break;
    case 'TRUNCATE':
    case 'DESCRIBE':
    case 'DESC':
    case 'EXPLAIN':
    case 'CALL':
    case 'HANDLER':
      if (tokInStmt === 1) setTableContext(false);
      break;
    case 'RENAME':
      if (verb === 'ALTER') {
        setTableContext(false);
        renameFlag = true;
      }
      break;
    case 'TO':
      if (verb === 'RENAME') setTableContext(false);
      break;
    case 'LIKE':
      if (verb === 'CREATE' && sawTableWord && !sawSelect) setTableContext(false);
      break;
    case 'REFERENCES':
      setTableContext(false);
      break;
    case 'INDEX':
    case 'KEY':
      sawIndex = true;
      break;
    case 'ON':
      if (verb === 'GRANT' || verb === 'REVOKE') setTableContext(false);
      else if (sawTrigger && (lastWord === 'INSERT' || lastWord === 'UPDATE' || lastWord === 'DELETE')) setTableContext(false);
      else if ((verb === 'CREATE' || verb === 'DROP') && sawIndex && !sawSelect && depth === 0) setTableContext(false);
      break;
    case 'FOR':
      if (lastWord === 'VALUE' && (prevWord === 'NEXT' || prevWord === 'PREVIOUS')) {
        if (prevWord === 'PREVIOUS') flags |= S.SESSION_FN;
        else {
          flags |= S.SIDE_EFFECT;
          if (!sideEffects) sideEffects = [];
          if (!sideEffects.includes('NEXTVAL')) sideEffects.push('NEXTVAL');
        }
        setTableContext(false);
      }
      break;
    case 'SHARE':
      if (lastWord === 'FOR') flags |= S.LOCKING_READ;
      break;
    case 'MODE':
      if (lastWord === 'SHARE' && prevWord === 'IN' && prev2Word === 'LOCK') flags |= S.LOCKING_READ;
      break;
    case 'OUTFILE':
    case 'DUMPFILE':
      if (lastWord === 'INTO') flags |= S.INTO_FILE;
      break;
    case 'INFILE':
      if (verb === 'LOAD') flags |= S.LOAD_DATA;
      break;
    case 'LOCAL':
      if (verb === 'LOAD') flags |= S.LOAD_LOCAL;
      break;
    case 'GLOBAL':
    case 'PERSIST':
    case 'PERSIST_ONLY':
      if (verb === 'SET') flags |= S.SET_GLOBAL;
      break;
    case 'SQL_CALC_FOUND_ROWS':
      flags |= S.SQL_CALC_FOUND_ROWS;
      break;
    case 'TEMPORARY':
      if (verb === 'CREATE') flags |= S.TEMPORARY;
      break;
    case 'DEFINER':
      definerPending = true;
      break;
    case 'IMMEDIATE':
      if (verb === 'EXECUTE' && tokInStmt === 2) dynPending = 2;
      break;
    case 'DIRECTORY':
      if (lastWord === 'DATA' || lastWord === 'INDEX') flags |= S.FILE_DIRECTORY;
      break;
  }
}

function showFrom(): void {
  showFromCount++;
  if (showListsSchema || showFromCount >= 2) setTableContext(true, 'show');
  else setTableContext(false);
}

function nextCodeIndex(i: number): number {
  while (i < END && cls[B[i]!] === SPACE) i++;
  return i < END ? i : -1;
}

function nextCodeByte(i: number): number {
  while (i < END && cls[B[i]!] === SPACE) i++;
  return i < END ? B[i]! : -1;
}

// ---- quoted things ------------------------------------------------------------------------------------

/** Index just past the closing quote `q` of a string/identifier opened before `i`, or -1 if unterminated. */
function skipQuoted(i: number, q: number, escapes: boolean): number {
  const mb = MB;
  while (i < END) {
    const c = B[i]!;
    if (mb !== null && c >= 0x80) {
      i += mbLength(mb, B, i, END);
      continue;
    }
    if (c === 0x5c && escapes) {
      i += 2;
      continue;
    }
    if (c === q) {
      if (i + 1 < END && B[i + 1] === q) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return -1;
}

function wordEnd(i: number): number {
  const mb = MB;
  while (i < END) {
    const c = B[i]!;
    const k = cls[c];
    if (k === WORD || k === DIGIT) {
      if (mb !== null && c >= 0x80) i += mbLength(mb, B, i, END);
      else i++;
    } else break;
  }
  return i > END ? END : i;
}

/** If `buf[s:e)` (starting with a digit) is a number, the end of the number (which may extend past e); else -1. */
function numberEnd(s: number): number {
  let i = s;
  const c1 = B[i + 1];
  if (B[i] === 0x30 && (c1 === 0x78 || c1 === 0x62) && i + 2 < END) {
    // 0x.. / 0b.. (a word like 0xZZ is an identifier)
    let j = i + 2;
    const hex = c1 === 0x78;
    while (j < END && (hex ? isHex(B[j]!) : B[j] === 0x30 || B[j] === 0x31)) j++;
    if (j > i + 2 && (j === END || (cls[B[j]!] !== WORD && cls[B[j]!] !== DIGIT))) return j;
    return -1;
  }
  while (i < END && cls[B[i]!] === DIGIT) i++;
  if (i < END && B[i] === 0x2e) {
    i++;
    while (i < END && cls[B[i]!] === DIGIT) i++;
  }
  if (i < END && (B[i] === 0x65 || B[i] === 0x45)) {
    let j = i + 1;
    if (j < END && (B[j] === 0x2b || B[j] === 0x2d)) j++;
    if (j < END && cls[B[j]!] === DIGIT) {
      while (j < END && cls[B[j]!] === DIGIT) j++;
      i = j;
    }
  }
  if (i < END && cls[B[i]!] === WORD) return -1; // 1abc is an identifier
  return i;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function onComment(s: number, e: number): void {
  // s..e is the comment body
  let a = s;
  let b = e;
  while (a < b && cls[B[a]!] === SPACE) a++;
  while (b > a && cls[B[b - 1]!] === SPACE) b--;
  if (b - a === 18 || b - a === 18) {
    const t = B.toString('latin1', a, b).toLowerCase();
    if (t === 'tenantgate:primary') {
      hint = 'primary';
      emit('/* tenantgate:primary */', 1);
    } else if (t === 'tenantgate:replica') {
      if (hint === null) hint = 'replica';
      emit('/* tenantgate:replica */', 1);
    }
  }
}

function onOpen(adjacent: boolean): void {
  const fn = pendingFn;
  pendingFn = '';
  const seqArg = tstate === -1;
  if (seqArg) tstate = 0;
  if ((tstate === 1 || tstate === 2) && depth <= MAX_DEPTH) {
    // a derived table, or a column/partition list or index hint after a table name: the table item
    // goes on after ')' (an alias may follow)
    resumeAt[depth] = 1;
  }
  // `FROM (a, db.b)` / `JOIN (db.t)`: a parenthesised table reference is still a table list (a
  // subquery's SELECT ends that context at once)
  const parenTables = tstate === 1 && !tmodeSchema;
  if (tstate !== 0) tstate = 0;
  const collapsible = lastWord === 'IN' || ((lastWord === 'VALUES' || lastWord === 'VALUE') && lastTok === 1 && !adjacentIsFunction(adjacent));
  const againValues = collapseValues && lastCollapsedEnd >= 0 && valuesRowMark >= 0 && lastTok === 4;
  emit('(', 2, adjacent);
  depth++;
  if (depth <= MAX_DEPTH) {
    listAt[depth] = 0;
    parenFn[depth] = fn;
  }
  if (collapseDepth < 0 && (collapsible || againValues)) {
    collapseDepth = depth;
    collapseMark = digest.length;
    collapseOk = true;
    collapseValues = lastWord === 'VALUES' || lastWord === 'VALUE' || againValues;
    if (!againValues) valuesRowMark = -1;
  }
  if (seqArg) setTableContext(false);
  else if (parenTables) {
    setTableContext(false);
    if (depth <= MAX_DEPTH) listAt[depth] = 1;
  }
}

function adjacentIsFunction(adjacent: boolean): boolean {
  // VALUES(col) in ON DUPLICATE KEY UPDATE is a function; VALUES (row) is a row list
  return adjacent && verb !== 'INSERT' && verb !== 'REPLACE';
}

function onClose(): void {
  if (verb === '') tokInStmt++; // a statement that starts with ')' is not empty
  if (tstate === 1 || tstate === 3) tstate = 0;
  if (depth <= MAX_DEPTH) listAt[depth] = 0;
  const closing = depth;
  if (depth > 0) depth--;
  if (collapseDepth === closing) {
    if (collapseOk) {
      digest = digest.slice(0, collapseMark) + '...';
      if (collapseValues && valuesRowMark >= 0 && lastCollapsedEnd >= 0) {
        // a further row of literals: `VALUES (...), (...)` folds to `VALUES (...)`
        digest = digest.slice(0, valuesRowMark);
        lastTok = 4;
        collapseDepth = -1;
        lastCollapsedEnd = digest.length;
        return;
      }
    }
    collapseDepth = -1;
    emit(')', 4);
    lastCollapsedEnd = collapseOk && collapseValues ? digest.length : -1;
    if (!collapseOk) collapseValues = false;
    if (depth <= MAX_DEPTH) resumeAt[depth] = 0;
    return;
  }
  emit(')', 4);
  if (depth <= MAX_DEPTH && resumeAt[depth] === 1) {
    resumeAt[depth] = 0;
    tstate = 2;
  }
}

function onComma(): void {
  if (collapseValues && lastCollapsedEnd === digest.length && depth === 0) valuesRowMark = digest.length;
  else if (collapseDepth < 0) {
    valuesRowMark = -1;
    lastCollapsedEnd = -1;
  }
  emit(',', 4);
  if (depth <= MAX_DEPTH && listAt[depth] === 1) setTableContext(false);
  else if (tstate !== 0) tstate = 0;
}

// ---- main loop ----------------------------------------------------------------------------------------

/**
 * Scans `buf[start:end)` (a COM_QUERY payload after the command byte). Never throws; an
 * unterminated string or comment sets `S.UNTERMINATED`.
 */
export function scanStatement(buf: Buffer, start: number, end: number, opts: ScanOptions = {}): StatementScan {
  reset(buf, start, end, opts);
  let i = start;
  let execDepth = 0;
  while (i < END) {
    const c = B[i]!;
    const k = cls[c];
    if (k === SPACE) {
      i++;
      sawSpace = true;
      continue;
    }
    const spaceBefore = sawSpace;
    sawSpace = false;
    // continuation of a dotted name?
    if (chainLen > 0) {
      if (c === 0x2e && !pendingDot) {
        pendingDot = true;
        i++;
        continue;
      }
      if (pendingDot && (k === WORD || k === DIGIT || c === 0x60 || (c === 0x22 && ANSI))) {
        const s = i;
        let e: number;
        if (c === 0x60 || c === 0x22) {
          e = skipQuoted(i + 1, c, false);
          if (e < 0) {
            flags |= S.UNTERMINATED;
            e = END;
          }
        } else e = wordEnd(i);
        if (chainLen < 4) {
          chainS[chainLen] = s;
          chainE[chainLen] = e;
          chainQ[chainLen] = c === 0x60 || c === 0x22;
        }
        chainLen++;
        pendingDot = false;
        i = e;
        continue;
      }
      if (pendingDot && c === 0x2a) {
        chainStar = true;
        pendingDot = false;
        i++;
        continue;
      }
      // comments between the parts of a dotted name are whitespace to the server
      if (!isPlainCommentStart(i)) finalizeChain(c === 0x28);
    }
    if (k === WORD || k === DIGIT) {
      const s = i;
      if (k === DIGIT) {
        const ne = numberEnd(i);
        if (ne >= 0) {
          i = ne;
          emitLiteral(c === 0x30 && (B[s + 1] === 0x78 || B[s + 1] === 0x62) ? (B[s + 1] === 0x78 ? 'hex' : 'bit') : 'number', s, i);
          continue;
        }
      }
      const e = wordEnd(i);
      // N'..', X'..', B'..', _charset'..'
      if (e < END && B[e] === 0x27 && (e - s === 1 || B[s] === 0x5f)) {
        const p = B[s]! | 0x20;
        if (e - s === 1 && (p === 0x6e || p === 0x78 || p === 0x62)) {
          let q = skipQuoted(e + 1, 0x27, p === 0x6e && !NBE);
          if (q < 0) {
            flags |= S.UNTERMINATED;
            q = END;
          }
          i = q;
          emitLiteral(p === 0x78 ? 'hex' : p === 0x62 ? 'bit' : 'string', s, i);
          continue;
        }
        if (B[s] === 0x5f) {
          let q = skipQuoted(e + 1, 0x27, !NBE);
          if (q < 0) {
            flags |= S.UNTERMINATED;
            q = END;
          }
          i = q;
          emitLiteral('string', s, i);
          continue;
        }
      }
      chainLen = 1;
      chainS[0] = s;
      chainE[0] = e;
      chainQ[0] = false;
      i = e;
      lastStringLit = null;
      continue;
    }
    switch (c) {
      case 0x27: {
        // '
        let e = skipQuoted(i + 1, 0x27, !NBE);
        if (e < 0) {
          flags |= S.UNTERMINATED;
          e = END;
        }
        emitLiteral('string', i, e);
        i = e;
        continue;
      }
      case 0x22: // "
      case 0x60: {
        // `
        if (c === 0x22 && !ANSI) {
          let e = skipQuoted(i + 1, 0x22, !NBE);
          if (e < 0) {
            flags |= S.UNTERMINATED;
            e = END;
          }
          emitLiteral('string', i, e);
          i = e;
          continue;
        }
        let e = skipQuoted(i + 1, c, false);
        if (e < 0) {
          flags |= S.UNTERMINATED;
          e = END;
        }
        chainLen = 1;
        chainS[0] = i;
        chainE[0] = e;
        chainQ[0] = true;
        i = e;
        lastStringLit = null;
        continue;
      }
      case 0x23: // # comment
        i = lineEnd(i);
        continue;
      case 0x2d: // -- comment
        if (i + 1 < END && B[i + 1] === 0x2d && (i + 2 === END || cls[B[i + 2]!] === SPACE || B[i + 2]! < 0x20)) {
          i = lineEnd(i);
          continue;
        }
        break;
      case 0x2f: // /* */
        if (i + 1 < END && B[i + 1] === 0x2a) {
          if (i + 2 < END && B[i + 2] === 0x21) {
            i += 3;
            while (i < END && cls[B[i]!] === DIGIT) i++;
            execDepth++;
            sawSpace = true;
            continue;
          }
          if (i + 3 < END && B[i + 2] === 0x4d && B[i + 3] === 0x21) {
            i += 4;
            while (i < END && cls[B[i]!] === DIGIT) i++;
            execDepth++;
            sawSpace = true;
            continue;
          }
          const e = B.indexOf('*/', i + 2, 'latin1');
          if (e < 0 || e + 2 > END) {
            flags |= S.UNTERMINATED;
            i = END;
            continue;
          }
          onComment(i + 2, e);
          i = e + 2;
          sawSpace = true;
          continue;
        }
        break;
      case 0x2a: // '*/' ends an executable comment
        if (execDepth > 0 && i + 1 < END && B[i + 1] === 0x2f) {
          execDepth--;
          i += 2;
          sawSpace = true;
          continue;
        }
        break;
      case 0x2e: // '.' not after a name: a number like .5
        if (i + 1 < END && cls[B[i + 1]!] === DIGIT) {
          const s = i;
          i++;
          while (i < END && cls[B[i]!] === DIGIT) i++;
          emitLiteral('number', s, i);
          continue;
        }
        break;
      case 0x40: {
        i = onVariable(i);
        continue;
      }
      case 0x3f: // ?
        flags |= S.PLACEHOLDER;
        tokInStmt++;
        emit('?', 1);
        afterValueToken();
        i++;
        continue;
      case 0x3b: // ;
        endStatement(i);
        i++;
        emit(';', 4);
        startStatement(i);
        continue;
      case 0x28:
        onOpen(!spaceBefore);
        i++;
        continue;
      case 0x29:
        onClose();
        i++;
        continue;
      case 0x2c:
        onComma();
        i++;
        continue;
      case 0x3a: // :=
        if (i + 1 < END && B[i + 1] === 0x3d) {
          if (pendingVar) flags |= S.USER_VAR_ASSIGN;
          pendingVar = false;
          emit(':=', 3);
          i += 2;
          continue;
        }
        break;
      case 0x3d: // =
        if (pendingVar && verb === 'SET' && depth === 0) flags |= S.USER_VAR_ASSIGN;
        pendingVar = false;
        emit('=', 3);
        i++;
        tstate = 0;
        if (definerPending) {
          definerPending = false;
          i = onDefiner(i);
        }
        continue;
    }
    // operators
    pendingVar = false;
    tokInStmt++;
    const op = operatorLength(i);
    emit(B.toString('latin1', i, i + op), 3);
    if (tstate === 1 || tstate === 3) tstate = 0;
    if (tstate === 2 && c !== 0x2a) tstate = 0;
    lastStringLit = null;
    i += op;
  }
  if (execDepth > 0) flags |= S.UNTERMINATED;
  endStatement(END);
  if (dynPending > 0) flags |= S.DYNAMIC_SQL_UNKNOWN;
  const first = statements[0];
  const unresolved = resolveQualifiers();
  return {
    digest,
    kind: first ? first.kind : 'empty',
    statements,
    tables,
    schemaRefs,
    unresolvedQualifiers: unresolved,
    literals,
    hint,
    flags,
    sideEffects,
    definers,
    dynamicSql,
  };
}

function resolveQualifiers(): NameRef[] {
  if (qualifiers.length === 0) return qualifiers;
  const out: NameRef[] = [];
  for (const q of qualifiers) {
    const n = q.name.toLowerCase();
    if (n === 'new' || n === 'old' || aliases.includes(n)) continue;
    let found = false;
    for (const t of tables) {
      if (t.table.name === q.name || t.table.name.toLowerCase() === n) {
        found = true;
        break;
      }
    }
    if (!found) out.push(q);
  }
  return out;
}

function isPlainCommentStart(i: number): boolean {
  const c = B[i];
  if (c === 0x23) return true;
  if (c === 0x2d) return i + 1 < END && B[i + 1] === 0x2d && (i + 2 === END || cls[B[i + 2]!] === SPACE || B[i + 2]! < 0x20);
  if (c === 0x2f && i + 1 < END && B[i + 1] === 0x2a) return !(i + 2 < END && (B[i + 2] === 0x21 || (B[i + 2] === 0x4d && i + 3 < END && B[i + 3] === 0x21)));
  return false;
}

function lineEnd(i: number): number {
  const e = B.indexOf(0x0a, i);
  return e < 0 || e >= END ? END : e + 1;
}

const OPS3 = ['<=>', '->>'];
const OPS2 = ['<=', '>=', '<>', '!=', '||', '&&', '<<', '>>', '->'];

function operatorLength(i: number): number {
  if (i + 2 < END) {
    const t = B.toString('latin1', i, i + 3);
    if (OPS3.includes(t)) return 3;
  }
  if (i + 1 < END) {
    const t = B.toString('latin1', i, i + 2);
    if (OPS2.includes(t)) return 2;
  }
  // one byte (a multi-byte character outside a word is passed as one token)
  return MB !== null && B[i]! >= 0x80 ? mbLength(MB, B, i, END) : 1;
}

/** `@var`, `@'var'`, `@@scope.var`. */
function onVariable(i: number): number {
  const s = i;
  let e = i + 1;
  const sys = e < END && B[e] === 0x40;
  if (sys) e++;
  if (e < END && (B[e] === 0x60 || B[e] === 0x27 || B[e] === 0x22)) {
    const q = skipQuoted(e + 1, B[e]!, B[e] !== 0x60 && !NBE);
    if (q < 0) {
      flags |= S.UNTERMINATED;
      e = END;
    } else e = q;
  } else {
    while (e < END && (cls[B[e]!] === WORD || cls[B[e]!] === DIGIT || B[e] === 0x2e)) e++;
  }
  const t = B.toString(UTF8 ? 'utf8' : 'latin1', s, e);
  tokInStmt++;
  if (dynPending > 0) {
    flags |= S.DYNAMIC_SQL_UNKNOWN;
    dynPending = 0;
  }
  if (sys) {
    const low = t.toLowerCase();
    if (verb === 'SET' && (low.startsWith('@@global.') || low.startsWith('@@persist.') || low.startsWith('@@persist_only.'))) flags |= S.SET_GLOBAL;
    emit(t, 1);
  } else {
    emit(t, 1);
    if (lastWord === 'INTO') flags |= S.USER_VAR_ASSIGN;
    pendingVar = true;
  }
  afterValueToken();
  lastStringLit = null;
  return e;
}

/** DEFINER = account: records the raw account text and skips it. */
function onDefiner(i: number): number {
  while (i < END && cls[B[i]!] === SPACE) i++;
  const s = i;
  while (i < END) {
    const c = B[i]!;
    if (c === 0x27 || c === 0x22 || c === 0x60) {
      const q = skipQuoted(i + 1, c, c !== 0x60 && !NBE);
      i = q < 0 ? END : q;
      continue;
    }
    if (c === 0x40 || cls[c] === WORD || cls[c] === DIGIT || c === 0x2e || c === 0x25 || c === 0x2d) {
      i++;
      continue;
    }
    if (c === 0x28 && i + 1 < END && B[i + 1] === 0x29) {
      i += 2; // CURRENT_USER()
      continue;
    }
    break;
  }
  const raw = B.toString(UTF8 ? 'utf8' : 'latin1', s, i);
  (definers ??= []).push(raw);
  emit(raw, 1);
  tokInStmt++;
  return i;
}

/** Convenience for tests and tools: scan a whole string. */
export function scanSql(sql: string, opts: ScanOptions = {}): StatementScan {
  const buf = Buffer.from(sql, 'utf8');
  return scanStatement(buf, 0, buf.length, opts);
}
