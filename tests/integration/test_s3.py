"""test_s3.py -- snapshots to S3 and back, against a real S3 implementation (s3rver from npm,
installed by tools/test from package-lock.json) with signature checking on. s3rver 3.7 checks
that the access key exists but does not recompute V4 signatures; our SigV4 is checked against
AWS's published examples in tests/unit/test_objstore.c.

Story, one server process per step, all on free loopback ports, every process stopped by PID:
  1. upload: server A (s3_multipart_bytes = 5MB) loads nodes, edges and vectors and takes a
     snapshot; `snapshots` says uploaded with upload_bytes; the vector and index files went up
     as multipart uploads in parts (s3rver's request log), the small files as one PUT.
  2. other clients read what we wrote: Debian's awscli lists and copies the objects, the
     metadata JSON parses and names every file with its size; boto3 downloads every object and
     it equals the local file byte for byte.
  3. restore: server B starts on an empty data directory, restores the newest snapshot from S3,
     loads the HNSW index from the file (not rebuilt) and returns every row A returns.
  4. point in time: A takes snapshot 2; server C with --restore-snapshot 1 serves snapshot 1;
     server D restores snapshot 2 and reads AS OF SNAPSHOT 1, which only S3 holds (fetched by
     its uploader thread while the first statement asking waits), exactly as A's local copy.
  5. fault: s3rver is stopped, A takes snapshot 3: CREATE SNAPSHOT returns, queries keep being
     answered, the upload retries (logged) and completes once s3rver is back on the same port.
     Meanwhile server D2 (restored to snapshot 2) is asked AS OF SNAPSHOT 1: the statement
     waits, ends with 57014 at statement_timeout or on a CancelRequest, and D2 serves other
     sessions throughout; with s3rver back the query is answered.
  6. VACUUM SNAPSHOTS KEEP 1 deletes snapshots 1 and 2 in S3 too; snapshot 3 stays whole.
  7. interrupted upload: with s3rver down, A takes snapshot 4 and is stopped mid-retry; restarted
     with s3rver back, it finds snapshot 4 missing from the store and uploads it.
  8. a listing longer than one page: the store under another prefix holds 1,100 other keys that
     sort before snapshot 4's metadata; a restore follows the continuation token to find it.
  9. bad credentials: an empty data directory refuses to start with S3's InvalidAccessKeyId in
     the log; a server with local data starts, and its upload fails with that error in the log
     and in snapshots.upload_error.
Exit 77 (meson: SKIP) when s3rver, awscli or boto3 is not installed.
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SERVER = os.environ.get("CTX_SERVER_BIN", "build/server/contextdb")
S3RVER = os.environ.get("S3RVER_BIN", "node_modules/.bin/s3rver")
AWS = "/usr/bin/aws"
KEY_ID, SECRET, BUCKET, PREFIX = "S3RVER", "S3RVER", "snaps", "db/one"
NODES, EDGES, VECTORS, DIMS = 12000, 24000, 12000, 128

try:
    import boto3
    import psycopg2
except ImportError as e:
    print(f"SKIP: {e}")
    sys.exit(77)
if not os.path.exists(S3RVER) or not os.path.exists(AWS):
    print(f"SKIP: {S3RVER} or {AWS} missing (tools/test installs them: npm ci, apt-get awscli)")
    sys.exit(77)

WORK = tempfile.mkdtemp(prefix="ctx-s3-")
PROCS = []


def step(text):
    print(f"--- {text}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port} after {timeout_s}s")


def stop(proc):
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


class S3rver:
    def __init__(self):
        self.port = free_port()
        self.dir = os.path.join(WORK, "s3rver")
        self.proc = None

    def start(self):
        log = open(os.path.join(WORK, "s3rver.log"), "a")
        self.proc = subprocess.Popen(
            [S3RVER, "-d", self.dir, "-a", "127.0.0.1", "-p", str(self.port),
             "--configure-bucket", BUCKET, "--no-vhost-buckets"],
            stdout=log, stderr=subprocess.STDOUT,
            # s3rver's continuation tokens use DES, which OpenSSL 3 keeps in its legacy provider
            env=dict(os.environ, NODE_OPTIONS="--openssl-legacy-provider"))
        PROCS.append(self.proc)
        assert wait_port(self.port, self.proc), "s3rver exited"

    def stop(self):
        stop(self.proc)

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"


class Server:
    def __init__(self, name, s3, key_id=KEY_ID, extra=(), prefix=PREFIX):
        self.name = name
        self.dir = os.path.join(WORK, name)
        self.log = os.path.join(WORK, name + ".log")
        self.conf = os.path.join(WORK, name + ".conf")
        self.port = free_port()
        self.extra = list(extra)
        with open(self.conf, "w") as f:
            f.write(f"vector_dimensions = {DIMS}\nhnsw_ef_construction = 32\n"
                    "snapshot_interval_records = 0\n"
                    f"s3_bucket = {BUCKET}\ns3_prefix = {prefix}\n"
                    f"s3_endpoint = {s3.endpoint}\ns3_access_key_id = {key_id}\n"
                    f"s3_secret_access_key = {SECRET}\ns3_multipart_bytes = 5MB\n")

    def start(self, expect_ready=True):
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [SERVER, "--config", self.conf, "--data-dir", self.dir, "--port", str(self.port)]
                + self.extra, stdout=log, stderr=subprocess.STDOUT,
                env=dict(os.environ, CONTEXTDB_HTTP_PORT="off"))
        PROCS.append(self.proc)
        ready = wait_port(self.port, self.proc, timeout_s=120)
        assert ready == expect_ready, f"{self.name}: ready={ready}\n{self.log_text()}"
        if ready:
            self.conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres",
                                         dbname="postgres")
            self.conn.autocommit = True
        return self

    def stop(self):
        stop(self.proc)

    def log_text(self):
        with open(self.log) as f:
            return f.read()

    def query(self, sql, conn=None):
        with (conn or self.conn).cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else None

    def value(self, sql):
        return self.query(sql)[0][0]

    def snapshot(self, sid):
        rows = self.query("SELECT id, uploaded, upload_bytes, upload_error, bytes FROM snapshots "
                          f"WHERE id = {sid}")
        assert len(rows) == 1, rows
        return rows[0]

    def wait_uploaded(self, sid, timeout_s=120):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            row = self.snapshot(sid)
            if row[1] or row[3] is not None:
                return row
            time.sleep(0.2)
        raise AssertionError(f"snapshot {sid} not uploaded after {timeout_s}s")

    def all_rows(self):
        return (self.query("SELECT id, label, props FROM nodes ORDER BY id"),
                self.query("SELECT src, dst, kind, weight FROM edges ORDER BY src, dst, kind"),
                self.query("SELECT id, embedding FROM vectors ORDER BY id"))


def load(server):
    rnd = random.Random(13)
    kinds = ["owns", "links", "related"]
    for lo in range(1, NODES + 1, 2000):
        rows = ",".join(f"({i}, 'L{i % 7}', '{{\"n\": {i}, \"s\": \"x{rnd.random():.6f}\"}}')"
                        for i in range(lo, min(lo + 2000, NODES + 1)))
        server.query(f"INSERT INTO nodes (id, label, props) VALUES {rows}")
    edges = set()
    while len(edges) < EDGES:
        edges.add((rnd.randint(1, NODES), rnd.randint(1, NODES), rnd.choice(kinds)))
    edges = sorted(edges)
    for lo in range(0, EDGES, 4000):
        rows = ",".join(f"({s}, {d}, '{k}', {rnd.random():.4f})" for s, d, k in
                        edges[lo:lo + 4000])
        server.query(f"INSERT INTO edges (src, dst, kind, weight) VALUES {rows}")
    for lo in range(1, VECTORS + 1, 500):
        rows = ",".join("({}, '[{}]')".format(i, ",".join(f"{rnd.gauss(0, 1):.5f}"
                                                          for _ in range(DIMS)))
                        for i in range(lo, min(lo + 500, VECTORS + 1)))
        server.query(f"INSERT INTO vectors (id, embedding) VALUES {rows}")


def s3_client(s3):
    return boto3.client("s3", endpoint_url=s3.endpoint, aws_access_key_id=KEY_ID,
                        aws_secret_access_key=SECRET, region_name="us-east-1")


def s3_keys(s3):
    out = {}
    for page in s3_client(s3).get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=PREFIX + "/", PaginationConfig={"PageSize": 3}):
        for o in page.get("Contents", []):
            out[o["Key"][len(PREFIX) + 1:]] = o
    return out


def aws(s3, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null")
    return subprocess.run([AWS, "--endpoint-url", s3.endpoint, "s3", *args], env=env,
                          check=True, capture_output=True, text=True).stdout


def test_upload(s3, a):
    step("1. upload: load A, CREATE SNAPSHOT, uploaded with upload_bytes, multipart for big files")
    load(a)
    assert a.value("CREATE SNAPSHOT") == 1
    sid, uploaded, upload_bytes, error, _ = a.wait_uploaded(1)
    assert uploaded and error is None, (uploaded, error)
    local = os.path.join(a.dir, "snapshots")
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(local) for f in fs)
    assert upload_bytes == total, (upload_bytes, total)
    assert "upload to s3://snaps/db/one complete" in a.log_text()
    with open(os.path.join(WORK, "s3rver.log")) as f:  # s3rver's request log
        requests = f.read()
    for key in ("vectors/vec-000001-0.col", "hnsw/hnsw-000001-0.idx"):
        assert f"{key}?uploads=" in requests and f"{key}?partNumber=2&" in requests, key
    assert "nodes/nodes-000001-0.col?uploads=" not in requests  # small: one PUT


def test_other_clients(s3, a):
    step("2. awscli lists and copies, the metadata parses; boto3 downloads every object intact")
    listing = aws(s3, "ls", "--recursive", f"s3://{BUCKET}/{PREFIX}/")
    assert "metadata/snapshot-000001.json" in listing and "metadata/current" in listing, listing
    target = os.path.join(WORK, "meta.json")
    aws(s3, "cp", f"s3://{BUCKET}/{PREFIX}/metadata/snapshot-000001.json", target)
    with open(target) as f:
        meta = json.load(f)
    assert meta["snapshot_id"] == 1 and meta["counts"]["nodes"] == NODES, meta
    keys = s3_keys(s3)
    for entry in meta["files"]:
        assert keys[entry["path"]]["Size"] == entry["bytes"], entry
    client = s3_client(s3)
    for key in keys:
        body = client.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{key}")["Body"].read()
        with open(os.path.join(a.dir, "snapshots", key), "rb") as f:
            assert f.read() == body, key


def test_restore(s3, a):
    step("3. restore: B on an empty data directory serves every row of A, index loaded")
    b = Server("b", s3).start()
    log = b.log_text()
    assert "restore: snapshot 1 from s3://snaps/db/one" in log, log
    assert "vector index: loaded from snapshot 1" in log, log
    assert b.value("SELECT count(*) FROM nodes") == NODES
    assert b.value("SELECT count(*) FROM edges") == EDGES
    assert b.value("SELECT count(*) FROM vectors") == VECTORS
    assert b.all_rows() == a.all_rows()
    near = "SELECT id FROM vectors ORDER BY embedding <=> (SELECT embedding FROM vectors " \
           "WHERE id = 77) LIMIT 5"
    assert b.query(near) == a.query(near)
    assert b.snapshot(1)[1] is True  # known to be in the store
    b.stop()


def test_point_in_time(s3, a):
    step("4. point in time: snapshot 2 on A; C with --restore-snapshot 1 serves snapshot 1")
    a.query(f"INSERT INTO nodes (id, label, props) VALUES ({NODES + 1}, 'Late', '{{}}')")
    assert a.value("CREATE SNAPSHOT") == 2
    assert a.wait_uploaded(2)[1]
    c = Server("c", s3, extra=["--restore-snapshot", "1"]).start()
    assert c.value("SELECT count(*) FROM nodes") == NODES
    assert "restore: snapshot 1 from" in c.log_text()
    c.stop()
    d = Server("d", s3).start()  # newest by default
    assert d.value("SELECT count(*) FROM nodes") == NODES + 1
    test_as_of_fetched(a, d)
    d.stop()
    return Server("d2", s3).start()  # for test_fetch_down




def test_as_of_fetched(a, d):
    """D restored snapshot 2 only: AS OF SNAPSHOT 1 is fetched from S3 by its uploader thread
    while the first statement asking for it waits (parked, no retry), then reads exactly what
    A's local snapshot 1 holds; the downloaded files are removed once the snapshot is loaded."""
    assert not os.path.exists(os.path.join(d.dir, "snapshots", "metadata",
                                           "snapshot-000001.json"))
    assert d.value("SELECT count(*) FROM nodes AS OF SNAPSHOT 1") == NODES  # answered once
    assert "AS OF SNAPSHOT: fetched snapshot 1 from s3://snaps/db/one" in d.log_text()
    for q in ("SELECT id, label, props FROM nodes AS OF SNAPSHOT 1 ORDER BY id",
              "SELECT src, dst, kind, weight FROM edges AS OF SNAPSHOT 1 ORDER BY src, dst, kind",
              "SELECT id, embedding FROM vectors AS OF SNAPSHOT 1 ORDER BY id"):
        assert d.query(q) == a.query(q)  # cached in memory: no second fetch
    assert d.log_text().count("AS OF SNAPSHOT: fetched snapshot 1") == 1
    fetched = os.path.join(d.dir, "fetched")
    left = [f for _, _, files in os.walk(fetched) for f in files if f != "current"]
    assert left == [], left
    try:
        d.query("SELECT count(*) FROM nodes AS OF SNAPSHOT 9")
        raise AssertionError("AS OF SNAPSHOT 9 answered")
    except psycopg2.Error as e:
        assert e.pgcode == "42704", e.pgerror


