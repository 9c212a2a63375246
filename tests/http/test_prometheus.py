#!/usr/bin/python3
"""test_prometheus.py SERVER_BIN — a real Prometheus (Debian `prometheus`) scrapes our /metrics.

Starts contextdb (http_port = 0), writes some data over HTTP, starts Prometheus on a free
loopback port with a 1 s scrape interval against our HTTP port and a temporary TSDB, then asks
Prometheus' HTTP API for our series until the scrape has happened (a bounded wait, not a timing
assertion): `up` must be 1 for the job, and contextdb_rows{table="nodes"} must equal the rows
written. Both processes are stopped by PID. Exits 77 (skip) when prometheus is not installed.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

try:
    import requests

    from httptest import HttpServer
except ImportError as e:
    print("SKIP: %s (python3-requests, python3-jsonschema)" % e)
    sys.exit(77)

WAIT_S = 120


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(port, expr):
    r = requests.get("http://127.0.0.1:%d/api/v1/query" % port, params={"query": expr},
                     timeout=10)
    r.raise_for_status()
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def wait_for(port, expr, proc):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, "prometheus exited with %s" % proc.returncode
        try:
            result = query(port, expr)
            if result:
                return result
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError("prometheus returned no %s within %d s" % (expr, WAIT_S))


def main():
    binary = sys.argv[1]
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        print("SKIP: prometheus is not installed")
        sys.exit(77)
    tmp = tempfile.mkdtemp(prefix="ctx-prom-")
    srv = HttpServer(binary, tmp, "db", ["vector_dimensions = 3"]).start()
    proc = None
    try:
        r = requests.post(srv.url + "/api/v1/batch",
                          json={"nodes": [{"id": i, "label": "P"} for i in range(7)]}, timeout=30)
        assert r.status_code == 201, r.text
        config = os.path.join(tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: contextdb\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % srv.http_port)
        port = free_port()
        with open(os.path.join(tmp, "prometheus.log"), "w") as log:
            proc = subprocess.Popen(
                [prometheus, "--config.file=" + config, "--storage.tsdb.path=" +
                 os.path.join(tmp, "tsdb"), "--web.listen-address=127.0.0.1:%d" % port],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        up = wait_for(port, 'up{job="contextdb"} == 1', proc)
        assert up[0]["value"][1] == "1", up
        rows = wait_for(port, 'contextdb_rows{table="nodes"}', proc)
        assert rows[0]["value"][1] == "7", rows
        stmts = wait_for(port, 'contextdb_statements_total{kind="insert",outcome="ok"}', proc)
        assert float(stmts[0]["value"][1]) >= 7, stmts
        role = wait_for(port, "raft_role", proc)
        assert role[0]["metric"]["role"] == "standalone", role
        print("prometheus: scraped contextdb_rows=%s, up=1" % rows[0]["value"][1])
    except BaseException:
        log = os.path.join(tmp, "prometheus.log")
        if os.path.exists(log):
            print(open(log, errors="replace").read()[-4000:])
        raise
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
