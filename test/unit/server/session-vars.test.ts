/** Session variable bookkeeping: recordVar, varAssignments ordering/quoting, userVarLiterals by column type. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { quote, recordVar, sqlBytes, sqlValue, userVarLiterals, userVarRef, varAssignments } from '../../../src/server/session-vars';
import { ColumnType, type ColumnDef } from '../../../src/protocol/column';
import type { InternalResult } from '../../../src/backend/internal-exchange';
import type { CollationInfo } from '../../../src/backend/pool';

const m = (o: Record<string, string>) => new Map(Object.entries(o));

test('recordVar: non-default values are recorded; a value equal to the default removes the entry', () => {
  const defaults = m({ sql_mode: 'STRICT_TRANS_TABLES', autocommit: '1' });
  const map = new Map<string, string>();
  assert.is(recordVar(map, defaults, 'sql_mode', ''), true);
  assert.equal([...map], [['sql_mode', '']]);
  assert.is(recordVar(map, defaults, 'sql_mode', ''), false, 'same value: no change');
  assert.is(recordVar(map, defaults, 'sql_mode', 'ANSI'), true);
  assert.is(map.get('sql_mode'), 'ANSI');
  assert.is(recordVar(map, defaults, 'sql_mode', 'STRICT_TRANS_TABLES'), true, 'back to default: removed');
  assert.is(map.has('sql_mode'), false);
  assert.is(recordVar(map, defaults, 'autocommit', '1'), false, 'default value never recorded');
  assert.is(map.size, 0);
  // unknown default (or no defaults at all): always recorded
  assert.is(recordVar(map, defaults, 'time_zone', '+00:00'), true);
  assert.is(recordVar(map, null, 'wait_timeout', '60'), true);
  assert.equal([...map], [['time_zone', '+00:00'], ['wait_timeout', '60']]);
});

test('varAssignments: character_set_* before collation_* before the rest', () => {
  const want = m({
    collation_connection: 'utf8mb4_bin',
    time_zone: '+00:00',
    character_set_client: 'latin1',
    autocommit: '0',
    character_set_results: 'utf8mb4',
  });
  assert.equal(varAssignments(want, new Map(), null), [
    "SESSION character_set_client='latin1'",
    "SESSION character_set_results='utf8mb4'",
    "SESSION collation_connection='utf8mb4_bin'",
    "SESSION time_zone='+00:00'",
    'SESSION autocommit=0',
  ]);
});

test('varAssignments: only differences; removed vars go back to the known default, else DEFAULT', () => {
  const defaults = m({ sql_mode: 'STRICT_TRANS_TABLES', wait_timeout: '28800' });
  const have = m({ sql_mode: 'ANSI', wait_timeout: '60', net_read_timeout: '5', time_zone: '+00:00' });
  const want = m({ time_zone: '+00:00', wait_timeout: '120' });
  assert.equal(varAssignments(want, have, defaults), [
    'SESSION wait_timeout=120',
    "SESSION sql_mode='STRICT_TRANS_TABLES'",
    'SESSION net_read_timeout=DEFAULT',
  ]);
  assert.equal(varAssignments(want, new Map(want), defaults), [], 'already agree');
  assert.equal(varAssignments(new Map(), new Map(), null), []);
});

test('varAssignments: numeric values bare, strings quoted with \\ and \' escaped, NULL for nullable charsets', () => {
  const want = m({
    a_int: '-5',
    b_dec: '1.25',
    c_exp: '1e5',
    d_str: "it's a \\ test",
    character_set_results: '',
    e_nul: 'x\0y',
    f_word: 'NULL',
  });
  assert.equal(varAssignments(want, new Map(), null), [
    'SESSION character_set_results=NULL',
    'SESSION a_int=-5',
    'SESSION b_dec=1.25',
    "SESSION c_exp='1e5'",
    "SESSION d_str='it\\'s a \\\\ test'",
    "SESSION e_nul='x\\0y'",
    "SESSION f_word='NULL'",
  ]);
});

test('varAssignments: names that are not plain identifiers are never put into SQL', () => {
  const want = m({ 'x;DROP TABLE t': '1', 'Upper': '1', ok_name: '2' });
  assert.equal(varAssignments(want, new Map(), null), ['SESSION ok_name=2']);
});

test('sqlValue / quote / userVarRef', () => {
  assert.is(sqlValue('character_set_client', 'NULL'), 'NULL');
  assert.is(sqlValue('character_set_connection', ''), 'NULL');
  assert.is(sqlValue('sql_mode', ''), "''");
  assert.is(sqlValue('x', '007'), '007');
  assert.is(sqlValue('x', '-'), "'-'");
  assert.is(quote("a'b\\c"), "'a\\'b\\\\c'");
  assert.is(quote(''), "''");
  assert.is(userVarRef('a'), '@`a`');
  assert.is(userVarRef('we`ird'), '@`we``ird`');
});

// ---- userVarLiterals

function col(name: string, type: number, charset: number): ColumnDef {
  return { name, type, charset, length: 0, flags: 0, decimals: 0 };
}

function result(columns: ColumnDef[], row: (string | Buffer | null)[] | null): InternalResult {
  return {
    ok: null,
    err: null,
    columns,
    rawColumns: [],
    rawRows: [],
    rows: row === null ? [] : [row.map((c) => (c === null ? null : Buffer.isBuffer(c) ? c : Buffer.from(c, 'latin1')))],
    status: 2,
    warnings: 0,
    prepare: null,
  };
}

const COLL = new Map<number, CollationInfo>([
  [45, { name: 'utf8mb4_general_ci', charset: 'utf8mb4' }],
  [8, { name: 'latin1_swedish_ci', charset: 'latin1' }],
]);

/** A userVarReadSql result: per variable its value (as the column type says), HEX() and COLLATION(). */
function readBack(vars: Array<[number, Buffer | string | null, string | null]>): InternalResult {
  const cols: ColumnDef[] = [];
  const row: (string | Buffer | null)[] = [];
  vars.forEach(([type, v, coll], i) => {
    cols.push(col(`@v${i}`, type, 45), col(`HEX(@v${i})`, ColumnType.VAR_STRING, 45), col(`COLLATION(@v${i})`, ColumnType.VAR_STRING, 45));
    const bytes = v === null ? null : Buffer.isBuffer(v) ? v : Buffer.from(v, 'latin1');
    row.push(bytes, bytes === null ? null : bytes.toString('hex').toUpperCase(), coll);
  });
  return result(cols, row);
}