def parked_as_of(server, setup, stop=None):
    """Runs AS OF SNAPSHOT 1 (only in S3, which is down) on its own session after setup; while
    it waits, the server answers another session (and stop(conn) runs, e.g. a cancel). Returns
    the statement's error and how many other queries were answered meanwhile."""
    conn = psycopg2.connect(host="127.0.0.1", port=server.port, user="postgres",
                            dbname="postgres")
    conn.autocommit = True
    server.query(setup, conn=conn)
    out = {}

    def run():
        try:
            out["rows"] = server.query("SELECT count(*) FROM nodes AS OF SNAPSHOT 1", conn=conn)
        except psycopg2.Error as e:
            out["error"] = e
    t = threading.Thread(target=run)
    t.start()
    answered = 0
    while t.is_alive():
        assert server.value("SELECT count(*) FROM nodes") == NODES + 1
        answered += 1
        if stop is not None:
            stop(conn)
        t.join(0.1)
    conn.close()
    assert "rows" not in out, out
    return out["error"], answered


def test_fetch_down(d2):
    """s3rver down: a statement reading a snapshot only S3 holds waits for the fetch and ends
    with 57014 after statement_timeout (or S3's error once the retries give up), and with 57014
    on a CancelRequest; the server answers other sessions meanwhile."""
    e, answered = parked_as_of(d2, "SET statement_timeout = '2s'")
    assert answered >= 1
    assert (e.pgcode == "57014" and "statement timeout" in e.pgerror) or \
        "could not be fetched" in e.pgerror, (e.pgcode, e.pgerror)
    e, answered = parked_as_of(d2, "SET statement_timeout = 0", stop=lambda c: c.cancel())
    assert answered >= 1
    assert (e.pgcode == "57014" and "user request" in e.pgerror) or \
        "could not be fetched" in e.pgerror, (e.pgcode, e.pgerror)


