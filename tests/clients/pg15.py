"""pg15 — the comparison side of the client tests: a throwaway PostgreSQL 15 cluster (initdb in a
temporary directory, a free loopback port, run as the postgres user when we are root) holding
ContextDB's schema as plain tables, and a second, fresh ContextDB server for restore tests.

PostgreSQL has no `vector` type without pgvector, so its `vectors.embedding` is `real[]`; tests
compare what the schemas share. Both servers are stopped by PID (pg_ctl for PostgreSQL) and
their directories removed by stop().
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

PG_BIN = "/usr/lib/postgresql/15/bin"

SCHEMA = """
CREATE TABLE nodes (id bigint PRIMARY KEY, label text NOT NULL DEFAULT '', props jsonb);
CREATE TABLE edges (src bigint NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
                    dst bigint NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
                    kind text NOT NULL, weight double precision NOT NULL DEFAULT 1,
                    PRIMARY KEY (src, dst, kind));
CREATE TABLE vectors (id bigint PRIMARY KEY, embedding real[] NOT NULL);
"""

# The same rows on both sides (vectors as arrays for PostgreSQL, pgvector text for ContextDB).
ROWS = """
INSERT INTO nodes (id, label, props) VALUES (1, 'a', '{"x": 1}'), (2, 'b', NULL),
    (3, 'it''s', '{"q": "tab\\there"}');
INSERT INTO edges (src, dst, kind, weight) VALUES (1, 2, 'owns', 1.5), (2, 3, 'links', 1);
"""
VECTOR_ROWS_CTX = "INSERT INTO vectors VALUES (1, '[1,2,3,4]'), (2, '[0.5,0,0,1]')"
VECTOR_ROWS_PG = "INSERT INTO vectors VALUES (1, '{1,2,3,4}'), (2, '{0.5,0,0,1}')"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available():
    return os.path.exists(PG_BIN + "/initdb")


class Postgres:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="ctx-pg15-")
        self.dir = os.path.join(self.tmp, "data")
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.started = False

    def run(self, *cmd):
        subprocess.run(self.as_user + list(cmd), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.STDOUT)

    def start(self):
        if self.as_user:
            shutil.chown(self.tmp, "postgres")
        self.run(PG_BIN + "/initdb", "-D", self.dir, "-U", "postgres", "--auth=trust",
                 "--no-instructions", "--encoding=UTF8", "--locale=C.UTF-8")
        opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off" % (self.port, self.tmp)
        self.run(PG_BIN + "/pg_ctl", "-D", self.dir, "-o", opts, "-l", self.tmp + "/log", "-w",
                 "start")
        self.started = True
        self.run(PG_BIN + "/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                 "-d", "postgres", "-qc", "CREATE DATABASE contextdb")
        self.run(PG_BIN + "/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                 "-d", "contextdb", "-v", "ON_ERROR_STOP=1", "-qc",
                 SCHEMA + ROWS + VECTOR_ROWS_PG)
        return self

    def stop(self):
        if self.started:
            self.run(PG_BIN + "/pg_ctl", "-D", self.dir, "-m", "fast", "-w", "stop")
        shutil.rmtree(self.tmp, ignore_errors=True)


class ContextDB:
    """A second ContextDB server with an empty data directory (CTX_SERVER_BIN, as run-client
    exports it), for restoring into."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="ctx-fresh-")
        self.port = free_port()
        self.proc = None

    def start(self):
        with open(os.path.join(self.tmp, "server.conf"), "w") as f:
            f.write("vector_dimensions = 4\nhttp_port = off\nraft_port = 0\n")
        self.log = open(os.path.join(self.tmp, "server.log"), "w")
        self.proc = subprocess.Popen(
            [os.environ["CTX_SERVER_BIN"], "--host", "127.0.0.1", "--port", str(self.port),
             "--data-dir", os.path.join(self.tmp, "data"), "--config",
             os.path.join(self.tmp, "server.conf")], stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(600):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("fresh contextdb did not start; see " + self.log.name)

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
