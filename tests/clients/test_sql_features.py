#!/usr/bin/python3
"""SQL forms clients send, compared with PostgreSQL 15: the same statements run against
contextdb (PGHOST/PGPORT, started by run-client) and a throwaway PostgreSQL 15 cluster
(initdb in a temporary directory, a free port, stopped by pg_ctl at the end) holding the same
nodes and edges, and every result must be equal.

Table-driven: QUERIES are (name, sql) pairs compared row for row; SCENARIOS are statement
sequences (savepoints, cursors) whose every outcome — rows, or the SQLSTATE of an error — is
compared. psycopg2 named cursors (server-side DECLARE/FETCH, itersize) run on both as well.
Exits 77 (skip) when PostgreSQL 15 or psycopg2 is not installed.
"""
import decimal
import os
import shutil
import socket
import subprocess
import sys
import tempfile

try:
    import psycopg2
    import psycopg2.errors  # noqa: F401
except ImportError:
    print("SKIP: python3-psycopg2 is not installed")
    sys.exit(77)

PG_BIN = "/usr/lib/postgresql/15/bin"

SCHEMA = [
    "CREATE TABLE nodes (id bigint PRIMARY KEY, label text, props jsonb)",
    "CREATE TABLE edges (src bigint, dst bigint, kind text, weight float8 DEFAULT 1, "
    "PRIMARY KEY (src, dst, kind))",
]

DATA = [
    "INSERT INTO nodes (id, label, props) VALUES (1, 'user', '{\"n\": \"ann\"}'), "
    "(2, 'doc', NULL), (3, 'user', '{\"n\": \"bob\"}'), (4, 'doc', NULL), (5, 'tag', NULL), "
    "(6, 'user', NULL)",
    # 1 → 2 → 3 → 1 is a cycle; 3 → 4 → 5 a tail; 6 is alone
    "INSERT INTO edges (src, dst, kind, weight) VALUES (1, 2, 'owns', 1.5), (2, 3, 'links', 2), "
    "(3, 1, 'links', 0.5), (3, 4, 'owns', 1), (4, 5, 'related', 3), (1, 4, 'related', 1)",
]

