/** The CREATE USER / GRANT statements of a tenant's own backend account (`tenantgate grants`). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { TenantConfig } from '../../../src/config/types';
import { tenantGrantStatements } from '../../../src/routing/grants';
import { substituteConnectionId } from '../../../src/server/row-count';
import { scanQuery } from '../../../src/classify/lexer';

const tenant: TenantConfig = {
  id: 'acme',
  tier: 'separate_schema',
  cluster: 'c1',
  schema: 't_acme',
  logicalSchema: 'app',
  backendUser: "acme'u",
  backendPassword: "p'w\\x",
  reads: 'replica',
  users: [],
  allowUseSwitch: false,
};

test('grants: schema, account (quotes escaped), password, and only schema-level privileges without GRANT OPTION', () => {
  assert.equal(tenantGrantStatements(tenant), [
    'CREATE DATABASE IF NOT EXISTS `t_acme`',
    "CREATE USER IF NOT EXISTS 'acme''u'@'%' IDENTIFIED BY 'p''w\\\\x'",
    "ALTER USER 'acme''u'@'%' IDENTIFIED BY 'p''w\\\\x'",
    "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, REFERENCES, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER ON `t_acme`.* TO 'acme''u'@'%'",
  ]);
  for (const s of tenantGrantStatements(tenant)) assert.not.match(s, /GRANT OPTION|SUPER|FILE|ROLE|\*\.\*/);
});

test('CONNECTION_ID() of a tenant session becomes the proxy id, keeping the column name of a select item', () => {
  const sql = Buffer.from('\x03SELECT CONNECTION_ID(), x FROM t WHERE id = CONNECTION_ID ( )');
  const info = scanQuery(sql, 1, sql.length);
  const out = substituteConnectionId(sql, info.connIdAt!, 42).toString('latin1', 1);
  // typed as the call (INT(10) UNSIGNED NOT NULL), never evaluated by the server
  const e = 'COALESCE(CAST(42 AS UNSIGNED), CONNECTION_ID())';
  assert.is(out, `SELECT ${e} AS \`CONNECTION_ID()\`, x FROM t WHERE id = (${e})`);
});

test.run();
