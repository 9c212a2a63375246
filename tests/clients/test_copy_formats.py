#!/usr/bin/python3
"""COPY in every format real clients use, and client text that is not UTF-8.

- FORMAT binary both ways: psycopg 3's binary copy (write_row with set_types, rows read back
  typed), a hand-built binary stream through psycopg2's copy_expert (NULL fields, header
  extension, the trailer, a stream without the trailer), asyncpg's copy_records_to_table
  (binary COPY with the column types it introspects), and every error PostgreSQL gives for a bad
  stream (signature, field count, short tuple, wrong field width, OIDs flag), each leaving the
  table unchanged and the connection usable.
- Option values quoted or not: (FORMAT 'csv'), (FORMAT "csv"), HEADER 'true'; text options in
  binary mode refused with 42601.
- CSV ending in the \\. marker, as psql's inline COPY sends it.
- Text that is not UTF-8 (or holds NUL) refused with 22021 on every write path: COPY text, CSV
  and binary, a text Bind parameter, a binary Bind parameter; NaN / infinite vector elements
  refused in binary as in text. Every refused write leaves nothing behind.

Run by run-client (PGHOST/PGPORT set, vector_dimensions = 4).
"""
import asyncio
import io
import os
import struct
import sys

try:
    import psycopg
    import psycopg2
except ImportError:
    print("SKIP: python3-psycopg / python3-psycopg2 is not installed")
    sys.exit(77)

SIG = b"PGCOPY\n\xff\r\n\x00"


def connect2():
    conn = psycopg2.connect("")
    conn.autocommit = True
    return conn


def field(b):
    return struct.pack("!i", -1) if b is None else struct.pack("!i", len(b)) + b


def tup(*fields):
    return struct.pack("!h", len(fields)) + b"".join(field(f) for f in fields)


def header(flags=0, ext=b""):
    return SIG + struct.pack("!ii", flags, len(ext)) + ext


def vec(*xs):
    return struct.pack("!hh", len(xs), 0) + b"".join(struct.pack("!f", x) for x in xs)


def count(cur, table):
    cur.execute(f"SELECT count(*) FROM {table}")
    return cur.fetchone()[0]


def expect_error(cur, sql, data, sqlstate, fragment):
    try:
        cur.copy_expert(sql, io.BytesIO(data))
    except psycopg2.Error as e:
        assert e.pgcode == sqlstate, (sql, e.pgcode, e.pgerror)
        assert fragment in e.pgerror, (fragment, e.pgerror)
        return
    raise AssertionError(f"{sql} accepted {data!r}")


def test_binary_psycopg3():
    with psycopg.connect("", autocommit=True) as conn, conn.cursor() as cur:
        with cur.copy("COPY nodes (id, label, props) FROM STDIN (FORMAT binary)") as cp:
            cp.set_types(["int8", "text", "jsonb"])
            for i in range(1000, 1100):
                cp.write_row((i, f"bin{i}", psycopg.types.json.Jsonb({"i": i, "s": "é"})))
            cp.write_row((1100, "", None))
        cur.execute("SELECT count(*), min(id), max(id) FROM nodes WHERE id >= 1000")
        assert cur.fetchone() == (101, 1000, 1100)
        cur.execute("SELECT props->>'s', props->>'i' FROM nodes WHERE id = 1042")
        got = cur.fetchone()
        assert got == ("é", "1042"), got
        with cur.copy("COPY edges (src, dst, kind, weight) FROM STDIN (FORMAT binary)") as cp:
            cp.set_types(["int8", "int8", "text", "float8"])
            for i in range(1000, 1099):
                cp.write_row((i, i + 1, "next", i / 8))
        with cur.copy("COPY vectors FROM STDIN WITH (FORMAT binary)") as cp:
            cp.write(header())  # raw writes: the stream is ours, header included
            for i in range(1000, 1010):  # pgvector's binary layout, written by hand
                cp.write(tup(struct.pack("!q", i), vec(i, 1, 0, 0.5)))
        rows = []
        with cur.copy("COPY (SELECT id, label, props FROM nodes WHERE id BETWEEN 1000 AND 1002 "
                      "ORDER BY id) TO STDOUT (FORMAT binary)") as cp:
            cp.set_types(["int8", "text", "jsonb"])
            rows = list(cp.rows())
        assert [r[:2] for r in rows] == [(1000, "bin1000"), (1001, "bin1001"),
                                         (1002, "bin1002")], rows
        assert rows[1][2] == {"i": 1001, "s": "é"}, rows[1]
        with cur.copy("COPY edges TO STDOUT (FORMAT binary)") as cp:
            cp.set_types(["int8", "int8", "text", "float8"])
            edges = sorted(r for r in cp.rows() if r[0] >= 1000)
        assert len(edges) == 99 and edges[7] == (1007, 1008, "next", 1007 / 8), edges[7]
        cur.execute("SELECT embedding FROM vectors WHERE id = 1003")
        assert cur.fetchone()[0] == "[1003,1,0,0.5]"
        with cur.copy("COPY (SELECT id, embedding FROM vectors WHERE id = 1004) TO STDOUT "
                      "(FORMAT binary)") as cp:
            raw = b"".join(bytes(b) for b in cp)
        assert raw.startswith(header()) and raw.endswith(b"\xff\xff"), raw
        assert raw[19:-2] == tup(struct.pack("!q", 1004), vec(1004, 1, 0, 0.5)), raw
    print("ok binary COPY with psycopg 3 (in and out, nodes/edges/vectors)")


