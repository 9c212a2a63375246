#!/usr/bin/python3
"""sqlgen.py — grammar-aware random ContextQL against a real server (psycopg2).

    sqlgen.py [--statements N | --seconds S] [--seed N] [--max-depth D] [--avoid CLASS,...]
              [--json OUT] [--log PATH]

Connects with the libpq environment (PGHOST, PGPORT, PGUSER, PGDATABASE — tests/clients/run-client
sets them) and sends N random statements (default 2,000) or as many as fit in S seconds. The
generator knows every statement form of the README's ContextQL reference: INSERT/UPDATE/DELETE on
nodes, edges and vectors (ON CONFLICT, RETURNING), COPY FROM STDIN / TO STDOUT, BEGIN / COMMIT /
ROLLBACK, SELECT with joins, subqueries, set operations, WITH, VALUES, GROUP BY / HAVING /
ORDER BY / LIMIT, the graph and vector table functions, SET / SHOW / RESET, EXPLAIN [ANALYZE],
CREATE SNAPSHOT, snapshots, AS OF SNAPSHOT, VACUUM SNAPSHOTS KEEP, SHOW CLUSTER and catalog
queries. Expressions are random trees over every operator, function, cast and literal form, plus
long chains (a + a + … hundreds long) and deep nesting (up to --max-depth levels of parentheses,
NOT, CASE, function calls, subqueries).

Every statement must end in a result or an ERROR carrying a SQLSTATE; anything else — the
connection lost, a server that no longer answers `SELECT 1`, an error without SQLSTATE, a result
the client cannot decode — fails the run (exit 1) with the seed, the statement number and the
statement text, so `--seed N` replays it exactly (the statements depend only on the seed).
Classes of statements can be left out with --avoid while a crash they hit is being fixed (deep:
nesting beyond a few levels; array_subquery: ARRAY(SELECT …); vacuum_keep_huge: VACUUM SNAPSHOTS
KEEP near INT64_MAX; distinct_agg: DISTINCT aggregates; agg_types: array_agg / string_agg /
bool_and); the suite's run (tests/fuzz/meson.build) avoids nothing.
"""
import argparse
import io
import json
import os
import random
import sys
import time

try:
    import psycopg2
    import psycopg2.extensions
except ImportError:
    print("SKIP: psycopg2 not installed (Debian package python3-psycopg2)")
    sys.exit(77)

DIMS = 4
TABLE_COLS = {
    "nodes": ["id", "label", "props"],
    "edges": ["src", "dst", "kind", "weight"],
    "vectors": ["id", "embedding"],
}
KINDS = ["owns", "links", "related", "child_of", "similar_to", "other", ""]
FUNCS1 = ["lower", "upper", "length", "abs", "round", "trim", "jsonb_typeof", "vector_dims",
          "l2_norm", "md5", "quote_ident", "pg_typeof", "array_length", "unnest"]
FUNCSN = ["coalesce", "nullif", "greatest", "least", "concat", "substr", "replace", "round",
          "l2_distance", "cosine_distance", "inner_product", "cosine_similarity",
          "current_setting", "array_to_string", "format_type", "left", "right", "repeat",
          "split_part", "strpos", "position"]
FUNCS0 = ["version()", "current_database()", "current_schema()", "current_user", "now()",
          "pg_backend_pid()", "current_schemas(true)"]
AGGS = ["count(*)", "count(%s)", "count(DISTINCT %s)", "sum(%s)", "avg(%s)", "min(%s)", "max(%s)",
        "array_agg(%s)", "string_agg(%s, ',')", "bool_and(%s)"]
BINOPS = ["=", "<>", "!=", "<", "<=", ">", ">=", "AND", "OR", "+", "-", "*", "/", "%", "||",
          "->", "->>", "<->", "<=>", "<#>", "~", "!~", "~*", "!~*", "LIKE", "ILIKE", "NOT LIKE",
          "IS DISTINCT FROM", "IS NOT DISTINCT FROM", "#>", "@>", "<@", "^", "&", "|", "<<", ">>"]
