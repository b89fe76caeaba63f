"""Strict-client differential script for PyMySQL: run directly against MariaDB and through
tenantgate, outputs compared by test/integration/strict-clients.test.ts. One JSON line per step.
Usage: /usr/bin/python3 strict_pymysql.py PORT USER PASSWORD"""
import json
import sys

import pymysql

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
conn = pymysql.connect(host='127.0.0.1', port=port, user=user, password=password, database='test',
                       client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS, autocommit=True)


def out(label, value):
    print(f'{label}: {json.dumps(value, default=str)}', flush=True)


def step(label, fn):
    try:
        out(label, fn())
    except pymysql.MySQLError as e:
        out(label, {'error': list(e.args)})


def q(sql, args=None):
    with conn.cursor() as c:
        n = c.execute(sql, args)
        sets = []
        while True:
            sets.append({'rowcount': c.rowcount, 'lastrowid': c.lastrowid,
                         'rows': [list(r) for r in c.fetchall()] if c.description else None,
                         'columns': [d[0] for d in c.description] if c.description else None})
            if not c.nextset():
                break
        return {'n': n, 'sets': sets, 'info': conn._result.message.decode() if conn._result and conn._result.message else None,
                'warnings': conn._result.warning_count if conn._result else None}


step('drop', lambda: q('DROP TABLE IF EXISTS py_t'))
step('create', lambda: q('CREATE TABLE py_t (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT, s VARCHAR(20))'))
step('multi-row insert', lambda: q("INSERT INTO py_t (v, s) VALUES (1, 'a'), (2, 'b')"))
step('executemany', lambda: conn.cursor().executemany('INSERT INTO py_t (v, s) VALUES (%s, %s)', [(3, 'c'), (4, 'd')]))
step('update', lambda: q('UPDATE py_t SET v = v * 10'))
step('alter', lambda: q('ALTER TABLE py_t ADD COLUMN w INT'))
step('negative id', lambda: q('INSERT INTO py_t (id, v) VALUES (-999, 0)'))
step('select', lambda: q('SELECT * FROM py_t ORDER BY id'))
step('params', lambda: q('SELECT %s AS a, %s AS b', ('x', None)))
step('warning', lambda: q('SELECT 1/0 AS d'))
step('show warnings', lambda: q('SHOW WARNINGS'))
step('@@warning_count', lambda: q('SELECT @@warning_count'))
step('error', lambda: q('SELECT * FROM no_such_table'))
step('show errors', lambda: q('SHOW ERRORS'))
step('multi-statement', lambda: q('SELECT 1 AS a; SELECT 2 AS b; UPDATE py_t SET w = 1'))
step('compound statement', lambda: q('BEGIN NOT ATOMIC DECLARE x INT DEFAULT 2; SELECT x AS x_value; END'))


def txn():
    conn.begin()
    q('INSERT INTO py_t (v) VALUES (700)')
    conn.rollback()
    return q('SELECT COUNT(*) FROM py_t WHERE v = 700')


step('transaction', txn)
step('ping', lambda: conn.ping(reconnect=False))
step('bigint unsigned', lambda: [q('DROP TABLE IF EXISTS py_u'), q('CREATE TABLE py_u (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY)'),
                                 q('INSERT INTO py_u VALUES (18446744073709551614)')][2])
step('cleanup', lambda: [q('DROP TABLE py_t'), q('DROP TABLE py_u')])
conn.close()
