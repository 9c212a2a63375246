#!/usr/bin/python3
"""Snapshot shipping on real server processes: test_snapship.py [flags].

A 3-member cluster; one follower is stopped; the leader takes writes (nodes, edges, vectors) and
two CREATE SNAPSHOTs, so its log no longer reaches back to what the stopped follower has. The
follower is restarted with its pull rate bounded (CTX_SNAPSHIP_RATE_KB) so the transfer
takes a while, killed (SIGKILL) once part of the snapshot is staged, and restarted unbounded:
its log must show the transfer resuming at a non-zero offset, the snapshot installed and the
member restarting into it; then every member must hold the same rows in every table (nodes,
edges, vectors, read with read_consistency = 'local'), a write made afterwards must reach the
follower, every member exits 0 on SIGTERM and no log holds a sanitizer report.

--nodes/--edges/--vectors size the data set; the transfer throughput the follower logged
(MB/s) is printed. --no-kill skips the interrupted first attempt (for measuring throughput).
--corrupt damages a column file of the live members' current snapshots first: the follower must
refuse what it pulled (whole-file CRC) and install the next snapshot taken instead.
"""
import argparse
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import psycopg2  # noqa: E402

from harness import ROOT, Client, ClientTimeout, Cluster  # noqa: E402

INSTALLED_RE = re.compile(rb"snapship: installed snapshot (\d+) of node (\d+) as local snapshot "
                          rb"(\d+) \(raft index (\d+), (\d+) bytes, (\d+) pulled in (\d+) ms, "
                          rb"([0-9.]+) MB/s; verified and installed after (\d+) ms")
VERIFY_FAILED_RE = re.compile(rb"snapship: the received snapshot failed verification")
RESUMING_RE = re.compile(rb"snapship: pulling snapshot \d+ .*, resuming, file (\d+) offset (\d+)")
TABLES = {"nodes": "SELECT id, label, props FROM nodes ORDER BY id",
          "edges": "SELECT src, dst, kind, weight FROM edges ORDER BY src, dst, kind",
          "vectors": "SELECT id, embedding FROM vectors ORDER BY id"}