QUERIES = [
    # substring(x FROM n FOR m), as psql's and pgcli's \d send it
    ("substring from for", "SELECT substring('contextdb' FROM 3 FOR 4), "
     "substring('contextdb' from 4), substring('contextdb' for 3)"),
    ("substring over a column", "SELECT id, substring(label for 2) FROM nodes ORDER BY id"),
    # aggregate ORDER BY and FILTER; string_agg, array_agg
    ("array_agg order by", "SELECT array_agg(id ORDER BY id DESC) FROM nodes"),
    ("array_agg order by two keys",
     "SELECT array_agg(id ORDER BY label, id DESC) FROM nodes"),
    ("string_agg order by", "SELECT string_agg(label, ',' ORDER BY id) FROM nodes"),
    ("string_agg grouped", "SELECT label, string_agg(id::text, '-' ORDER BY id DESC) "
     "FROM nodes GROUP BY label ORDER BY label"),
    ("aggregate filter", "SELECT count(*) FILTER (WHERE label = 'user'), "
     "sum(id) FILTER (WHERE id > 2), array_agg(id ORDER BY id) FILTER (WHERE id % 2 = 0) "
     "FROM nodes"),
    ("filter matching nothing", "SELECT count(*) FILTER (WHERE id > 100), "
     "array_agg(id) FILTER (WHERE id > 100) FROM nodes"),
    ("array_agg distinct order by", "SELECT array_agg(DISTINCT label ORDER BY label DESC) "
     "FROM nodes"),
    ("pgcli array_agg(attname ORDER BY …)",
     "SELECT array_agg(attname ORDER BY attnum DESC) FROM pg_catalog.pg_attribute "
     "WHERE attrelid = 'nodes'::regclass AND attnum > 0"),
    # json_agg / jsonb_agg: elements as to_json converts them, NULLs kept, NULL over no rows
    ("json_agg order by", "SELECT json_agg(id ORDER BY id DESC), jsonb_agg(id ORDER BY id) "
     "FROM nodes"),
    ("json_agg text and jsonb with NULLs", "SELECT json_agg(label ORDER BY id), "
     "jsonb_agg(props ORDER BY id), json_agg(props ORDER BY id DESC) FROM nodes"),
    ("json_agg floats and booleans", "SELECT json_agg(weight ORDER BY weight, src), "
     "jsonb_agg(weight > 1 ORDER BY src, dst), json_agg(NULL::text) FROM edges"),
    ("json_agg over no rows", "SELECT json_agg(id), jsonb_agg(label), count(*) FROM nodes "
     "WHERE id > 100"),
    ("json_agg filter", "SELECT json_agg(id ORDER BY id) FILTER (WHERE id % 2 = 0), "
     "jsonb_agg(label ORDER BY id DESC) FILTER (WHERE id > 100) FROM nodes"),
    ("json_agg grouped", "SELECT label, json_agg(id ORDER BY id DESC), "
     "jsonb_agg(props ORDER BY id) FILTER (WHERE props IS NOT NULL) FROM nodes "
     "GROUP BY label ORDER BY label"),
    ("jsonb_agg distinct", "SELECT jsonb_agg(DISTINCT label ORDER BY label DESC) FROM nodes"),
    ("json_object_agg", "SELECT json_object_agg(label, id ORDER BY id), "
     "jsonb_object_agg(id, props ORDER BY id DESC) FROM nodes"),
    ("json_object_agg grouped, filter, no rows", "SELECT src, json_object_agg(kind, weight "
     "ORDER BY dst) FILTER (WHERE weight > 0.5), jsonb_object_agg(dst, kind) "
     "FILTER (WHERE dst > 100) FROM edges GROUP BY src ORDER BY src"),
    ("jsonb_object_agg null key", "SELECT jsonb_object_agg(props->>'n', id) FROM nodes"),
    ("pg_proc json aggregates", "SELECT oid, proname, prokind, provolatile, proisstrict, "
     "proargtypes::text, prorettype FROM pg_proc WHERE proname IN ('json_agg', 'jsonb_agg', "
     "'json_object_agg', 'jsonb_object_agg') ORDER BY oid"),
    ("jsonb_agg in a subquery", "SELECT n.id, (SELECT jsonb_agg(e.dst ORDER BY e.dst) "
     "FROM edges e WHERE e.src = n.id) FROM nodes n ORDER BY n.id"),
    # parenthesised joins
    ("parenthesised join", "SELECT a.id, e.dst, b.label FROM (nodes a JOIN edges e "
     "ON e.src = a.id) JOIN nodes b ON b.id = e.dst ORDER BY a.id, e.dst"),
    ("parenthesised join of aliased subqueries (psqlODBC)",
     "SELECT * FROM ((SELECT id, label FROM nodes) a JOIN (SELECT src, dst FROM edges) b "
     "ON a.id = b.src) ORDER BY id, dst"),
    ("parenthesised query in FROM", "SELECT * FROM ((SELECT id FROM nodes WHERE id < 3) "
     "UNION (SELECT 9)) x ORDER BY 1"),
    # WITH RECURSIVE
    ("recursive counter", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r "
     "WHERE n < 10) SELECT sum(n), count(*) FROM r"),
    ("recursive reach over a cycle (UNION)",
     "WITH RECURSIVE reach(id) AS (SELECT 1::bigint UNION SELECT e.dst FROM edges e "
     "JOIN reach r ON e.src = r.id) SELECT id FROM reach ORDER BY id"),
    ("recursive depth bound (UNION ALL)",
     "WITH RECURSIVE walk(id, depth) AS (SELECT 1::bigint, 0 UNION ALL "
     "SELECT e.dst, w.depth + 1 FROM edges e, walk w WHERE e.src = w.id AND w.depth < 4) "
     "SELECT depth, count(*), min(id), max(id) FROM walk GROUP BY depth ORDER BY depth"),
    ("recursive path strings", "WITH RECURSIVE p(id, path) AS (SELECT 3::bigint, '3'::text "
     "UNION ALL SELECT e.dst, p.path || '>' || e.dst FROM edges e JOIN p ON e.src = p.id "
     "WHERE length(p.path) < 9) SELECT path FROM p ORDER BY path"),
    ("recursive in a correlated subquery", "SELECT n.id, (WITH RECURSIVE d(k) AS "
     "(SELECT n.id UNION ALL SELECT k - 1 FROM d WHERE k > 0) SELECT count(*) FROM d) "
     "FROM nodes n ORDER BY n.id"),
    ("WITH column list and two queries",
     "WITH t(a, b) AS (SELECT id, label FROM nodes WHERE id <= 2), u AS (SELECT a * 10 AS c "
     "FROM t) SELECT t.a, t.b, u.c FROM t, u ORDER BY 1, 3"),
    ("WITH MATERIALIZED", "WITH m AS MATERIALIZED (SELECT 7 AS x) SELECT x FROM m"),
    # DISTINCT ON
    ("distinct on", "SELECT DISTINCT ON (label) label, id FROM nodes ORDER BY label, id DESC"),
    ("distinct on a hidden key", "SELECT DISTINCT ON (src) dst, weight FROM edges "
     "ORDER BY src, weight DESC, dst"),
    ("distinct on without order by", "SELECT * FROM (SELECT DISTINCT ON (label) label "
     "FROM nodes) x ORDER BY 1"),
    ("distinct on two keys with limit", "SELECT DISTINCT ON (kind, src) kind, src, dst "
     "FROM edges ORDER BY kind, src, dst DESC LIMIT 3"),
    ("distinct on must lead order by", "SELECT DISTINCT ON (label) id FROM nodes ORDER BY id"),
    # LATERAL
    ("lateral subquery", "SELECT n.id, x.c, x.m FROM nodes n, LATERAL (SELECT count(*) AS c, "
     "max(e.dst) AS m FROM edges e WHERE e.src = n.id) x ORDER BY n.id"),
    ("join lateral top-1", "SELECT n.id, t.dst FROM nodes n JOIN LATERAL (SELECT e.dst FROM "
     "edges e WHERE e.src = n.id ORDER BY e.weight DESC, e.dst LIMIT 1) t ON true ORDER BY n.id"),
    ("left join lateral", "SELECT n.id, t.dst FROM nodes n LEFT JOIN LATERAL (SELECT e.dst "
     "FROM edges e WHERE e.src = n.id AND e.kind = 'owns') t ON true ORDER BY n.id, t.dst"),
    ("lateral function", "SELECT n.id, g FROM nodes n, LATERAL generate_series(1, n.id::int) g "
     "WHERE n.id <= 3 ORDER BY 1, 2"),
    ("lateral without references", "SELECT n.id, x.k FROM nodes n, LATERAL (SELECT 5 AS k) x "
     "WHERE n.id < 3 ORDER BY 1"),
    # window functions
    ("lag and lead", "SELECT id, lag(id) OVER (ORDER BY id), lead(id, 2) OVER (ORDER BY id), "
     "lag(id, 1, -1::bigint) OVER (PARTITION BY label ORDER BY id) FROM nodes ORDER BY id"),
    ("first_value last_value nth_value",
     "SELECT id, first_value(id) OVER (PARTITION BY label ORDER BY id), "
     "last_value(id) OVER (PARTITION BY label ORDER BY id), "
     "nth_value(id, 2) OVER (PARTITION BY label ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING "
     "AND UNBOUNDED FOLLOWING) FROM nodes ORDER BY id"),
    ("running aggregates", "SELECT id, sum(id) OVER (ORDER BY id), count(*) OVER (ORDER BY id), "
     "avg(id) OVER (PARTITION BY label), min(id) OVER (PARTITION BY label), "
     "max(id) OVER () FROM nodes ORDER BY id"),
    ("ROWS frames", "SELECT id, sum(id) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND "
     "CURRENT ROW), sum(id) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING), "
     "count(*) OVER (ORDER BY id ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING), "
     "max(id) OVER (ORDER BY id ROWS 2 PRECEDING), "
     "sum(id) OVER (ORDER BY id ROWS BETWEEN 2 FOLLOWING AND 3 FOLLOWING) "
     "FROM nodes ORDER BY id"),
    ("RANGE frames with peers", "SELECT id, label, count(*) OVER (ORDER BY label), "
     "sum(id) OVER (ORDER BY label RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING), "
     "first_value(id) OVER (ORDER BY label RANGE BETWEEN CURRENT ROW AND CURRENT ROW) "
     "FROM nodes ORDER BY id"),
    ("ranking", "SELECT id, label, row_number() OVER (PARTITION BY label ORDER BY id DESC), "
     "rank() OVER (ORDER BY label), dense_rank() OVER (ORDER BY label), "
     "count(*) OVER (PARTITION BY label) FROM nodes ORDER BY id"),
    ("window over edges", "SELECT src, dst, weight, sum(weight) OVER (PARTITION BY src ORDER BY "
     "dst), lag(dst) OVER (PARTITION BY src ORDER BY dst) FROM edges ORDER BY src, dst"),
]

