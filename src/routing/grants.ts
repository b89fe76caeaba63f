/**
 * The server layer of tenant isolation, as SQL: the CREATE USER / GRANT statements that give a
 * tenant its own backend account, granted only its own schema. Pure; `tenantgate grants TENANT`
 * prints them and `--apply` runs them on the primary of the tenant's cluster (replicas get them
 * through replication).
 */
import type { TenantConfig } from '../config/types';

/**
 * Privileges on the tenant's schema: what an application and its migrations need. Deliberately
 * not GRANT OPTION, and nothing global (no SUPER, FILE, PROCESS, RELOAD, CREATE USER, roles).
 */
export const TENANT_SCHEMA_PRIVILEGES = [
  'SELECT', 'INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'INDEX', 'ALTER', 'REFERENCES', 'CREATE TEMPORARY TABLES',
  'LOCK TABLES', 'EXECUTE', 'CREATE VIEW', 'SHOW VIEW', 'CREATE ROUTINE', 'ALTER ROUTINE', 'EVENT', 'TRIGGER',
] as const;

/** `s` as a single-quoted SQL string (backslash and quote escaped; valid with or without NO_BACKSLASH_ESCAPES for names without backslashes). */
function str(s: string): string {
  return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "''") + "'";
}

/** The account as `'user'@'%'`. */
export function tenantAccount(t: TenantConfig): string {
  return `${str(t.backendUser)}@'%'`;
}

/** The statements, in order, that create the tenant's schema and account and grant it only that schema. */
export function tenantGrantStatements(t: TenantConfig): string[] {
  const acct = tenantAccount(t);
  const db = '`' + t.schema.replace(/`/g, '``') + '`';
  return [
    `CREATE DATABASE IF NOT EXISTS ${db}`,
    `CREATE USER IF NOT EXISTS ${acct} IDENTIFIED BY ${str(t.backendPassword)}`,
    // An account that existed with another password gets the configured one.
    `ALTER USER ${acct} IDENTIFIED BY ${str(t.backendPassword)}`,
    `GRANT ${TENANT_SCHEMA_PRIVILEGES.join(', ')} ON ${db}.* TO ${acct}`,
  ];
}
