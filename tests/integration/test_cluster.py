"""A three-member cluster of real servers on loopback: replication, forwarding, the read barrier,
the commit timeout and SHOW CLUSTER, with psycopg2 (simple protocol) and asyncpg (extended), and
the HTTP API on a follower (writes forwarded to the leader; every response validated against the
OpenAPI document).

Usage: test_cluster.py CONTEXTDB_BINARY   (run by meson as integration_cluster)
"""
import asyncio
import os
import shutil
import signal
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "http"))
import psycopg2  # noqa: E402
import requests  # noqa: E402
from ctxserver import Server  # noqa: E402
from httptest import HTTP_RE, Client, OpenApi  # noqa: E402

BIN = sys.argv[1]
FAILURES = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Cluster:
    def __init__(self, root, n=3, extra=None):
        self.raft = free_ports(n)
        nodes = ",".join("%d=127.0.0.1:%d" % (i + 1, p) for i, p in enumerate(self.raft))
        self.servers = []
        for i in range(n):
            env = {"CONTEXTDB_NODE_ID": str(i + 1), "CONTEXTDB_CLUSTER_NODES": nodes,
                   "CONTEXTDB_CLUSTER_SECRET": "test-secret"}
            env.update(extra or {})
            os.makedirs(root, exist_ok=True)
            self.servers.append(Server(BIN, os.path.join(root, "n%d" % (i + 1)), env=env))
        for s in self.servers:
            s.start()

    def connect(self, i, autocommit=True):
        c = psycopg2.connect(host="127.0.0.1", port=self.servers[i].port, user="t", dbname="t",
                             connect_timeout=5)
        c.autocommit = autocommit
        return c

    def query(self, i, sql, local=False):
        c = self.connect(i)
        cur = c.cursor()
        if local:
            cur.execute("SET read_consistency = 'local'")
        cur.execute(sql)
        rows = cur.fetchall() if cur.description else None
        c.close()
        return rows

    def leader(self, timeout_s=10):
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            for i, s in enumerate(self.servers):
                if s.proc is None:
                    continue
                try:
                    rows = self.query(i, "SELECT id FROM cluster_members WHERE is_self AND "
                                         "role = 'leader'", local=True)
                    if rows:
                        return i
                except psycopg2.Error:
                    pass
            time.sleep(0.05)
        raise RuntimeError("no leader")

    def http_url(self, i):
        """The HTTP API of member i (started with CONTEXTDB_HTTP_PORT=0), from its log."""
        with open(self.servers[i].log_path, "rb") as f:
            ports = HTTP_RE.findall(f.read())
        assert ports, "member %d runs no HTTP API" % (i + 1)
        return "http://127.0.0.1:%d" % int(ports[-1])

    def stop(self):
        for s in self.servers:
            if s.proc is not None and s.proc.poll() is None:
                os.kill(s.proc.pid, signal.SIGCONT)
            s.stop()


def test_replication_and_forwarding(cl):
    leader = cl.leader()
    followers = [i for i in range(3) if i != leader]
    cl.query(leader, "INSERT INTO nodes VALUES (1, 'on-leader', '{}')")
    for i in range(3):  # linearizable reads: every member sees the acknowledged write at once
        check(cl.query(i, "SELECT label FROM nodes WHERE id = 1") == [("on-leader",)],
              "member %d reads the leader's write" % (i + 1))
    f = followers[0]
    rows = cl.query(f, "INSERT INTO nodes VALUES (2, 'via-follower', '{}') RETURNING id")
    check(rows == [(2,)], "a write on a follower is forwarded and returns its rows")
    for i in range(3):
        check(cl.query(i, "SELECT count(*) FROM nodes") == [(2,)],
              "member %d reads the forwarded write" % (i + 1))
    c = cl.connect(f, autocommit=False)  # a transaction block with reads before the write
    cur = c.cursor()
    cur.execute("SELECT count(*) FROM nodes")
    cur.execute("INSERT INTO nodes VALUES (3, 'txn', '{}')")
    cur.execute("SELECT count(*) FROM nodes")
    check(cur.fetchall() == [(3,)], "a forwarded transaction reads its own write")
    c.commit()
    c.close()
    check(cl.query(followers[1], "SELECT count(*) FROM nodes") == [(3,)],
          "the forwarded transaction committed on every member")
    c = cl.connect(f)
    cur = c.cursor()
    cur.execute("SET follower_writes = 'reject'")
    try:
        cur.execute("INSERT INTO nodes VALUES (4, 'x', '{}')")
        check(False, "follower_writes = reject refuses a write")
    except psycopg2.Error as e:
        check(e.pgcode == "25006", "follower_writes = reject refuses a write with 25006")
        check("leader is node %d" % (leader + 1) in (e.diag.message_detail or ""),
              "the 25006 detail names the leader")
    c.close()


async def asyncpg_on_follower(port):
    import asyncpg
    c = await asyncpg.connect(host="127.0.0.1", port=port, user="t", database="t")
    stmt = await c.prepare("SELECT count(*) FROM nodes WHERE id >= $1")
    before = await stmt.fetchval(0)
    await c.execute("INSERT INTO nodes VALUES ($1, 'asyncpg', '{}')", 100)
    rows = await c.fetch("INSERT INTO nodes VALUES ($1, 'asyncpg', '{}') RETURNING id", 101)
    after = await stmt.fetchval(0)  # the named statement was replayed on the leader
    async with c.transaction():
        await c.execute("INSERT INTO nodes VALUES ($1, 'asyncpg', '{}')", 102)
    total = await c.fetchval("SELECT count(*) FROM nodes WHERE label = 'asyncpg'")
    await c.close()
    return before, [r["id"] for r in rows], after, total


