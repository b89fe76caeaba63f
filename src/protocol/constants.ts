/** MySQL/MariaDB protocol constants (client/server protocol, protocol 41). */

/** Capability flags (low 32 bits as sent in handshakes). */
export const Cap = {
  LONG_PASSWORD: 0x1, // MySQL name; MariaDB servers clear it to say "extended capabilities follow"
  FOUND_ROWS: 0x2,
  LONG_FLAG: 0x4,
  CONNECT_WITH_DB: 0x8,
  NO_SCHEMA: 0x10,
  COMPRESS: 0x20,
  ODBC: 0x40,
  LOCAL_FILES: 0x80,
  IGNORE_SPACE: 0x100,
  PROTOCOL_41: 0x200,
  INTERACTIVE: 0x400,
  SSL: 0x800,
  IGNORE_SIGPIPE: 0x1000,
  TRANSACTIONS: 0x2000,
  RESERVED: 0x4000,
  SECURE_CONNECTION: 0x8000,
  MULTI_STATEMENTS: 0x10000,
  MULTI_RESULTS: 0x20000,
  PS_MULTI_RESULTS: 0x40000,
  PLUGIN_AUTH: 0x80000,
  CONNECT_ATTRS: 0x100000,
  PLUGIN_AUTH_LENENC_CLIENT_DATA: 0x200000,
  CAN_HANDLE_EXPIRED_PASSWORDS: 0x400000,
  SESSION_TRACK: 0x800000,
  DEPRECATE_EOF: 0x1000000,
  /** MySQL 8.0.18+: the compressed protocol with zstd frames; the handshake response then ends with a level byte. */
  ZSTD_COMPRESSION_ALGORITHM: 0x4000000,
} as const;

/** MariaDB extended capabilities (the upper 32 bits, sent in the handshake filler). */
export const MariaCap = {
  PROGRESS: 0x1,
  COM_MULTI: 0x2,
  STMT_BULK_OPERATIONS: 0x4,
  EXTENDED_METADATA: 0x8,
  CACHE_METADATA: 0x10,
} as const;

/** Capabilities the proxy can serve to clients (intersected with the backend's). */
export const PROXY_CAPABILITIES =
  Cap.LONG_PASSWORD | Cap.FOUND_ROWS | Cap.LONG_FLAG | Cap.CONNECT_WITH_DB | Cap.NO_SCHEMA | Cap.ODBC |
  Cap.LOCAL_FILES | Cap.IGNORE_SPACE | Cap.PROTOCOL_41 | Cap.INTERACTIVE | Cap.SSL | Cap.IGNORE_SIGPIPE |
  Cap.TRANSACTIONS | Cap.RESERVED | Cap.SECURE_CONNECTION | Cap.MULTI_STATEMENTS | Cap.MULTI_RESULTS |
  Cap.PS_MULTI_RESULTS | Cap.PLUGIN_AUTH | Cap.CONNECT_ATTRS | Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA |
  Cap.CAN_HANDLE_EXPIRED_PASSWORDS | Cap.SESSION_TRACK | Cap.DEPRECATE_EOF | Cap.COMPRESS;

/** MariaDB extended capabilities the proxy can relay (the rest change framing it would have to rewrite). */
export const PROXY_MARIADB_CAPABILITIES = MariaCap.EXTENDED_METADATA;

/** Server status flags. */
export const Status = {
  IN_TRANS: 0x1,
  AUTOCOMMIT: 0x2,
  MORE_RESULTS_EXISTS: 0x8,
  NO_GOOD_INDEX_USED: 0x10,
  NO_INDEX_USED: 0x20,
  CURSOR_EXISTS: 0x40,
  LAST_ROW_SENT: 0x80,
  DB_DROPPED: 0x100,
  NO_BACKSLASH_ESCAPES: 0x200,
  METADATA_CHANGED: 0x400,
  QUERY_WAS_SLOW: 0x800,
  PS_OUT_PARAMS: 0x1000,
  IN_TRANS_READONLY: 0x2000,
  SESSION_STATE_CHANGED: 0x4000,
} as const;

/** Command bytes. */
export const Com = {
  SLEEP: 0x00,
  QUIT: 0x01,
  INIT_DB: 0x02,
  QUERY: 0x03,
  FIELD_LIST: 0x04,
  CREATE_DB: 0x05,
  DROP_DB: 0x06,
  REFRESH: 0x07,
  SHUTDOWN: 0x08,
  STATISTICS: 0x09,
  PROCESS_INFO: 0x0a,
  CONNECT: 0x0b,
  PROCESS_KILL: 0x0c,
  DEBUG: 0x0d,
  PING: 0x0e,
  TIME: 0x0f,
  DELAYED_INSERT: 0x10,
  CHANGE_USER: 0x11,
  BINLOG_DUMP: 0x12,
  TABLE_DUMP: 0x13,
  CONNECT_OUT: 0x14,
  REGISTER_SLAVE: 0x15,
  STMT_PREPARE: 0x16,
  STMT_EXECUTE: 0x17,
  STMT_SEND_LONG_DATA: 0x18,
  STMT_CLOSE: 0x19,
  STMT_RESET: 0x1a,
  SET_OPTION: 0x1b,
  STMT_FETCH: 0x1c,
  DAEMON: 0x1d,
  BINLOG_DUMP_GTID: 0x1e,
  RESET_CONNECTION: 0x1f,
} as const;

/** Session-state-tracker entry types in OK packets. */
export const SessionTrack = {
  SYSTEM_VARIABLES: 0,
  SCHEMA: 1,
  STATE_CHANGE: 2,
  GTIDS: 3,
  TRANSACTION_CHARACTERISTICS: 4,
  TRANSACTION_STATE: 5,
} as const;

/** Largest payload of one physical packet; a payload of exactly this length continues in the next packet. */
export const MAX_PACKET_PAYLOAD = 0xffffff;

/** Default collation announced in our handshake: utf8mb4_general_ci. */
export const DEFAULT_COLLATION_ID = 45;
