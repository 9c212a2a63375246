#!/usr/bin/python3
"""test_sqlalchemy — SQLAlchemy 1.4 reflection (psycopg2 dialect) and pandas.read_sql_table
against ContextDB, each call compared with what PostgreSQL 15 returns for the same schema
(tests/clients/pg15.py; skipped parts when its binaries are missing).

Calls: Inspector.get_schema_names / get_table_names / get_view_names, has_table, and per table
get_columns, get_pk_constraint, get_foreign_keys, get_indexes, get_unique_constraints,
get_check_constraints, get_table_comment, Table(autoload_with=engine), pandas.read_sql_table.
vectors.embedding is `vector` here and `real[]` in PostgreSQL: that one column is compared by
name and nullability only, its values by content. Run under tests/clients/run-client.
"""
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pg15  # noqa: E402

try:
    import pandas as pd
    import sqlalchemy as sa
except ImportError as e:
    print("SKIP: %s (python3-sqlalchemy, python3-pandas)" % e)
    sys.exit(77)

warnings.filterwarnings("ignore", message="Did not recognize type 'vector'")
TABLES = ["nodes", "edges", "vectors"]


def reflect(url):
    """Every call's result (or its error) by name."""
    eng = sa.create_engine(url)
    insp = sa.inspect(eng)
    out = {}

    def call(name, f):
        try:
            out[name] = f()
        except Exception as e:  # a failing call is a result to compare, not a crash
            out[name] = "ERROR " + str(e).splitlines()[0]

    call("schemas", insp.get_schema_names)
    call("tables", lambda: sorted(insp.get_table_names()))
    call("views", insp.get_view_names)
    with eng.connect() as conn:
        call("has_table", lambda: [eng.dialect.has_table(conn, t) for t in TABLES + ["nope"]])
    for t in TABLES:
        call(t + ".columns", lambda: [(c["name"], str(c["type"]), c["nullable"], c["default"])
                                      for c in insp.get_columns(t)])
        call(t + ".pk", lambda: insp.get_pk_constraint(t))
        call(t + ".fks", lambda: sorted(insp.get_foreign_keys(t), key=lambda k: k["name"]))
        call(t + ".indexes", lambda: insp.get_indexes(t))
        call(t + ".uniques", lambda: insp.get_unique_constraints(t))
        call(t + ".checks", lambda: insp.get_check_constraints(t))
        call(t + ".comment", lambda: insp.get_table_comment(t))
        call(t + ".autoload", lambda: [(c.name, c.primary_key, c.nullable) for c in
                                       sa.Table(t, sa.MetaData(), autoload_with=eng).columns])
        call(t + ".read_sql_table",
             lambda: pd.read_sql_table(t, eng).sort_values(list(pd.read_sql_table(t, eng))[:1])
             .to_dict("records"))
    eng.dispose()
    return out


def same_except_embedding(name, ours, theirs):
    """The vectors rows compare with the embedding as numbers; its column type is not shared."""
    if name == "vectors.columns" and isinstance(ours, list) and isinstance(theirs, list):
        return ours[0] == theirs[0] and ours[1][0] == theirs[1][0] and ours[1][2] == theirs[1][2]
    if name == "vectors.read_sql_table" and isinstance(ours, list) and isinstance(theirs, list):
        return [(r["id"], [float(x) for x in r["embedding"].strip("[]").split(",")])
                for r in ours] == [(r["id"], list(r["embedding"])) for r in theirs]
    return ours == theirs


def main():
    url = "postgresql+psycopg2://test@%s:%s/contextdb" % (os.environ["PGHOST"],
                                                         os.environ["PGPORT"])
    setup = sa.create_engine(url)
    with setup.begin() as conn:
        for stmt in (pg15.ROWS.strip().rstrip(";").split(";\n") + [pg15.VECTOR_ROWS_CTX]):
            conn.exec_driver_sql(stmt)
    setup.dispose()
    ours = reflect(url)
    failed = [k for k, v in ours.items() if isinstance(v, str) and v.startswith("ERROR")]
    for k, v in ours.items():
        print("%-24s %s" % (k, repr(v)[:160]))
    if not pg15.available():
        print("PostgreSQL 15 is not installed: no comparison")
        return 1 if failed else 0
    pg = pg15.Postgres()
    try:
        pg.start()
        theirs = reflect("postgresql+psycopg2://postgres@127.0.0.1:%d/contextdb" % pg.port)
    finally:
        pg.stop()
    for k in ours:
        if not same_except_embedding(k, ours[k], theirs.get(k)):
            failed.append(k)
            print("DIFF %s\n  contextdb:  %r\n  postgresql: %r" % (k, ours[k], theirs.get(k)))
    print("sqlalchemy: %d calls, %d differ from PostgreSQL 15 or fail" % (len(ours), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