def test_binary_raw():
    conn = connect2()
    cur = conn.cursor()
    nodes = count(cur, "nodes")
    # header extension skipped, NULL props, no trailer at all
    data = header(ext=b"xyz") + tup(struct.pack("!q", 2000), b"a", None) + \
        tup(struct.pack("!q", 2001), b"b", b"\x01{\"k\": [1, 2]}")
    cur.copy_expert("COPY nodes FROM STDIN (FORMAT binary)", io.BytesIO(data))
    cur.execute("SELECT id, label, props FROM nodes WHERE id >= 2000 ORDER BY id")
    assert cur.fetchall() == [(2000, "a", None), (2001, "b", {"k": [1, 2]})]
    nodes += 2
    # bytes after the trailer are ignored, as after \. in text
    cur.copy_expert("COPY nodes (id) FROM STDIN (FORMAT binary)",
                    io.BytesIO(header() + tup(struct.pack("!q", 2002)) + b"\xff\xff" + b"junk"))
    nodes += 1
    assert count(cur, "nodes") == nodes
    bad = [
        (b"PGCOPY\nXX", "22P04", "signature"),
        (b"", "22P04", "signature"),
        (header(flags=1 << 16), "22P04", "WITH OIDS"),
        (header(flags=1 << 20), "22P04", "critical flags"),
        (header() + tup(struct.pack("!q", 2100), b"x"), "22P04", "row field count is 2, "
                                                                "expected 3"),
        (header() + tup(struct.pack("!q", 2100), b"x", None)[:-3], "22P04", "unexpected EOF"),
        (header() + tup(struct.pack("!i", 2100), b"x", None), "22P03",
         "incorrect binary data format"),
        (header() + tup(struct.pack("!q", 2100), b"x", b"\x02{}"), "22P03", "jsonb version"),
        (header() + tup(struct.pack("!q", 2100), b"x", b"\x01{"), "22P02", "json"),
        (header() + struct.pack("!hi", 3, -7), "22P04", "invalid field size"),
    ]
    for data, state, fragment in bad:
        expect_error(cur, "COPY nodes FROM STDIN (FORMAT binary)", data, state, fragment)
    assert count(cur, "nodes") == nodes
    vecs = count(cur, "vectors")
    for v, state, fragment in [(vec(1, 2, 3), "22000", "expected 4 dimensions, not 3"),
                               (vec(1, float("nan"), 0, 0), "22000", "NaN not allowed"),
                               (vec(1, float("inf"), 0, 0), "22000", "infinite value")]:
        expect_error(cur, "COPY vectors FROM STDIN (FORMAT binary)",
                     header() + tup(struct.pack("!q", 2100), v), state, fragment)
    assert count(cur, "vectors") == vecs
    for opt in ["HEADER", "DELIMITER ','", "NULL 'x'"]:
        try:
            cur.execute(f"COPY nodes TO STDOUT (FORMAT binary, {opt})")
            raise AssertionError(opt)
        except psycopg2.Error as e:
            assert e.pgcode == "42601" and "BINARY mode" in e.pgerror, e.pgerror
    cur.execute("SELECT 1")
    assert cur.fetchone() == (1,)
    print("ok binary COPY streams built by hand, and every bad stream refused")