def test_asyncpg_forwarding(cl):
    leader = cl.leader()
    f = [i for i in range(3) if i != leader][1]
    before, ids, after, total = asyncio.run(asyncpg_on_follower(cl.servers[f].port))
    check(ids == [101] and after == before + 2 and total == 3,
          "asyncpg's prepared statements and transactions work through forwarding "
          "(%r %r %r %r)" % (before, ids, after, total))


def test_show_cluster(cl):
    leader = cl.leader()
    rows = cl.query(leader, "SHOW CLUSTER")
    check(len(rows) == 3 and [r[0] for r in rows] == [1, 2, 3], "SHOW CLUSTER lists 3 members")
    me = [r for r in rows if r[9]]
    check(len(me) == 1 and me[0][3] == "leader" and me[0][0] == leader + 1,
          "SHOW CLUSTER on the leader marks itself leader")
    check(all(r[2] for r in rows), "every member's pgwire address is known on the leader")
    check(all(r[8] is not None and r[8] >= 0 for r in rows), "the leader reports every lag")


class Member:
    def __init__(self, url):
        self.url = url


def test_http_on_follower(cl):
    """HTTP writes on a follower take the same path as SQL: forwarded to the leader, committed
    through Raft, visible on every member; errors keep their status."""
    leader = cl.leader()
    f = [i for i in range(3) if i != leader][0]
    api = OpenApi(requests.get(cl.http_url(f) + "/api/v1/openapi.json", timeout=30).json())
    c = Client(Member(cl.http_url(f)), api)
    health = c.json("GET", "/api/v1/health", expect=200)
    check(health["role"] == "follower" and
          health["leader"] == "127.0.0.1:%d" % cl.servers[leader].port,
          "a follower's /health names its role and the leader's address (%r)" % health)
    node = c.json("POST", "/api/v1/nodes", expect=201,
                  json={"id": 500, "label": "HttpFollower", "props": {"via": "http"}})
    check(node["id"] == 500, "POST /nodes on a follower is forwarded and answers 201")
    c.json("POST", "/api/v1/batch", expect=201,
           json={"nodes": [{"id": 501, "label": "HttpBatch"}, {"id": 502, "label": "HttpBatch"}],
                 "edges": [{"from": 500, "to": 501, "kind": "http"}]})
    c.json("POST", "/api/v1/edges", expect=201,
           json={"from": 501, "to": 502, "kind": "http", "weight": 0.5})
    c.json("POST", "/api/v1/query", expect=200,
           json={"sql": "UPDATE nodes SET label = $1 WHERE id = $2", "params": ["Updated", 502]})
    c.json("POST", "/api/v1/nodes", expect=409, json={"id": 500, "label": "Again"})
    c.json("DELETE", "/api/v1/nodes/{id}", {"id": 501}, expect=200)
    want = [(500, "HttpFollower"), (502, "Updated")]
    edges_sql = "SELECT src, dst FROM edges WHERE kind = 'http' ORDER BY src, dst"
    on_leader = cl.query(leader, edges_sql)
    for i in range(3):
        rows = cl.query(i, "SELECT id, label FROM nodes WHERE id BETWEEN 500 AND 502 ORDER BY id")
        check(rows == want, "member %d reads the follower's HTTP writes (%r)" % (i + 1, rows))
        check(cl.query(i, edges_sql) == on_leader,
              "member %d has the leader's edges after the HTTP writes (%r)" % (i + 1, on_leader))
    got = c.json("GET", "/api/v1/nodes/{id}", {"id": 500}, expect=200)
    check(got["props"] == {"via": "http"}, "the follower reads the write back over HTTP")
    print("HTTP on a follower: %d operations, every response valid" % len(api.used))


def test_commit_timeout(root):
    """A leader that lost its quorum answers 40003 (outcome unknown), not a hang."""
    cl = Cluster(os.path.join(root, "timeout"), extra={"CONTEXTDB_CLUSTER_COMMIT_TIMEOUT": "1s"})
    try:
        leader = cl.leader()
        c = cl.connect(leader)
        cur = c.cursor()
        cur.execute("SET read_consistency = 'local'")  # the barrier would also wait
        for i, s in enumerate(cl.servers):
            if i != leader:
                os.kill(s.proc.pid, signal.SIGSTOP)
        t0 = time.time()
        try:
            cur.execute("INSERT INTO nodes VALUES (7, 'x', '{}')")
            check(False, "a write without a quorum fails")
        except psycopg2.Error as e:
            check(e.pgcode in ("40003", "57P03", "25006", "40001"),
                  "a write without a quorum fails with %s (%s)" % (e.pgcode, e.pgerror.strip()))
        check(time.time() - t0 < 15, "and within the commit timeout")
        c.close()
        for i, s in enumerate(cl.servers):
            if i != leader:
                os.kill(s.proc.pid, signal.SIGCONT)
        leader = cl.leader()
        rows = cl.query(leader, "SELECT count(*) FROM nodes WHERE id = 7")
        check(rows[0][0] in (0, 1), "after the partition heals the cluster answers again")
        counts = {cl.query(i, "SELECT count(*) FROM nodes")[0][0] for i in range(3)}
        check(len(counts) == 1, "and all members agree (%r)" % counts)
    finally:
        cl.stop()


def main():
    root = tempfile.mkdtemp(prefix="ctx-cluster-")
    cl = Cluster(os.path.join(root, "main"), extra={"CONTEXTDB_HTTP_PORT": "0"})
    try:
        test_replication_and_forwarding(cl)
        test_asyncpg_forwarding(cl)
        test_show_cluster(cl)
        test_http_on_follower(cl)
    finally:
        cl.stop()
    test_commit_timeout(root)
    if not FAILURES:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print("logs kept in", root)
    print("%d failed" % len(FAILURES))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
