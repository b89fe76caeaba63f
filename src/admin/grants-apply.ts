/**
 * `tenantgate grants TENANT --apply`: runs the tenant's CREATE USER/GRANT statements on the
 * primary of its cluster, logged in as that backend's configured (administrative) account.
 */
import { BackendConnection } from '../backend/backend-connection';
import type { Config } from '../config/types';
import { DEFAULT_COLLATION_ID } from '../protocol/constants';
import { tenantGrantStatements } from '../routing/grants';

/** Runs the statements; resolves with them. Rejects with the server's error for the first that fails. */
export async function applyTenantGrants(config: Config, tenantId: string): Promise<string[]> {
  const t = config.tenants.find((x) => x.id === tenantId);
  if (!t) throw new Error(`unknown tenant "${tenantId}"`);
  const cluster = config.clusters.find((c) => c.name === t.cluster);
  const backend = cluster ? config.backends.find((b) => b.name === cluster.primary) : undefined;
  if (!backend) throw new Error(`tenant "${tenantId}": cluster "${t.cluster}" has no configured primary`);
  const sql = tenantGrantStatements(t);
  const conn = new BackendConnection(backend, 0, DEFAULT_COLLATION_ID, false);
  await conn.connect();
  try {
    for (const s of sql) await conn.query(s);
  } finally {
    conn.quit();
  }
  return sql;
}