TYPES = ["int8", "int4", "int2", "text", "float8", "float4", "numeric", "bool", "jsonb",
         "vector", "vector(4)", "oid", "regclass", "regtype", "name", "varchar(3)", "int8[]",
         "text[]", "date", "timestamp", "interval", "bytea", "char"]
SETTINGS = ["hnsw.ef_search", "enable_hnsw", "statement_timeout", "client_encoding",
            "application_name", "search_path", "DateStyle", "TimeZone", "extra_float_digits",
            "read_consistency", "standard_conforming_strings", "work_mem", "x.y"]
CATALOGS = ["pg_class", "pg_namespace", "pg_attribute", "pg_type", "pg_index", "pg_constraint",
            "pg_attrdef", "pg_database", "pg_roles", "pg_settings", "pg_proc", "pg_am",
            "pg_tables", "pg_stat_user_tables", "information_schema.tables",
            "information_schema.columns", "information_schema.schemata", "pg_description"]


class Gen:
    def __init__(self, rng, max_depth, avoid):
        self.r = rng
        self.max_depth = max_depth
        self.avoid = avoid

    def pick(self, xs):
        return self.r.choice(xs)

    def chance(self, p):
        return self.r.random() < p

    # ---- literals
    def int_lit(self):
        return str(self.pick([0, 1, 2, 3, 5, 7, -1, 42, 100, 2147483647, -2147483648,
                              9223372036854775807, -9223372036854775807, 10 ** 19,
                              self.r.randint(-1000, 1000)]))

    def float_lit(self):
        return self.pick(["0.5", "1e308", "-1e-308", "'NaN'::float8", "'Infinity'::float8",
                          "1.5e10", "3.14159", "-0.0", "%.3f" % self.r.uniform(-10, 10)])

    def str_lit(self):
        return self.pick(["'User'", "'Doc'", "''", "'it''s'", "E'tab\\there'", "$$dollar$$",
                          "$t$tagged$t$", "'%'", "'_x%'", "'[1,2,3,4]'", "'{\"a\":1}'",
                          "'" + "x" * self.r.randint(0, 80) + "'", "E'\\x41\\u00e9'",
                          "'ünïcødé'", "U&'\\0041'", "'{1,2,3}'", "'2024-01-01'"])

    def vec_lit(self):
        n = DIMS if self.chance(0.85) else self.r.randint(0, 6)
        vals = ",".join(self.pick(["0", "1", "-1", "0.5", "1e30", "-1e-30", "%.2f" %
                                   self.r.uniform(-2, 2)]) for _ in range(n))
        return "'[%s]'" % vals

    def json_lit(self):
        return self.pick(["'{}'", "'[]'", "'null'", "'{\"name\":\"ann\",\"age\":31}'",
                          "'{\"a\":{\"b\":[1,2,{\"c\":null}]}}'", "'[1,\"x\",true,1.5e3]'",
                          "'{\"k\":\"\\u0000\"}'", "'{bad json'", "'\"str\"'"])

    def literal(self):
        k = self.r.randint(0, 9)
        return [self.int_lit, self.float_lit, self.str_lit, self.vec_lit, self.json_lit,
                lambda: "NULL", lambda: self.pick(["true", "false"]),
                lambda: "ARRAY[%s]" % ", ".join(self.int_lit() for _ in range(self.r.randint(0, 4))),
                lambda: "'%s'::%s" % (self.pick(["1", "abc", "[1,2]", "{}", "t"]),
                                      self.pick(TYPES)),
                lambda: "$%d" % self.r.randint(1, 3) if self.chance(0.1) else "1"][k]()

    # ---- expressions
    def column(self, cols):
        return self.pick(cols) if cols else self.literal()

    def expr(self, cols, depth=0):
        if depth >= 6 or self.chance(0.25 + depth * 0.1):
            return self.column(cols) if self.chance(0.5) else self.literal()
        k = self.r.randint(0, 15)
        d = depth + 1
        if k <= 4:
            return "(%s %s %s)" % (self.expr(cols, d), self.pick(BINOPS), self.expr(cols, d))
        if k == 5:
            return "%s(%s)" % (self.pick(FUNCS1), self.expr(cols, d))
        if k == 6:
            args = ", ".join(self.expr(cols, d) for _ in range(self.r.randint(1, 3)))
            return "%s(%s)" % (self.pick(FUNCSN), args)
        if k == 7:
            return "CASE WHEN %s THEN %s ELSE %s END" % (self.expr(cols, d), self.expr(cols, d),
                                                         self.expr(cols, d))
        if k == 8:
            return self.pick(["CAST(%s AS %s)", "%s::%s"]) % (self.expr(cols, d), self.pick(TYPES))
        if k == 9:
            return "(%s %s IN (%s))" % (self.expr(cols, d), self.pick(["", "NOT"]),
                                        ", ".join(self.literal() for _ in range(self.r.randint(1, 4))))
        if k == 10:
            return "(%s IS %sNULL)" % (self.expr(cols, d), self.pick(["", "NOT "]))
        if k == 11:
            return "(%s BETWEEN %s AND %s)" % (self.expr(cols, d), self.literal(), self.literal())
        if k == 12:
            return "(SELECT %s FROM %s LIMIT 1)" % (self.pick(["id", "count(*)", "max(id)"]),
                                                    self.pick(["nodes", "vectors"]))
        if k == 13:
            return self.pick(["EXISTS (SELECT 1 FROM edges WHERE src = %s)",
                              "%s = ANY(ARRAY[1,2,3])", "%s IN (SELECT id FROM nodes)"]) % \
                self.expr(cols, d)
        if k == 14:
            if "array_subquery" not in self.avoid:
                return "ARRAY(SELECT id FROM nodes WHERE id > %s)" % self.int_lit()
            return self.pick(FUNCS0)
        return self.pick(["NOT %s", "-%s", "+%s", "(%s)"]) % self.expr(cols, d)

    def long_chain(self, cols):
        n = self.r.randint(50, 800)
        if "deep" not in self.avoid and self.chance(0.3):
            n = self.r.randint(5000, 30000)
        op = self.pick(["+", "AND", "OR", "||", "*", "-", "=", "<"])
        item = self.column(cols) if self.chance(0.5) else self.literal()
        return (" %s " % op).join([item] * n)

    def deep(self, cols):
        limit = self.max_depth if "deep" in self.avoid else max(self.max_depth, 10000)
        n = self.r.randint(1, max(1, limit))
        core = self.column(cols)
        form = self.r.randint(0, 5)
        if form == 0:
            return "(" * n + core + ")" * n
        if form == 1:
            return "NOT " * n + "(" + core + " IS NULL)"
        if form == 2:
            return "abs(" * n + "1" + ")" * n
        if form == 3:
            return "-" * (n // 2 * 2) + "1" if n > 1 else "- 1"
        if form == 4:
            return "CASE WHEN true THEN " * n + "1" + " END" * n
        if "array_subquery" not in self.avoid and self.chance(0.5):
            n = min(n, 30)
            return "ARRAY(SELECT " * n + "1" + ")" * n
        n = min(n, 200)
        return "(SELECT " * n + "1" + ")" * n

    def any_expr(self, cols):
        x = self.r.random()
        if x < 0.05:
            return self.long_chain(cols)
        if x < 0.10:
            return self.deep(cols)
        return self.expr(cols)

    # ---- statements
    def source(self):
        k = self.r.randint(0, 9)
        if k <= 2:
            t = self.pick(list(TABLE_COLS))
            return t, TABLE_COLS[t]
        if k == 3:
            return ("neighbors(%s, %s%s)" % (self.int_lit(), self.r.randint(0, 4),
                                             self.graph_opts()), ["id", "label", "depth"])
        if k == 4:
            return ("traverse(%s, %s%s)" % (self.int_lit(), self.r.randint(0, 4),
                                            self.pick(["", ", order => 'dfs'", ", order => 'bfs'",
                                                       ", order => 'x'"])),
                    ["id", "label", "depth", "parent"])
        if k == 5:
            return ("shortest_path(%s, %s%s)" % (self.int_lit(), self.int_lit(),
                                                 self.pick(["", ", max_depth => 3"])),
                    ["step", "id", "label"])
        if k == 6:
            return (self.pick(["similar(%s, %s)" % (self.int_lit(), self.r.randint(0, 10)),
                               "similar(%s, threshold => %s)" % (self.int_lit(), self.float_lit()),
                               "neighbor_stats(%s, %s)" % (self.int_lit(), self.r.randint(0, 5)),
                               "hybrid(%s, depth => %s, top_k => %s)" %
                               (self.int_lit(), self.r.randint(0, 3), self.r.randint(0, 5))]),
                    ["id"])
        if k == 7:
            return ("(SELECT id, label FROM nodes) s", ["id", "label"])
        if k == 8:
            return (self.pick(CATALOGS), [])
        return ("nodes n %s JOIN vectors v ON v.id = n.id" % self.pick(["", "LEFT", "INNER"]),
                ["n.id", "n.label", "v.embedding", "n.props"])

    def graph_opts(self):
        return self.pick(["", ", kind => 'owns'", ", direction => 'both'", ", direction => 'in'",
                          ", kind => 'links', direction => 'out'", ", direction => 'sideways'"])

    def select(self):
        src, cols = self.source()
        items = ", ".join(self.any_expr(cols) if self.chance(0.7) else self.aggregate(cols)
                          for _ in range(self.r.randint(1, 3)))
        if self.chance(0.2):
            items = "*"
        sql = "SELECT %s%s FROM %s" % (self.pick(["", "", "DISTINCT "]), items, src)
        if self.chance(0.2):
            sql += " AS OF SNAPSHOT %s" % self.pick(["1", "2", "0", "999", "-1"])
        if self.chance(0.6):
            sql += " WHERE " + self.any_expr(cols)
        if self.chance(0.2) and cols:
            sql += " GROUP BY %s" % self.column(cols)
            if self.chance(0.5):
                sql += " HAVING count(*) > %s" % self.int_lit()
        if self.chance(0.4):
            sql += " ORDER BY %s %s%s" % (self.expr(cols), self.pick(["", "ASC", "DESC"]),
                                         self.pick(["", " NULLS FIRST", " NULLS LAST"]))
        if self.chance(0.5):
            sql += " LIMIT %s" % self.pick([self.int_lit(), "ALL", "0"])
        if self.chance(0.2):
            sql += " OFFSET %s" % self.int_lit()
        return sql

    def aggregate(self, cols):
        agg = self.pick(AGGS)
        if "distinct_agg" in self.avoid and "DISTINCT" in agg:
            agg = "count(%s)"
        if "agg_types" in self.avoid and agg.split("(")[0] in ("array_agg", "string_agg",
                                                               "bool_and"):
            agg = "max(%s)"
        return agg % self.column(cols) if "%s" in agg else agg

    def vector_topk(self):
        return ("SELECT id, embedding %s %s AS d FROM vectors%s ORDER BY d LIMIT %d" %
                (self.pick(["<->", "<=>", "<#>"]), self.vec_lit(),
                 self.pick(["", " WHERE id < 4", " WHERE id IN (1, 2, 3)"]), self.r.randint(0, 20)))

    def insert(self):
        t = self.pick(list(TABLE_COLS))
        rows = []
        for _ in range(self.r.randint(1, 4)):
            if t == "nodes":
                rows.append("(%s, %s, %s)" % (self.r.randint(-2, 30), self.str_lit(),
                                              self.pick([self.json_lit(), "NULL"])))
            elif t == "edges":
                rows.append("(%s, %s, '%s', %s)" % (self.r.randint(0, 12), self.r.randint(0, 12),
                                                    self.pick(KINDS), self.float_lit()))
            else:
                rows.append("(%s, %s)" % (self.r.randint(0, 30), self.vec_lit()))
        sql = "INSERT INTO %s (%s) VALUES %s" % (t, ", ".join(TABLE_COLS[t]), ", ".join(rows))
        if self.chance(0.3):
            key = {"nodes": "id", "vectors": "id", "edges": "src, dst, kind"}[t]
            upd = {"nodes": "label = excluded.label", "vectors": "embedding = excluded.embedding",
                   "edges": "weight = excluded.weight"}[t]
            sql += self.pick([" ON CONFLICT (%s) DO NOTHING" % key,
                              " ON CONFLICT (%s) DO UPDATE SET %s" % (key, upd),
                              " ON CONFLICT DO NOTHING"])
        if self.chance(0.2):
            sql += " RETURNING " + self.pick(["*", TABLE_COLS[t][0]])
        return sql

    def update(self):
        t = self.pick(list(TABLE_COLS))
        sets = {"nodes": ["label = %s" % self.str_lit(), "props = %s" % self.json_lit(),
                          "label = upper(label)"],
                "edges": ["weight = %s" % self.float_lit(), "weight = weight * 2"],
                "vectors": ["embedding = %s" % self.vec_lit()]}[t]
        sql = "UPDATE %s SET %s" % (t, self.pick(sets))
        if self.chance(0.8):
            sql += " WHERE " + self.expr(TABLE_COLS[t])
        if self.chance(0.2):
            sql += " RETURNING *"
        return sql

    def delete(self):
        t = self.pick(list(TABLE_COLS))
        return "DELETE FROM %s WHERE %s%s" % (t, self.expr(TABLE_COLS[t]),
                                             self.pick(["", " RETURNING *"]))

    def misc(self):
        k = self.r.randint(0, 17)
        if k == 0:
            return "SET %s = %s" % (self.pick(SETTINGS), self.pick(
                ["100", "0", "off", "on", "'UTF8'", "'LATIN1'", "DEFAULT", "'x'", "-5", "1001"]))
        if k == 1:
            return "SHOW %s" % self.pick(SETTINGS + ["ALL", "TRANSACTION ISOLATION LEVEL"])
        if k == 2:
            return "RESET %s" % self.pick(SETTINGS + ["ALL"])
        if k == 3:
            return "EXPLAIN %s%s" % (self.pick(["", "ANALYZE ", "VERBOSE "]), self.select())
        if k == 4:
            return "CREATE SNAPSHOT"
        if k == 5:
            return "SELECT * FROM snapshots"
        if k == 6:
            keep = self.pick(["0", "1", "5", "-1"])
            if "vacuum_keep_huge" not in self.avoid:
                keep = self.pick([keep, "9223372036854775807", "99999999999999999999"])
            return "VACUUM SNAPSHOTS KEEP %s" % keep
        if k == 7:
            return "SHOW CLUSTER"
        if k == 8:
            return self.pick(["BEGIN", "START TRANSACTION", "COMMIT", "END", "ROLLBACK", "ABORT",
                              "BEGIN READ ONLY", "BEGIN ISOLATION LEVEL SERIALIZABLE"])
        if k == 9:
            return "%s UNION %s%s" % (self.simple_select(), self.pick(["", "ALL "]),
                                      self.simple_select())
        if k == 10:
            return "%s %s %s" % (self.simple_select(), self.pick(["INTERSECT", "EXCEPT"]),
                                 self.simple_select())
        if k == 11:
            return "WITH w AS (%s) SELECT * FROM w" % self.simple_select()
        if k == 12:
            return "VALUES (%s, %s), (%s, %s)" % (self.literal(), self.literal(), self.literal(),
                                                  self.literal())
        if k == 13:
            return "SELECT id, row_number() OVER (ORDER BY id), rank() OVER (ORDER BY label) FROM nodes"
        if k == 14:
            return "COPY %s TO STDOUT%s" % (self.pick(["nodes", "edges", "vectors",
                                                       "(SELECT id FROM nodes)"]),
                                            self.pick(["", " (FORMAT csv, HEADER)"]))
        if k == 15:
            return "SELECT %s" % self.any_expr([])
        if k == 16:
            return "%s; %s" % (self.insert(), self.select())
        return "SELECT * FROM %s LIMIT 5" % self.pick(CATALOGS)

    def simple_select(self):
        return "SELECT id FROM %s WHERE id %s %s" % (self.pick(["nodes", "vectors"]),
                                                     self.pick(["<", ">", "="]), self.int_lit())

    def copy_in(self):
        t = self.pick(list(TABLE_COLS))
        fmt = self.pick(["", " (FORMAT csv)", " (FORMAT text)", " (FORMAT csv, HEADER)",
                         " (FORMAT binary)", " (FORMAT csv, DELIMITER ';', NULL 'nil')"])
        lines = []
        for _ in range(self.r.randint(0, 5)):
            if t == "nodes":
                cells = [str(self.r.randint(0, 40)), self.pick(["User", "Doc", "", "x" * 70]),
                         self.pick(["", "\\N", '{"a":1}', "{bad"])]
            elif t == "edges":
                cells = [str(self.r.randint(0, 40)), str(self.r.randint(0, 40)),
                         self.pick(KINDS), self.pick(["1", "x", "1e400"])]
            else:
                cells = [str(self.r.randint(0, 40)), self.vec_lit().strip("'")]
            sep = ";" if "';'" in fmt else ("," if "csv" in fmt else "\t")
            if "csv" in fmt:
                cells = ['"%s"' % c.replace('"', '""') if ("," in c or '"' in c) else c
                         for c in cells]
            lines.append(sep.join(cells[:self.r.randint(1, len(cells))] if self.chance(0.1)
                                  else cells))
        if self.chance(0.1):
            lines.append(self.pick(["\\.", "garbage\x01", "\"unterminated"]))
        return "COPY %s FROM STDIN%s" % (t, fmt), "\n".join(lines) + "\n"

    def statement(self):
        x = self.r.random()
        if x < 0.30:
            return self.select(), None
        if x < 0.36:
            return self.vector_topk(), None
        if x < 0.48:
            return self.insert(), None
        if x < 0.54:
            return self.update(), None
        if x < 0.59:
            return self.delete(), None
        if x < 0.64:
            return self.copy_in()
        return self.misc(), None


FIXTURE = [
    "INSERT INTO nodes (id, label, props) VALUES (1, 'User', '{\"name\":\"ann\"}'), "
    "(2, 'Doc', NULL), (3, 'Doc', '{\"tags\":[1,2]}'), (4, 'User', '{}'), (5, 'Topic', NULL) "
    "ON CONFLICT DO NOTHING",
    "INSERT INTO edges (src, dst, kind, weight) VALUES (1, 2, 'owns', 1), (1, 3, 'owns', 2), "
    "(2, 3, 'links', 0.5), (3, 4, 'related', 1), (4, 5, 'child_of', 3), (5, 1, 'links', 1) "
    "ON CONFLICT DO NOTHING",
    "INSERT INTO vectors (id, embedding) VALUES (1, '[1,0,0,0]'), (2, '[0.9,0.1,0,0]'), "
    "(3, '[0,1,0,0]'), (4, '[0,0,1,0]'), (5, '[0.5,0.5,0.5,0.5]') ON CONFLICT DO NOTHING",
]


def connect():
    conn = psycopg2.connect(connect_timeout=10)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET statement_timeout = 5000")
    return conn


class Failure(Exception):
    pass


def run_one(conn, sql, copy_data):
    """Runs one statement; returns 'ok' or the SQLSTATE; raises Failure for anything else."""
    cur = conn.cursor()
    try:
        if copy_data is not None:
            cur.copy_expert(sql, io.StringIO(copy_data))
        elif sql.upper().startswith("COPY") and "TO STDOUT" in sql.upper():
            cur.copy_expert(sql, io.StringIO())
        else:
            cur.execute(sql)
            if cur.description is not None:
                cur.fetchall()
        return "ok"
    except psycopg2.Error as e:
        if conn.closed or isinstance(e, (psycopg2.OperationalError, psycopg2.InterfaceError)) \
                and e.pgcode is None:
            raise Failure("connection lost: %s" % str(e).strip())
        if e.pgcode is None:
            raise Failure("error without SQLSTATE: %s" % str(e).strip())
        return e.pgcode
    except (UnicodeDecodeError, ValueError) as e:
        raise Failure("client could not read the answer: %r" % e)
    finally:
        cur.close()


def alive(conn):
    try:
        if conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INERROR:
            conn.cursor().execute("ROLLBACK")
        cur = conn.cursor()
        cur.execute("SELECT 1")
        return cur.fetchone() == (1,)
    except psycopg2.Error:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--statements", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=0)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--max-depth", type=int, default=40)
    ap.add_argument("--avoid", default="")
    ap.add_argument("--json")
    ap.add_argument("--log")
    args = ap.parse_args()
    seed = args.seed
    if seed is None:
        seed = int(os.environ.get("CTX_TEST_SEED", "0")) or random.SystemRandom().randrange(1, 2**31)
    avoid = set(a for a in args.avoid.split(",") if a)
    print("sqlgen: seed %d (replay with --seed %d), avoid: %s" %
          (seed, seed, ",".join(sorted(avoid)) or "nothing"), flush=True)
    gen = Gen(random.Random(seed), args.max_depth, avoid)
    log = open(args.log, "w") if args.log else None
    conn = connect()
    for sql in FIXTURE:
        run_one(conn, sql, None)
    started = time.monotonic()
    deadline = time.monotonic() + args.seconds if args.seconds > 0 else None
    counts = {"ok": 0}
    failure = None
    n = 0
    while (n < args.statements) if deadline is None else (time.monotonic() < deadline):
        sql, copy_data = gen.statement()
        failed_block = conn.get_transaction_status() == \
            psycopg2.extensions.TRANSACTION_STATUS_INERROR
        if failed_block and gen.chance(0.7):
            sql, copy_data = "ROLLBACK", None
        n += 1
        if log:
            log.write("%d: %s\n" % (n, sql[:2000]))
            log.flush()
        try:
            outcome = run_one(conn, sql, copy_data)
        except Failure as e:
            failure = (n, sql, str(e))
            break
        counts[outcome] = counts.get(outcome, 0) + 1
        if log:
            log.write("  -> %s\n" % outcome)
        if n % 100 == 0 and not alive(conn):
            failure = (n, sql, "server stopped answering SELECT 1")
            break
    if failure is None and not alive(conn):
        failure = (n, "", "server stopped answering SELECT 1 at the end")
    errors = sum(v for k, v in counts.items() if k != "ok")
    top = sorted(((v, k) for k, v in counts.items() if k != "ok"), reverse=True)[:8]
    print("sqlgen: %d statements, %d results, %d errors (%s)" %
          (n, counts["ok"], errors, ", ".join("%s×%d" % (k, v) for v, k in top)))
    if args.json:
        with open(args.json, "w") as f:
            rate = int(n / max(time.monotonic() - started, 1e-3))
            json.dump({"target": "sqlgen", "execs": n, "exec_per_s": rate, "seed": seed,
                       "crashes": [] if failure is None else
                       ["seed %d statement %d" % (seed, failure[0])], "known": []}, f)
    if failure is not None:
        print("sqlgen: FAILED at statement %d (seed %d, replay: --seed %d --statements %d): %s\n"
              "statement (%d bytes): %s" % (failure[0], seed, seed, failure[0], failure[2],
                                            len(failure[1]), failure[1][:400]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
