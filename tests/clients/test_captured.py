#!/usr/bin/python3
"""test_captured — replays the catalog and session queries real clients sent (captured from psql
15, pgjdbc 42.5 and psycopg 3 against PostgreSQL 15, in tests/clients/captured/*.sql) and
requires every one of them to run without an error on ContextDB.

Blocks are separated by `-- @@`; a `-- params: a | b` line gives the literal parameter values the
client bound ($1, $2, …). Run under tests/clients/run-client (PGHOST/PGPORT point at the server).
"""
import os
import pathlib
import sys

import psycopg2

CAPTURED = pathlib.Path(__file__).resolve().parent / "captured"


def blocks(path):
    for block in path.read_text().split("-- @@\n"):
        params, lines = [], []
        for line in block.strip().splitlines():
            if line.startswith("-- params: "):
                params = [p.strip() for p in line[len("-- params: "):].split(" | ")]
            elif not line.startswith("-- from"):
                lines.append(line)
        query = "\n".join(lines).strip()
        for i, value in reversed(list(enumerate(params))):
            query = query.replace(f"${i + 1}", value)
        if query:
            yield query


def connect():
    conn = psycopg2.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"],
                            user="test", dbname="contextdb")
    conn.autocommit = True
    return conn


def main():
    conn = connect()
    conn.cursor().execute("INSERT INTO nodes (id, label) VALUES (1, 'a'), (2, 'b')")
    total = failed = 0
    for path in sorted(CAPTURED.glob("*.sql")):
        for query in blocks(path):
            total += 1
            try:
                cur = conn.cursor()
                cur.execute(query)
                if cur.description is not None:
                    cur.fetchall()
            except psycopg2.Error as e:
                failed += 1
                first = str(e).splitlines()[0] if str(e) else repr(e)
                print(f"FAIL {path.name}: {e.pgcode} {first}\n    {query[:200]!r}")
                if conn.closed:
                    conn = connect()
    print(f"captured client queries: {total - failed} of {total} ran")
    return 1 if failed or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
