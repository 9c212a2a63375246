#!/usr/bin/python3
"""Cluster scenarios on real server processes: test_cluster.py SCENARIO [flags].

  basic  a write on any member is read on every member (linearizable reads at once, local
         reads once applied); a follower's write lands on the leader's log like any other.
  kill   `--kills` times: SIGKILL the leader while `--writers` clients write, wait for the
         first acknowledgement of a write sent after the kill (the failover time, as the clients
         see it), restart the old leader.
  pause  `--kills` rounds: SIGSTOP a minority of followers, wait for a write acknowledged
         without them, SIGCONT; then SIGSTOP the leader, wait for a write acknowledged by a new
         leader (clients stuck on the stopped leader give up after --client-timeout-s), SIGCONT.
  members  under the writers: start a joiner (cluster_join = on) and ALTER CLUSTER ADD NODE it;
         wait until it reports itself a follower (caught up from the log and promoted); ALTER
         CLUSTER REMOVE NODE a follower, then the leader itself; each removed member must say
         "removed" in SHOW CLUSTER and exit 0 on SIGTERM; then CREATE SNAPSHOT on the two
         members left, SIGKILL and restart each in turn (a write must commit after each
         restart, which needs both).
After kill, pause and members: the writers stop, a final linearizable read of every register
joins the history, and the checks run: every member converges to the same rows for a full-table
read (ORDER BY id, with read_consistency = 'local' on each member) and then their whole states
are byte-identical (harness.state_digest: every table dumped in key order, hashed); every
acknowledged insert is on every member, none known to have failed is anywhere; the history of
reads, writes and CASes passes the linearizability checker; no member crashed, every member
exits 0 on SIGTERM and no member's log holds a sanitizer report. Failure saves the history and
prints the checker's report and the members' log tails; --dir keeps everything (default: a
temporary directory removed on success).

Every run prints its seed; --seed N replays the clients' choices (not the scheduling).
tools/cluster-soak runs these scenarios with bigger numbers.
"""
import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import psycopg2  # noqa: E402

from harness import (LEADER_HINT_RE, ROOT, Client, ClientTimeout, Cluster,  # noqa: E402
                     state_digest)
from history import History  # noqa: E402
from linearize import check  # noqa: E402
from workload import INSERT_ID_BASE, Workload  # noqa: E402


class Failure(Exception):
    pass


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def retry(fn, timeout_s, what):
    """fn() until it returns without a client error; its last error after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return fn()
        except (psycopg2.Error, ClientTimeout) as e:
            if time.monotonic() > deadline:
                raise Failure("%s: %s" % (what, e))
            time.sleep(0.1)


def local_rows(member, single, timeout_s=5.0):
    """Every row of nodes as this member has applied it (read_consistency = 'local'; a
    single-node server without that setting reads its own state anyway)."""
    c = Client(member.pg_port, timeout_s)
    try:
        try:
            c.execute("SET read_consistency = 'local'")
        except psycopg2.Error as e:
            if not (single and e.pgcode == "42704"):
                raise
        rows, _ = c.execute("SELECT id, label, props FROM nodes ORDER BY id")
        return rows
    finally:
        c.close()


def wait_converged(cluster, timeout_s):
    """The rows every member returns once all return the same; Failure after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen, err = {}, None
        for m in cluster.members.values():
            try:
                seen[m.id] = local_rows(m, cluster.n == 1)
            except (psycopg2.Error, ClientTimeout) as e:
                err = e
        first = seen.get(cluster.ids[0])
        if err is None and all(rows == first for rows in seen.values()):
            return first
        if time.monotonic() > deadline:
            if err is not None:
                raise Failure("members did not all answer a full-table read: %s" % err)
            sizes = {i: len(rows) for i, rows in seen.items()}
            first = first or []
            diff = {i: sorted(set(map(tuple, rows)) ^ set(map(tuple, first)))[:5]
                    for i, rows in seen.items() if rows != first}
            raise Failure("members differ after %g s: row counts %s, first differences from "
                          "member %d: %s" % (timeout_s, sizes, cluster.ids[0], diff))
        time.sleep(0.2)


