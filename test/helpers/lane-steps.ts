/**
 * Bursts for the randomized differential tests (state-steps.ts GenerateOptions.bursts): runs of
 * statements a session sends back to back, mostly plain SELECTs (the same text shapes with other
 * literals, and prepared statements executed again) that a native fast lane relays once it took the
 * session over, with now and then a statement the lane must decline or give back (state changes,
 * errors, warnings, a row larger than the lane's buffer, many rows, a multi-statement) in between.
 */
import type { Prng } from './prng';
import type { BurstStep } from './state-steps';

/** The steps of one burst of slot `i`; `tag` is unique to the burst. */
export function burstSteps(r: Prng, i: number, tag: string): BurstStep[] {
  const n = r.range(3, 14);
  const out: BurstStep[] = [];
  // Each burst repeats a few shapes, so a lane that attached after the first has something to relay.
  const shapes = [r.int(PLAIN.length), r.int(PLAIN.length), r.int(PLAIN.length)];
  for (let k = 0; k < n; k++) {
    if (r.chance(0.15)) out.push(r.pick(OTHER)(r, i, `${tag}k${k}`));
    else out.push(PLAIN[r.pick(shapes)]!(r, i));
  }
  return out;
}

type Gen = (r: Prng, i: number, tag: string) => BurstStep;

const PLAIN: Array<(r: Prng, i: number) => BurstStep> = [
  (r, i) => ({ sql: `SELECT id, v FROM t_${i} WHERE id > ${r.int(5)} ORDER BY id`, mode: 'query' }),
  (r, i) => ({ sql: `SELECT COUNT(*) AS c, SUM(v) AS s FROM t_${i} WHERE v < ${r.int(50)}`, mode: 'query' }),
  (r) => ({ sql: `SELECT ${r.int(1000)} + 1 AS x, 'lit${r.int(100)}' AS s, -${r.int(9)} AS d`, mode: 'query' }),
  (r) => ({ sql: `SELECT 'it''s ${r.int(9)}' AS q, 'b\\\\${r.int(9)}\\'' AS b, x'4142' AS h`, mode: 'query' }),
  // the lane's shape key keeps decimals and declines double quotes: the JS path runs these
  (r) => ({ sql: `SELECT ${r.int(9)}.5 AS d, "dq${r.int(9)}" AS q`, mode: 'query' }),
  (r) => ({ sql: `SELECT seq FROM seq_1_to_${r.range(1, 3000)}`, mode: 'query' }),
  (r, i) => ({ sql: `SELECT id, v FROM t_${i} WHERE id > ? ORDER BY id`, mode: 'execute', params: [r.int(5)] }),
  (r, i) => ({ sql: `SELECT id, v FROM t_${i} WHERE v < ? ORDER BY id`, mode: 'execute', params: [r.chance(0.5) ? r.int(50) : String(r.int(50))] }),
  (_r, i) => ({ sql: `SELECT v FROM t_${i} ORDER BY id LIMIT 2`, mode: 'execute' }),
  (r) => ({ sql: 'SELECT ? AS a, CONCAT(?, \'-x\') AS b', mode: 'execute', params: [r.int(100), `p${r.int(100)}`] }),
  (r) => ({ sql: 'SELECT seq FROM seq_1_to_3000 WHERE seq <= ?', mode: 'execute', params: [r.range(1, 3000)] }),
];

const OTHER: Gen[] = [
  (_r, _i, tag) => ({ sql: `SET @v0 = '${tag}'`, mode: 'query' }),
  (_r, _i, tag) => ({ sql: `SELECT @v1 := '${tag}' AS a`, mode: 'query' }),
  () => ({ sql: 'SELECT @v0 AS a, @v1 AS b', mode: 'query' }),
  () => ({ sql: 'SELECT FOUND_ROWS() AS fr', mode: 'query' }),
  () => ({ sql: 'SELECT ROW_COUNT() AS rc', mode: 'query' }),
  () => ({ sql: 'SELECT CONNECTION_ID() AS cid', mode: 'execute' }),
  () => ({ sql: 'SELECT DATABASE() AS db', mode: 'query' }),
  (r) => ({ sql: `SET NAMES ${r.pick(['latin1', 'utf8mb4', 'utf8mb3'])}`, mode: 'query' }),
  (r) => ({ sql: `USE ${r.pick(['sa', 'sb', 'sc'])}`, mode: 'query' }),
  (r) => ({ sql: `SET SESSION sql_mode = ${r.pick(["''", "'ANSI_QUOTES'", "'NO_BACKSLASH_ESCAPES'", 'DEFAULT'])}`, mode: 'query' }),
  () => ({ sql: "SELECT CAST('x1' AS INT) AS w", mode: 'query' }),
  () => ({ sql: 'SELECT * FROM no_such_table', mode: 'query' }),
  () => ({ sql: 'SELECT nope FROM seq_1_to_3', mode: 'execute' }),
  (r, i) => ({ sql: `INSERT INTO t_${i} (v) VALUES (${r.int(100)})`, mode: 'query' }),
  (r) => ({ sql: `SELECT REPEAT('x', ${r.pick([60000, 70000, 200000])}) AS big`, mode: 'query' }),
  (r) => ({ sql: `SELECT REPEAT('y', ${r.pick([65000, 70000])}) AS big, ? AS p`, mode: 'execute', params: [r.int(10)] }),
  (r, i) => ({ sql: `SELECT ${r.int(9)} AS a; SELECT COUNT(*) AS c FROM t_${i}`, mode: 'query' }),
  () => ({ sql: 'SELECT SLEEP(0.02) AS z', mode: 'query' }),
];
