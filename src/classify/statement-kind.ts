/** Statement kinds by leading keyword, for the digest scanner. */
import type { StatementKind } from './scan-types';

/** The kind of a statement from its verb (the main verb after a WITH clause) and first words. */
export function kindOf(v: string, w: readonly string[]): StatementKind {
  switch (v) {
    case 'SELECT':
    case 'VALUES':
    case 'TABLE':
    case 'WITH':
      return 'select';
    case 'INSERT':
      return 'insert';
    case 'UPDATE':
      return 'update';
    case 'DELETE':
      return 'delete';
    case 'REPLACE':
      return 'replace';
    case 'LOAD':
      return w[1] === 'INDEX' ? 'admin' : 'load';
    case 'CALL':
      return 'call';
    case 'CREATE':
    case 'ALTER':
    case 'DROP':
    case 'RENAME':
    case 'TRUNCATE':
      return 'ddl';
    case 'BEGIN':
    case 'COMMIT':
    case 'ROLLBACK':
    case 'SAVEPOINT':
    case 'XA':
      return 'transaction';
    case 'RELEASE':
      return 'transaction';
    case 'START':
      return w[1] === 'TRANSACTION' ? 'transaction' : 'admin';
    case 'STOP':
      return 'admin';
    case 'SET':
      return 'set';
    case 'SHOW':
      return 'show';
    case 'USE':
      return 'use';
    case 'DESCRIBE':
    case 'DESC':
    case 'EXPLAIN':
      return 'describe';
    case 'PREPARE':
    case 'EXECUTE':
    case 'DEALLOCATE':
      return 'prepare';
    case 'DO':
      return 'do';
    case 'LOCK':
      return w[1] === 'TABLES' || w[1] === 'TABLE' ? 'lock' : 'admin';
    case 'UNLOCK':
      return w[1] === 'TABLES' || w[1] === 'TABLE' ? 'lock' : 'admin';
    case 'HANDLER':
      return 'handler';
    case 'KILL':
      return 'kill';
    case 'GRANT':
    case 'REVOKE':
      return 'account';
    case 'FLUSH':
    case 'RESET':
    case 'PURGE':
    case 'CHANGE':
    case 'INSTALL':
    case 'UNINSTALL':
    case 'SHUTDOWN':
    case 'BINLOG':
    case 'CACHE':
    case 'CHECK':
    case 'CHECKSUM':
    case 'OPTIMIZE':
    case 'REPAIR':
    case 'ANALYZE':
    case 'BACKUP':
      return 'admin';
    case 'HELP':
      return 'help';
    case '':
      return 'empty';
    default:
      return 'unknown';
  }
}
