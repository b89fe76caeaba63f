/** node-sql-parser as a second opinion on a plan-cache miss: schemas found, length cap, parse failures. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parserSchemas } from '../../../src/classify/sql-parser';

test('finds schemas in table positions', () => {
  assert.equal(parserSchemas('SELECT * FROM a JOIN other.b ON a.id = b.id', 1000), ['other']);
  assert.equal(parserSchemas('INSERT INTO `x`.`t` (a) VALUES (1)', 1000), ['x']);
  assert.equal(parserSchemas('SELECT 1', 1000), []);
});

test('statements over the length cap are not parsed', () => {
  assert.is(parserSchemas('SELECT * FROM other.b', 10), null);
});

test('unparseable statements give null (the scanner decides alone)', () => {
  assert.is(parserSchemas('FROB the widgets', 1000), null);
});

test.run();
