#!/usr/bin/python3
"""SCRAM-SHA-256 and TLS through libpq (psycopg 3) against contextdb started by
`run-client --setup setup-auth-tls`: sslmode=require and verify-full with the test CA, a wrong
password and an unknown user (28P01), a host name the certificate does not cover, and a cancel on
a TLS connection (the CancelRequest itself travels in clear, as libpq sends it).
"""
import os
import sys
import threading
import time

try:
    import psycopg
except ImportError:
    print("SKIP: python3-psycopg is not installed")
    sys.exit(77)

CA = os.path.join(os.environ["CTX_TMP"], "ca.crt")


def cancel_until(conn, done):
    """Sends a CancelRequest every 0.3 s until done is set. A cancel that arrives before the
    statement has started (or after it ended) is dropped, as in PostgreSQL, so a single one sent
    after a fixed delay could miss a statement that a loaded machine started late."""
    while not done.wait(0.3):
        conn.cancel()


def connect(**kw):
    params = dict(user="alice", password="s3cret", dbname="contextdb", autocommit=True)
    params.update(kw)
    return psycopg.connect(**params)


def main():
    with connect(sslmode="require") as c:
        assert c.pgconn.ssl_in_use, "TLS in use"
        assert c.execute("SELECT current_user").fetchone() == ("alice",)
        c.execute("INSERT INTO nodes (id, label) VALUES (%s, %s)", (1, "over tls"))
    print("ok sslmode=require + SCRAM")
    for host in ("127.0.0.1", "localhost"):
        with connect(host=host, sslmode="verify-full", sslrootcert=CA) as c:
            assert c.pgconn.ssl_in_use
            assert c.execute("SELECT label FROM nodes WHERE id = %s", (1,)).fetchone() == ("over tls",)
    print("ok sslmode=verify-full")
    with connect(sslmode="disable") as c:
        assert not c.pgconn.ssl_in_use
    print("ok plain connection still allowed")
    for user, password in (("alice", "wrong"), ("nobody", "s3cret")):
        try:
            connect(user=user, password=password, sslmode="require").close()
            raise AssertionError("authenticated with a bad password")
        except psycopg.OperationalError as e:
            assert f'password authentication failed for user "{user}"' in str(e), str(e)
    print("ok wrong password / unknown user: 28P01")
    try:
        connect(host="not-in-cert.example", hostaddr="127.0.0.1", sslmode="verify-full",
                sslrootcert=CA).close()
        raise AssertionError("verify-full accepted a host the certificate does not name")
    except psycopg.OperationalError as e:
        assert "not-in-cert.example" in str(e), str(e)
    print("ok verify-full checks the host name")
    with connect(sslmode="require") as c:
        started = time.time()
        done = threading.Event()
        threading.Thread(target=cancel_until, args=(c, done), daemon=True).start()
        try:
            c.execute("SELECT pg_sleep(20)")
            raise AssertionError("not cancelled")
        except psycopg.errors.QueryCanceled:
            pass
        finally:
            done.set()
        assert time.time() - started < 5
        assert c.execute("SELECT 1").fetchone() == (1,)
    print("ok cancel on a TLS connection")
    print("auth/tls: all passed")


if __name__ == "__main__":
    main()
