/**
 * node-sql-parser, only on a plan-cache miss and only for statements up to a length cap (it costs
 * 95–330 µs per statement on this project's machine). It is a second opinion on which schemas a
 * statement names; the scanner's answer stands when the parser cannot parse the statement.
 */
import type { Parser as ParserType } from 'node-sql-parser';

let parser: ParserType | null = null;

/** Statements the parser failed on since start (exported as tenantgate_parse_failures_total). */
export const parseStats = { failures: 0 };

/**
 * Schemas node-sql-parser finds in table positions (lower-case comparison is left to the caller);
 * null when the statement is too long or the parser fails.
 */
export function parserSchemas(sql: string, maxLength: number): string[] | null {
  if (sql.length > maxLength) return null;
  try {
    // Loaded on first use: the module is large and most processes only ever hit the cache.
    if (parser === null) parser = new (require('node-sql-parser') as typeof import('node-sql-parser')).Parser();
    const out = new Set<string>();
    for (const entry of parser.tableList(sql, { database: 'MariaDB' })) {
      const db = entry.split('::')[1];
      if (db !== undefined && db !== 'null') out.add(db);
    }
    return [...out];
  } catch {
    parseStats.failures++;
    return null;
  }
}
