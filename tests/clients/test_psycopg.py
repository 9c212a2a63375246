#!/usr/bin/python3
"""psycopg 3 (server-side binding over the extended protocol) against contextdb.

Run by run-client (PGHOST/PGPORT set, vector_dimensions = 4). Each check prints one line; any
failure raises and exits non-zero.
"""
import sys
import threading
import time

try:
    import psycopg
    from psycopg import errors
except ImportError:
    print("SKIP: python3-psycopg is not installed")
    sys.exit(77)


def connect(**kw):
    return psycopg.connect("", autocommit=True, **kw)


def load(conn):
    with conn.cursor() as cur:
        for i in range(1, 9):
            cur.execute("INSERT INTO nodes (id, label, props) VALUES (%s, %s, %s)",
                        (i, f"L{i}", psycopg.types.json.Jsonb({"rank": i})))
            cur.execute("INSERT INTO vectors (id, embedding) VALUES (%s, %s)",
                        (i, f"[{i},1,0,0]"))
        for src, dst in [(1, 2), (2, 3), (3, 4), (1, 5)]:
            cur.execute("INSERT INTO edges (src, dst, kind, weight) VALUES (%s, %s, %s, %s)",
                        (src, dst, "links", 0.5))


def test_params(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT id, label, props FROM nodes WHERE id = %s", (3,))
        assert cur.fetchall() == [(3, "L3", {"rank": 3})], "select by id"
        cur.execute("SELECT id, label FROM nodes WHERE id = %s", (3,), binary=True)
        assert cur.fetchone() == (3, "L3"), "binary results"
        cur.execute("SELECT src, dst, kind, weight FROM edges WHERE src = %s ORDER BY dst", (1,))
        assert cur.fetchall() == [(1, 2, "links", 0.5), (1, 5, "links", 0.5)], "edges"
        cur.execute("SELECT embedding FROM vectors WHERE id = %s", (2,))
        assert cur.fetchone()[0] == "[2,1,0,0]", "vector text"
        cur.execute("SELECT %s::float8 * 2, %s::int8 + 1, %s", (1.25, 2**40, "x"))
        assert cur.fetchone() == (2.5, 2**40 + 1, "x"), "floats, big ints, strings"
        cur.execute("SELECT count(*) FROM nodes WHERE label = %s AND id > %s", ("L2", 1))
        assert cur.fetchone() == (1,), "two params"
    print("ok params")


def test_queries(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM similar(%s, %s)", (1, 5))
        rows = cur.fetchall()
        assert len(rows) == 5, rows
        cur.execute("SELECT id, depth FROM neighbors(%s, %s) ORDER BY id", (1, 2))
        assert cur.fetchall() == [(2, 1), (3, 2), (5, 1)], "neighbors"
        cur.execute("SELECT step, id FROM shortest_path(%s, %s)", (1, 4))
        assert [r[1] for r in cur.fetchall()] == [1, 2, 3, 4], "shortest_path"
        cur.execute("SELECT id FROM vectors ORDER BY embedding <-> %s LIMIT 2", ("[3.4,1,0,0]",))
        assert [r[0] for r in cur.fetchall()] == [3, 4], "vector top-2"
    print("ok graph and vector queries")


def test_prepared(conn):
    with conn.cursor() as cur:
        for i in range(8):  # auto-prepare kicks in after 5 executions
            cur.execute("SELECT label FROM nodes WHERE id = %s", (i % 3 + 1,))
            assert cur.fetchone() == (f"L{i % 3 + 1}",)
        cur.execute("SELECT label FROM nodes WHERE id = %s", (4,), prepare=True)
        assert cur.fetchone() == ("L4",)
        cur.execute("SELECT label FROM nodes WHERE id = %s", (5,), prepare=True, binary=True)
        assert cur.fetchone() == ("L5",)
        # Describe of a prepared CREATE SNAPSHOT announces the row its Execute returns.
        cur.execute("CREATE SNAPSHOT", prepare=True)
        assert cur.description[0].name == "snapshot_id", cur.description
        assert cur.fetchone()[0] >= 1
    print("ok prepared statements")


def test_errors(conn):
    with conn.cursor() as cur:
        try:
            cur.execute("INSERT INTO nodes (id, label) VALUES (%s, %s)", (1, "dup"))
            raise AssertionError("duplicate accepted")
        except errors.UniqueViolation as e:
            assert e.sqlstate == "23505"
        try:
            cur.execute("SELECT * FROM no_such_table WHERE id = %s", (1,))
            raise AssertionError("no error")
        except errors.UndefinedTable as e:
            assert e.sqlstate == "42P01"
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    print("ok errors")


def test_transaction(conn):
    with conn.cursor() as cur:
        try:
            with conn.transaction():
                cur.execute("INSERT INTO nodes (id, label) VALUES (%s, %s)", (100, "tx"))
                raise RuntimeError("rollback please")
        except RuntimeError:
            pass
        cur.execute("SELECT count(*) FROM nodes WHERE id = %s", (100,))
        assert cur.fetchone() == (0,), "rolled back"
        with conn.transaction():
            cur.execute("INSERT INTO nodes (id, label) VALUES (%s, %s)", (100, "tx"))
            cur.execute("INSERT INTO edges (src, dst, kind) VALUES (%s, %s, %s)", (100, 1, "owns"))
        cur.execute("SELECT count(*) FROM edges WHERE src = %s", (100,))
        assert cur.fetchone() == (1,), "committed"
    with psycopg.connect("") as c2:  # not autocommit: psycopg sends BEGIN itself
        with c2.cursor() as cur:
            cur.execute("INSERT INTO nodes (id, label) VALUES (%s, %s)", (101, "implicit"))
            assert c2.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        c2.commit()
    with conn.cursor() as cur:
        cur.execute("SELECT label FROM nodes WHERE id = 101")
        assert cur.fetchone() == ("implicit",)
    print("ok transactions")


def test_executemany(conn):
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO nodes (id, label) VALUES (%s, %s)",
                        [(i, f"m{i}") for i in range(200, 260)])
        cur.execute("SELECT count(*) FROM nodes WHERE id >= 200 AND id < 260")
        assert cur.fetchone() == (60,)
        # A failing row in a pipeline: the whole executemany is one implicit transaction.
        try:
            cur.executemany("INSERT INTO nodes (id, label) VALUES (%s, %s)",
                            [(300, "a"), (301, "b"), (1, "dup"), (302, "c")])
            raise AssertionError("duplicate accepted")
        except errors.UniqueViolation:
            pass
        cur.execute("SELECT count(*) FROM nodes WHERE id >= 300 AND id < 303")
        assert cur.fetchone() == (0,), "failed pipeline applied nothing"
    c1, c2 = conn.cursor(), conn.cursor()
    with conn.pipeline():
        c1.execute("INSERT INTO nodes (id, label) VALUES (%s, %s)", (400, "p"))
        c2.execute("SELECT label FROM nodes WHERE id = %s", (400,))
    assert c2.fetchone() == ("p",), "pipeline results"
    print("ok executemany and pipeline")


def test_copy(conn):
    with conn.cursor() as cur:
        with cur.copy("COPY nodes (id, label) FROM STDIN") as copy:
            for i in range(500, 600):
                copy.write_row((i, f"c{i}"))
        cur.execute("SELECT count(*) FROM nodes WHERE id >= 500 AND id < 600")
        assert cur.fetchone() == (100,), "COPY FROM"
        with cur.copy("COPY vectors (id, embedding) FROM STDIN (FORMAT csv)") as copy:
            copy.write('500,"[0,0,1,0]"\n501,"[0,0,0,1]"\n')
        try:
            with cur.copy("COPY nodes (id, label) FROM STDIN") as copy:
                copy.write_row((700, "a"))
                copy.write_row(("bad", "b"))
            raise AssertionError("bad row accepted")
        except errors.InvalidTextRepresentation as e:
            assert e.diag.context.startswith("COPY nodes, line 2"), e.diag.context
        cur.execute("SELECT count(*) FROM nodes WHERE id = 700")
        assert cur.fetchone() == (0,), "failed COPY applied nothing"
        with cur.copy("COPY (SELECT id, label FROM nodes WHERE id < 3 ORDER BY id) TO STDOUT") as copy:
            rows = list(copy.rows())
        assert rows == [("1", "L1"), ("2", "L2")], rows
    print("ok copy")


def cancel_until(conn, done):
    """Sends a CancelRequest every 0.3 s until done is set. A cancel that arrives before the
    statement has started (or after it ended) is dropped, as in PostgreSQL, so a single one sent
    after a fixed delay could miss a statement that a loaded machine started late."""
    while not done.wait(0.3):
        conn.cancel()


def test_cancel(conn):
    started = time.time()
    done = threading.Event()
    threading.Thread(target=cancel_until, args=(conn, done), daemon=True).start()
    with conn.cursor() as cur:
        try:
            cur.execute("SELECT pg_sleep(%s)", (20,))
            raise AssertionError("not cancelled")
        except errors.QueryCanceled as e:
            assert e.sqlstate == "57014"
        finally:
            done.set()
        assert time.time() - started < 5
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    print("ok cancel")


def main():
    conn = connect()
    load(conn)
    test_params(conn)
    test_queries(conn)
    test_prepared(conn)
    test_errors(conn)
    test_transaction(conn)
    test_executemany(conn)
    test_copy(conn)
    test_cancel(conn)
    for extra in sys.argv[1:]:
        globals()["test_" + extra](conn)
    conn.close()
    print("psycopg: all passed")


if __name__ == "__main__":
    main()