# (name, statements): each statement's rows or SQLSTATE is compared; the session runs in a
# transaction (psycopg2's default) unless a statement ends it.
SCENARIOS = [
    ("nested savepoints", [
        "INSERT INTO nodes (id, label) VALUES (100, 'sp')",
        "SAVEPOINT a",
        "INSERT INTO nodes (id, label) VALUES (101, 'sp')",
        "SAVEPOINT b",
        "INSERT INTO nodes (id, label) VALUES (102, 'sp')",
        "SELECT id FROM nodes WHERE id >= 100 ORDER BY id",
        "ROLLBACK TO SAVEPOINT b",
        "SELECT id FROM nodes WHERE id >= 100 ORDER BY id",
        "RELEASE SAVEPOINT a",
        "SELECT id FROM nodes WHERE id >= 100 ORDER BY id",
        "ROLLBACK TO a",
        "COMMIT",
        "SELECT id FROM nodes WHERE id >= 100 ORDER BY id",
    ]),
    ("error then ROLLBACK TO recovers", [
        "INSERT INTO nodes (id, label) VALUES (110, 'sp')",
        "SAVEPOINT s",
        "INSERT INTO nodes (id, label) VALUES (111, 'sp')",
        "INSERT INTO nodes (id, label) VALUES (1, 'duplicate')",
        "SELECT 1",
        "RELEASE s",
        "ROLLBACK TO s",
        "SELECT id FROM nodes WHERE id >= 110 ORDER BY id",
        "UPDATE nodes SET label = 'changed' WHERE id = 110",
        "SAVEPOINT s",
        "DELETE FROM nodes WHERE id = 110",
        "ROLLBACK TO s",
        "SELECT id, label FROM nodes WHERE id >= 110 ORDER BY id",
        "COMMIT",
        "SELECT id, label FROM nodes WHERE id >= 110 ORDER BY id",
        "DELETE FROM nodes WHERE id >= 100",
        "COMMIT",
    ]),
    ("savepoint errors", [
        "ROLLBACK TO nosuch",
        "ROLLBACK",
        "RELEASE nosuch",
        "ROLLBACK",
        "SAVEPOINT x",
        "SAVEPOINT x",
        "INSERT INTO edges (src, dst, kind) VALUES (5, 6, 'owns')",
        "ROLLBACK TO x",
        "SELECT count(*) FROM edges",
        "ROLLBACK",
    ]),
    ("cursor directions", [
        "DECLARE c SCROLL CURSOR FOR SELECT id, label FROM nodes ORDER BY id",
        "FETCH 2 FROM c",
        "FETCH NEXT FROM c",
        "FETCH PRIOR FROM c",
        "FETCH ABSOLUTE 5 FROM c",
        "FETCH RELATIVE -2 FROM c",
        "FETCH LAST FROM c",
        "FETCH FIRST FROM c",
        "MOVE FORWARD 3 IN c",
        "FETCH FORWARD ALL FROM c",
        "FETCH c",
        "FETCH BACKWARD 2 FROM c",
        "MOVE BACKWARD ALL IN c",
        "FETCH ALL IN c",
        "CLOSE c",
        "FETCH c",
        "ROLLBACK",
    ]),
    ("cursor errors and NO SCROLL", [
        "DECLARE n NO SCROLL CURSOR FOR SELECT id FROM nodes ORDER BY id",
        "FETCH 2 FROM n",
        "FETCH PRIOR FROM n",
        "ROLLBACK",
        "DECLARE d CURSOR FOR SELECT 1",
        "DECLARE d CURSOR FOR SELECT 2",
        "ROLLBACK",
        "CLOSE nosuch",
        "ROLLBACK",
    ]),
    ("cursor WITH HOLD survives COMMIT", [
        "DECLARE h CURSOR WITH HOLD FOR SELECT id FROM nodes WHERE id > 3 ORDER BY id",
        "DECLARE w CURSOR WITHOUT HOLD FOR SELECT id FROM nodes ORDER BY id",
        "COMMIT",
        "FETCH 2 FROM h",
        "FETCH w",
        "ROLLBACK",
        "FETCH h",
        "CLOSE h",
        "COMMIT",
    ]),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """A throwaway PostgreSQL 15 cluster in a temporary directory."""

    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="ctx-pg15-")
        self.dir = os.path.join(self.base, "data")
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.started = False

    def run(self, *cmd):
        subprocess.run(self.as_user + list(cmd), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.STDOUT)

    def start(self):
        os.makedirs(self.dir)
        if self.as_user:
            shutil.chown(self.base, "postgres")
            shutil.chown(self.dir, "postgres")
        self.run(PG_BIN + "/initdb", "-D", self.dir, "-U", "postgres", "--auth=trust",
                 "--no-instructions")
        opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off" % (self.port, self.dir)
        self.run(PG_BIN + "/pg_ctl", "-D", self.dir, "-o", opts, "-l", self.dir + "/log", "-w",
                 "start")
        self.started = True

    def stop(self):
        if self.started:
            self.run(PG_BIN + "/pg_ctl", "-D", self.dir, "-m", "fast", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)

    def connect(self):
        return psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres",
                                dbname="postgres", sslmode="disable")