test('userVarLiterals: integers and decimals bare, doubles with an exponent', () => {
  const vals: Array<[number, string]> = [
    [ColumnType.LONGLONG, '-42'], [ColumnType.LONGLONG, '18446744073709551615'], [ColumnType.NEWDECIMAL, '3.1400'], [ColumnType.DECIMAL, '-0.5'],
    [ColumnType.DOUBLE, '1.5'], [ColumnType.DOUBLE, '1e20'], [ColumnType.DOUBLE, '-2.5e-7'], [ColumnType.LONG, '7'],
  ];
  const res = readBack(vals.map(([t, v]) => [t, v, 'binary']));
  assert.equal(userVarLiterals(res, COLL), ['-42', '18446744073709551615', '3.1400', '-0.5', '1.5e0', '1e20', '-2.5e-7', '7']);
});

test('userVarLiterals: a NULL keeps the variable\'s type (integer signed/unsigned, decimal, double, string with its collation, binary)', () => {
  const res = readBack([
    [ColumnType.LONGLONG, null, 'binary'], [ColumnType.LONGLONG, null, 'binary'], [ColumnType.NEWDECIMAL, null, 'binary'], [ColumnType.DOUBLE, null, 'binary'],
    [ColumnType.BLOB, null, 'latin1_swedish_ci'], [ColumnType.BLOB, null, 'binary'], [ColumnType.BLOB, null, 'utf8mb4_nonexistent_ci'],
  ]);
  res.columns[3]!.flags = 0x20; // the second variable: UNSIGNED
  assert.equal(userVarLiterals(res, COLL), [
    'CAST(NULL AS SIGNED)', 'CAST(NULL AS UNSIGNED)', 'CAST(NULL AS DECIMAL(65,38))', 'CAST(NULL AS DOUBLE)',
    'CAST(NULL AS CHAR CHARACTER SET latin1) COLLATE latin1_swedish_ci', 'CAST(NULL AS BINARY)', 'CAST(NULL AS BINARY)',
  ]);
});

