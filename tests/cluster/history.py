"""history — records what concurrent clients did, for the linearizability checker.

Each client thread calls invoke() just before it sends an operation and complete() as soon as it
knows the outcome; both take their time from one monotonic clock (time.monotonic_ns), so an
operation's [invoke, complete] interval contains the moment it took effect. An operation never
completed (the run ended while it waited) stays 'unknown', as does one whose connection broke.
save() writes one JSON object per line (linearize.py checks such a file on its own).
"""
import json
import threading
import time

from linearize import Op


class History:
    def __init__(self):
        self._lock = threading.Lock()
        self.ops = []

    def invoke(self, process, key, kind, value=None, expect=None):
        op = Op(process, key, kind, value=value, expect=expect, invoke_ns=time.monotonic_ns())
        with self._lock:
            self.ops.append(op)
        return op

    @staticmethod
    def complete(op, status, result=None):
        """status: 'ok' (took effect; result = value read, or whether a CAS swapped), 'fail'
        (known not to have taken effect) or 'unknown'."""
        assert op.complete_ns is None, op
        op.complete_ns = time.monotonic_ns()
        op.status, op.result = status, result

    def counts(self):
        out = {}
        with self._lock:
            for op in self.ops:
                k = "%s_%s" % (op.kind, op.status)
                out[k] = out.get(k, 0) + 1
        return out

    def save(self, path):
        with self._lock, open(path, "w") as f:
            for op in self.ops:
                f.write(json.dumps(op.to_json()) + "\n")
