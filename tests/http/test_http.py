#!/usr/bin/python3
"""test_http.py SERVER_BIN README — the HTTP API end to end, against real servers.

1. README's `http-example` block: every `curl` line runs verbatim under bash (a `curl` shell
   function only points localhost:8080 at the test server's port) on an empty server with
   vector_dimensions = 3; the JSON it prints must equal the line shown after it.
2. Every endpoint with python3-requests: successes, bad JSON, wrong types, missing fields, huge
   bodies (Content-Length and chunked), unknown ids, wrong methods and content types → the
   documented status and no crash; writes read back over pgwire (psycopg2); parameters that
   look like SQL stored verbatim; atomic batches; 16 concurrent writers.
3. Every response is validated against /api/v1/openapi.json, and every operation of that
   document is exercised.
4. /metrics parsed by python3-prometheus-client's parser.
5. Bearer token and pgwire authentication (401), logs (json format, log_file reopened on
   SIGHUP, log_min_duration_statement).
"""
import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

try:
    import psycopg2
    import requests
    from prometheus_client.parser import text_string_to_metric_families

    import httptest
    from httptest import Client, HttpServer, OpenApi
except ImportError as e:
    print("SKIP: %s (python3-requests, python3-jsonschema, python3-prometheus-client, "
          "python3-psycopg2)" % e)
    sys.exit(77)


README_BLOCKS = ("sh http-example", "sh http-auth-example")


def readme_examples(readme, block):
    """(command, expected JSON text or None) for each curl line of a README block."""
    with open(readme) as f:
        text = f.read()
    fence = "```%s\n" % block
    start = text.index(fence) + len(fence)
    lines = text[start:text.index("```", start)].splitlines()
    examples = []
    for line in lines:
        if line.startswith("curl "):
            examples.append([line, None])
        else:
            assert examples, "output before the first curl line: %r" % line
            examples[-1][1] = line
    return examples


def check_readme_covered(readme):
    """Every curl command the README shows is in a block the suite runs."""
    with open(readme) as f:
        text = f.read()
    shown = re.findall(r"(?m)^curl .*$", text) + re.findall(r"`(curl [^`]*)`", text)
    run = [c for block in README_BLOCKS for c, _ in readme_examples(readme, block)]
    missing = [c for c in shown if c not in run]
    assert not missing, "README curl examples the suite does not run: %s" % missing


class CurlResponse:
    """What OpenApi.validate reads, for a response curl printed."""

    def __init__(self, status, content_type, body):
        self.status_code = status
        self.headers = {"Content-Type": content_type}
        self.body = body

    def json(self):
        return json.loads(self.body)


def api_template(api, path):
    """The OpenAPI path template that matches a request path ("/api/v1/nodes/1" ->
    "/api/v1/nodes/{id}")."""
    path = path.split("?")[0]
    for template in api.doc["paths"]:
        if re.fullmatch(re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(template)), path):
            return template
    raise AssertionError("%s matches no path of the OpenAPI document" % path)


