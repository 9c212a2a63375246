"""harness — real ContextDB clusters on loopback for the cluster tests, soak and benchmark.

A Cluster is N `contextdb --config FILE` processes, each with its own data directory, config
file and log under one root directory, on pgwire and raft ports found free on 127.0.0.1 (bound
to port 0 and released: a port another process grabs in between fails that member's start,
which reports its log). Every member gets the same cluster_nodes and a random cluster_secret; a
one-member cluster is written with no cluster keys (the server's single-node default). Members
are started in parallel (a member may wait for its peers before it is ready), through
tools/ctxserver.py, and stopped by PID only: stop() (SIGTERM, SIGKILL after a timeout), kill()
(SIGKILL: a crash), pause()/resume() (SIGSTOP/SIGCONT: a member that stops answering without
closing its sockets), restart() (same data directory, same ports). add_member() starts one more process with
cluster_join = on; register()/unregister() move a process in and out of `members` (the current
membership, what clients and checks use) once ALTER CLUSTER ADD / REMOVE NODE took effect; every
process ever started stays in `processes` for stop(), the logs and the sanitizer scan.

state_digest() is the byte-for-byte comparison of members: SHA-256 over a deterministic dump of
every table (nodes, edges, vectors, each in key order, read with read_consistency = 'local').

Clients talk to members through Client: a psycopg2 asynchronous connection waited on with a
deadline, because a SIGSTOPped server keeps its TCP connections open (the kernel still
acknowledges) and a blocking client would hang for ever. A timed-out or broken connection is
closed; the caller decides what the operation's outcome is (unknown, for a write).
"""
import hashlib
import os
import re
import secrets
import select
import signal
import socket
import sys
import threading
import time

import psycopg2
import psycopg2.extensions

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from ctxserver import Server  # noqa: E402

# The detail of 25006 on a follower: "The leader is node N at pgwire HOST:PORT." (or without the
# pgwire part when the follower does not know it yet).
LEADER_HINT_RE = re.compile(r"leader is node (\d+)(?: at pgwire ([0-9.]+):(\d+))?")


SANITIZER_RE = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error: ")


class ClientTimeout(Exception):
    """No answer within the deadline; the connection has been closed."""


def free_ports(count):
    """count distinct TCP ports that were free on 127.0.0.1 a moment ago."""
    socks, ports = [], []
    try:
        while len(ports) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


class Client:
    """One connection to one member, every call bounded by timeout_s."""

    def __init__(self, port, timeout_s=5.0, host="127.0.0.1", local=False):
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.local = local  # read_consistency = 'local' from the start (no read barrier at all)
        self.conn = None

    def _wait(self, deadline):
        while True:
            try:
                state = self.conn.poll()
            except psycopg2.Error:
                raise
            if state == psycopg2.extensions.POLL_OK:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()
                raise ClientTimeout("no answer from 127.0.0.1:%d within %g s"
                                    % (self.port, self.timeout_s))
            fd = self.conn.fileno()
            if state == psycopg2.extensions.POLL_READ:
                select.select([fd], [], [], remaining)
            elif state == psycopg2.extensions.POLL_WRITE:
                select.select([], [fd], [], remaining)
            else:
                raise psycopg2.OperationalError("bad poll state %r" % state)

    def connect(self):
        self.close()
        deadline = time.monotonic() + self.timeout_s
        self.conn = psycopg2.connect(
            "host=%s port=%d user=test dbname=test sslmode=disable connect_timeout=%d%s"
            % (self.host, self.port, max(1, int(self.timeout_s)),
               " options='-c read_consistency=local'" if self.local else ""), async_=1)
        try:
            self._wait(deadline)
        except Exception:
            self.close()
            raise

    def execute(self, sql, params=None, timeout_s=None):
        """Runs one statement; returns (rows or None, rowcount). Raises psycopg2.Error (with
        pgcode for server errors; the connection is closed when it broke) or ClientTimeout."""
        if self.conn is None:
            self.connect()
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        cur = self.conn.cursor()
        try:
            cur.execute(sql, params)
            self._wait(deadline)
        except psycopg2.Error as e:
            if e.pgcode is None:
                self.close()
            raise
        rows = cur.fetchall() if cur.description is not None else None
        return rows, cur.rowcount

    def query_dicts(self, sql, params=None, timeout_s=None):
        if self.conn is None:
            self.connect()
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        cur = self.conn.cursor()
        try:
            cur.execute(sql, params)
            self._wait(deadline)
        except psycopg2.Error as e:
            if e.pgcode is None:
                self.close()
            raise
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except psycopg2.Error:
                pass
            self.conn = None


