"""ctxserver — the one way Python drivers start and stop a contextdb server.

The Python twin of ctx_server_start / ctx_server_stop in tools/common.sh: the server runs as
`BIN --host 127.0.0.1 --port N --data-dir DIR [args...]` (N = 0: any free port) with stdin from
/dev/null and stdout and stderr appended to a log file (default DIR + ".log"), and is ready when
it prints `contextdb: listening on 127.0.0.1:PORT`. Only the lines written after the start are
searched, so one log can span restarts. The HTTP API is off (CONTEXTDB_HTTP_PORT=off) unless
the caller's environment or env names CONTEXTDB_HTTP_PORT, so parallel servers never race for
port 8080. The server is stopped by its PID: SIGTERM, then SIGKILL
after a timeout. Failure to start raises ServerError carrying the new log lines.

    from ctxserver import Server
    srv = Server("build/server/contextdb", "/tmp/db", env={"CONTEXTDB_SYNCHRONOUS_COMMIT": "on"})
    ready_s = srv.start()           # seconds from exec to the ready line
    ... connect to 127.0.0.1:srv.port ...
    srv.stop()                      # returns the exit status (0 after a clean shutdown)
"""
import os
import re
import signal
import subprocess
import time

READY_RE = re.compile(rb"^contextdb: listening on 127\.0\.0\.1:(\d+)$", re.MULTILINE)


class ServerError(RuntimeError):
    pass


class Server:
    """One contextdb process at a time on data_dir (kept across restarts)."""

    def __init__(self, binary, data_dir, args=(), env=None, log_path=None):
        self.binary, self.data_dir, self.args = binary, data_dir, list(args)
        self.env = dict(env or {})
        self.log_path = log_path or os.path.normpath(data_dir) + ".log"
        self.proc, self.port = None, None

    def start(self, port=0, timeout_s=60.0):
        """Starts the server and waits for its ready line; returns seconds from exec to ready.

        Raises ServerError (the server stopped, its new log lines in the message) when the
        server exits or prints no ready line within timeout_s."""
        assert self.proc is None, "server already running"
        env = dict(os.environ)
        env.setdefault("CONTEXTDB_HTTP_PORT", "off")
        env.update(self.env)
        offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        started = time.perf_counter()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "--host", "127.0.0.1", "--port", str(port), "--data-dir",
                 self.data_dir] + self.args,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
        while True:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                new = log.read()
            m = READY_RE.search(new)
            if m:
                self.port = int(m.group(1))
                return time.perf_counter() - started
            if self.proc.poll() is not None:
                why = "exited with status %d before it was ready" % self.proc.returncode
                break
            if time.perf_counter() - started > timeout_s:
                why = "printed no ready line within %g s" % timeout_s
                break
            time.sleep(0.05)
        self.stop()
        raise ServerError("contextdb %s; its log (%s):\n%s"
                          % (why, self.log_path, new.decode(errors="replace")))

    def stop(self, timeout_s=60.0):
        """Stops the server by PID (SIGTERM, SIGKILL after timeout_s); returns its exit status
        (0 after a clean shutdown, -9 when it had to be killed). No-op when not running."""
        if self.proc is None:
            return 0
        proc, self.proc, self.port = self.proc, None, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def conninfo(self, user="bench", dbname="bench"):
        return "host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable" % (self.port, user,
                                                                             dbname)
