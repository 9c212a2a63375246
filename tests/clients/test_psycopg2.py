#!/usr/bin/python3
"""psycopg2 (simple protocol, client-side parameter interpolation) against contextdb.

Run by run-client (PGHOST/PGPORT set, vector_dimensions = 4).
"""
import io
import sys
import threading
import time

try:
    import psycopg2
    import psycopg2.errors
    import psycopg2.extensions
except ImportError:
    print("SKIP: python3-psycopg2 is not installed")
    sys.exit(77)


def cancel_until(conn, done):
    """Sends a CancelRequest every 0.3 s until done is set. A cancel that arrives before the
    statement has started (or after it ended) is dropped, as in PostgreSQL, so a single one sent
    after a fixed delay could miss a statement that a loaded machine started late."""
    while not done.wait(0.3):
        conn.cancel()


def main():
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    for i in range(1, 9):
        cur.execute("INSERT INTO nodes (id, label, props) VALUES (%s, %s, %s)",
                    (i, f"L{i}", '{"rank": %d}' % i))
        cur.execute("INSERT INTO vectors (id, embedding) VALUES (%s, %s)", (i, f"[{i},1,0,0]"))
    for src, dst in [(1, 2), (2, 3), (3, 4), (1, 5)]:
        cur.execute("INSERT INTO edges (src, dst, kind, weight) VALUES (%s, %s, %s, %s)",
                    (src, dst, "links", 0.5))
    cur.execute("SELECT id, label, props FROM nodes WHERE id = %s", (3,))
    assert cur.fetchall() == [(3, "L3", {"rank": 3})]
    cur.execute("SELECT label FROM nodes WHERE label = %s", ("it's \\ quoted",))
    assert cur.fetchall() == []
    print("ok params")

    cur.execute("SELECT * FROM similar(%s, %s)", (1, 5))
    assert len(cur.fetchall()) == 5
    cur.execute("SELECT id FROM neighbors(%s, %s) ORDER BY id", (1, 2))
    assert [r[0] for r in cur.fetchall()] == [2, 3, 5]
    print("ok graph and vector queries")

    try:
        cur.execute("INSERT INTO nodes (id, label) VALUES (%s, %s)", (1, "dup"))
        raise AssertionError("duplicate accepted")
    except psycopg2.errors.UniqueViolation as e:
        assert e.pgcode == "23505"
    print("ok errors")

    conn.autocommit = False
    cur.execute("INSERT INTO nodes (id, label) VALUES (%s, %s)", (100, "tx"))
    conn.rollback()
    cur.execute("SELECT count(*) FROM nodes WHERE id = 100")
    assert cur.fetchone() == (0,)
    cur.execute("INSERT INTO nodes (id, label) VALUES (%s, %s)", (100, "tx"))
    conn.commit()
    cur.execute("SELECT label FROM nodes WHERE id = 100")
    assert cur.fetchone() == ("tx",)
    conn.commit()
    conn.autocommit = True
    print("ok transactions")

    cur.copy_expert("COPY nodes (id, label) FROM STDIN WITH (FORMAT csv)",
                    io.StringIO("".join(f"{i},c{i}\n" for i in range(500, 520))))
    cur.execute("SELECT count(*) FROM nodes WHERE id >= 500")
    assert cur.fetchone() == (20,)
    try:
        cur.copy_expert("COPY nodes (id, label) FROM STDIN", io.StringIO("600\ta\nxx\tb\n"))
        raise AssertionError("bad row accepted")
    except psycopg2.errors.InvalidTextRepresentation as e:
        assert e.diag.context == 'COPY nodes, line 2, column id: "xx"', e.diag.context
    out = io.StringIO()
    cur.copy_expert("COPY (SELECT id, label FROM nodes WHERE id < 3 ORDER BY id) TO STDOUT", out)
    assert out.getvalue() == "1\tL1\n2\tL2\n", out.getvalue()
    print("ok copy")

    started = time.time()
    done = threading.Event()
    threading.Thread(target=cancel_until, args=(conn, done), daemon=True).start()
    try:
        cur.execute("SELECT pg_sleep(20)")
        raise AssertionError("not cancelled")
    except psycopg2.errors.QueryCanceled as e:
        assert e.pgcode == "57014"
    finally:
        done.set()
    assert time.time() - started < 5
    print("ok cancel")

    for extra in sys.argv[1:]:
        globals()["check_" + extra](conn)
    conn.close()
    print("psycopg2: all passed")


if __name__ == "__main__":
    main()