def normalize(value):
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def outcome(conn, sql):
    """Rows (normalized) or ('error', SQLSTATE) of one statement."""
    cur = conn.cursor()
    try:
        cur.execute(sql)
    except psycopg2.Error as e:
        return ("error", e.pgcode)
    if cur.description is None:
        return ("ok", cur.statusmessage.split()[0])
    return [tuple(normalize(v) for v in row) for row in cur.fetchall()]


def named_cursor_rows(conn, itersize, hold):
    """psycopg2 server-side cursor: DECLARE … CURSOR, then FETCH FORWARD itersize until done."""
    cur = conn.cursor("feature_cursor", withhold=hold)
    cur.itersize = itersize
    cur.execute("SELECT n.id, n.label, count(e.dst) FROM nodes n LEFT JOIN edges e "
                "ON e.src = n.id GROUP BY n.id, n.label ORDER BY n.id")
    rows = [tuple(r) for r in cur]
    cur.close()
    conn.commit()
    cur = conn.cursor("scroll_cursor", scrollable=True)
    cur.execute("SELECT id FROM nodes ORDER BY id")
    first = cur.fetchmany(3)
    cur.scroll(-2)
    again = cur.fetchone()
    cur.scroll(0, mode="absolute")
    all_rows = cur.fetchall()
    cur.close()
    conn.commit()
    return rows, first, again, all_rows


