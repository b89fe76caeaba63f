/**
 * The setup shared by the randomized multi-session differential tests (test/random/multiplex-random
 * for any seed and length, test/integration/multiplex-seeds for the fixed seeds `npm test` runs): two
 * identically set-up servers (one behind a proxy whose pool of two connections six sessions share,
 * one for the dedicated-connection models).
 */
import type { MariaDbServer } from './mariadb';
import { startServer } from './mariadb';
import type { ProxyHandle } from './proxy';
import { startProxy } from './proxy';
import { PASSWORD, USERS, worldSetupSql } from './state-steps';

/** Short lock waits: a lock leaked by the proxy shows as an error instead of a long hang. */
const SERVER_ARGS = ['--lock-wait-timeout=4', '--innodb-lock-wait-timeout=4'];

export interface MultiplexSetup {
  proxied: MariaDbServer;
  model: MariaDbServer;
  h: ProxyHandle;
  stop(): Promise<void>;
}

/** `maxConnections`: the proxy's pool (default 2; lane-random uses more so lanes find slack). */
export async function startMultiplexSetup(maxConnections = 2): Promise<MultiplexSetup> {
  const [proxied, model] = await Promise.all([startServer({ extraArgs: SERVER_ARGS }), startServer({ extraArgs: SERVER_ARGS })]);
  for (const s of [proxied, model]) for (const sql of worldSetupSql()) await s.query(sql);
  const h = await startProxy({
    // Every user may use the whole pool: sessions are driven one step at a time, so under the default
    // fair share (max_connections - 1 per user) a session whose user's other session pins a connection
    // would wait for it, where its dedicated model connection does not (the share: pool-fairness).
    backends: [{ name: 'b1', port: proxied.port, maxConnections, maxConnectionsPerUser: maxConnections, acquireTimeoutMs: 8000 }],
    users: USERS.map((u) => ({ name: u.name, password: PASSWORD, defaultSchema: u.schema })),
  });
  return {
    proxied,
    model,
    h,
    stop: async () => {
      await h.stop();
      await Promise.all([proxied.destroy(), model.destroy()]);
    },
  };
}
