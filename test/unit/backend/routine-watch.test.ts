/** routineDdlMoved: when the routine watch reloads definitions. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROUTINE_DDL_SQL, routineDdlMoved } from '../../../src/backend/routine-watch';

test('reloads when the DDL counter sum differs from the one read before the last load (up, or down after a server restart), or that is unknown', () => {
  assert.ok(routineDdlMoved(null, '0'));
  assert.not.ok(routineDdlMoved('12', '12'));
  assert.ok(routineDdlMoved('12', '13'));
  assert.ok(routineDdlMoved('12', '3'));
  assert.ok(routineDdlMoved('12', null));
});

test('the poll query sums the routine, trigger and view DDL counters', () => {
  for (const c of ['COM_CREATE_FUNCTION', 'COM_CREATE_TRIGGER', 'COM_CREATE_VIEW', 'COM_DROP_TRIGGER', 'COM_ALTER_PROCEDURE', 'COM_RENAME_TABLE']) assert.ok(ROUTINE_DDL_SQL.includes(`'${c}'`), c);
});

test.run();
