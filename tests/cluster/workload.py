"""workload — concurrent register and insert clients against a cluster, recorded for the checker.

Each writer thread owns one connection to one member (writer i starts on member i mod N, so
followers serve clients too) and loops over random operations on `keys` registers, the labels
of nodes 1..keys (initially 'v0'):
  read   SELECT label FROM nodes WHERE id = k                      (linearizable by default)
  write  UPDATE nodes SET label = 'vW-S' WHERE id = k              (a value never written before)
  cas    UPDATE nodes SET label = 'vW-S' WHERE id = k AND label = E (swapped iff 1 row updated)
  insert INSERT INTO nodes (id, label) VALUES (unique id >= INSERT_ID_BASE, 'ins')
Register operations go to the History; inserts are kept as acknowledged / failed / unknown id
sets for the every-acknowledged-write-survives check.

Outcomes: a result is 'ok'. 25006 (a follower refusing writes; the detail names the leader,
and the writer reconnects there) and 40001 mean the write did not commit: 'fail', as does an
error a statement gets before it runs (classes 22, 23, 42). Everything else is 'unknown': 40003,
57P03, a broken connection, no answer within the client timeout (the connection is then closed
and the writer moves to the next member).
"""
import random
import threading
import time

import psycopg2

from harness import LEADER_HINT_RE, Client, ClientTimeout

INSERT_ID_BASE = 1_000_000
NOT_COMMITTED = {"25006", "40001"}
NOT_COMMITTED_CLASSES = {"22", "23", "42"}


def outcome_of(error):
    """'fail' when the error proves the write did not commit, else 'unknown'."""
    code = getattr(error, "pgcode", None)
    if code is not None and (code in NOT_COMMITTED or code[:2] in NOT_COMMITTED_CLASSES):
        return "fail"
    return "unknown"