def test_fault(s3, a, d2):
    step("5. fault: s3rver down during the upload; queries answered; upload completes later")
    s3.stop()
    test_fetch_down(d2)
    a.query(f"INSERT INTO nodes (id, label, props) VALUES ({NODES + 2}, 'Later', '{{}}')")
    assert a.value("CREATE SNAPSHOT") == 3
    other = psycopg2.connect(host="127.0.0.1", port=a.port, user="postgres", dbname="postgres")
    for _ in range(5):
        assert a.query("SELECT count(*) FROM nodes", conn=other)[0][0] == NODES + 2
        assert a.snapshot(3)[1] is False
        time.sleep(0.3)
    other.close()
    assert "retry" in a.log_text()
    s3.start()
    _, uploaded, _, error, _ = a.wait_uploaded(3)
    assert uploaded and error is None, error
    try:  # a fetch that failed while s3rver was down is reported once, to the next statement
        count = d2.value("SELECT count(*) FROM nodes AS OF SNAPSHOT 1")
    except psycopg2.Error as e:
        assert "could not be fetched" in e.pgerror, e.pgerror
        count = d2.value("SELECT count(*) FROM nodes AS OF SNAPSHOT 1")
    assert count == NODES
    d2.stop()
    assert "metadata/snapshot-000003.json" in s3_keys(s3)