def test_options_and_csv_end():
    conn = connect2()
    cur = conn.cursor()
    for i, opts in enumerate(["(FORMAT 'csv')", "(FORMAT \"csv\")", "(FORMAT 'CSV', HEADER 'true')",
                              "(FORMAT csv, HEADER 'off')"]):
        head = b"id,label\n" if "true" in opts else b""
        cur.copy_expert(f"COPY nodes (id, label) FROM STDIN {opts}",
                        io.BytesIO(head + f'{3000 + i},"a ""quoted"", value"\n'.encode()))
    cur.execute("SELECT label FROM nodes WHERE id BETWEEN 3000 AND 3003")
    assert [r[0] for r in cur.fetchall()] == ['a "quoted", value'] * 4
    # psql's inline COPY ... FROM STDIN (FORMAT csv) ends the data with \.
    cur.copy_expert("COPY nodes (id, label) FROM STDIN (FORMAT csv)",
                    io.BytesIO(b"3010,x\n3011,\"\\.\"\n\\.\n3012,after the end marker\n"))
    cur.execute("SELECT id, label FROM nodes WHERE id BETWEEN 3010 AND 3019 ORDER BY id")
    assert cur.fetchall() == [(3010, "x"), (3011, "\\.")]
    out = io.StringIO()
    cur.copy_expert("COPY (SELECT id, label FROM nodes WHERE id = 3011) TO STDOUT "
                    "(FORMAT 'csv', HEADER 'on')", out)
    assert out.getvalue() == "id,label\n3011,\\.\n", out.getvalue()
    print("ok quoted COPY option values and the CSV end marker")


def test_not_utf8():
    conn = connect2()
    cur = conn.cursor()
    before = count(cur, "nodes")
    for sql, data in [("COPY nodes (id, label) FROM STDIN", b"4000\tab\xffc\n"),
                      ("COPY nodes (id, label) FROM STDIN", b"4000\tab\\000c\n"),
                      ("COPY nodes (id, label) FROM STDIN (FORMAT csv)", b"4000,\xc3\x28\n"),
                      ("COPY edges FROM STDIN", b"1\t2\t\xed\xa0\x80\t1\n"),
                      ("COPY nodes FROM STDIN (FORMAT binary)",
                       header() + tup(struct.pack("!q", 4000), b"a\x00b", None))]:
        expect_error(cur, sql, data, "22021", "invalid byte sequence for encoding \"UTF8\"")
    assert count(cur, "nodes") == before
    raw = psycopg.connect("", autocommit=True)
    pq = raw.pgconn
    for fmt in (0, 1):  # a text and a binary Bind parameter
        res = pq.exec_params(b"SELECT $1::text", [b"ok\xff"], [25], [fmt])
        assert res.error_field(psycopg.pq.DiagnosticField.SQLSTATE) == b"22021", \
            (fmt, res.error_message)
    res = pq.exec_params(b"SELECT $1::text", ["é".encode()], [25], [1])
    assert res.get_value(0, 0) == "é".encode(), res.error_message
    res = pq.exec_params(b"SELECT $1 IS NULL", [b"\x00\xff\xfe"], [17], [1])
    assert res.get_value(0, 0) == b"f", res.error_message  # bytea keeps any byte
    res = pq.exec_params(b"INSERT INTO nodes (id, label) VALUES (4001, $1)", [b"\xc0\xaf"], [25],
                         [1])
    assert res.error_field(psycopg.pq.DiagnosticField.SQLSTATE) == b"22021", res.error_message
    raw.close()
    # the data is still readable by a strict client
    cur.execute("SELECT count(*) FROM nodes WHERE label IS NOT NULL")
    assert cur.fetchone()[0] == count(cur, "nodes")
    print("ok text that is not UTF-8 refused with 22021 on COPY and Bind")


async def asyncpg_copy():
    try:
        import asyncpg
    except ImportError:
        print("skip asyncpg (python3-asyncpg is not installed)")
        return
    conn = await asyncpg.connect(host=os.environ["PGHOST"], port=int(os.environ["PGPORT"]),
                                 user=os.environ.get("PGUSER", "test"),
                                 database=os.environ.get("PGDATABASE", "contextdb"))
    res = await conn.copy_records_to_table(
        "nodes", records=[(5000 + i, f"async{i}", '{"a": %d}' % i) for i in range(50)],
        columns=["id", "label", "props"])
    assert res == "COPY 50", res
    assert await conn.fetchval("SELECT count(*) FROM nodes WHERE id >= 5000") == 50
    await conn.copy_records_to_table("edges", records=[(5000, 5001, "k", 0.25)])
    assert await conn.fetchval("SELECT weight FROM edges WHERE src = 5000") == 0.25
    await conn.close()
    print("ok asyncpg copy_records_to_table (binary COPY)")


def main():
    test_binary_psycopg3()
    test_binary_raw()
    test_options_and_csv_end()
    test_not_utf8()
    asyncio.run(asyncpg_copy())


if __name__ == "__main__":
    main()
