/**
 * The refusals routing decisions return: values, not exceptions, each an ERR packet's content with
 * a real MySQL errno/SQLSTATE where one fits.
 */

export interface Refusal {
  readonly action: 'refuse';
  readonly errno: number;
  readonly sqlState: string;
  readonly message: string;
}

/** ER_ACCESS_DENIED_ERROR: login refused. */
export function accessDenied(user: string, why: string): Refusal {
  return { action: 'refuse', errno: 1045, sqlState: '28000', message: `Access denied for user '${user}': ${why}` };
}

/**
 * ER_DBACCESS_DENIED_ERROR. Used for every schema a tenant may not use, whether it exists or not:
 * the same text for both, so the error is no oracle for other tenants' schema names.
 */
export function dbAccessDenied(user: string, schema: string): Refusal {
  return { action: 'refuse', errno: 1044, sqlState: '42000', message: `Access denied for user '${user}'@'%' to database '${schema}'` };
}

/** ER_SPECIFIC_ACCESS_DENIED_ERROR, naming what tenantgate refused. */
export function privilegeDenied(privilege: string, what: string): Refusal {
  return {
    action: 'refuse',
    errno: 1227,
    sqlState: '42000',
    message: `Access denied; you need (at least one of) the ${privilege} privilege(s) for this operation (tenantgate does not allow ${what} on tenant connections)`,
  };
}

/** ER_NOT_SUPPORTED_YET: the proxy cannot prove a statement stays within the tenant. */
export function notVerifiable(tenant: string, what: string): Refusal {
  return {
    action: 'refuse',
    errno: 1235,
    sqlState: '42000',
    message: `This version of tenantgate doesn't yet support '${what}' for tenant '${tenant}' (it cannot verify that the statement stays within the tenant's schema)`,
  };
}