def main():
    if not os.path.exists(PG_BIN + "/initdb"):
        print("SKIP: PostgreSQL 15 is not installed")
        return 77
    ctx = psycopg2.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"],
                           user=os.environ.get("PGUSER", "test"), dbname="contextdb")
    pg_server = Postgres()
    failures = 0
    try:
        pg_server.start()
        pg = pg_server.connect()
        for sql in SCHEMA:
            pg.cursor().execute(sql)
        for conn in (ctx, pg):
            for sql in DATA:
                conn.cursor().execute(sql)
            conn.commit()
        for name, sql in QUERIES:
            ours, theirs = outcome(ctx, sql), outcome(pg, sql)
            ctx.rollback()
            pg.rollback()
            if ours != theirs:
                failures += 1
                print("FAIL %s\n  sql: %s\n  contextdb:     %r\n  postgresql 15: %r"
                      % (name, sql, ours, theirs))
            else:
                print("ok %s" % name)
        for name, statements in SCENARIOS:
            for i, sql in enumerate(statements):
                ours, theirs = outcome(ctx, sql), outcome(pg, sql)
                if ours != theirs:
                    failures += 1
                    print("FAIL %s, step %d\n  sql: %s\n  contextdb:     %r\n"
                          "  postgresql 15: %r" % (name, i + 1, sql, ours, theirs))
            ctx.rollback()
            pg.rollback()
            print("ok scenario %s" % name)
        for itersize, hold in ((2, False), (1000, True)):
            ours, theirs = named_cursor_rows(ctx, itersize, hold), named_cursor_rows(pg, itersize,
                                                                                     hold)
            if ours != theirs:
                failures += 1
                print("FAIL psycopg2 named cursor (itersize %d)\n  contextdb:     %r\n"
                      "  postgresql 15: %r" % (itersize, ours, theirs))
            else:
                print("ok psycopg2 named cursor, itersize %d%s" % (itersize,
                                                                   ", withhold" if hold else ""))
        pg.close()
    finally:
        ctx.close()
        pg_server.stop()
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