class Member:
    def __init__(self, member_id, pg_port, raft_port, root, binary):
        self.id, self.pg_port, self.raft_port = member_id, pg_port, raft_port
        self.dir = os.path.join(root, "node%d" % member_id)
        self.data_dir = os.path.join(self.dir, "data")
        self.conf = os.path.join(self.dir, "contextdb.conf")
        self.log = os.path.join(self.dir, "server.log")
        self.server = Server(binary, self.data_dir, args=["--config", self.conf],
                             log_path=self.log)
        self.paused = False

    @property
    def pid(self):
        return self.server.proc.pid if self.server.proc is not None else None

    @property
    def running(self):
        return self.server.proc is not None and self.server.proc.poll() is None

    def client(self, timeout_s=5.0):
        return Client(self.pg_port, timeout_s)

    def __repr__(self):
        return "member %d (pgwire %d, raft %d, pid %s)" % (self.id, self.pg_port,
                                                            self.raft_port, self.pid)


DUMP_QUERIES = ("SELECT id, label, props FROM nodes ORDER BY id",
                "SELECT src, dst, kind, weight FROM edges ORDER BY src, dst, kind",
                "SELECT id, embedding FROM vectors ORDER BY id")


def state_digest(member, single=False, timeout_s=10.0):
    """(sha256 hex, row count) of every table of member's applied state, dumped in key order."""
    c = Client(member.pg_port, timeout_s)
    try:
        try:
            c.execute("SET read_consistency = 'local'")
        except psycopg2.Error as e:
            if not (single and e.pgcode == "42704"):
                raise
        h, count = hashlib.sha256(), 0
        for sql in DUMP_QUERIES:
            rows, _ = c.execute(sql)
            for row in rows:
                h.update(repr(row).encode())
                h.update(b"\n")
            h.update(b"--\n")
            count += len(rows)
        return h.hexdigest(), count
    finally:
        c.close()