def wait_identical(cluster, timeout_s):
    """Every member's whole state (state_digest: all tables in key order) is byte-identical;
    returns (digest, rows). Failure naming each member's digest after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen, err = {}, None
        for m in cluster.members.values():
            try:
                seen[m.id] = state_digest(m, cluster.n == 1)
            except (psycopg2.Error, ClientTimeout) as e:
                err = e
        if err is None and len(set(seen.values())) == 1:
            return next(iter(seen.values()))
        if time.monotonic() > deadline:
            raise Failure("members' states are not byte-identical after %g s: %s (last error: "
                          "%s)" % (timeout_s, seen, err))
        time.sleep(0.2)


def write_via(cluster, member, sql, params, refused):
    """Runs a write on member; when it refuses (25006: a follower that does not forward), on
    the leader its detail names, counting the refusal in refused. Returns the rowcount."""
    def attempt():
        c = Client(member.pg_port, 10.0)
        try:
            return c.execute(sql, params)[1]
        except psycopg2.Error as e:
            hint = LEADER_HINT_RE.search(getattr(e.diag, "message_detail", None) or "")
            if e.pgcode != "25006" or hint is None:
                raise
        finally:
            c.close()
        refused.append(member.id)
        c = Client(cluster.members[int(hint.group(1))].pg_port, 10.0)
        try:
            return c.execute(sql, params)[1]
        finally:
            c.close()
    return retry(attempt, 30, "write on %r" % member)


def scenario_basic(cluster, args):
    """Each member writes a row and updates another member's row; every member reads both."""
    refused = []
    for m in cluster.members.values():
        write_via(cluster, m, "INSERT INTO nodes (id, label) VALUES (%s, %s)",
                  (100 + m.id, "from%d" % m.id), refused)
        for other in cluster.members.values():
            oc = Client(other.pg_port, 10.0)
            rows, _ = retry(lambda: oc.execute("SELECT label FROM nodes WHERE id = %s",
                                               (100 + m.id,)), 30, "read on %r" % other)
            oc.close()
            if rows != [("from%d" % m.id,)]:
                raise Failure("%r wrote row %d; a linearizable read on %r returned %r"
                              % (m, 100 + m.id, other, rows))
    for m in cluster.members.values():
        target = 100 + (m.id % cluster.n) + 1
        count = write_via(cluster, m, "UPDATE nodes SET label = %s WHERE id = %s",
                          ("upd%d" % m.id, target), refused)
        if count != 1:
            raise Failure("UPDATE on %r of row %d updated %d rows" % (m, target, count))
    rows = wait_converged(cluster, args.converge_s)
    want = sorted((100 + m % cluster.n + 1, "upd%d" % m) for m in cluster.members)
    got = sorted((r[0], r[1]) for r in rows)
    if got != want:
        raise Failure("after the updates every member has %r, expected %r" % (got, want))
    digest, count = wait_identical(cluster, args.converge_s)
    log("basic: %d writes each read on all %d members; states identical (%d rows, sha256 %s)"
        % (2 * cluster.n, cluster.n, count, digest[:16]))
    if refused:
        log("NOTE: %d writes refused with 25006 by followers %s (no forwarding), written "
            "through the leader they named" % (len(refused), sorted(set(refused))))
    return {"follower_writes_refused": len(refused)}


def nemesis_kill(cluster, work, args, rng):
    failovers = []
    for round_no in range(1, args.kills + 1):
        time.sleep(args.interval_s * (0.5 + rng.random()))
        leader = cluster.leader(args.leader_timeout_s)
        t_kill = time.monotonic_ns()
        cluster.kill(leader)
        if cluster.n < 3:  # no majority left: the write waits for the restart
            cluster.restart(leader)
        t_ack = work.wait_ack_after(t_kill, args.leader_timeout_s)
        if t_ack is None:
            raise Failure("kill %d: no write acknowledged within %g s after SIGKILL of leader "
                          "%d" % (round_no, args.leader_timeout_s, leader))
        failovers.append((t_ack - t_kill) / 1e6)
        time.sleep(args.down_s)
        if cluster.n >= 3:
            cluster.restart(leader)
        log("kill %d/%d: leader %d SIGKILLed, next acknowledged write after %.0f ms, "
            "restarted" % (round_no, args.kills, leader, failovers[-1]))
    return {"failover_ms": failovers}


