/** Formatting of bench results as an aligned console table and as Markdown. */

export type PathName = 'direct' | 'haproxy' | 'tenantgate';

/** One measured (or failed) run: a path in a (workload, ps, threads) cell. */
export interface Row {
  workload: string;
  ps: boolean;
  threads: number;
  path: PathName;
  /** Set when the run did not produce numbers. */
  failure?: string;
  qps?: number;
  avgMs?: number;
  p95Ms?: number;
  errors?: number;
  /** CPU of the middle hop (tenantgate / HAProxy) per query, µs. */
  cpuUsPerQuery?: number;
  /** RSS of the middle hop after the run, bytes. */
  rssBytes?: number;
}

export const HEADERS = ['workload', 'ps', 'threads', 'path', 'QPS', 'avg ms', 'p95 ms', '÷ direct', '÷ haproxy', 'hop CPU µs/query', 'hop RSS MB', 'errors'];

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function cellOf(rows: readonly Row[], r: Row, path: PathName): Row | undefined {
  return rows.find((x) => x.workload === r.workload && x.ps === r.ps && x.threads === r.threads && x.path === path && x.qps !== undefined);
}

function ratio(r: Row, base: Row | undefined): string {
  if (r.qps === undefined || base?.qps === undefined || base.qps === 0) return '—';
  return (r.qps / base.qps).toFixed(2);
}

/** The table cells of each row, as strings, in HEADERS order. */
export function tableCells(rows: readonly Row[]): string[][] {
  return rows.map((r) => {
    const head = [r.workload, r.ps ? 'on' : 'off', String(r.threads), r.path];
    if (r.qps === undefined) return [...head, `failed: ${r.failure ?? '?'}`, '', '', '', '', '', '', ''];
    return [
      ...head,
      fmtInt(r.qps),
      r.avgMs!.toFixed(2),
      r.p95Ms!.toFixed(2),
      ratio(r, cellOf(rows, r, 'direct')),
      ratio(r, cellOf(rows, r, 'haproxy')),
      r.cpuUsPerQuery === undefined ? '—' : r.cpuUsPerQuery.toFixed(1),
      r.rssBytes === undefined ? '—' : (r.rssBytes / 2 ** 20).toFixed(1),
      String(r.errors ?? 0),
    ];
  });
}

const NUMERIC = new Set([2, 4, 5, 6, 7, 8, 9, 10, 11]);

/** Aligned plain-text table; failure messages are not width-limited and simply run on. */
export function consoleTable(rows: readonly Row[]): string {
  const cells = tableCells(rows);
  const widths = HEADERS.map((h, i) =>
    Math.max(h.length, ...cells.map((c) => (c[i]!.startsWith('failed:') ? 0 : c[i]!.length))),
  );
  const line = (c: readonly string[]): string =>
    c
      .map((v, i) => (v.startsWith('failed:') ? v : NUMERIC.has(i) ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(HEADERS), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

export function markdownTable(rows: readonly Row[]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const align = HEADERS.map((_, i) => (NUMERIC.has(i) ? '---:' : '---'));
  return [
    `| ${HEADERS.join(' | ')} |`,
    `| ${align.join(' | ')} |`,
    ...tableCells(rows).map((c) => `| ${c.map(esc).join(' | ')} |`),
  ].join('\n');
}