class Cluster:
    def __init__(self, binary, root, n, extra_config=()):
        assert n >= 1
        self.binary, self.root, self.n = binary, root, n
        ports = free_ports(2 * n)
        self.members = {i + 1: Member(i + 1, ports[2 * i], ports[2 * i + 1], root, binary)
                        for i in range(n)}
        self.processes = dict(self.members)
        self.ids = tuple(sorted(self.members))  # replaced whole: threads read it unlocked
        self.secret = secrets.token_hex(16)
        self.extra_config = list(extra_config)

    def _config_lines(self, m, nodes):
        lines = ["host = 127.0.0.1", "port = %d" % m.pg_port, "data_dir = '%s'" % m.data_dir]
        if self.n > 1:
            lines += ["node_id = %d" % m.id, "raft_port = %d" % m.raft_port,
                      "cluster_nodes = '%s'" % nodes, "cluster_secret = '%s'" % self.secret]
        return lines + self.extra_config

    def write_configs(self):
        nodes = ",".join("%d=127.0.0.1:%d" % (m.id, m.raft_port) for m in self.members.values())
        for m in self.members.values():
            os.makedirs(m.dir, exist_ok=True)
            with open(m.conf, "w") as f:
                f.write("\n".join(self._config_lines(m, nodes)) + "\n")

    def next_member(self, member_id):
        """The current member after member_id in id order (cyclic): where a client goes next."""
        ids = self.ids
        later = [i for i in ids if i > member_id]
        return later[0] if later else ids[0]

    def add_member(self, timeout_s=60.0):
        """Starts a new process with cluster_join = on (cluster_nodes: the current members and
        itself) and returns it; it becomes a member once ALTER CLUSTER ADD NODE ran (register)."""
        assert self.n > 1
        new_id = max(self.processes) + 1
        pg_port, raft_port = free_ports(2)
        m = Member(new_id, pg_port, raft_port, self.root, self.binary)
        nodes = ",".join("%d=127.0.0.1:%d" % (x.id, x.raft_port)
                         for x in list(self.members.values()) + [m])
        os.makedirs(m.dir, exist_ok=True)
        with open(m.conf, "w") as f:
            f.write("\n".join(self._config_lines(m, nodes) + ["cluster_join = on"]) + "\n")
        self.processes[new_id] = m
        m.server.start(port=pg_port, timeout_s=timeout_s)
        return m

    def register(self, member):
        self.members[member.id] = member
        self.ids = tuple(sorted(self.members))
        self.n = len(self.members)

    def unregister(self, member_id):
        del self.members[member_id]
        self.ids = tuple(sorted(self.members))
        self.n = len(self.members)

    def start(self, timeout_s=60.0):
        """Writes the configs and starts every member at once; raises the first start error."""
        self.write_configs()
        errors = []

        def run(m):
            try:
                m.server.start(port=m.pg_port, timeout_s=timeout_s)
            except Exception as e:  # reported below, after every member was tried
                errors.append(e)

        threads = [threading.Thread(target=run, args=(m,)) for m in self.members.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            self.stop()
            raise errors[0]

    def restart(self, member_id, timeout_s=60.0):
        m = self.processes[member_id]
        assert not m.running
        return m.server.start(port=m.pg_port, timeout_s=timeout_s)

    def kill(self, member_id):
        """SIGKILL by PID, then reaps the process."""
        m = self.processes[member_id]
        proc = m.server.proc
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        m.server.proc, m.server.port, m.paused = None, None, False

    def pause(self, member_id):
        m = self.processes[member_id]
        m.server.proc.send_signal(signal.SIGSTOP)
        m.paused = True

    def resume(self, member_id):
        m = self.processes[member_id]
        m.server.proc.send_signal(signal.SIGCONT)
        m.paused = False

    def stop(self):
        """Stops every member by PID (SIGCONT first for a paused one); returns exit statuses."""
        statuses = {}
        for m in self.processes.values():
            if m.server.proc is not None:
                if m.paused:
                    self.resume(m.id)
                statuses[m.id] = m.server.stop(timeout_s=30.0)
        return statuses

    def members_view(self, member_id, timeout_s=2.0):
        """SHOW CLUSTER on one member, as it sees the cluster now (read_consistency = 'local':
        no wait for a leader): a list of dicts (id, address, pgwire, role, term, ...)."""
        c = Client(self.processes[member_id].pg_port, timeout_s, local=self.n > 1)
        try:
            return c.query_dicts("SHOW CLUSTER")
        finally:
            c.close()

    def leader(self, timeout_s=30.0):
        """The member id that reports itself leader in the highest term, seen by a majority of
        the running members... or by itself when no peer answers; waits up to timeout_s."""
        deadline = time.monotonic() + timeout_s
        last_error = None
        while time.monotonic() < deadline:
            best = None
            for m in self.members.values():
                if not m.running or m.paused:
                    continue
                try:
                    rows = self.members_view(m.id)
                except (psycopg2.Error, ClientTimeout) as e:
                    if self.n == 1 and getattr(e, "pgcode", None) is not None:
                        return m.id  # a server without SHOW CLUSTER: single node
                    last_error = e
                    continue
                for row in rows:
                    if row["is_self"] and row["role"] == "leader":
                        if best is None or row["term"] > best[1]:
                            best = (row["id"], row["term"])
            if best is not None:
                return best[0]
            time.sleep(0.05)
        raise TimeoutError("no leader within %g s (last error: %s)" % (timeout_s, last_error))

    def followers(self, leader_id):
        return [i for i in self.members if i != leader_id]

    def sanitizer_reports(self):
        """Lines of the members' logs where AddressSanitizer, LeakSanitizer or UBSan reported
        (a sanitizer build's server may report and go on, or report at exit)."""
        found = []
        for m in self.processes.values():
            try:
                with open(m.log, errors="replace") as f:
                    for line in f:
                        if SANITIZER_RE.search(line):
                            found.append("%s: %s" % (m.log, line.rstrip()))
            except OSError:
                pass
        return found

    def logs_tail(self, lines=30):
        out = []
        for m in self.processes.values():
            try:
                with open(m.log, errors="replace") as f:
                    tail = f.readlines()[-lines:]
            except OSError:
                tail = []
            out.append("---- %s log %s:\n%s" % (m, m.log, "".join(tail)))
        return "\n".join(out)