def run_readme(srv, readme, api, block="sh http-example"):
    """Runs the block's curl lines verbatim (a shell function points localhost:8080 at srv and
    has curl also print the status and content type), compares the JSON printed with the README's
    and validates every response against the OpenAPI document."""
    shim = ('curl() { local a=(); for x in "$@"; do a+=("${x//localhost:8080/127.0.0.1:%d}"); '
            'done; command curl -w "\\n%%{http_code} %%{content_type}" "${a[@]}"; }\n'
            % srv.http_port)
    examples = readme_examples(readme, block)
    for command, expected in examples:
        out = subprocess.run(["bash", "-c", shim + command], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, "%s: exit %d %s" % (command, out.returncode, out.stderr)
        body, _, status_line = out.stdout.rpartition("\n")
        status, _, ctype = status_line.partition(" ")
        assert body.strip(), "%s printed nothing" % command
        method = re.search(r"-X (\w+)", command)
        url = re.search(r"localhost:8080(/[^ ']*)", command).group(1)
        api.validate(method.group(1) if method else "GET", api_template(api, url),
                     CurlResponse(int(status), ctype, body))
        if expected is not None:
            got = json.loads(body)
            assert got == json.loads(expected), "%s\n got  %s\n want %s" % (command, got,
                                                                           expected)
    print("README %s: %d curl examples ok, every response valid" % (block, len(examples)))
    return len(examples)

def check_nodes(c, pg):
    cur = pg.cursor()
    tricky = "O'Reilly\"); DELETE FROM nodes; --"
    node = c.json("POST", "/api/v1/nodes", expect=201,
                  json={"id": 500, "label": tricky, "props": {"k": [1, 2], "s": "x'y"}})
    assert node == {"id": 500, "label": tricky, "props": {"k": [1, 2], "s": "x'y"}}, node
    cur.execute("SELECT label, props FROM nodes WHERE id = 500")
    assert cur.fetchall() == [(tricky, {"k": [1, 2], "s": "x'y"})]
    assert c.json("GET", "/api/v1/nodes/{id}", {"id": 500}, expect=200) == node
    errors = [
        ({"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "22P02"),
        ({"json": [1, 2]}, 400, "22023"),
        ({"json": {"label": "x"}}, 400, "22023"),
        ({"json": {"id": "7"}}, 400, "22023"),
        ({"json": {"id": 1.5}}, 400, "22023"),
        ({"json": {"id": 7, "label": 3}}, 400, "22023"),
        ({"json": {"id": 7, "props": [1]}}, 400, "22023"),
        ({"json": {"id": 7, "label": "x" * 64}}, 400, "22001"),
        ({"json": {"id": 500}}, 409, "23505"),
        ({"data": b'{"id": 7}', "headers": {"Content-Type": "text/plain"}}, 415, "0A000"),
        ({"data": b'{"id": 7}'}, 415, "0A000"),
    ]
    for kwargs, status, code in errors:
        body = c.json("POST", "/api/v1/nodes", expect=status, **kwargs)
        assert body["error"]["code"] == code, (kwargs, body)
    for bad in ["x", "1.5", "99999999999999999999", "-"]:
        body = c.json("GET", "/api/v1/nodes/{id}", {"id": bad}, expect=400)
        assert body["error"]["code"] == "22P02", body
    c.json("GET", "/api/v1/nodes/{id}", {"id": 123456}, expect=404)
    c.json("DELETE", "/api/v1/nodes/{id}", {"id": 123456}, expect=404)
    c.json("DELETE", "/api/v1/nodes/{id}", {"id": "abc"}, expect=400)
    assert c.json("DELETE", "/api/v1/nodes/{id}", {"id": 500}, expect=200) == {"id": 500,
                                                                                "deleted": True}
    cur.execute("SELECT count(*) FROM nodes WHERE id = 500")
    assert cur.fetchone()[0] == 0


def check_limits(c):
    big = b'{"id": 1, "label": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    body = c.json("POST", "/api/v1/nodes", expect=413, data=big,
                  headers={"Content-Type": "application/json"})
    assert body["error"]["code"] == "54000", body

    def chunks():
        for _ in range(128):
            yield b"x" * 65536
    body = c.json("POST", "/api/v1/batch", expect=413, data=chunks(),
                  headers={"Content-Type": "application/json"})
    assert body["error"]["code"] == "54000", body
    r = requests.put(c.server.url + "/api/v1/nodes", timeout=30)
    assert r.status_code == 405 and "POST" in r.headers.get("Allow", ""), r.headers
    r = requests.get(c.server.url + "/api/v1/nowhere", timeout=30)
    assert r.status_code == 404 and r.json()["error"]["code"] == "42P01"


def check_graph(c, pg):
    cur = pg.cursor()
    c.json("POST", "/api/v1/batch", expect=201,
           json={"nodes": [{"id": i, "label": "G%d" % i} for i in range(600, 606)],
                 "edges": [{"from": 600 + i, "to": 601 + i, "kind": "links", "weight": i}
                           for i in range(4)],
                 "vectors": [{"id": 600 + i, "dims": [1.0, float(i), 0.0]} for i in range(6)]})
    edge = c.json("POST", "/api/v1/edges", expect=201,
                  json={"from": 600, "to": 605, "kind": "owns"})
    assert edge == {"from": 600, "to": 605, "kind": "owns", "weight": 1.0}, edge
    cur.execute("SELECT weight FROM edges WHERE src = 600 AND dst = 605 AND kind = 'owns'")
    assert cur.fetchall() == [(1.0,)]
    for body, status, code in [({"from": 600, "to": 9999, "kind": "owns"}, 409, "23503"),
                               ({"from": 600, "to": 605, "kind": "owns"}, 409, "23505"),
                               ({"from": 600, "to": 605}, 400, "22023"),
                               ({"from": 600, "to": 605, "kind": "x", "weight": "1"}, 400,
                                "22023")]:
        got = c.json("POST", "/api/v1/edges", expect=status, json=body)
        assert got["error"]["code"] == code, got
    rel = c.json("GET", "/api/v1/nodes/{id}/related", {"id": 600}, expect=200,
                 params={"depth": 3, "kind": "links"})
    assert [(r["id"], r["depth"]) for r in rel["related"]] == [(601, 1), (602, 2), (603, 3)]
    rel = c.json("GET", "/api/v1/nodes/{id}/related", {"id": 602}, expect=200,
                 params={"direction": "in"})
    assert [r["id"] for r in rel["related"]] == [601]
    for params, status in [({"depth": 0}, 400), ({"depth": "x"}, 400),
                           ({"direction": "up"}, 400)]:
        c.json("GET", "/api/v1/nodes/{id}/related", {"id": 600}, expect=status, params=params)
    c.json("GET", "/api/v1/nodes/{id}/related", {"id": 99999}, expect=404)
    path = c.json("GET", "/api/v1/shortest_path", expect=200, params={"from": 600, "to": 604})
    assert path["found"] and path["hops"] == 4 and [p["id"] for p in path["path"]] == list(
        range(600, 605)), path
    path = c.json("GET", "/api/v1/shortest_path", expect=200, params={"from": 604, "to": 600})
    assert path == {"from": 604, "to": 600, "found": False, "hops": None, "path": []}, path
    c.json("GET", "/api/v1/shortest_path", expect=404, params={"from": 600, "to": 99999})
    c.json("GET", "/api/v1/shortest_path", expect=400, params={"from": 600})
    c.json("GET", "/api/v1/shortest_path", expect=400, params={"from": "a", "to": 1})


def check_vectors(c, pg):
    cur = pg.cursor()
    c.json("POST", "/api/v1/vectors", expect=201, json={"id": 700, "dims": [0.5, 0.5, 0.0]})
    cur.execute("SELECT embedding::text FROM vectors WHERE id = 700")
    assert cur.fetchone()[0].replace(" ", "") == "[0.5,0.5,0]"
    for body, status, code in [({"id": 701, "dims": [1, 2]}, 400, "22000"),
                               ({"id": 701, "dims": [1, "a", 2]}, 400, "22023"),
                               ({"id": 701, "dims": []}, 400, "22023"),
                               ({"id": 701}, 400, "22023"),
                               ({"id": 700, "dims": [1, 1, 1]}, 409, "23505")]:
        got = c.json("POST", "/api/v1/vectors", expect=status, json=body)
        assert got["error"]["code"] == code, got
    sim = c.json("GET", "/api/v1/vectors/{id}/similar", {"id": 600}, expect=200,
                 params={"k": 2})
    assert len(sim["similar"]) == 2 and sim["similar"][0]["similarity"] >= sim["similar"][1][
        "similarity"], sim
    sim = c.json("GET", "/api/v1/vectors/{id}/similar", {"id": 600}, expect=200,
                 params={"threshold": 0.99})
    assert all(s["similarity"] >= 0.99 for s in sim["similar"]), sim
    c.json("GET", "/api/v1/vectors/{id}/similar", {"id": 600}, expect=400, params={"k": 0})
    c.json("GET", "/api/v1/vectors/{id}/similar", {"id": 600}, expect=400,
           params={"threshold": "high"})
    c.json("GET", "/api/v1/vectors/{id}/similar", {"id": 98765}, expect=404)
    hy = c.json("POST", "/api/v1/query/hybrid", expect=200,
                json={"node_id": 600, "depth": 2, "top_k": 5, "kind": "links"})
    assert [r["id"] for r in hy["results"]] == [601, 602], hy
    c.json("POST", "/api/v1/query/hybrid", expect=404, json={"node_id": 99999})
    c.json("POST", "/api/v1/query/hybrid", expect=400, json={"node_id": "600"})
    c.json("POST", "/api/v1/query/hybrid", expect=400, json={"node_id": 600, "top_k": 0})


def check_batch_and_query(c, pg):
    cur = pg.cursor()
    cur.execute("SELECT count(*) FROM nodes")
    before = cur.fetchone()[0]
    bad = c.json("POST", "/api/v1/batch", expect=409,
                 json={"nodes": [{"id": 800}, {"id": 801}],
                       "edges": [{"from": 800, "to": 801, "kind": "owns"}],
                       "vectors": [{"id": 600, "dims": [1, 1, 1]}]})
    assert bad["error"]["code"] == "23505", bad
    cur.execute("SELECT count(*) FROM nodes")
    assert cur.fetchone()[0] == before, "a failed batch left rows behind"
    got = c.json("POST", "/api/v1/batch", expect=400, json={"nodes": [{"id": 802}, {"id": "x"}]})
    assert got["error"].get("item") == "nodes[1]", got
    c.json("POST", "/api/v1/batch", expect=400, json={})
    c.json("POST", "/api/v1/batch", expect=400, json={"nodes": {"id": 1}})
    q = c.json("POST", "/api/v1/query", expect=200,
               json={"sql": "SELECT $1::int8 AS i, $2::float8 AS f, $3::bool AS b, $4::text AS t,"
                            " $5::jsonb AS j, $6::text AS n",
                     "params": [42, 2.5, True, "it's", {"a": [1]}, None]})
    assert q["rows"] == [[42, 2.5, True, "it's", {"a": [1]}, None]], q
    assert [col["type"] for col in q["columns"]] == ["int8", "float8", "bool", "text", "jsonb",
                                                     "text"], q
    q = c.json("POST", "/api/v1/query", expect=200,
               json={"sql": "INSERT INTO vectors (id, embedding) VALUES ($1, $2)",
                     "params": [900, [0, 0, 1]]})
    assert q["command"] == "INSERT 0 1" and q["row_count"] == 1 and q["rows"] == [], q
    q = c.json("POST", "/api/v1/query", expect=200,
               json={"sql": "SELECT embedding FROM vectors WHERE id = 900"})
    assert q["rows"] == [[[0.0, 0.0, 1.0]]], q
    for body, status, code in [({"sql": "SELEC 1"}, 400, "42601"),
                               ({"sql": "SELECT * FROM nope"}, 400, "42P01"),
                               ({"sql": "SELECT 1/0"}, 400, "22012"),
                               ({"sql": 5}, 400, "22023"),
                               ({"sql": "SELECT $1", "params": "x"}, 400, "22023"),
                               ({"params": []}, 400, "22023")]:
        got = c.json("POST", "/api/v1/query", expect=status, json=body)
        assert got["error"]["code"] == code, (body, got)
    snap = c.json("POST", "/api/v1/snapshot", expect=201)
    cur.execute("SELECT max(id) FROM snapshots")
    assert cur.fetchone()[0] == snap["snapshot_id"], snap


def check_big_batch(c, pg):
    """100,000 statements pipelined in one request: their replies outgrow what the server buffers
    for a client that does not read, so the client must read while it sends."""
    n = 100000
    got = c.json("POST", "/api/v1/batch", expect=201,
                 json={"nodes": [{"id": 1000000 + i} for i in range(n)]})
    assert got == {"nodes": n, "edges": 0, "vectors": 0}, got
    cur = pg.cursor()
    cur.execute("SELECT count(*) FROM nodes WHERE id >= 1000000 AND id < 1100000")
    assert cur.fetchone()[0] == n
    cur.execute("DELETE FROM nodes WHERE id >= 1000000 AND id < 1100000")


def check_concurrency(c, pg):
    def post(i):
        r = requests.post(c.server.url + "/api/v1/nodes", json={"id": 10000 + i, "label": "C"},
                          timeout=120)
        return r.status_code
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(post, range(400)))
    assert statuses == [201] * 400, sorted(set(statuses))
    cur = pg.cursor()
    cur.execute("SELECT count(*) FROM nodes WHERE label = 'C'")
    assert cur.fetchone()[0] == 400


def prometheus_samples(c):
    """{(name, sorted labels): value} of one /metrics scrape, parsed by prometheus-client."""
    r = c.call("GET", "/metrics", expect=200)
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def check_index_and_fsync_metrics(c, pg):
    """HNSW searches are counted per search and the index size is the index's own; every WAL
    fsync lands in the fsync histogram."""
    before = prometheus_samples(c)
    cur = pg.cursor()
    cur.execute("SELECT count(*) FROM vectors")
    vectors = cur.fetchone()[0]
    assert before[("contextdb_hnsw_vectors", ())] == vectors, (before, vectors)
    for _ in range(3):
        c.json("GET", "/api/v1/vectors/{id}/similar", {"id": 600}, expect=200, params={"k": 2})
    cur.execute("INSERT INTO vectors (id, embedding) VALUES (987654, '[0.5, 0.5, 0.5]')")
    after = prometheus_samples(c)
    searched = after[("contextdb_hnsw_searches_total", ())] - before[
        ("contextdb_hnsw_searches_total", ())]
    assert searched == 3, searched
    assert after[("contextdb_hnsw_vectors", ())] == vectors + 1, after
    fsyncs = after[("contextdb_wal_fsync_duration_seconds_count", ())]
    assert fsyncs > before[("contextdb_wal_fsync_duration_seconds_count", ())], (fsyncs, before)
    assert after[("contextdb_wal_fsync_duration_seconds_bucket", (("le", "+Inf"),))] == fsyncs
    assert after[("contextdb_wal_fsync_duration_seconds_sum", ())] > 0
    cur.execute("DELETE FROM vectors WHERE id = 987654")
    print("metrics: %d HNSW searches counted, %d WAL fsyncs timed" % (searched, fsyncs))


def check_observability(c):
    health = c.json("GET", "/api/v1/health", expect=200)
    assert health["status"] == "ok" and health["role"] == "standalone", health
    m = c.json("GET", "/api/v1/metrics", expect=200)
    assert m["counts"]["nodes"] > 400 and m["counts"]["snapshots"] >= 1, m["counts"]
    assert c.json("GET", "/healthz", expect=200)["status"] == "alive"
    assert c.json("GET", "/readyz", expect=200)["status"] == "ready"
    c.json("GET", "/api/v1/openapi.json", expect=200)
    r = c.call("GET", "/metrics", expect=200)
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    names = {name for name, _ in samples}
    for want in ["contextdb_connections", "contextdb_statements_total",
                 "contextdb_statement_duration_seconds_bucket", "contextdb_http_requests_total",
                 "contextdb_http_request_duration_seconds_count", "contextdb_wal_bytes",
                 "contextdb_rows", "contextdb_hnsw_vectors", "contextdb_hnsw_searches_total",
                 "contextdb_wal_fsync_duration_seconds_count", "raft_term", "raft_role",
                 "process_resident_memory_bytes", "process_cpu_seconds_total",
                 "contextdb_snapshots_on_disk", "contextdb_snapshot_bytes",
                 "contextdb_snapshots_uploaded"]:
        assert want in names, want
    inserts = samples[("contextdb_statements_total", (("kind", "insert"), ("outcome", "ok")))]
    assert inserts >= 400, inserts
    posts = samples[("contextdb_http_requests_total", (("method", "POST"),
                                                       ("route", "/api/v1/nodes"),
                                                       ("status", "2xx")))]
    assert posts >= 400, posts
    assert samples[("contextdb_wal_bytes", ())] > 0
    assert samples[("contextdb_snapshots_uploaded", ())] >= 1
    assert samples[("contextdb_durability_wait_seconds_count", ())] >= 1
    assert samples[("contextdb_snapshot_bytes", ())] > 0
    assert samples[("contextdb_rows", (("table", "nodes"),))] == m["counts"]["nodes"]


def main_server(binary, readme, tmp):
    srv = HttpServer(binary, tmp, "main", ["vector_dimensions = 3",
                                           "http_body_bytes_max = 4MB"]).start()
    try:
        api = OpenApi(requests.get(srv.url + "/api/v1/openapi.json", timeout=30).json())
        check_readme_covered(readme)
        assert run_readme(srv, readme, api) >= 20
        c = Client(srv, api)
        pg = psycopg2.connect(srv.pg_dsn)
        pg.autocommit = True
        check_nodes(c, pg)
        check_limits(c)
        check_graph(c, pg)
        check_vectors(c, pg)
        check_batch_and_query(c, pg)
        check_big_batch(c, pg)
        check_concurrency(c, pg)
        check_index_and_fsync_metrics(c, pg)
        check_observability(c)
        missing = api.operations() - api.used
        assert not missing, "operations never exercised: %s" % sorted(missing)
        print("OpenAPI: %d operations exercised, every response valid" % len(api.used))
        pg.close()
    except BaseException:
        print(srv.log()[-6000:])
        raise
    srv.stop()
    return api


def auth_servers(binary, tmp, api, readme):
    secret = subprocess.run([binary, "--scram-secret", "pw"], capture_output=True, text=True,
                            check=True).stdout.strip()
    srv = HttpServer(binary, tmp, "auth", ["auth_method = scram-sha-256",
                                           "user.alice = '%s'" % secret,
                                           "http_auth_token = s3cret"]).start()
    try:
        run_readme(srv, readme, api, "sh http-auth-example")
        anon = Client(srv, api)
        assert anon.json("GET", "/api/v1/nodes/{id}", {"id": 1}, expect=401)["error"]["code"] \
            == "28000"
        assert anon.call("GET", "/metrics", expect=401).headers["WWW-Authenticate"] == "Bearer"
        anon.json("GET", "/healthz", expect=200)
        anon.json("GET", "/readyz", expect=200)
        Client(srv, api, token="wrong").json("POST", "/api/v1/nodes", expect=401, json={"id": 1})
        ok = Client(srv, api, token="s3cret")
        ok.json("POST", "/api/v1/nodes", expect=201, json={"id": 1, "label": "a"})
        assert ok.json("GET", "/api/v1/nodes/{id}", {"id": 1}, expect=200)["label"] == "a"
        pg = psycopg2.connect(srv.pg_dsn.replace("user=test", "user=alice") + " password=pw")
        cur = pg.cursor()
        cur.execute("SELECT label FROM nodes WHERE id = 1")
        assert cur.fetchall() == [("a",)]
        pg.close()
    finally:
        srv.stop()
    srv = HttpServer(binary, tmp, "auth-no-token", ["auth_method = scram-sha-256",
                                                    "user.alice = '%s'" % secret]).start()
    try:
        Client(srv, api).json("GET", "/api/v1/health", expect=401)
        Client(srv, api, token="").json("GET", "/api/v1/health", expect=401)
        assert "every HTTP API request gets 401" in srv.log()
    finally:
        srv.stop()
    print("auth: bearer token and pgwire authentication ok")


def tls_server(binary, tmp, api):
    """ssl_cert_file / ssl_key_file: the HTTP API speaks HTTPS with the pgwire certificate."""
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    os.chmod(key, 0o600)
    srv = HttpServer(binary, tmp, "tls", ["ssl_cert_file = '%s'" % cert,
                                          "ssl_key_file = '%s'" % key]).start()
    try:
        url = srv.url.replace("http://", "https://")
        r = requests.post(url + "/api/v1/nodes", json={"id": 1, "label": "tls"}, verify=cert,
                          timeout=30)
        assert r.status_code == 201, r.text
        api.validate("POST", "/api/v1/nodes", r)
        r = requests.get(url + "/api/v1/nodes/1", verify=cert, timeout=30)
        assert r.json()["label"] == "tls", r.text
        try:
            requests.get(srv.url + "/healthz", timeout=10)
            raise AssertionError("plain HTTP answered on the HTTPS port")
        except requests.RequestException:
            pass
    finally:
        srv.stop()
    print("tls: HTTPS with the pgwire certificate ok")


def log_server(binary, tmp):
    log_file = os.path.join(tmp, "logs", "contextdb.log")
    os.makedirs(os.path.dirname(log_file))
    srv = HttpServer(binary, tmp, "logs", ["log_format = json", "log_file = '%s'" % log_file,
                                           "log_min_duration_statement = 0",
                                           "log_level = debug"]).start()
    try:
        pg = psycopg2.connect(srv.pg_dsn)
        pg.autocommit = True
        pg.cursor().execute("SELECT 'before rotation'")
        requests.post(srv.url + "/api/v1/nodes", json={"id": 5, "label": "L"}, timeout=30)
        with open(log_file) as f:
            lines = [json.loads(line) for line in f]
        assert lines and all({"time", "level", "component", "pid", "message", "fields"} <= set(e)
                             for e in lines), lines[:3]
        ready = [e for e in lines if e["message"].startswith("ready:")]
        assert ready and ready[0]["fields"]["http_port"] == str(srv.http_port), ready
        http = [e for e in lines if e["message"].startswith("http: POST /api/v1/nodes")]
        assert http and http[0]["component"] == "http", http
        slow = [e["message"] for e in lines if e["message"].startswith("duration:")]
        assert any("SELECT 'before rotation'" in m for m in slow), slow
        assert any("<extended protocol execute>" in m for m in slow), slow
        os.rename(log_file, log_file + ".1")
        os.kill(srv.server.proc.pid, signal.SIGHUP)
        pg.cursor().execute("SELECT 'after rotation'")
        pg.close()
        with open(log_file) as f:
            after = [json.loads(line) for line in f]
        assert any("reopened log file" in e["message"] for e in after), after
        assert any("after rotation" in e["message"] for e in after), after
        with open(log_file + ".1") as f:
            assert "after rotation" not in f.read()
    finally:
        srv.stop()
    print("logs: json lines, slow statements, SIGHUP reopen ok")


def config_keys(binary, tmp):
    """http_port = off runs no HTTP server; a bad http_port stops the server at start-up."""
    from ctxserver import Server
    srv = Server(binary, os.path.join(tmp, "off", "data"), env={"CONTEXTDB_HTTP_PORT": "off"},
                 log_path=os.path.join(tmp, "off.log"))
    srv.start()
    status = srv.stop()
    log = open(os.path.join(tmp, "off.log")).read()
    assert status == 0 and "HTTP API on" not in log and "http_port=0" in log, log
    out = subprocess.run([binary, "--port", "0", "--data-dir", os.path.join(tmp, "bad")],
                         env=dict(os.environ, CONTEXTDB_HTTP_PORT="80x"), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1 and 'invalid value for parameter "http_port"' in out.stderr, out
    print("config: http_port = off and bad values ok")


def main():
    binary, readme = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="ctx-http-")
    try:
        api = main_server(binary, readme, tmp)
        auth_servers(binary, tmp, api, readme)
        tls_server(binary, tmp, api)
        log_server(binary, tmp)
        config_keys(binary, tmp)
    finally:
        httptest.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    print("test_http: all ok")


if __name__ == "__main__":
    main()
