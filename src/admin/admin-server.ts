import * as http from 'node:http';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/metrics';

/** The ops listener: GET /metrics (Prometheus text format) and GET /health (JSON). */
export function startAdminServer(
  host: string, port: number, metrics: Metrics, health: () => object, log: Logger,
): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (e: Error) => res.writeHead(500).end(e.message),
      );
      return;
    }
    if (path === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(health()));
      return;
    }
    res.writeHead(404).end('not found\n');
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