def test_vacuum(s3, a):
    step("6. VACUUM SNAPSHOTS KEEP 1 deletes in S3 too")
    a.query("VACUUM SNAPSHOTS KEEP 1")  # the deletes run on the uploader thread
    deadline = time.monotonic() + 60
    while True:
        keys = s3_keys(s3)
        if not any("000001" in k or "000002" in k for k in keys) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not any("000001" in k or "000002" in k for k in keys), keys
    with open(os.path.join(a.dir, "snapshots/metadata/snapshot-000003.json")) as f:
        for entry in json.load(f)["files"]:
            assert entry["path"] in keys, entry


def test_resume(s3, a):
    step("7. interrupted upload: stopped mid-retry, uploaded at the next start")
    s3.stop()
    a.query(f"INSERT INTO nodes (id, label, props) VALUES ({NODES + 3}, 'Last', '{{}}')")
    assert a.value("CREATE SNAPSHOT") == 4
    time.sleep(1)
    a.stop()
    assert "snapshot 4: upload stopped with the server" in a.log_text()
    s3.start()
    a.start()
    assert "snapshot 4 is not in s3://snaps/db/one yet: uploading it" in a.log_text()
    _, uploaded, _, error, _ = a.wait_uploaded(4)
    assert uploaded and error is None, error
    assert a.snapshot(3)[1] is True


