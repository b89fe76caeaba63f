import { createHash, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { Logger } from 'pino';
import type { AdminConfig } from '../config/types';
import type { ReloadResult } from '../config/store';
import type { Metrics } from '../metrics/metrics';

/** What the admin API reads from and does to the running proxy (implemented by Proxy). */
export interface AdminHost {
  readonly metrics: Metrics;
  readonly log: Logger;
  /** The admin section of the current config snapshot (tokens are re-read per request, so reloads apply). */
  adminConfig(): AdminConfig | undefined;
  health(): object;
  /** Listening, not stopping, and every primary in use reachable. */
  ready(): { ready: boolean; reasons: string[] };
  status(): object;
  listSessions(): object[];
  killSession(id: number): boolean;
  /** false: no such backend. */
  drainBackend(name: string, drained: boolean): boolean;
  redactedConfig(): object;
  reload(source: string): ReloadResult;
  rollback(version: number, source: string): ReloadResult;
  digests(q: { tenant?: string; sort?: string; limit?: number }): object;
  resetDigests(): void;
}

/** Name of the token whose SHA-256 matches the bearer token, or null. Constant time per token. */
export function checkBearer(header: string | undefined, tokens: AdminConfig['tokens']): string | null {
  const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!m) return null;
  const got = createHash('sha256').update(m[1]!).digest();
  let found: string | null = null;
  for (const t of tokens) {
    const want = Buffer.from(t.tokenHash, 'hex');
    if (want.length === got.length && timingSafeEqual(want, got)) found = t.name;
  }
  return found;
}

/** The API's paths; anything else is 404 before any token check. */
const KNOWN_PATH = /^\/(metrics|health|healthz|readyz|status|sessions|config|digests|backends)(\/|$)/;

/** Paths that answer without a token when `admin.open_metrics` is on. */
const OPEN_PATHS = new Set(['/metrics', '/health', '/healthz', '/readyz']);

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body, null, 2) + '\n');
}

/**
 * The ops listener: Prometheus metrics, health and readiness, and the admin API (bearer tokens
 * from `admin.tokens`; a request without a valid token gets 401 and is logged).
 */
export function startAdminServer(host: string, port: number, api: AdminHost): Promise<http.Server> {
  const log = api.log;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (!KNOWN_PATH.test(path)) return json(res, 404, { error: 'not found' });
    const cfg = api.adminConfig();
    let who = 'open';
    if (!(cfg?.openMetrics !== false && OPEN_PATHS.has(path) && method === 'GET')) {
      const name = checkBearer(req.headers.authorization, cfg?.tokens ?? []);
      if (name === null) {
        log.warn({ method, path, remote: req.socket.remoteAddress, reason: req.headers.authorization ? 'wrong token' : 'no token' }, 'admin API: unauthorized request');
        res.writeHead(401, { 'www-authenticate': 'Bearer realm="tenantgate"', 'content-type': 'application/json' }).end('{"error":"unauthorized"}\n');
        return;
      }
      who = name;
    }
    try {
      route(api, method, path, url.searchParams, who, res);
    } catch (e) {
      log.error({ err: (e as Error).stack, path }, 'admin API: internal error');
      json(res, 500, { error: (e as Error).message });
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      server.on('error', (e) => log.error({ err: e.message }, 'admin listener error'));
      resolve(server);
    });
  });
}

function route(api: AdminHost, method: string, path: string, q: URLSearchParams, who: string, res: http.ServerResponse): void {
  const get = method === 'GET';
  const post = method === 'POST';
  let m: RegExpExecArray | null;
  if (path === '/metrics' && get) {
    api.metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': api.metrics.registry.contentType }).end(text),
      (e: Error) => res.writeHead(500).end(e.message),
    );
    return;
  }
  if (path === '/health' && get) return json(res, 200, api.health());
  if (path === '/healthz' && get) return json(res, 200, { status: 'ok' });
  if (path === '/readyz' && get) {
    const r = api.ready();
    return json(res, r.ready ? 200 : 503, r);
  }
  if (path === '/status' && get) return json(res, 200, api.status());
  if (path === '/sessions' && get) return json(res, 200, { sessions: api.listSessions() });
  if (path === '/config' && get) return json(res, 200, api.redactedConfig());
  if (path === '/digests' && get) {
    const limit = q.get('limit');
    return json(res, 200, api.digests({ tenant: q.get('tenant') ?? undefined, sort: q.get('sort') ?? undefined, limit: limit ? Number(limit) : undefined }));
  }
  if (path === '/digests/reset' && post) {
    api.resetDigests();
    api.log.info({ by: who }, 'admin API: digests reset');
    return json(res, 200, { reset: true });
  }
  if (path === '/config/reload' && post) {
    const r = api.reload(`api:${who}`);
    return json(res, r.ok ? 200 : 422, r);
  }
  if ((m = /^\/config\/rollback\/(\d+)$/.exec(path)) && post) {
    const r = api.rollback(Number(m[1]), `api:${who}`);
    return json(res, r.ok ? 200 : 422, r);
  }
  if ((m = /^\/sessions\/(\d+)\/kill$/.exec(path)) && post) {
    const ok = api.killSession(Number(m[1]));
    api.log.info({ by: who, session: Number(m[1]), found: ok }, 'admin API: kill session');
    return json(res, ok ? 200 : 404, ok ? { killed: Number(m[1]) } : { error: 'no such session' });
  }
  if ((m = /^\/backends\/([^/]+)\/(drain|undrain)$/.exec(path)) && post) {
    const name = decodeURIComponent(m[1]!);
    const ok = api.drainBackend(name, m[2] === 'drain');
    api.log.info({ by: who, backend: name, action: m[2], found: ok }, 'admin API: backend drain state');
    return json(res, ok ? 200 : 404, ok ? { backend: name, drained: m[2] === 'drain' } : { error: 'no such backend' });
  }
  json(res, 405, { error: `${method} not allowed on ${path}` });
}