class Failure(Exception):
    pass


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def retry(fn, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return fn()
        except (psycopg2.Error, ClientTimeout) as e:
            if time.monotonic() > deadline:
                raise Failure("%s: %s" % (what, e))
            time.sleep(0.2)


def execute(member, sql, timeout_s=120.0):
    c = Client(member.pg_port, timeout_s)
    try:
        return c.execute(sql)
    finally:
        c.close()


RETRIABLE = ("25006", "40001", "57P03")  # refused or not committed: safe to send again


def write(cluster, sql, timeout_s=120.0):
    """Runs a write on whichever member leads, again after a leadership change; a retry whose
    first attempt committed after all (its connection broke) finds its rows there (23505: every
    statement here is one all-or-nothing entry)."""
    deadline, retried = time.monotonic() + timeout_s, False
    while True:
        try:
            return execute(cluster.members[cluster.leader(30)], sql)
        except (psycopg2.Error, ClientTimeout) as e:
            code = getattr(e, "pgcode", None)
            if code == "23505" and retried:
                return None
            if (code is not None and code not in RETRIABLE) or time.monotonic() > deadline:
                raise
            retried = True
            time.sleep(0.2)


def load(cluster, args):
    """nodes, edges (each node to the next few) and vectors, in statements of a few thousand
    rows."""
    step = 5000
    for lo in range(0, args.nodes, step):
        rows = ",".join("(%d, 'N%d', '{\"i\": %d}')" % (i, i % 7, i)
                        for i in range(lo, min(args.nodes, lo + step)))
        write(cluster, "INSERT INTO nodes (id, label, props) VALUES " + rows)
    per = max(1, args.edges // max(1, args.nodes))
    made = 0
    while made < args.edges:
        rows = []
        for k in range(made, min(args.edges, made + step)):
            src, hop = k // per % args.nodes, k % per + 1
            rows.append("(%d, %d, 'e%d', %d.5)" % (src, (src + hop) % args.nodes, hop % 3, k % 10))
        write(cluster, "INSERT INTO edges (src, dst, kind, weight) VALUES " + ",".join(rows)
               )
        made += step
    for lo in range(0, args.vectors, 2000):
        rows = ",".join("(%d, '[%s]')" % (i, ",".join("%d.25" % ((i * 7 + d) % 97)
                                                        for d in range(args.dims)))
                        for i in range(lo, min(args.vectors, lo + 2000)))
        write(cluster, "INSERT INTO vectors (id, embedding) VALUES " + rows)


def table_rows(member, sql):
    c = Client(member.pg_port, 60.0)
    try:
        c.execute("SET read_consistency = 'local'")
        return c.execute(sql)[0]
    finally:
        c.close()


def wait_converged(cluster, timeout_s):
    deadline = time.monotonic() + timeout_s
    while True:
        diff = None
        try:
            for name, sql in TABLES.items():
                seen = {m.id: table_rows(m, sql) for m in cluster.members.values()}
                first = seen[1]
                if any(rows != first for rows in seen.values()):
                    diff = "%s: row counts %s" % (name, {i: len(r) for i, r in seen.items()})
                    break
        except (psycopg2.Error, ClientTimeout) as e:
            diff = "a member did not answer: %s" % e
        if diff is None:
            return {name: len(table_rows(cluster.members[1], sql)) for name, sql in
                    TABLES.items()}
        if time.monotonic() > deadline:
            raise Failure("members differ after %g s: %s" % (timeout_s, diff))
        time.sleep(0.5)


def log_bytes(member):
    with open(member.log, "rb") as f:
        return f.read()


def wait_log(member, pattern, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        m = pattern.search(log_bytes(member))
        if m:
            return m
        time.sleep(0.1)
    raise Failure("%s: not in %s within %g s" % (what, member.log, timeout_s))


def staged_bytes(member):
    stage = os.path.join(member.data_dir, "snapshots.incoming")
    total = 0
    for dirpath, _, files in os.walk(stage):
        for name in files:
            if name not in ("meta.json", "progress"):
                total += os.path.getsize(os.path.join(dirpath, name))
    return total


def interrupted_pull(cluster, victim, args):
    """Restarts the victim with a bounded pull rate and SIGKILLs it once part is staged."""
    m = cluster.members[victim]
    m.server.env["CTX_SNAPSHIP_RATE_KB"] = str(args.slow_kb)
    cluster.restart(victim)
    progress = os.path.join(m.data_dir, "snapshots.incoming", "progress")
    deadline = time.monotonic() + 60
    while not os.path.exists(progress) or staged_bytes(m) < 64 * 1024:
        if time.monotonic() > deadline:
            raise Failure("the follower staged nothing within 60 s")
        time.sleep(0.05)
    staged = staged_bytes(m)
    cluster.kill(victim)
    log("killed member %d mid-transfer with %d bytes staged" % (victim, staged))
    del m.server.env["CTX_SNAPSHIP_RATE_KB"]


def corrupt_current(member):
    """Flips one byte in the middle of the edges file of member's current snapshot."""
    root = os.path.join(member.data_dir, "snapshots")
    with open(os.path.join(root, "metadata", "current")) as f:
        name = f.read().strip()
    with open(os.path.join(root, "metadata", name)) as f:
        meta = json.load(f)
    path = os.path.join(root, [x for x in meta["files"] if x["kind"] == "edges"][0]["path"])
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x20]))
    log("damaged %s on member %d" % (path, member.id))