def test_long_listing(s3):
    step("8. a listing of more than one page (1,000 keys): restore still finds the snapshot")
    client = s3_client(s3)
    for key in s3_keys(s3):
        client.copy_object(Bucket=BUCKET, Key=f"db/many/{key}",
                           CopySource={"Bucket": BUCKET, "Key": f"{PREFIX}/{key}"})
    for i in range(1100):
        client.put_object(Bucket=BUCKET, Key=f"db/many/metadata/snapshot-000000-junk-{i:04d}",
                          Body=b"x")
    g = Server("g", s3, prefix="db/many").start()
    assert "restore: snapshot 4 from s3://snaps/db/many" in g.log_text(), g.log_text()
    assert g.value("SELECT count(*) FROM nodes") == NODES + 3
    with open(os.path.join(WORK, "s3rver.log")) as f:  # our second page, asked for by token
        pages = [line for line in f if "?continuation-token=" in line
                 and "prefix=db%2Fmany%2Fmetadata%2Fsnapshot-" in line]
    assert pages, "no continued listing"
    g.stop()


def test_bad_credentials(s3):
    step("9. bad credentials: S3's error in the log and in snapshots.upload_error")
    e = Server("e", s3, key_id="NOSUCHKEY")
    e.start(expect_ready=False)
    assert e.proc.wait(timeout=30) != 0
    assert "HTTP 403 InvalidAccessKeyId" in e.log_text(), e.log_text()
    f = Server("f", s3, key_id="NOSUCHKEY")
    with open(f.conf) as conf:  # first without S3, so the data directory is not empty
        plain = "".join(line for line in conf if not line.startswith("s3_"))
    with open(f.conf, "w") as conf:
        conf.write(plain)
    f.start().query("INSERT INTO nodes (id, label, props) VALUES (1, 'X', '{}')")
    f.stop()
    f = Server("f", s3, key_id="NOSUCHKEY").start()
    assert f.value("CREATE SNAPSHOT") == 1
    _, uploaded, _, error, _ = f.wait_uploaded(1)
    assert not uploaded and "HTTP 403 InvalidAccessKeyId" in error, error
    assert "upload to s3://snaps/db/one failed" in f.log_text()
    f.stop()


def main():
    s3 = S3rver()
    s3.start()
    a = Server("a", s3).start()
    try:
        test_upload(s3, a)
        test_other_clients(s3, a)
        test_restore(s3, a)
        d2 = test_point_in_time(s3, a)
        test_fault(s3, a, d2)
        test_vacuum(s3, a)
        test_resume(s3, a)
        test_long_listing(s3)
        test_bad_credentials(s3)
        a.stop()
    finally:
        for p in PROCS:
            stop(p)
    shutil.rmtree(WORK)
    print("ok")


if __name__ == "__main__":
    main()