class Workload:
    def __init__(self, cluster, history, writers, keys, seed, timeout_s=5.0, mix=None):
        self.cluster, self.history = cluster, history
        self.writers, self.keys, self.seed, self.timeout_s = writers, keys, seed, timeout_s
        self.mix = mix or {"read": 4, "write": 3, "cas": 2, "insert": 1}
        self.stop_event = threading.Event()
        self.threads = []
        self.lock = threading.Lock()
        self.inserted = {"ok": set(), "fail": set(), "unknown": set()}
        self.errors = {}  # SQLSTATE or exception name -> count
        self.anomalies = []  # results no correct server gives (a register row missing, ...)
        self.acked = []  # (invoke, complete) monotonic_ns of every acknowledged change

    def setup(self, timeout_s=60.0):
        """Creates the registers through the leader (retrying while the cluster settles)."""
        deadline = time.monotonic() + timeout_s
        values = ", ".join("(%d, 'v0')" % k for k in range(1, self.keys + 1))
        while True:
            leader = self.cluster.members[self.cluster.leader(timeout_s)]
            c = Client(leader.pg_port, self.timeout_s)
            try:
                c.execute("INSERT INTO nodes (id, label) VALUES %s ON CONFLICT (id) DO NOTHING"
                          % values)
                rows, _ = c.execute("SELECT count(*) FROM nodes WHERE id <= %s", (self.keys,))
                if rows[0][0] == self.keys:
                    return
            except (psycopg2.Error, ClientTimeout):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
            finally:
                c.close()

    def start(self):
        for i in range(self.writers):
            t = threading.Thread(target=self._writer, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join()

    def _count_error(self, e):
        name = getattr(e, "pgcode", None) or type(e).__name__
        with self.lock:
            self.errors[name] = self.errors.get(name, 0) + 1

    def _target_after(self, member_id, error):
        """Where a writer goes after an error: the leader a 25006 names, else the next member."""
        detail = getattr(getattr(error, "diag", None), "message_detail", None) or ""
        m = LEADER_HINT_RE.search(detail)
        if m is not None:
            for member in self.cluster.members.values():
                if m.group(3) is not None and member.pg_port == int(m.group(3)):
                    return member.id
            if int(m.group(1)) in self.cluster.members:  # node ids are member ids here
                return int(m.group(1))
        return self.cluster.next_member(member_id)

    def _writer(self, index):
        rng = random.Random(self.seed * 1000 + index)
        member_id = self.cluster.ids[index % len(self.cluster.ids)]
        client, seq = None, 0
        last_seen = {}  # key -> last value this writer read or wrote (CAS expectations)
        kinds = [k for k, weight in self.mix.items() for _ in range(weight)]
        while not self.stop_event.is_set():
            if client is None:
                member = self.cluster.members.get(member_id)
                if member is None:  # removed from the cluster
                    member_id = self.cluster.next_member(member_id)
                    continue
                client = Client(member.pg_port, self.timeout_s)
                try:
                    client.connect()
                except (psycopg2.Error, ClientTimeout) as e:
                    self._count_error(e)
                    client, member_id = None, self.cluster.next_member(member_id)
                    time.sleep(0.05)
                    continue
            seq += 1
            kind = rng.choice(kinds)
            key = rng.randrange(1, self.keys + 1)
            value = "v%d-%d" % (index, seq)
            try:
                self._one(client, kind, key, value, index, seq, last_seen)
            except (psycopg2.Error, ClientTimeout) as e:
                self._count_error(e)
                if getattr(e, "pgcode", None) in (None, "25006", "57P03"):
                    client.close()
                    client, member_id = None, self._target_after(member_id, e)
                    time.sleep(0.02)
        if client is not None:
            client.close()

    def _one(self, client, kind, key, value, index, seq, last_seen):
        """Runs one operation and records it; re-raises the error after recording it."""
        if kind == "insert":
            ins_id = INSERT_ID_BASE + index * 10_000_000 + seq
            self._insert(client, ins_id)
            return
        expect = last_seen.get(key, "v0")
        op = self.history.invoke(index, key, kind, value=None if kind == "read" else value,
                                 expect=expect if kind == "cas" else None)
        try:
            if kind == "read":
                rows, _ = client.execute("SELECT label FROM nodes WHERE id = %s", (key,))
            elif kind == "write":
                rows, count = client.execute("UPDATE nodes SET label = %s WHERE id = %s",
                                             (value, key))
            else:
                rows, count = client.execute(
                    "UPDATE nodes SET label = %s WHERE id = %s AND label = %s",
                    (value, key, expect))
        except (psycopg2.Error, ClientTimeout) as e:
            self.history.complete(op, "fail" if kind == "read" else outcome_of(e))
            raise
        if kind == "read":
            if len(rows) != 1:
                self.anomalies.append("read of register %d returned %d rows" % (key, len(rows)))
                self.history.complete(op, "fail")
                return
            self.history.complete(op, "ok", rows[0][0])
            last_seen[key] = rows[0][0]
            return
        if kind == "write" and count != 1:
            self.anomalies.append("write of register %d updated %d rows" % (key, count))
        self.history.complete(op, "ok", None if kind == "write" else count == 1)
        if kind == "write" or count == 1:
            last_seen[key] = value
            self.acked.append((op.invoke_ns, op.complete_ns))

    def _insert(self, client, ins_id):
        sent = time.monotonic_ns()
        try:
            client.execute("INSERT INTO nodes (id, label) VALUES (%s, 'ins')", (ins_id,))
        except (psycopg2.Error, ClientTimeout) as e:
            with self.lock:
                self.inserted[outcome_of(e)].add(ins_id)
            raise
        with self.lock:
            self.inserted["ok"].add(ins_id)
        self.acked.append((sent, time.monotonic_ns()))

    def first_ack_after(self, t_ns):
        later = [done for sent, done in list(self.acked) if sent > t_ns]
        return min(later) if later else None

    def wait_ack_after(self, t_ns, timeout_s):
        """monotonic_ns of the first acknowledgement of a change sent after t_ns (one sent
        before may have committed before); None after timeout_s."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            t = self.first_ack_after(t_ns)
            if t is not None:
                return t
            time.sleep(0.01)
        return None
