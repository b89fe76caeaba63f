/**
 * The proxy layer of tenant isolation: from a statement scan and the tenant's placement, allow
 * (with the logical → physical schema rewrites to make), refuse (an ERR value), or have the proxy
 * answer itself (process list, schema list, KILL). Fails closed: what cannot be shown to stay in
 * the tenant's schema is refused on shared servers.
 *
 * The other layer is the server's: the statement runs as the tenant's own backend account.
 */
import { literalValue, stringLiteralBytes } from '../classify/literal-value';
import { mbTablesFor } from '../classify/multibyte';
import { S, scanStatement } from '../classify/digest';
import type { NameRef, ScanOptions, StatementPart, StatementScan } from '../classify/scan-types';
import type { Placement } from './placement';
import { dbAccessDenied, notVerifiable, privilegeDenied, type Refusal } from './refusal';
import { applyRewrites, quoteIdent, quoteString, quoteStringBytes, type Rewrite } from './rewrite';

/** What the proxy answers from its own state instead of the server. */
export type ProxyAnswer =
  | 'processlist' // SHOW [FULL] PROCESSLIST, information_schema.PROCESSLIST: the tenant's own sessions
  | 'databases' // SHOW DATABASES / SCHEMAS: the tenant's (logical) schema and information_schema
  | 'schemata' // SELECT ... FROM information_schema.SCHEMATA: likewise
  | 'kill' // KILL: only the tenant's own sessions
  | 'show_explain'; // SHOW EXPLAIN/ANALYZE FOR id: only the tenant's own sessions

export type IsolationDecision =
  | { readonly action: 'allow'; readonly rewrites: readonly Rewrite[] }
  | { readonly action: 'answer'; readonly answer: ProxyAnswer }
  | Refusal;

export interface IsolationContext {
  /** Proxy user name, for error messages. */
  readonly user: string;
  readonly scanOptions: ScanOptions;
}

/** information_schema tables the server filters by the account's grants: allowed. */
const INFO_SCHEMA_ALLOWED = new Set([
  'TABLES', 'COLUMNS', 'STATISTICS', 'VIEWS', 'ROUTINES', 'TRIGGERS', 'KEY_COLUMN_USAGE', 'REFERENTIAL_CONSTRAINTS',
  'TABLE_CONSTRAINTS', 'CHECK_CONSTRAINTS', 'PARTITIONS', 'PARAMETERS', 'EVENTS', 'ENGINES', 'CHARACTER_SETS',
  'COLLATIONS', 'COLLATION_CHARACTER_SET_APPLICABILITY', 'KEYWORDS', 'SQL_FUNCTIONS', 'SESSION_VARIABLES',
  'SESSION_STATUS', 'GLOBAL_VARIABLES', 'COLUMN_PRIVILEGES', 'TABLE_PRIVILEGES', 'SCHEMA_PRIVILEGES', 'SEQUENCES',
  'PERIOD', 'KEY_PERIOD_USAGE', 'SYSTEM_VARIABLES', 'OPTIMIZER_TRACE', 'PROFILING',
]);
/** SHOW forms a tenant may run (the second word); anything else is refused. */
const SHOW_ALLOWED = new Set([
  'TABLES', 'FULL', 'COLUMNS', 'FIELDS', 'INDEX', 'INDEXES', 'KEYS', 'CREATE', 'TABLE', 'TRIGGERS', 'EVENTS', 'WARNINGS',
  'ERRORS', 'COUNT', 'VARIABLES', 'SESSION', 'LOCAL', 'STATUS', 'COLLATION', 'CHARACTER', 'CHARSET', 'ENGINES',
  'PRIVILEGES', 'PROCEDURE', 'FUNCTION', 'PACKAGE', 'PROFILE', 'PROFILES', 'PLUGINS', 'AUTHORS', 'CONTRIBUTORS', 'GRANTS',
  'STORAGE', 'OPEN', 'SEQUENCES',
]);
const ADMIN_ALLOWED = new Set(['CHECK', 'CHECKSUM', 'OPTIMIZE', 'REPAIR', 'ANALYZE']);