def nemesis_pause(cluster, work, args, rng):
    waits = {"minority_ms": [], "leader_ms": []}
    for round_no in range(1, args.kills + 1):
        time.sleep(args.interval_s * (0.5 + rng.random()))
        leader = cluster.leader(args.leader_timeout_s)
        minority = rng.sample(cluster.followers(leader), (cluster.n - 1) // 2)
        t0 = time.monotonic_ns()
        for i in minority:
            cluster.pause(i)
        t_ack = work.wait_ack_after(t0, args.leader_timeout_s)
        time.sleep(args.down_s)
        for i in minority:
            cluster.resume(i)
        if t_ack is None:
            raise Failure("pause %d: no write acknowledged while followers %s were stopped"
                          % (round_no, minority))
        waits["minority_ms"].append((t_ack - t0) / 1e6)
        time.sleep(args.interval_s * (0.5 + rng.random()))
        leader = cluster.leader(args.leader_timeout_s)
        t0 = time.monotonic_ns()
        cluster.pause(leader)
        if cluster.n < 3:  # no majority left: the write waits for the leader to continue
            time.sleep(args.down_s)
            cluster.resume(leader)
        t_ack = work.wait_ack_after(t0, args.leader_timeout_s)
        if cluster.n >= 3:
            time.sleep(args.down_s)
            cluster.resume(leader)
        if t_ack is None:
            raise Failure("pause %d: no write acknowledged within %g s after SIGSTOP of leader "
                          "%d" % (round_no, args.leader_timeout_s, leader))
        waits["leader_ms"].append((t_ack - t0) / 1e6)
        log("pause %d/%d: followers %s stopped (next ack %.0f ms), leader %d stopped (next ack "
            "%.0f ms), all continued" % (round_no, args.kills, minority,
                                         waits["minority_ms"][-1], leader,
                                         waits["leader_ms"][-1]))
    return waits


def alter_cluster(cluster, sql, done_code, timeout_s=30.0):
    """Runs ALTER CLUSTER through the leader until it succeeds; done_code (42710 for ADD, 42704
    for REMOVE) after an attempt of unknown outcome means an earlier attempt took effect."""
    deadline = time.monotonic() + timeout_s
    tried = False
    while True:
        leader = cluster.processes[cluster.leader(timeout_s)]
        c = Client(leader.pg_port, 10.0)
        try:
            c.execute(sql)
            return
        except (psycopg2.Error, ClientTimeout) as e:
            if tried and getattr(e, "pgcode", None) == done_code:
                return
            if time.monotonic() > deadline:
                raise Failure("%s: %s" % (sql, e))
            tried = True
            time.sleep(0.2)
        finally:
            c.close()


def self_role(cluster, member_id):
    """The role member_id reports for itself in SHOW CLUSTER, None when it does not answer."""
    try:
        rows = cluster.members_view(member_id)
    except (psycopg2.Error, ClientTimeout):
        return None
    return next((r["role"] for r in rows if r["is_self"]), None)


def wait_role(cluster, member_id, roles, timeout_s, seen_by=None):
    """Waits until member_id's role is one of roles, as it says itself (or as seen_by says)."""
    deadline = time.monotonic() + timeout_s
    role = None
    while time.monotonic() < deadline:
        if seen_by is None:
            role = self_role(cluster, member_id)
        else:
            try:
                rows = cluster.members_view(seen_by)
                role = next((r["role"] for r in rows if r["id"] == member_id), "absent")
            except (psycopg2.Error, ClientTimeout):
                role = None
        if role in roles:
            return role
        time.sleep(0.05)
    raise Failure("member %d is %s, not %s, after %g s%s" % (
        member_id, role, "/".join(roles), timeout_s,
        "" if seen_by is None else " (as member %d sees it)" % seen_by))


def retire(cluster, member_id, timeout_s):
    """A removed member says so, then exits 0 on SIGTERM."""
    wait_role(cluster, member_id, ("removed",), timeout_s)
    m = cluster.processes[member_id]
    status = m.server.stop(timeout_s=30.0)
    if status != 0:
        raise Failure("removed member %d exited with %s on SIGTERM" % (member_id, status))


def check_join_config(args):
    """A joiner with nobody to join is refused at start (it would wait for ever)."""
    data = os.path.join(args.dir, "lonely-joiner")
    proc = subprocess.run([args.server, "--join", "--port", "0", "--data-dir", data],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode == 0 or "cluster_join needs cluster_nodes" not in proc.stderr:
        raise Failure("--join without cluster_nodes: exit %d, stderr %r"
                      % (proc.returncode, proc.stderr[-300:]))


def nemesis_members(cluster, work, args, rng):
    """Under the writers: add a member (a joiner that catches up from the log and is promoted),
    remove a follower, then remove the leader itself."""
    check_join_config(args)
    figures = {"join_to_follower_ms": [], "leader_removal_to_new_leader_ms": []}
    time.sleep(args.interval_s * (0.5 + rng.random()))
    m = cluster.add_member()
    started = time.monotonic()
    alter_cluster(cluster, "ALTER CLUSTER ADD NODE %d '127.0.0.1:%d'" % (m.id, m.raft_port),
                  "42710")
    cluster.register(m)
    wait_role(cluster, m.id, ("follower", "leader"), args.leader_timeout_s)
    figures["join_to_follower_ms"].append((time.monotonic() - started) * 1000)
    log("member %d joined and was promoted to voter in %.0f ms" % (m.id, figures[
        "join_to_follower_ms"][-1]))
    time.sleep(args.interval_s * (0.5 + rng.random()))
    leader = cluster.leader(args.leader_timeout_s)
    victim = rng.choice([i for i in cluster.followers(leader) if i != m.id])
    alter_cluster(cluster, "ALTER CLUSTER REMOVE NODE %d" % victim, "42704")
    cluster.unregister(victim)
    wait_role(cluster, victim, ("absent",), args.leader_timeout_s, seen_by=leader)
    retire(cluster, victim, args.leader_timeout_s)
    log("follower %d removed" % victim)
    time.sleep(args.interval_s * (0.5 + rng.random()))
    leader = cluster.leader(args.leader_timeout_s)
    started = time.monotonic()
    alter_cluster(cluster, "ALTER CLUSTER REMOVE NODE %d" % leader, "42704")
    cluster.unregister(leader)
    new_leader = cluster.leader(args.leader_timeout_s)
    figures["leader_removal_to_new_leader_ms"].append((time.monotonic() - started) * 1000)
    retire(cluster, leader, args.leader_timeout_s)
    log("leader %d removed itself; member %d leads; members now %s"
        % (leader, new_leader, list(cluster.ids)))
    # the membership survives a crash: with two members left, a write commits only once the
    # restarted one reconnects -- an original member knows the joiner only from its own log, and
    # restarts from a snapshot taken after the changes (the log before it is not replayed)
    for member_id in cluster.ids:
        c = Client(cluster.members[member_id].pg_port, 30.0, local=True)
        try:
            retry(lambda: c.execute("CREATE SNAPSHOT"), 30, "snapshot on member %d" % member_id)
        finally:
            c.close()
    for member_id in cluster.ids:
        time.sleep(args.interval_s * (0.5 + rng.random()))
        cluster.kill(member_id)
        time.sleep(args.down_s)
        killed = time.monotonic_ns()
        cluster.restart(member_id)
        if work.wait_ack_after(killed, args.leader_timeout_s) is None:
            raise Failure("no write acknowledged after member %d restarted" % member_id)
        log("member %d killed and restarted; writes go on" % member_id)
    return figures


def final_reads(cluster, work, history):
    """One linearizable read of every register through the leader, recorded in the history."""
    leader = cluster.members[cluster.leader(60)]
    c = Client(leader.pg_port, 10.0)
    for key in range(1, work.keys + 1):
        def read():
            op = history.invoke("final", key, "read")
            try:
                rows, _ = c.execute("SELECT label FROM nodes WHERE id = %s", (key,))
            except (psycopg2.Error, ClientTimeout):
                history.complete(op, "fail")
                raise
            history.complete(op, "ok", rows[0][0] if rows else None)
        retry(read, 30, "final read of register %d" % key)
    c.close()


def verify(cluster, work, history, args):
    final_reads(cluster, work, history)
    rows = wait_converged(cluster, args.converge_s)
    ids = {r[0] for r in rows}
    lost = sorted(work.inserted["ok"] - ids)
    if lost:
        raise Failure("%d acknowledged inserts missing on every member (first: %s)"
                      % (len(lost), lost[:10]))
    ghosts = sorted(work.inserted["fail"] & ids)
    if ghosts:
        raise Failure("%d inserts that failed are present (first: %s)" % (len(ghosts),
                                                                          ghosts[:10]))
    stray = sorted(i for i in ids if i > work.keys and i < INSERT_ID_BASE)
    if stray:
        raise Failure("rows nobody wrote: %s" % stray[:10])
    if work.anomalies:
        raise Failure("anomalies: %s" % work.anomalies[:10])
    started = time.monotonic()
    result = check(history.ops, initial="v0", steps_max=args.steps_max)
    if not result.ok:
        raise Failure(result.report())
    crashed = [m for m in cluster.members.values() if not m.running]
    if crashed:
        raise Failure("members exited during the run: %s" % crashed)
    digest, count = wait_identical(cluster, args.converge_s)
    log("all %d members' states are byte-identical: %d rows, sha256 %s"
        % (cluster.n, count, digest[:16]))
    unknown_ins = len(work.inserted["unknown"] & ids)
    return {"rows": len(rows), "checker_s": time.monotonic() - started,
            "unknown_inserts_applied": "%d of %d" % (unknown_ins,
                                                     len(work.inserted["unknown"]))}


def run_faults(cluster, args, rng):
    history = History()
    work = Workload(cluster, history, args.writers, args.keys, args.seed,
                    timeout_s=args.client_timeout_s)
    work.setup()
    work.start()
    nemesis = {"kill": nemesis_kill, "pause": nemesis_pause,
               "members": nemesis_members}[args.scenario]
    try:
        figures = nemesis(cluster, work, args, rng)
        time.sleep(args.interval_s)
    finally:
        work.stop()
    counts = history.counts()
    log("history: %s; inserts ok %d, fail %d, unknown %d; client errors %s"
        % (" ".join("%s=%d" % kv for kv in sorted(counts.items())), len(work.inserted["ok"]),
           len(work.inserted["fail"]), len(work.inserted["unknown"]), work.errors))
    try:
        figures.update(verify(cluster, work, history, args))
    except Failure:
        path = os.path.join(args.dir, "history.jsonl")
        history.save(path)
        log("history saved to %s (check again: /usr/bin/python3 %s %s)"
            % (path, os.path.join(os.path.dirname(os.path.abspath(__file__)), "linearize.py"),
               path))
        raise
    return figures


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenario", choices=["basic", "kill", "pause", "members"])
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--kills", type=int, default=3, help="kills (kill) or rounds (pause)")
    ap.add_argument("--keys", type=int, default=16, help="registers")
    ap.add_argument("--interval-s", type=float, default=1.0,
                    help="mean time between faults (uniform in 0.5x..1.5x)")
    ap.add_argument("--down-s", type=float, default=0.5,
                    help="how long a member stays killed or stopped once a write got through")
    ap.add_argument("--client-timeout-s", type=float, default=2.0,
                    help="a client waits this long for an answer, then tries another member")
    ap.add_argument("--leader-timeout-s", type=float, default=30.0)
    ap.add_argument("--converge-s", type=float, default=60.0)
    ap.add_argument("--steps-max", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--server", default=os.environ.get(
        "CTX_SERVER_BIN", os.path.join(ROOT, "build", "server", "contextdb")))
    ap.add_argument("--dir", default=None, help="keep data, logs and history here")
    args = ap.parse_args(argv)
    if args.seed is None:
        args.seed = int(os.environ.get("CTX_TEST_SEED", random.randrange(1 << 30)))
    return args


def summarize(figures):
    parts = []
    for name, value in figures.items():
        if isinstance(value, list) and value:
            parts.append("%s median %.0f max %.0f (n=%d)" % (name, statistics.median(value),
                                                            max(value), len(value)))
        elif not isinstance(value, list):
            parts.append("%s %s" % (name, "%.2f" % value if isinstance(value, float) else value))
    return "; ".join(parts)


def main(argv):
    # meson's timeout (SIGTERM) or ^C: unwind through the finally below, which stops the members.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse_args(argv)
    keep = args.dir is not None
    args.dir = args.dir or tempfile.mkdtemp(prefix="ctx-cluster-")
    log("%s, %d members, %d writers, %d faults, seed %d (replay: --seed %d), dir %s"
        % (args.scenario, args.nodes, args.writers, args.kills, args.seed, args.seed, args.dir))
    rng = random.Random(args.seed)
    cluster = Cluster(args.server, args.dir, args.nodes)
    ok = False
    try:
        cluster.start()
        log("started: %s; leader %d" % (", ".join(map(repr, cluster.members.values())),
                                        cluster.leader(args.leader_timeout_s)))
        if args.scenario == "basic":
            figures = scenario_basic(cluster, args)
        else:
            figures = run_faults(cluster, args, rng)
        ok = True
        log("PASS %s: %s" % (args.scenario, summarize(figures)))
    except (Failure, TimeoutError) as e:
        log("FAIL %s (seed %d): %s" % (args.scenario, args.seed, e))
        print(cluster.logs_tail(), flush=True)
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
