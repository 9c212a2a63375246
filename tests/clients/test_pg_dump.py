#!/usr/bin/python3
"""test_pg_dump — pg_dump / pg_restore (PostgreSQL 15's) against ContextDB.

1. Restore side, from PostgreSQL 15 (tests/clients/pg15.py): its `pg_dump --data-only` of nodes
   and edges piped into psql, and its `pg_dump -Fc --data-only` through `pg_restore --data-only`,
   each into a fresh ContextDB, reproduce every row.
2. Dump side: `pg_dump` (plain) and `pg_dump -Fc` of ContextDB run without an error; then
   `pg_dump --data-only | psql`, `pg_restore --data-only` of a `pg_dump -Fc --data-only` archive
   (data-only dumps order nodes before edges, which reference them) and `pg_restore --data-only
   -L list` of the full -Fc archive with the list putting nodes first (a full archive orders table
   data by name, as PostgreSQL's does), each into a fresh ContextDB, reproduce every row of nodes,
   edges and vectors. pg_dump's queries need an
   aggregate's ORDER BY and WITH RECURSIVE; a server without them exits 77 (skipped) after part 1,
   naming what is missing.
Run under tests/clients/run-client.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pg15  # noqa: E402

import psycopg2  # noqa: E402

BIN = "/usr/lib/postgresql/15/bin"
QUERIES = {"nodes": "SELECT id, label, props::text FROM nodes ORDER BY id",
           "edges": "SELECT src, dst, kind, weight FROM edges ORDER BY src, dst, kind",
           "vectors": "SELECT id, embedding::text FROM vectors ORDER BY id"}


def rows(port, user="test", tables=QUERIES):
    conn = psycopg2.connect(host="127.0.0.1", port=port, user=user, dbname="contextdb")
    out = {}
    with conn.cursor() as cur:
        for t in tables:
            cur.execute(QUERIES[t])
            out[t] = cur.fetchall()
    conn.close()
    return out


def run(cmd, stdin=None):
    """Runs a client tool; returns its stdout, raising with its stderr when it fails or
    reports an error."""
    p = subprocess.run(cmd, input=stdin, capture_output=True, env=dict(os.environ, PGUSER="test"))
    err = p.stderr.decode(errors="replace")
    if p.returncode != 0 or "ERROR" in err or "error:" in err:
        raise RuntimeError("%s failed (%d): %s" % (cmd[0], p.returncode, err[-2000:]))
    return p.stdout


def restore_fresh(restore, expect, tables):
    """Starts a fresh ContextDB, restores into it, compares its rows with expect."""
    fresh = pg15.ContextDB()
    try:
        fresh.start()
        restore(str(fresh.port))
        got = rows(fresh.port, tables=tables)
    finally:
        fresh.stop()
    if got != expect:
        print("DIFF\n  restored: %r\n  expected: %r" % (got, expect))
        return False
    return True


def from_postgres():
    if not pg15.available():
        print("PostgreSQL 15 is not installed: restore of its dumps not tried")
        return True
    pg = pg15.Postgres()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        try:
            pg.start()
            base = [BIN + "/pg_dump", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
                    "--data-only", "-t", "nodes", "-t", "edges", "contextdb"]
            plain = run(base)
            run(base + ["-Fc", "-f", tmp + "/pg.dump"])
            expect = rows(pg.port, "postgres", ["nodes", "edges"])
        finally:
            pg.stop()
        ok = restore_fresh(lambda port: run([BIN + "/psql", "-h", "127.0.0.1", "-p", port,
                                             "-d", "contextdb", "-v", "ON_ERROR_STOP=1", "-q"],
                                            plain), expect, ["nodes", "edges"]) and ok
        print("PostgreSQL 15 pg_dump --data-only | psql into ContextDB:", ok)
        ok = restore_fresh(lambda port: run([BIN + "/pg_restore", "--data-only", "-h",
                                             "127.0.0.1", "-p", port, "-d", "contextdb",
                                             "--exit-on-error", tmp + "/pg.dump"]),
                           expect, ["nodes", "edges"]) and ok
        print("PostgreSQL 15 pg_dump -Fc | pg_restore --data-only into ContextDB:", ok)
    return ok


def missing_features(conn):
    missing = []
    for what, sql in [("aggregate ORDER BY", "SELECT array_agg(x ORDER BY x) FROM (VALUES (1)) v(x)"),
                      ("WITH RECURSIVE", "WITH RECURSIVE w(n) AS (SELECT 1) SELECT n FROM w")]:
        try:
            conn.cursor().execute(sql)
        except psycopg2.Error:
            missing.append(what)
        conn.rollback()
    return missing


def from_contextdb():
    port = os.environ["PGPORT"]
    base = [BIN + "/pg_dump", "-h", "127.0.0.1", "-p", port, "contextdb"]
    expect = rows(port)
    with tempfile.TemporaryDirectory() as tmp:
        schema = run(base).decode()
        assert "CREATE TABLE public.nodes" in schema and "COPY public.edges" in schema, schema
        run(base + ["-Fc", "-f", tmp + "/ctx.dump"])
        print("pg_dump (plain, -Fc) of ContextDB: ran")
        data = run(base + ["--data-only"])
        ok = restore_fresh(lambda p: run([BIN + "/psql", "-h", "127.0.0.1", "-p", p, "-d",
                                          "contextdb", "-v", "ON_ERROR_STOP=1", "-q"], data),
                           expect, QUERIES)
        print("pg_dump --data-only | psql into a fresh ContextDB:", ok)
        run(base + ["-Fc", "--data-only", "-f", tmp + "/data.dump"])
        restore = [BIN + "/pg_restore", "--data-only", "-h", "127.0.0.1", "-d", "contextdb",
                   "--exit-on-error"]
        ok = restore_fresh(lambda p: run(restore + ["-p", p, tmp + "/data.dump"]), expect,
                           QUERIES) and ok
        print("pg_dump -Fc --data-only | pg_restore --data-only into a fresh ContextDB:", ok)
        toc = run([BIN + "/pg_restore", "-l", tmp + "/ctx.dump"]).decode().splitlines()
        data_lines = [line for line in toc if " TABLE DATA " in line]
        with open(tmp + "/list", "w") as f:
            f.write("\n".join(sorted(data_lines, key=lambda line: " edges " in line)) + "\n")
        ok = restore_fresh(lambda p: run(restore + ["-p", p, "-L", tmp + "/list",
                                                    tmp + "/ctx.dump"]), expect, QUERIES) and ok
        print("pg_dump -Fc | pg_restore --data-only -L (nodes first) into a fresh ContextDB:", ok)
    return ok


def main():
    if not os.path.exists(BIN + "/pg_dump"):
        print("SKIP: no PostgreSQL 15 client tools")
        return 77
    conn = psycopg2.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], user="test",
                            dbname="contextdb")
    with conn.cursor() as cur:
        cur.execute(pg15.ROWS + pg15.VECTOR_ROWS_CTX)
    conn.commit()
    if not from_postgres():
        return 1
    missing = missing_features(conn)
    conn.close()
    if missing:
        print("SKIP: pg_dump's queries need %s, which this server does not run yet"
              % ", ".join(missing))
        return 77
    return 0 if from_contextdb() else 1


if __name__ == "__main__":
    sys.exit(main())
