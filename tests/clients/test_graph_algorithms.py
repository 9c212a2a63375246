#!/usr/bin/python3
"""test_graph_algorithms — every graph table function compared with networkx.

Seeded random graphs (isolated nodes and several components, self-loops, parallel edges of two
kinds, integer weights 0..4 so zero-weight edges and exact cost ties occur) are loaded through
psycopg2; each algorithm runs over the whole graph, one kind, and an array of kinds, and its
rows are compared with networkx on the same edges:
  pagerank ↔ nx.pagerank (weight=None: parallel edges count), connected_components ↔ weakly
  connected components, strongly_connected_components ↔ nx's, degree_centrality ↔
  nx.degree_centrality on the multigraph, betweenness_centrality ↔ nx's on the simple digraph
  (samples => n gives the exact values, samples => 5 is repeatable), triangle_count ↔
  nx.triangles and jaccard_similarity ↔ nx.jaccard_coefficient on the simple undirected graph,
  communities: a partition that is a label-propagation fixpoint inside weak components;
  shortest_path(weighted) / all_shortest_paths ↔ nx.all_shortest_paths (lexicographically first
  / the whole set, in order), k_shortest_paths ↔ nx.shortest_simple_paths' costs, in every
  direction. Negative weights are refused with 22023.
Run under tests/clients/run-client (PGHOST/PGPORT set). Skipped (77) without networkx.
"""
import itertools
import math
import os
import random
import sys

import psycopg2

try:
    import networkx as nx
except ImportError:
    print("python3-networkx is not installed: skipped")
    sys.exit(77)

FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL", what)


def close(a, b, tol=1e-7):
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def make_graph(seed):
    rng = random.Random(seed)
    n = rng.randint(12, 40)
    ids = sorted(rng.sample(range(1, 1000), n))
    edges = []
    for _ in range(rng.randint(n, 3 * n)):
        u, v = rng.choice(ids[: int(n * 0.8)]), rng.choice(ids[: int(n * 0.8)])  # tail isolated
        edges.append((u, v, rng.choice("ab"), rng.randint(0, 4)))
    for u in rng.sample(ids, 3):  # self-loops
        edges.append((u, u, "a", rng.randint(0, 4)))
    for (u, v, k, w) in rng.sample(edges, 4):  # parallel edges of the other kind
        edges.append((u, v, "b" if k == "a" else "a", rng.randint(0, 4)))
    # one row per (src, dst, kind), as the store keeps it
    uniq = {}
    for (u, v, k, w) in edges:
        uniq[(u, v, k)] = w
    return ids, [(u, v, k, w) for (u, v, k), w in sorted(uniq.items())]


def load(cur, ids, edges):
    cur.execute("DELETE FROM edges")
    cur.execute("DELETE FROM nodes")
    cur.executemany("INSERT INTO nodes (id, label) VALUES (%s, %s)", [(i, f"n{i}") for i in ids])
    cur.executemany("INSERT INTO edges (src, dst, kind, weight) VALUES (%s, %s, %s, %s)", edges)


def nx_multi(ids, edges, kinds):
    g = nx.MultiDiGraph()
    g.add_nodes_from(ids)
    for (u, v, k, w) in edges:
        if kinds is None or k in kinds:
            g.add_edge(u, v, key=k, weight=w)
    return g


def simple(g, directed):
    """Collapsed graph: one edge per pair with the least weight."""
    s = nx.DiGraph() if directed else nx.Graph()
    s.add_nodes_from(g.nodes)
    for (u, v, w) in g.edges(data="weight"):
        if not s.has_edge(u, v) or s[u][v]["weight"] > w:
            s.add_edge(u, v, weight=w)
    return s


def undirected_simple(g):
    s = nx.Graph(simple(g, False))
    s.remove_edges_from(list(nx.selfloop_edges(s)))
    return s


def rows(cur, sql, args=()):
    cur.execute(sql, args)
    return cur.fetchall()


def by_min(components):
    out = {}
    for c in components:
        m = min(c)
        for v in c:
            out[v] = m
    return out


