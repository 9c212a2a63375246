#!/usr/bin/python3
"""asyncpg against contextdb: its startup packet (client_encoding 'utf-8', with the quotes),
the extended protocol with binary parameters and results, a prepared statement reused with
different parameters, a transaction that commits and one that rolls back, an error with its
SQLSTATE, and a cancelled statement (asyncpg's timeout sends a CancelRequest).

Run by run-client (PGHOST/PGPORT set, vector_dimensions = 4).
"""
import asyncio
import os
import sys

try:
    import asyncpg
except ImportError:
    print("SKIP: python3-asyncpg is not installed")
    sys.exit(77)


async def connect(**kw):
    return await asyncpg.connect(host=os.environ["PGHOST"], port=int(os.environ["PGPORT"]),
                                 user=os.environ.get("PGUSER", "test"),
                                 database=os.environ.get("PGDATABASE", "contextdb"), **kw)


async def main():
    conn = await connect()
    assert await conn.fetchval("SELECT 1") == 1
    assert await conn.fetchval("SHOW client_encoding") == "UTF8"
    print("ok connect")

    insert = await conn.prepare("INSERT INTO nodes (id, label) VALUES ($1, $2)")
    for i in range(1, 6):
        await insert.fetch(i, f"L{i}")
    select = await conn.prepare("SELECT id, label FROM nodes WHERE id >= $1 ORDER BY id")
    rows = await select.fetch(3)
    assert [(r["id"], r["label"]) for r in rows] == [(3, "L3"), (4, "L4"), (5, "L5")], rows
    assert [r["id"] for r in await select.fetch(5)] == [5]
    assert await conn.fetchval("SELECT label FROM nodes WHERE id = $1", 2) == "L2"
    assert await conn.fetchval("SELECT $1::float8 * 2", 1.25) == 2.5
    print("ok prepared statements with parameters")

    async with conn.transaction():
        await conn.execute("INSERT INTO nodes (id, label) VALUES ($1, $2)", 10, "tx")
        assert await conn.fetchval("SELECT count(*) FROM nodes WHERE id = 10") == 1
    assert await conn.fetchval("SELECT label FROM nodes WHERE id = $1", 10) == "tx"
    try:
        async with conn.transaction():
            await conn.execute("INSERT INTO nodes (id, label) VALUES ($1, $2)", 11, "gone")
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert await conn.fetchval("SELECT count(*) FROM nodes WHERE id = 11") == 0
    print("ok transactions")

    try:
        await conn.execute("INSERT INTO nodes (id, label) VALUES (1, 'dup')")
        raise AssertionError("duplicate id accepted")
    except asyncpg.UniqueViolationError as e:
        assert e.sqlstate == "23505"
    assert await conn.fetchval("SELECT 2") == 2
    print("ok error with SQLSTATE")

    try:
        await conn.fetchval("SELECT pg_sleep(30)", timeout=0.5)
        raise AssertionError("not cancelled")
    except asyncio.TimeoutError:
        pass
    assert await conn.fetchval("SELECT 3") == 3
    print("ok timeout cancels the statement")
    await conn.close()

    settings = await connect(server_settings={"application_name": "asyncpg-test",
                                              "statement_timeout": "5s"})
    assert await settings.fetchval("SHOW application_name") == "asyncpg-test"
    assert await settings.fetchval("SHOW statement_timeout") == "5s"
    await settings.close()
    try:
        await connect(server_settings={"statement_timeout": "soon"})
        raise AssertionError("bad startup setting accepted")
    except asyncpg.InvalidParameterValueError as e:
        assert 'invalid value for parameter "statement_timeout": "soon"' in str(e), str(e)
    print("ok startup settings")

    conn = await connect()
    # asyncpg's type introspection (a WITH RECURSIVE query with array_agg(… ORDER BY …), bound
    # with a binary oid[] parameter), here in its PostgreSQL 13 form; the form asyncpg sends to a
    # server reporting 15 also reads pg_range.rngmultitypid
    from asyncpg import introspection
    oid = await conn.fetchval("SELECT oid FROM pg_type WHERE typname = 'vector'")
    rows = await conn.fetch(introspection.INTRO_LOOKUP_TYPES_13, [oid])
    assert [(r["oid"], r["name"], r["kind"], r["depth"]) for r in rows] == \
        [(oid, "vector", b"b", 0)], rows
    assert await conn.fetchval("SELECT 7 = any($1::oid[])", [7, 8]) is True
    # a vector column: asyncpg introspects the type (the query above, in its 14+ form) and reads
    # it as text
    await conn.execute("INSERT INTO vectors (id, embedding) VALUES (90, '[1,2,3,4]')")
    assert await conn.fetchval("SELECT embedding FROM vectors WHERE id = 90") == "[1,2,3,4]"
    # nested transactions are savepoints
    async with conn.transaction():
        await conn.execute("INSERT INTO nodes (id, label) VALUES (70, 'outer')")
        try:
            async with conn.transaction():
                await conn.execute("INSERT INTO nodes (id, label) VALUES (70, 'dup')")
        except asyncpg.UniqueViolationError:
            pass
        await conn.execute("INSERT INTO nodes (id, label) VALUES (71, 'after')")
    assert await conn.fetchval("SELECT string_agg(label, ',' ORDER BY id) FROM nodes "
                               "WHERE id >= 70") == "outer,after"
    await conn.close()
    print("ok type introspection query, binary oid[] parameter, nested transactions")


if __name__ == "__main__":
    asyncio.run(main())
