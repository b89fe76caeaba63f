import { Cap } from '../protocol/constants';
import { buildErr, schemaStateEntry } from '../protocol/ok-err';
import { PROFILE_CAPS } from '../backend/backend-connection';
import type { Backend } from '../backend/pool';
import { identifyTenant } from '../routing/tenant';
import { placementFor, type Placement } from '../routing/placement';
import { dbAccessDenied, type Refusal } from '../routing/refusal';
import type { RoutingSnapshot } from '../routing/snapshot';
import { S, type ClientSession } from './client-session';
import { compressionSettings } from './compressed-transport';
import type { Identity } from './login';
import { physicalSchema } from './tenant-statement';

/** Where a logged-in session goes: its tenant's placement (null: passthrough) and the schema it starts in. */
export interface LoginTarget {
  action: 'ok';
  tenant: Placement | null;
  schema: string | null;
}

/** What {@link loginTarget} decides on. */
export interface LoginFacts {
  /** The user name as the client sent it. */
  login: string;
  attrs: ReadonlyMap<string, string>;
  /** The schema the client named (null: none). */
  database: string | null;
  /** The user's default_schema (passthrough sessions only: a tenant starts in its own schema). */
  defaultSchema: string | null;
}

/**
 * The tenant and starting schema of a login: without tenants configured (`snap` null), the schema the client
 * named or the user's default. With tenants, the tenant identified (or a refusal: fails closed) and
 * its schema — the one the client named by its logical or physical name, else the tenant's own;
 * another schema is refused with ERR 1044 (unless proxy isolation is switched off, `unsafeSkip`).
 */
export function loginTarget(f: LoginFacts, snap: RoutingSnapshot | null, unsafeSkip: boolean): LoginTarget | Refusal {
  if (snap === null) return { action: 'ok', tenant: null, schema: f.database ?? f.defaultSchema };
  const d = identifyTenant({ user: f.login, connectAttrs: Object.fromEntries(f.attrs), database: f.database }, snap);
  const pl = d.action === 'tenant' ? placementFor(d.tenant, snap) : d;
  if ('action' in pl && pl.action === 'refuse') return pl;
  if (!('tenant' in pl)) return { action: 'ok', tenant: null, schema: f.database ?? f.defaultSchema };
  if (f.database === null) return { action: 'ok', tenant: pl, schema: pl.schema };
  const phys = physicalSchema(pl, f.database);
  if (phys === null && !unsafeSkip) return dbAccessDenied(f.login, f.database);
  return { action: 'ok', tenant: pl, schema: phys ?? f.database };
}

/**
 * Authentication succeeded (handshake or COM_CHANGE_USER): the connection limit, the tenant and
 * schema, the backend pool; then OK to the client — after selecting the schema on a backend for a
 * passthrough session (a tenant's schema is selected by its first statement's replay).
 */
export function completeLogin(s: ClientSession, id: Identity): void {
  const ctx = s.ctx;
  if (ctx.handshaking.delete(s) && ctx.sessions.size - ctx.handshaking.size > ctx.config.server.maxClientConnections) {
    s.sendPacket(buildErr(1040, '08004', 'Too many connections'), id.okSeq);
    s.close('too many connections');
    return;
  }
  const user = id.user;
  s.user = user;
  s.loginName = id.login;
  s.clientCaps = id.clientCaps;
  const ext = ctx.config.server.mariadbExtendedCapabilities && (id.mariaCaps & ctx.serverMariaCaps) !== 0;
  s.profileCaps = s.clientCaps & PROFILE_CAPS;
  s.collation = id.collation;
  s.extMeta = ext;
  const okSeq = id.okSeq;
  s.tenant = null;
  s.choicesFor = null;
  s.rywKeyFor = null;
  const target = loginTarget({ login: id.login, attrs: id.attrs, database: id.database, defaultSchema: user.defaultSchema ?? null }, ctx.config.tenants.length > 0 ? ctx.routing : null, ctx.unsafeSkipProxyIsolation);
  if (target.action === 'refuse') return refuseLogin(s, target, okSeq);
  const schema = target.schema;
  s.tenant = target.tenant;
  const cluster = s.tenant ? ctx.routing.clustersByName.get(s.tenant.cluster) : undefined;
  const backend = ctx.backends.get(cluster ? cluster.primary : user.backend) as Backend;
  s.backend = backend;
  s.pool = backend.pool(s.profileCaps, id.collation, ext);
  s.poolVersion = ctx.configVersion;
  const st = s.st;
  st.multi = (s.clientCaps & Cap.MULTI_STATEMENTS) !== 0;
  st.loginSchema = schema;
  s.state = S.BUSY;
  const done = () => {
    ctx.metrics.logins.inc({ result: 'ok' });
    s.client.framer.maxPayload = ctx.config.server.maxAllowedPacket;
    // As a server does: a client tracking session state learns the schema it logged in to.
    const state = schema !== null && s.clientCaps & Cap.SESSION_TRACK ? s.runner.filterSessionState(schemaStateEntry(schema)) : null;
    s.sendPacket(s.okPacket(0, 0x00, state), okSeq);
    if (id.compression.algorithm !== 'none') s.client.startCompression(compressionSettings(id.compression, ctx.config.server));
    if (ctx.log.isLevelEnabled('debug')) {
      s.log.debug({ user: user.name, login: id.login, tenant: s.tenant?.tenant, schema, changeUser: id.changeUser, caps: s.clientCaps.toString(16), collation: id.collation, compression: id.compression }, 'login ok');
    }
    s.toIdle();
  };
  if (schema === null) return done();
  if (s.tenant) {
    // The tenant's schema comes from config; the first statement selects it on its connection (replay).
    st.schema = schema;
    st.version++;
    return done();
  }
  const r = s.runner;
  r.withConn((err, conn) => s.guard('login_schema', () => {
    if (err || !conn) {
      s.sendErr(err ?? new Error('no backend connection'), okSeq);
      s.close('backend unavailable at login');
      return;
    }
    const finish = (e: { errno: number; sqlState: string; message: string } | null) => {
      r.releaseConn(conn);
      if (e) {
        s.sendPacket(buildErr(e.errno, e.sqlState, e.message), okSeq);
        s.close('schema refused at login');
        return;
      }
      st.schema = schema;
      st.version++;
      done();
    };
    if (conn.schema === schema) return finish(null);
    conn.initDb(schema).then(
      (e) => s.guard('login_schema', () => finish(e)),
      (e: Error) => s.guard('login_schema', () => {
        r.dropConn(conn);
        s.sendErr(e, okSeq);
        s.close('backend failed at login');
      }),
    );
  }));
}

function refuseLogin(s: ClientSession, r: Refusal, seq: number): void {
  s.ctx.metrics.logins.inc({ result: 'denied' });
  s.log.info({ login: s.loginName, reason: r.message }, 'login refused: tenant');
  s.sendPacket(buildErr(r.errno, r.sqlState, r.message), seq);
  s.close('tenant not identified');
}