test('userVarLiterals: odd numeric text is quoted rather than pasted into SQL', () => {
  const res = readBack([[ColumnType.LONGLONG, '1; DROP', 'binary'], [ColumnType.DOUBLE, 'inf', 'binary'], [ColumnType.DOUBLE, "1'", 'binary']]);
  assert.equal(userVarLiterals(res, COLL), ["'1; DROP'", "'inf'", "'1\\''"]);
});

test('userVarLiterals: strings keep their exact bytes (from HEX) and collation (from COLLATION), whatever character_set_results labelled the value with; binary; unknown collation', () => {
  const res = readBack([
    [ColumnType.VAR_STRING, Buffer.from("é'\\", 'utf8'), 'utf8mb4_general_ci'],
    [ColumnType.VAR_STRING, Buffer.from([0xe9]), 'latin1_swedish_ci'],
    [ColumnType.BLOB, Buffer.from([0, 1, 0xff]), 'binary'],
    [ColumnType.VAR_STRING, Buffer.from('z'), 'utf8mb4_nonexistent_ci'],
    [ColumnType.VAR_STRING, Buffer.alloc(0), 'utf8mb4_general_ci'],
  ]);
  assert.equal(userVarLiterals(res, COLL), [
    "_utf8mb4 X'c3a9275c' COLLATE utf8mb4_general_ci",
    "_latin1 X'e9' COLLATE latin1_swedish_ci",
    "_binary X'0001ff'",
    "X'7a'",
    "_utf8mb4 X'' COLLATE utf8mb4_general_ci",
  ]);
  assert.equal(userVarLiterals(res, null).slice(0, 3), ["X'c3a9275c'", "X'e9'", "_binary X'0001ff'"]);
});

test('userVarLiterals: a string not well formed in its utf8 charset keeps its raw bytes (hex would be refused with 1300); quote and backslash bytes in hex pieces', () => {
  const res = readBack([
    [ColumnType.VAR_STRING, Buffer.from([0xff, 0xff, 0x7a]), 'utf8mb4_general_ci'],
    [ColumnType.VAR_STRING, Buffer.from([0xe3, 0x27, 0x5c, 0x81, 0x41]), 'utf8mb4_general_ci'],
  ]);
  const lits = userVarLiterals(res, COLL);
  assert.equal(lits, [
    "_utf8mb4'\xff\xffz' COLLATE utf8mb4_general_ci",
    "CONCAT(_utf8mb4'\xe3', _utf8mb4 X'27', _utf8mb4 X'5c', _utf8mb4'\x81A') COLLATE utf8mb4_general_ci",
  ]);
  assert.equal(sqlBytes(lits[0]).subarray(9, 12), Buffer.from([0xff, 0xff, 0x7a]));
});

test('userVarLiterals: NULL cells typed by their column, missing rows → NULL', () => {
  const res = readBack([[ColumnType.VAR_STRING, null, null], [ColumnType.LONGLONG, null, null]]);
  assert.equal(userVarLiterals(res, COLL), ['CAST(NULL AS BINARY)', 'CAST(NULL AS SIGNED)']);
  assert.equal(userVarLiterals(result(res.columns, null), COLL), ['NULL', 'NULL']);
  assert.equal(userVarLiterals(result([], null), COLL), []);
});

test.run();
