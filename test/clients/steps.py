#!/usr/bin/python3
"""Runs a JSON list of steps with PyMySQL and prints what each one returned, as JSON.

Driven by test/helpers/client-scripts.ts. The first stdin line is the spec:
  {"conns": {"a": {"host", "port", "user", "password", "db", "multi"}}, "steps": [...]}
A step is {"conn": "a", "open": true} | {"conn": "a", "sql": "..."} | {"conn": "a", "close": true}
| {"pause": "label"}: print "PAUSE label" and wait for one stdin line (the test acts meanwhile).
The last stdout line is "RESULT <json>", one entry per step. PyMySQL has no server-side prepared
statements, so every statement goes over the text protocol.
"""
import json
import sys

import pymysql
from pymysql.constants import CLIENT


def value(v):
    if v is None:
        return None
    if isinstance(v, (bytes, bytearray)):
        return v.decode('utf8', 'replace')
    return str(v)


def error(e):
    args = list(e.args)
    errno = args[0] if args and isinstance(args[0], int) else None
    return {'error': {'type': type(e).__name__, 'errno': errno, 'message': str(args[-1]) if args else str(e)}}


def run_sql(conn, sql):
    cur = conn.cursor()
    try:
        cur.execute(sql)
        sets = []
        while True:
            if cur.description is None:
                sets.append({'affected': cur.rowcount})
            else:
                sets.append({'rows': [[value(v) for v in row] for row in cur.fetchall()]})
            if not cur.nextset():
                break
        return {'sets': sets}
    finally:
        try:
            cur.close()
        except Exception:
            pass


def main():
    spec = json.loads(sys.stdin.readline())
    conns = {}
    out = []
    for step in spec['steps']:
        if 'pause' in step:
            print('PAUSE ' + step['pause'], flush=True)
            sys.stdin.readline()
            out.append({'paused': step['pause']})
            continue
        name = step['conn']
        try:
            if step.get('open'):
                c = spec['conns'][name]
                conns[name] = pymysql.connect(
                    host=c['host'], port=c['port'], user=c['user'], password=c['password'],
                    database=c.get('db'), connect_timeout=10, read_timeout=30,
                    client_flag=CLIENT.MULTI_STATEMENTS if c.get('multi') else 0, autocommit=True)
                out.append({'opened': name})
            elif step.get('close'):
                conns.pop(name).close()
                out.append({'closed': name})
            else:
                out.append(run_sql(conns[name], step['sql']))
        except Exception as e:  # every failure is data for the test
            out.append(error(e))
    print('RESULT ' + json.dumps(out), flush=True)


main()