function ci(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** Checks one scanned query for `placement`. `buf` is the buffer the scan's offsets refer to. */
export function checkIsolation(scan: StatementScan, buf: Buffer, placement: Placement, ctx: IsolationContext, nesting = 0): IsolationDecision {
  const shared = placement.sharedServer;
  const f = scan.flags;
  if (f & S.UNTERMINATED && shared) return notVerifiable(placement.tenant, 'an unterminated string, identifier or comment');
  if (f & S.DYNAMIC_SQL_UNKNOWN && shared) return notVerifiable(placement.tenant, 'PREPARE or EXECUTE IMMEDIATE of SQL that is not a string literal');
  if (f & S.SET_GLOBAL) return privilegeDenied('SUPER', 'SET GLOBAL');
  if (f & S.INTO_FILE) return privilegeDenied('FILE', 'SELECT ... INTO OUTFILE/DUMPFILE');
  if (f & S.LOAD_FILE) return privilegeDenied('FILE', 'LOAD_FILE()');
  if (f & S.LOAD_DATA && !(f & S.LOAD_LOCAL)) return privilegeDenied('FILE', 'LOAD DATA INFILE without LOCAL');
  if (f & S.REMOTE_ENGINE) return privilegeDenied('SUPER', 'FEDERATED/CONNECT/SPIDER tables');
  if (f & S.FILE_DIRECTORY) return privilegeDenied('FILE', 'DATA/INDEX DIRECTORY');
  if (scan.definers) {
    for (const d of scan.definers) if (!definerIsSelf(d, placement.backendUser)) return privilegeDenied('SET USER', `DEFINER naming another account (${d})`);
  }
  if (scan.digest.includes(' SONAME ')) return privilegeDenied('SUPER', 'loadable functions and plugins');

  let answer: ProxyAnswer | null = null;
  for (const st of scan.statements) {
    const r = checkStatement(st, placement);
    if (r === null) continue;
    if (r.action === 'refuse') return r;
    answer = r.answer;
  }

  const rewrites: Rewrite[] = [];
  let infoSchema = false;
  for (const t of scan.tables) {
    if (!t.schema || !ci(t.schema.name, 'information_schema')) continue;
    infoSchema = true;
    const tn = t.table.name.toUpperCase();
    if (tn === 'PROCESSLIST') answer = 'processlist';
    else if (tn === 'SCHEMATA') answer = 'schemata';
    else if (!INFO_SCHEMA_ALLOWED.has(tn)) return dbAccessDenied(ctx.user, 'information_schema');
  }
  for (const ref of scan.schemaRefs) {
    const r = schemaVerdict(ref, placement, ctx);
    if (r === 'ok') continue;
    if (r === 'info') {
      infoSchema = true;
      continue;
    }
    if (r === 'rewrite') rewrites.push({ start: ref.start, end: ref.end, text: quoteIdent(placement.schema) });
    else return r;
  }
  for (const q of scan.unresolvedQualifiers) {
    const r = schemaVerdict(q, placement, ctx);
    if (r === 'ok') continue;
    if (r === 'info') infoSchema = true;
    // read as a schema, the logical name must become the physical one like any other reference
    else if (r === 'rewrite') rewrites.push({ start: q.start, end: q.end, text: quoteIdent(placement.schema) });
    else return r;
  }
  if (answer !== null) {
    if (scan.statements.length > 1) return notVerifiable(placement.tenant, 'a statement the proxy answers itself inside a multi-statement query');
    return { action: 'answer', answer };
  }
  // information_schema filters name schemas as strings: map the logical name there too.
  if (infoSchema && placement.logicalSchema !== null) {
    for (const lit of scan.literals) {
      if (lit.type === 'string' && literalValue(buf, lit, ctx.scanOptions) === placement.logicalSchema) {
        rewrites.push({ start: lit.start, end: lit.end, text: quoteString(placement.schema, ctx.scanOptions.noBackslashEscapes === true) });
      }
    }
  }
  // SQL inside PREPARE ... FROM '...' / EXECUTE IMMEDIATE '...' is checked (and rewritten) like the outer query.
  if (scan.dynamicSql) {
    if (nesting >= 2) return notVerifiable(placement.tenant, 'nested dynamic SQL');
    for (const lit of scan.dynamicSql) {
      // the literal's bytes, unescaped, are what the server will parse: scan exactly those
      const inner = stringLiteralBytes(buf, lit, ctx.scanOptions);
      const innerScan = scanStatement(inner, 0, inner.length, ctx.scanOptions);
      const d = checkIsolation(innerScan, inner, placement, ctx, nesting + 1);
      if (d.action === 'refuse') return d;
      if (d.action === 'answer') return notVerifiable(placement.tenant, 'PREPARE of a statement the proxy answers itself');
      if (d.rewrites.length > 0) {
        // re-quoting bytes is only safe where no character has a 0x27/0x5c trail byte
        if (mbTablesFor(ctx.scanOptions.charset) !== null) return notVerifiable(placement.tenant, 'a logical schema name inside PREPARE in a multi-byte charset');
        const bytes = quoteStringBytes(applyRewrites(inner, 0, inner.length, d.rewrites), ctx.scanOptions.noBackslashEscapes === true);
        rewrites.push({ start: lit.start, end: lit.end, text: bytes.toString('latin1'), bytes });
      }
    }
  }
  return { action: 'allow', rewrites };
}

function schemaVerdict(ref: NameRef, placement: Placement, ctx: IsolationContext): 'ok' | 'rewrite' | 'info' | Refusal {
  const n = ref.name;
  if (n === placement.schema) return 'ok';
  if (placement.logicalSchema !== null && n === placement.logicalSchema) return 'rewrite';
  // USE information_schema would make its tables reachable unqualified, past the checks above
  if (ci(n, 'information_schema')) return (ref as { via?: string }).via === 'use' ? dbAccessDenied(ctx.user, n) : 'info';
  // mysql, performance_schema, sys and every other tenant's or unknown schema: one and the same error
  return dbAccessDenied(ctx.user, n);
}

/** `CURRENT_USER`, or the tenant's own backend account (any host). */
function definerIsSelf(raw: string, backendUser: string): boolean {
  const t = raw.trim();
  if (/^current_user(\(\))?$/i.test(t)) return true;
  const m = /^(`(?:[^`]|``)*`|'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"|[^@\s]+)/.exec(t);
  if (!m) return false;
  let user = m[1]!;
  const q = user[0];
  if (q === '`' || q === "'" || q === '"') user = user.slice(1, -1).split(q + q).join(q);
  return user === backendUser;
}