def check_algorithms(cur, g, kind_sql, kinds, tag):
    arg = f"kind => {kind_sql}" if kind_sql else ""
    sep = ", " if arg else ""
    pr = dict(rows(cur, f"SELECT * FROM pagerank(iterations => 200{sep}{arg})"))
    want = nx.pagerank(g, alpha=0.85, weight=None, tol=1e-13, max_iter=10000)
    check(pr.keys() == want.keys() and all(close(pr[v], want[v], 1e-6) for v in want),
          f"{tag} pagerank")
    got = rows(cur, f"SELECT id, component FROM connected_components({arg})")
    check(dict(got) == by_min(nx.weakly_connected_components(g)), f"{tag} weak components")
    check([r[0] for r in got] == sorted(g.nodes), f"{tag} rows in id order")
    got = dict(rows(cur, f"SELECT * FROM strongly_connected_components({arg})"))
    check(got == by_min(nx.strongly_connected_components(g)), f"{tag} strong components")
    got = {r[0]: r[1:] for r in rows(cur, f"SELECT * FROM degree_centrality({arg})")}
    dc = nx.degree_centrality(g)
    check(all(close(got[v][0], dc[v]) and got[v][1:] == (g.in_degree(v), g.out_degree(v),
                                                           g.degree(v)) for v in g.nodes),
          f"{tag} degree_centrality")
    bc = nx.betweenness_centrality(simple(g, True))
    got = dict(rows(cur, f"SELECT * FROM betweenness_centrality({arg})"))
    check(all(close(got[v], bc[v], 1e-9) for v in g.nodes), f"{tag} betweenness exact")
    got = dict(rows(cur, f"SELECT * FROM betweenness_centrality(samples => {len(g)}{sep}{arg})"))
    check(all(close(got[v], bc[v], 1e-9) for v in g.nodes), f"{tag} betweenness samples=n")
    s1 = rows(cur, f"SELECT * FROM betweenness_centrality(samples => 5{sep}{arg})")
    s2 = rows(cur, f"SELECT * FROM betweenness_centrality(samples => 5{sep}{arg})")
    check(s1 == s2 and len(s1) == len(g), f"{tag} betweenness sampled is repeatable")
    ug = undirected_simple(g)
    got = dict(rows(cur, f"SELECT * FROM triangle_count({arg})"))
    check(got == nx.triangles(ug), f"{tag} triangle_count")
    for u in list(g.nodes)[:6]:
        got = rows(cur, f"SELECT * FROM jaccard_similarity({u}{sep}{arg})")
        want = {v: s for (_, v, s) in nx.jaccard_coefficient(ug, [(u, v) for v in ug if v != u])
                if s > 0}
        check({v: s for v, s in got}.keys() == want.keys()
              and all(close(s, want[v], 1e-12) for v, s in got)
              and got == sorted(got, key=lambda r: (-r[1], r[0])), f"{tag} jaccard {u}")
    comm = dict(rows(cur, f"SELECT * FROM communities(iterations => 1000{sep}{arg})"))
    wcc = by_min(nx.weakly_connected_components(g))
    groups = {}
    for v, c in comm.items():
        groups.setdefault(c, set()).add(v)
    ok = comm.keys() == set(g.nodes) and all(c == min(m) for c, m in groups.items())
    ok = ok and all(len({wcc[v] for v in m}) == 1 for m in groups.values())
    for v in ug.nodes:  # label propagation's fixpoint: each node has a most frequent label
        counts = {}
        for w in ug[v]:
            counts[comm[w]] = counts.get(comm[w], 0) + 1
        ok = ok and (not counts or counts.get(comm[v], 0) == max(counts.values()))
    check(ok, f"{tag} communities")


def path_cost(g, path):
    return sum(min(d["weight"] for d in g.get_edge_data(a, b).values())
               for a, b in zip(path, path[1:]))


def grouped(result):
    paths = {}
    for (p, step, node, _label) in result:
        paths.setdefault(p, []).append((step, node))
    return [[n for _, n in sorted(v)] for _, v in sorted(paths.items())]


