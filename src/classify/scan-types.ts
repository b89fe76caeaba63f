/**
 * What the digest scanner (`digest.ts`) reports about one COM_QUERY: plain data, so every decision
 * made from it (isolation, routing, rewriting) is a pure function of this value.
 */

/** How the scanner reads quotes and escapes; the session passes its current sql_mode and charset. */
export interface ScanOptions {
  /** sql_mode NO_BACKSLASH_ESCAPES: `\` is an ordinary character inside strings. */
  readonly noBackslashEscapes?: boolean;
  /** sql_mode ANSI_QUOTES: `"..."` is an identifier, not a string. */
  readonly ansiQuotes?: boolean;
  /** Connection charset (`character_set_client`); gbk/big5/sjis/cp932/gb18030 change how bytes pair. */
  readonly charset?: string;
}

/** What a statement does, from its first keyword(s). */
export type StatementKind =
  | 'select' // SELECT, WITH ... SELECT, VALUES, TABLE, (SELECT ...)
  | 'insert'
  | 'update'
  | 'delete'
  | 'replace'
  | 'load' // LOAD DATA / LOAD XML
  | 'call'
  | 'ddl' // CREATE / ALTER / DROP / RENAME / TRUNCATE
  | 'transaction' // BEGIN, START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, RELEASE, XA
  | 'set'
  | 'show'
  | 'use'
  | 'describe' // DESCRIBE / DESC / EXPLAIN
  | 'prepare' // PREPARE / EXECUTE / DEALLOCATE, EXECUTE IMMEDIATE
  | 'do'
  | 'lock' // LOCK TABLES / UNLOCK TABLES
  | 'handler'
  | 'kill'
  | 'account' // GRANT / REVOKE (user statements are 'ddl' with USER/ROLE as the object)
  | 'admin' // FLUSH, RESET, PURGE, CHANGE MASTER, START/STOP SLAVE, INSTALL, SHUTDOWN, BINLOG, ANALYZE/CHECK/OPTIMIZE/REPAIR, BACKUP, ...
  | 'help'
  | 'empty' // only comments / whitespace
  | 'unknown';

/** A name as written in the statement; `start`/`end` span it in the buffer, quotes included. */
export interface NameRef {
  /** The name with quotes removed and doubled quote characters undone. */
  readonly name: string;
  readonly start: number;
  readonly end: number;
  readonly quoted: boolean;
}

/** A table (or other schema object: view, procedure, function, sequence, trigger) the statement names. */
export interface TableRef {
  readonly schema: NameRef | null;
  readonly table: NameRef;
}

/** Where a schema name appears. */
export type SchemaVia =
  | 'object' // db.tbl in a table/object position
  | 'column' // db.tbl.col
  | 'function' // db.func(
  | 'use' // USE db
  | 'show' // SHOW TABLES FROM db, SHOW COLUMNS FROM t IN db
  | 'database'; // CREATE/ALTER/DROP DATABASE db, SHOW CREATE DATABASE db

export interface SchemaRef extends NameRef {
  readonly via: SchemaVia;
}

export interface Literal {
  readonly type: 'string' | 'number' | 'hex' | 'bit';
  readonly start: number;
  readonly end: number;
}

/** One statement of a (possibly multi-statement) query. */
export interface StatementPart {
  /** First keyword, upper-case ('' when the statement has none). */
  readonly verb: string;
  readonly kind: StatementKind;
  /** The first few unquoted words, upper-case (`['SHOW', 'GLOBAL', 'STATUS']`). */
  readonly words: readonly string[];
  readonly start: number;
  readonly end: number;
}

/** Flags (bit set) for constructs that matter to isolation and routing. */
export const S = {
  /** SELECT ... FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE. */
  LOCKING_READ: 1 << 0,
  /** `@v := ...`, `SET @v = ...`, `... INTO @v`. */
  USER_VAR_ASSIGN: 1 << 1,
  /** INTO OUTFILE / INTO DUMPFILE. */
  INTO_FILE: 1 << 2,
  /** LOAD_FILE( */
  LOAD_FILE: 1 << 3,
  /** LOAD DATA/XML ... INFILE (server-side file unless LOAD_LOCAL). */
  LOAD_DATA: 1 << 4,
  LOAD_LOCAL: 1 << 5,
  /** SET GLOBAL / PERSIST / @@global. */
  SET_GLOBAL: 1 << 6,
  /** PREPARE ... FROM <not a literal>, EXECUTE IMMEDIATE <not a literal>: SQL the proxy cannot see. */
  DYNAMIC_SQL_UNKNOWN: 1 << 7,
  /** An unterminated string, identifier or comment: the statement cannot be classified. */
  UNTERMINATED: 1 << 8,
  SQL_CALC_FOUND_ROWS: 1 << 9,
  /** CREATE TEMPORARY ... */
  TEMPORARY: 1 << 10,
  /** Reads per-connection state: LAST_INSERT_ID(), ROW_COUNT(), FOUND_ROWS(), LASTVAL(), PREVIOUS VALUE FOR. */
  SESSION_FN: 1 << 11,
  /** ENGINE=FEDERATED/CONNECT/SPIDER: tables that reach other servers or schemas. */
  REMOTE_ENGINE: 1 << 12,
  /** DATA DIRECTORY / INDEX DIRECTORY table options (server file placement). */
  FILE_DIRECTORY: 1 << 13,
  /** Calls a function with side effects (see `sideEffects`). */
  SIDE_EFFECT: 1 << 14,
  /** A `?` placeholder (text of a server-side prepared statement). */
  PLACEHOLDER: 1 << 15,
  /** More literals than the scanner keeps (`MAX_LITERALS`); `literals` holds the first ones. */
  LITERALS_TRUNCATED: 1 << 16,
} as const;

/** Everything the scanner found. Offsets are absolute positions in the scanned buffer. */
export interface StatementScan {
  /** Normalised text: literals `?`, keywords upper-case, whitespace single, comments dropped (hints kept). */
  readonly digest: string;
  /** Kind of the first statement. */
  readonly kind: StatementKind;
  readonly statements: readonly StatementPart[];
  /** Tables/objects named in table positions, in order. */
  readonly tables: readonly TableRef[];
  /** Every schema name the statement refers to. */
  readonly schemaRefs: readonly SchemaRef[];
  /**
   * Qualifiers of two-part names in expressions (`x.col`) where `x` is no table or alias of the
   * statement: the server would read them as a table that the scanner did not see in a table
   * position, so isolation treats them as possible schema references.
   */
  readonly unresolvedQualifiers: readonly NameRef[];
  /** Literals in order (at most MAX_LITERALS; see S.LITERALS_TRUNCATED). */
  readonly literals: readonly Literal[];
  /** Routing hint from a `/* tenantgate:primary *\/` or `/* tenantgate:replica *\/` comment (primary wins). */
  readonly hint: 'primary' | 'replica' | null;
  readonly flags: number;
  /** Side-effect functions called (upper-case): GET_LOCK, RELEASE_LOCK, LAST_INSERT_ID (with argument), NEXTVAL, SETVAL, SLEEP, ... */
  readonly sideEffects: readonly string[] | null;
  /** Raw text of each `DEFINER = ...` account. */
  readonly definers: readonly string[] | null;
  /** String literals holding SQL run by PREPARE ... FROM '...' / EXECUTE IMMEDIATE '...'. */
  readonly dynamicSql: readonly Literal[] | null;
}