/** Verdict for one statement of the query by its leading words; null when nothing applies. */
function checkStatement(st: StatementPart, placement: Placement): Refusal | { action: 'answer'; answer: ProxyAnswer } | null {
  const w = st.words;
  const w1 = w[1] ?? '';
  const w2 = w[2] ?? '';
  switch (st.kind) {
    case 'unknown':
      return placement.sharedServer ? notVerifiable(placement.tenant, `a statement starting with ${st.verb || 'no keyword'}`) : null;
    case 'account':
      return privilegeDenied('GRANT OPTION', `${st.verb}`);
    case 'kill':
      return { action: 'answer', answer: 'kill' };
    case 'admin':
      if (ADMIN_ALLOWED.has(st.verb) && (w1 === 'TABLE' || w1 === 'NO_WRITE_TO_BINLOG' || w1 === 'LOCAL')) return null;
      return privilegeDenied('SUPER', `${st.verb}${w1 ? ' ' + w1 : ''}`);
    case 'ddl': {
      const obj = w1 === 'OR' ? w[3] ?? '' : w1 === 'DEFINER' ? '' : w1;
      if (obj === 'USER' || obj === 'ROLE') return privilegeDenied('CREATE USER', `${st.verb} ${obj}`);
      if (obj === 'DATABASE' || obj === 'SCHEMA') return null; // judged by its schema reference below; a nameless ALTER DATABASE is the tenant's own
      if (obj === 'SERVER' || obj === 'TABLESPACE' || obj === 'LOGFILE' || obj === 'INSTANCE') return privilegeDenied('SUPER', `${st.verb} ${obj}`);
      return null;
    }
    case 'set':
      if (w1 === 'ROLE' || (w1 === 'DEFAULT' && w2 === 'ROLE')) return privilegeDenied('SUPER', `SET ${w1 === 'ROLE' ? 'ROLE' : 'DEFAULT ROLE'}`);
      if (w1 === 'PASSWORD') return privilegeDenied('CREATE USER', 'SET PASSWORD');
      return null;
    case 'lock':
      return null;
    case 'show':
      return checkShow(st, placement);
    default:
      if (st.verb === 'LOCK' || st.verb === 'UNLOCK') return privilegeDenied('RELOAD', `${st.verb} ${w1}`);
      return null;
  }
}

function checkShow(st: StatementPart, placement: Placement): Refusal | { action: 'answer'; answer: ProxyAnswer } | null {
  const w = st.words;
  const w1 = w[1] ?? '';
  const w2 = w[2] ?? '';
  if (w1 === 'DATABASES' || w1 === 'SCHEMAS') return { action: 'answer', answer: 'databases' };
  if (w1 === 'PROCESSLIST' || (w1 === 'FULL' && w2 === 'PROCESSLIST')) return { action: 'answer', answer: 'processlist' };
  if ((w1 === 'EXPLAIN' || w1 === 'ANALYZE') && w.includes('FOR')) return { action: 'answer', answer: 'show_explain' };
  if (w1 === 'GLOBAL') return w2 === 'VARIABLES' ? null : privilegeDenied('PROCESS', 'SHOW GLOBAL STATUS');
  if (w1 === 'GRANTS' && w2 === 'FOR' && w[3] !== 'CURRENT_USER') return privilegeDenied('SELECT on mysql', 'SHOW GRANTS for another account');
  if (w1 === 'CREATE' && (w2 === 'USER' || w2 === 'ROLE')) return privilegeDenied('SELECT on mysql', `SHOW CREATE ${w2}`);
  if (w1 === 'OPEN' && !w.includes('FROM') && !w.includes('IN')) return privilegeDenied('PROCESS', 'SHOW OPEN TABLES without FROM');
  if (!SHOW_ALLOWED.has(w1)) return privilegeDenied('PROCESS', `SHOW ${w1}${w2 ? ' ' + w2 : ''}`);
  void placement;
  return null;
}

/**
 * The database named at connect, by COM_INIT_DB or in COM_CHANGE_USER (not a statement, so not
 * scanned): the tenant's physical schema to select, or the same refusal a `USE` of it gets.
 */
export function checkSchemaSwitch(db: string, placement: Placement, user: string): { readonly action: 'allow'; readonly schema: string } | Refusal {
  if (db === placement.schema || (placement.logicalSchema !== null && db === placement.logicalSchema)) return { action: 'allow', schema: placement.schema };
  return dbAccessDenied(user, db);
}
