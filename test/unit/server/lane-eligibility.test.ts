/** laneAttachBlock / lanePlainStatement: when a session may use the native fast lane (golden cases in test/fixtures/lane-cases.json). */
import * as fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { laneAttachBlock, laneBackendValid, lanePlainStatement, tenantLaneRoute, type AttachFacts, type ClusterView, type PlainFacts, type TenantRouteFacts } from '../../../src/server/lane-eligibility';
import { fixturePath, jsonEqual } from '../../helpers/golden';

interface Cases {
  attach: { comment: string; facts: AttachFacts; block: string | null }[];
  plain: { comment: string; facts: PlainFacts; plain: boolean }[];
  tenantRoute: { comment: string; facts: TenantRouteFacts; ok: boolean }[];
  backendValid: { comment: string; role: 'primary' | 'replica'; backend: string; cluster: ClusterView | null; drained: boolean; valid: boolean }[];
}

const FILE = 'lane-cases.json';

test('lane eligibility: golden cases', () => {
  const cases = JSON.parse(fs.readFileSync(fixturePath(FILE), 'utf8')) as Cases;
  const failures: string[] = [];
  const attach = cases.attach.map((c) => {
    const got = laneAttachBlock(c.facts);
    if (!jsonEqual(got, c.block)) failures.push(c.comment);
    return { ...c, block: got };
  });
  const plain = cases.plain.map((c) => {
    const got = lanePlainStatement(c.facts);
    if (got !== c.plain) failures.push(c.comment);
    return { ...c, plain: got };
  });
  const tenantRoute = cases.tenantRoute.map((c) => {
    const got = tenantLaneRoute(c.facts);
    if (got !== c.ok) failures.push(c.comment);
    return { ...c, ok: got };
  });
  const backendValid = cases.backendValid.map((c) => {
    const got = laneBackendValid(c.role, c.backend, c.cluster, c.drained);
    if (got !== c.valid) failures.push(c.comment);
    return { ...c, valid: got };
  });
  const actual = fixturePath(FILE).replace(/\.json$/, '.actual.json');
  if (failures.length > 0) {
    fs.writeFileSync(actual, JSON.stringify({ attach, plain, tenantRoute, backendValid }, null, 1) + '\n');
    assert.unreachable(`${failures.length} case(s) differ: ${failures.join(' | ')}; actual written to ${actual}`);
  }
  if (fs.existsSync(actual)) fs.rmSync(actual);
});

test('lane eligibility: every attach case but the first is blocked, for its own reason', () => {
  const cases = JSON.parse(fs.readFileSync(fixturePath(FILE), 'utf8')) as Cases;
  const reasons = cases.attach.map((c) => c.block);
  assert.is(reasons[0], null);
  for (const r of reasons.slice(1)) if (r !== null) assert.ok(r.length > 0);
});

test.run();