def check_paths(cur, g, kind_sql, tag, rng):
    arg = f", kind => {kind_sql}" if kind_sql else ""
    both = nx.MultiGraph()  # every edge kept: nx.MultiGraph(g) would merge u→v and v→u of a kind
    both.add_nodes_from(g.nodes)
    both.add_edges_from((u, v, {"weight": w}) for (u, v, w) in g.edges(data="weight"))
    views = {"out": g, "in": g.reverse(copy=True), "both": both}
    nodes = sorted(g.nodes)
    for direction, view in views.items():
        for _ in range(12):
            s, t = rng.choice(nodes), rng.choice(nodes)
            d = f", direction => '{direction}'{arg}"
            for weighted in (True, False):
                w = "weight" if weighted else None
                wsql = "true" if weighted else "false"
                reach = nx.has_path(view, s, t)
                # a multigraph's parallel edges give nx the same node sequence more than once
                want = sorted({tuple(p) for p in nx.all_shortest_paths(view, s, t, weight=w)}) \
                    if reach else []
                want = [list(p) for p in want]
                got = grouped(rows(cur, f"SELECT * FROM all_shortest_paths({s}, {t}, "
                                        f"weighted => {wsql}{d})"))
                check(got == want, f"{tag} all_shortest_paths {s}->{t} {direction} w={weighted}:"
                                   f" {got} vs {want}")
                one = [r[1] for r in rows(cur, f"SELECT step, id FROM shortest_path({s}, {t}, "
                                               f"weighted => {wsql}{d})")]
                check(one == (want[0] if want else []),
                      f"{tag} shortest_path {s}->{t} {direction} w={weighted}: {one}")
                sg = simple(view, direction != "both")
                want_k = list(itertools.islice(nx.shortest_simple_paths(sg, s, t, weight=w), 5)) \
                    if reach and s != t else ([[s]] if s == t else [])
                got_k = grouped(rows(cur, f"SELECT * FROM k_shortest_paths({s}, {t}, 5, "
                                          f"weighted => {wsql}{d})"))
                cost = (lambda p: path_cost(view, p)) if weighted else (lambda p: len(p) - 1)
                check([cost(p) for p in got_k] == [cost(p) for p in want_k]
                      and len({tuple(p) for p in got_k}) == len(got_k)
                      and all(len(set(p)) == len(p) and p[0] == s and p[-1] == t for p in got_k),
                      f"{tag} k_shortest_paths {s}->{t} {direction} w={weighted}: {got_k} vs "
                      f"{want_k}")


def check_errors(cur):
    cur.execute("INSERT INTO edges (src, dst, kind, weight) VALUES (%s, %s, 'neg', -1)",
                (min_node(cur), max_node(cur)))
    for sql in ("SELECT * FROM shortest_path(%s, %s, weighted => true)",
                "SELECT * FROM k_shortest_paths(%s, %s, 2, weighted => true)",
                "SELECT * FROM all_shortest_paths(%s, %s, weighted => true)"):
        try:
            cur.execute(sql, (min_node(cur), max_node(cur)))
            check(False, f"negative weight accepted: {sql}")
        except psycopg2.Error as e:
            check(e.pgcode == "22023", f"negative weight error {e.pgcode}")
    cur.execute("SELECT * FROM shortest_path(%s, %s, weighted => true, kind => 'a')",
                (min_node(cur), max_node(cur)))
    cur.execute("SELECT * FROM k_shortest_paths(%s, %s, 2, kind => 'neg')",
                (min_node(cur), max_node(cur)))
    check(len(cur.fetchall()) == 2, "unweighted paths ignore weights")
    for sql, code in (("SELECT * FROM pagerank(damping => 1.5)", "22023"),
                      ("SELECT * FROM k_shortest_paths(1, 2, 0)", "22023"),
                      ("SELECT * FROM betweenness_centrality(samples => 0)", "22023"),
                      ("SELECT * FROM shortest_path(1, 2, 3, weighted => true)", "22023")):
        try:
            cur.execute(sql)
            check(False, f"accepted: {sql}")
        except psycopg2.Error as e:
            check(e.pgcode == code, f"{sql}: {e.pgcode}")


def min_node(cur):
    cur.execute("SELECT min(id) FROM nodes")
    return cur.fetchone()[0]


def max_node(cur):
    cur.execute("SELECT max(id) FROM nodes")
    return cur.fetchone()[0]


def main():
    conn = psycopg2.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], user="test",
                            dbname="contextdb")
    conn.autocommit = True
    cur = conn.cursor()
    for seed in range(8):
        ids, edges = make_graph(seed)
        load(cur, ids, edges)
        rng = random.Random(seed)
        for kind_sql, kinds in ((None, None), ("'a'", {"a"}), ("ARRAY['a','b']", {"a", "b"}),
                                ("'{b}'", {"b"})):
            g = nx_multi(ids, edges, kinds)
            tag = f"seed {seed} kind {kind_sql}"
            check_algorithms(cur, g, kind_sql, kinds, tag)
            check_paths(cur, g, kind_sql, tag, rng)
    check_errors(cur)
    print(f"graph algorithms: {len(FAILS)} failures")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
