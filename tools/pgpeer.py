"""pgpeer — the PostgreSQL 15 peer the benchmark tools run next to ContextDB, and pgbench.

    from pgpeer import Postgres, pgbench, percentile
    pg = Postgres(work_dir)           # initdb in work_dir/pg, a free loopback port
    pg.start("CREATE TABLE …")        # pg_ctl start (as the postgres user when we are root)
    tps, latencies_us = pgbench(pg.conninfo(), script_text, clients=8, seconds=10,
                                mode="prepared", work_dir=work_dir, tag="pg-c8")
    pg.stop()

The cluster runs with synchronous_commit = on and fsync = on, listens on 127.0.0.1 only and is
stopped by pg_ctl (its postmaster PID); its directory is the caller's to remove.
"""
import glob
import os
import re
import shutil
import socket
import subprocess

import psycopg2

PG_BIN = "/usr/lib/postgresql/15/bin"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """A throwaway PostgreSQL 15 cluster, run as the postgres user when we are root."""

    def __init__(self, base_dir, settings=()):
        self.dir = os.path.join(base_dir, "pg")
        self.port = free_port()
        self.settings = list(settings)
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def run(self, *cmd):
        subprocess.run(self.as_user + list(cmd), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.STDOUT)

    def start(self, *ddl):
        os.makedirs(self.dir)
        if self.as_user:
            shutil.chown(os.path.dirname(self.dir), "postgres")
            shutil.chown(self.dir, "postgres")
        self.run(PG_BIN + "/initdb", "-D", self.dir, "-U", "postgres", "--auth=trust",
                 "--no-instructions")
        opts = ("-p %d -k %s -c listen_addresses=127.0.0.1 -c synchronous_commit=on -c fsync=on "
                "-c max_connections=100" % (self.port, self.dir))
        opts += "".join(" -c %s" % s for s in self.settings)
        self.run(PG_BIN + "/pg_ctl", "-D", self.dir, "-o", opts, "-l", self.dir + "/log", "-w",
                 "start")
        conn = psycopg2.connect(self.conninfo())
        conn.autocommit = True
        for statement in ddl:
            conn.cursor().execute(statement)
        conn.close()

    def stop(self):
        self.run(PG_BIN + "/pg_ctl", "-D", self.dir, "-m", "fast", "-w", "stop")

    def conninfo(self):
        return "host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable" % self.port


def pgbench(conninfo, script, clients, seconds, mode, work_dir, tag):
    """One pgbench run of script (text); returns (tps, [latency_us …]). Raises on failures."""
    log_dir = os.path.join(work_dir, "logs-" + tag)
    os.makedirs(log_dir)
    path = os.path.join(log_dir, "script.sql")
    with open(path, "w") as f:
        f.write(script)
    cmd = ["pgbench", "-n", "-f", path, "-c", str(clients), "-j", str(clients),
           "-T", str(seconds), "-M", mode, "--log", "--log-prefix", os.path.join(log_dir, "tx"),
           conninfo]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=log_dir)
    if out.returncode != 0:
        raise RuntimeError("pgbench failed (%s):\n%s\n%s" % (tag, out.stdout, out.stderr))
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
    if m is None or (failed and int(failed.group(1)) > 0):
        raise RuntimeError("pgbench output not understood or failures (%s):\n%s" % (tag, out.stdout))
    latencies = []
    for log in glob.glob(os.path.join(log_dir, "tx*")):
        with open(log) as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 3:
                    latencies.append(int(fields[2]))
    return float(m.group(1)), latencies


def percentile(values, q):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, int(round(q / 100.0 * (len(ordered) - 1)))))
    return ordered[k]