def scenario(cluster, args):
    leader_id = cluster.leader(30)
    victim = [i for i in cluster.members if i != leader_id][0]
    write(cluster, "INSERT INTO nodes (id, label) VALUES (-1, 'before')")
    wait_converged(cluster, 30)
    cluster.members[victim].server.stop(timeout_s=30)
    log("stopped follower %d; loading %d nodes, %d edges, %d vectors on leader %d"
        % (victim, args.nodes, args.edges, args.vectors, leader_id))
    started = time.monotonic()
    load(cluster, args)
    log("loaded in %.1f s" % (time.monotonic() - started))
    live = [i for i in cluster.members if i != victim]
    for k in range(2):  # the second one compacts each log through the first's index
        for i in live:
            execute(cluster.members[i], "CREATE SNAPSHOT", timeout_s=600)
        write(cluster, "INSERT INTO nodes (id, label) VALUES (%d, 'between')" % (-2 - k))
    # A leader's transport still queues what it sent the stopped follower; members restarted
    # (SIGKILL) forget it, and whichever leads next has only its compacted log to offer.
    for i in live:
        cluster.kill(i)
        cluster.restart(i)
    leader = cluster.members[cluster.leader(30)]
    log("log compacted on both live members; both restarted; member %d leads" % leader.id)
    if args.corrupt:
        for i in live:
            corrupt_current(cluster.members[i])
    if args.kill:
        interrupted_pull(cluster, victim, args)
    offset = len(log_bytes(cluster.members[victim]))
    cluster.restart(victim)
    m = cluster.members[victim]
    if args.corrupt:
        wait_log(m, VERIFY_FAILED_RE, args.timeout_s, "the damaged snapshot refused")
        if INSTALLED_RE.search(log_bytes(m)):
            raise Failure("the follower installed a damaged snapshot")
        log("the follower refused the damaged snapshot; taking a new one on the live members")
        for i in live:
            execute(cluster.members[i], "CREATE SNAPSHOT", timeout_s=600)
    found = wait_log(m, INSTALLED_RE, args.timeout_s, "the snapshot installed")
    if args.kill:
        resumed = RESUMING_RE.search(log_bytes(m)[offset:])
        if resumed is None or (resumed.group(1) == b"0" and resumed.group(2) == b"0"):
            raise Failure("the restarted follower did not resume the staged transfer")
        log("resumed at file %s offset %s" % (resumed.group(1).decode(), resumed.group(2).decode()))
    total, pulled, ms, rate = (int(found.group(5)), int(found.group(6)), int(found.group(7)),
                               float(found.group(8)))
    log("installed: snapshot of %d bytes, %d pulled in %d ms: %.1f MB/s; verified and "
        "installed %s ms after the transfer began" % (total, pulled, ms, rate,
                                                    found.group(9).decode()))
    counts = retry(lambda: wait_converged(cluster, args.timeout_s), args.timeout_s, "converge")
    write(cluster, "INSERT INTO nodes (id, label) VALUES (-100, 'after')")
    counts = wait_converged(cluster, 60)
    log("every member holds the same rows: %s" % counts)
    return rate


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=20000)
    ap.add_argument("--edges", type=int, default=100000)
    ap.add_argument("--vectors", type=int, default=5000)
    ap.add_argument("--dims", type=int, default=8)
    ap.add_argument("--slow-kb", type=int, default=64, help="KiB/s of the interrupted pull")
    ap.add_argument("--no-kill", dest="kill", action="store_false")
    ap.add_argument("--corrupt", action="store_true",
                    help="damage the live members' current snapshots before the pull")
    ap.add_argument("--timeout-s", type=float, default=120.0)
    ap.add_argument("--server", default=os.environ.get(
        "CTX_SERVER_BIN", os.path.join(ROOT, "build", "server", "contextdb")))
    ap.add_argument("--dir", default=None, help="keep data and logs here")
    return ap.parse_args(argv)


def main(argv):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse_args(argv)
    keep = args.dir is not None
    args.dir = args.dir or tempfile.mkdtemp(prefix="ctx-snapship-")
    log("snapship: 3 members, dir %s" % args.dir)
    cluster = Cluster(args.server, args.dir, 3,
                      extra_config=["vector_dimensions = %d" % args.dims,
                                    "snapshot_interval_records = 0"])
    ok = False
    try:
        cluster.start()
        rate = scenario(cluster, args)
        ok = True
        log("PASS snapship: %.1f MB/s" % rate)
    except (Failure, TimeoutError) as e:
        log("FAIL snapship: %s" % e)
        print(cluster.logs_tail(40), flush=True)
    finally:
        statuses = cluster.stop()
        if ok and any(s != 0 for s in statuses.values()):
            log("FAIL: members' exit statuses after SIGTERM: %s" % statuses)
            ok = False
        reports = cluster.sanitizer_reports()
        if reports:
            log("FAIL: sanitizer reports in the members' logs:\n%s" % "\n".join(reports[:20]))
            ok = False
        if ok and not keep:
            shutil.rmtree(args.dir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
