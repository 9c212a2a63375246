#!/usr/bin/python3
"""test_odbc — pyodbc over psqlODBC (odbc-postgresql, unixODBC) in its default non-autocommit mode,
each catalog call compared with what PostgreSQL 15 returns for the same schema
(tests/clients/pg15.py).

Calls: a SELECT, tables(), columns(), primaryKeys(), foreignKeys() (both directions),
statistics() for every table, then INSERT + commit() and INSERT + rollback(). psqlODBC wraps
each statement of a transaction in SAVEPOINT / RELEASE and sends SQLForeignKeys as parenthesised
joins of aliased subqueries; a server without those exits 77 (skipped) naming what is missing.
vectors.embedding is `vector` here and `real[]` in PostgreSQL, so columns() of vectors is
compared for its id column. Run under tests/clients/run-client.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pg15  # noqa: E402

try:
    import psycopg2
    import pyodbc
except ImportError as e:
    print("SKIP: %s (python3-pyodbc, odbc-postgresql)" % e)
    sys.exit(77)

TABLES = ["nodes", "edges", "vectors"]


def connect(port, user):
    cs = ("DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=%d;DATABASE=contextdb;UID=%s"
          % (port, user))
    return pyodbc.connect(cs, timeout=30)


def calls(port, user):
    conn = connect(port, user)
    assert conn.autocommit is False
    cur = conn.cursor()
    out = {}

    def call(name, f):
        try:
            out[name] = f()
        except pyodbc.Error as e:
            out[name] = "ERROR " + str(e)[:200]

    call("select", lambda: [tuple(r) for r in
                            cur.execute("SELECT id, label FROM nodes ORDER BY id").fetchall()])
    call("tables", lambda: sorted((r.table_schem, r.table_name, r.table_type)
                                  for r in cur.tables(tableType="TABLE")))
    for t in TABLES:
        call(t + ".columns", lambda: [(r.column_name, r.type_name, r.data_type, r.nullable,
                                       r.ordinal_position) for r in cur.columns(table=t)])
        call(t + ".primaryKeys", lambda: [(r.column_name, r.key_seq, r.pk_name)
                                          for r in cur.primaryKeys(t)])
        call(t + ".foreignKeys", lambda: sorted(
            (r.pktable_name, r.pkcolumn_name, r.fktable_name, r.fkcolumn_name, r.key_seq,
             r.fk_name, r.delete_rule) for r in cur.foreignKeys(foreignTable=t)))
        call(t + ".referencedBy", lambda: sorted(
            (r.fktable_name, r.fkcolumn_name, r.fk_name) for r in cur.foreignKeys(table=t)))
        call(t + ".statistics", lambda: [(r.table_name, r.non_unique, r.index_name,
                                          r.ordinal_position, r.column_name)
                                         for r in cur.statistics(t) if r.index_name])
    conn.commit()

    def insert_commit():
        cur.execute("INSERT INTO nodes (id, label) VALUES (100, 'odbc')")
        conn.commit()
        return cur.execute("SELECT label FROM nodes WHERE id = 100").fetchone()[0]

    def insert_rollback():
        cur.execute("INSERT INTO nodes (id, label) VALUES (101, 'gone')")
        conn.rollback()
        return cur.execute("SELECT count(*) FROM nodes WHERE id = 101").fetchone()[0]

    call("insert+commit", insert_commit)
    call("insert+rollback", insert_rollback)
    conn.close()
    return out


def missing_features():
    """What this server lacks of what psqlODBC sends (probed with psycopg2)."""
    conn = psycopg2.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], user="test",
                            dbname="contextdb")
    missing = []
    for what, sql in [("SAVEPOINT", "SAVEPOINT _probe"),
                      ("parenthesised joins",
                       "SELECT 1 FROM ((SELECT 1 AS a) x INNER JOIN (SELECT 1 AS b) y ON true)")]:
        try:
            conn.cursor().execute(sql)
        except psycopg2.errors.SyntaxError:
            missing.append(what)
        conn.rollback()
    conn.close()
    return missing


def main():
    missing = missing_features()
    if missing:
        print("SKIP: psqlODBC needs %s, which this server does not parse yet" % ", ".join(missing))
        return 77
    conn = psycopg2.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], user="test",
                            dbname="contextdb")
    with conn, conn.cursor() as cur:
        cur.execute(pg15.ROWS + pg15.VECTOR_ROWS_CTX)
    conn.close()
    ours = calls(int(os.environ["PGPORT"]), "test")
    for k, v in ours.items():
        print("%-22s %s" % (k, repr(v)[:160]))
    failed = [k for k, v in ours.items() if isinstance(v, str) and v.startswith("ERROR")]
    if not pg15.available():
        print("PostgreSQL 15 is not installed: no comparison")
        return 1 if failed else 0
    pg = pg15.Postgres()
    try:
        pg.start()
        theirs = calls(pg.port, "postgres")
    finally:
        pg.stop()
    for k in ours:
        a, b = ours[k], theirs.get(k)
        if k == "vectors.columns" and isinstance(a, list) and isinstance(b, list):
            a, b = a[:1], b[:1]
        if a != b:
            failed.append(k)
            print("DIFF %s\n  contextdb:  %r\n  postgresql: %r" % (k, a, b))
    print("odbc: %d calls, %d differ from PostgreSQL 15 or fail" % (len(ours), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
