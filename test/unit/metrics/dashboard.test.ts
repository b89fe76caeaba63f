/** The shipped Grafana dashboard and alert rules only name metrics tenantgate exports. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Metrics } from '../../../src/metrics/metrics';
import { RouteCounts, registerOpsCollectors } from '../../../src/metrics/ops-collectors';

const ROOT = path.join(__dirname, '..', '..', '..', '..');

test('every tenantgate_* metric in config/grafana exists in the registry', async () => {
  const m = new Metrics({ sessions: () => 0, backends: () => [] });
  registerOpsCollectors(m.registry, { routes: new RouteCounts(), topology: () => null, planCache: () => ({ hits: 0, misses: 0, evictions: 0, size: 0 }), parseFailures: () => 0 });
  const exported = new Set((await m.registry.getMetricsAsJSON()).map((x) => x.name));
  for (const f of ['tenantgate-dashboard.json', 'alert-rules.yaml']) {
    const text = fs.readFileSync(path.join(ROOT, 'config', 'grafana', f), 'utf8');
    const names = new Set([...text.matchAll(/\btenantgate_[a-z_]+/g)].map((x) => x[0].replace(/_(bucket|count|sum)$/, '')));
    assert.ok(names.size > 5, f);
    for (const n of names) assert.ok(exported.has(n), `${f}: ${n} is not exported`);
  }
});

test.run();
