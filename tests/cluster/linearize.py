"""linearize — a linearizability checker for a history of key-value register operations.

A history is a list of Op: one client operation on one key (read, write or compare-and-set),
with the monotonic times of its invocation and of its completion and what the client learned:
  status 'ok'      the operation took effect (a read returned `result`; a CAS returned
                   `result` True when it swapped, False when the value was not `expect`);
  status 'fail'    the operation is known not to have taken effect (40001, 25006, ...);
  status 'unknown' the outcome is unknown (connection lost, 40003 ...): the operation may take
                   effect at any moment after its invocation, or never.
Keys are independent registers, so the history is linearizable iff each key's sub-history is
(linearizability is compositional), and each key is checked on its own.

Per key the search is Wing & Gong's, with Lowe's just-in-time linearization and memoization as
in Porcupine (Athalye) and Knossos: call and return events sorted by time in a doubly linked
list; the calls before the first return are the candidates to linearize next (removed from the
list with their return, when the model accepts them in the current state); when none works, the
last choice is undone and the next candidate of the step before is tried. The history is
linearizable when no return is left. A cache of (set of linearized operations, register value)
prunes states already explored. An operation of unknown outcome has no return event: it never
blocks the search and may stay unlinearized, which is its "never took effect". Unknown-outcome
candidates are tried after the others, and a state that only adds unknown operations to one
already explored is pruned too (see _Cache), as is a write right after an unknown operation
(which that write would make invisible): otherwise every unknown write that never took effect
would double the work of proving a violation after it. Failed operations and reads of unknown
outcome had no effect and are dropped. The register of every key starts at `initial`.

The search is exponential in the worst case: `steps_max` bounds it, and a key that exceeds the
bound is reported as undecided rather than passed.

    from linearize import Op, check
    result = check(ops, initial="v0")
    if not result.ok: print(result.report())

`/usr/bin/python3 linearize.py HISTORY.jsonl [--initial V]` checks a history saved by
History.save (one JSON object per line).
"""
import json
import sys

INF = float("inf")


class Op:
    """One operation of one client process on one key."""

    __slots__ = ("process", "key", "kind", "value", "expect", "invoke_ns", "complete_ns",
                 "status", "result")

    def __init__(self, process, key, kind, value=None, expect=None, invoke_ns=0,
                 complete_ns=None, status="unknown", result=None):
        assert kind in ("read", "write", "cas"), kind
        assert status in ("ok", "fail", "unknown"), status
        self.process, self.key, self.kind = process, key, kind
        self.value, self.expect = value, expect
        self.invoke_ns, self.complete_ns = invoke_ns, complete_ns
        self.status, self.result = status, result

    def to_json(self):
        return {s: getattr(self, s) for s in self.__slots__}

    @classmethod
    def from_json(cls, d):
        return cls(**d)

    def __repr__(self):
        if self.kind == "read":
            what = "read() -> %r" % (self.result,)
        elif self.kind == "write":
            what = "write(%r)" % (self.value,)
        else:
            what = "cas(%r -> %r) -> %r" % (self.expect, self.value, self.result)
        end = "..." if self.complete_ns is None else "%.6f" % (self.complete_ns / 1e9)
        return "p%s key %s %s %s [%.6f, %s]" % (self.process, self.key, what, self.status,
                                                self.invoke_ns / 1e9, end)


def register_step(state, op):
    """The register model: (accepted, new state) for op linearized in state."""
    if op.kind == "read":
        return state == op.result, state
    if op.kind == "write":
        return True, op.value
    if op.status == "unknown" or op.result:  # a CAS that swapped (or may have)
        return (True, op.value) if state == op.expect else (False, state)
    return state != op.expect, state  # a CAS that reported no swap


class KeyResult:
    def __init__(self, key, verdict, ops, steps, deepest):
        self.key, self.verdict, self.ops = key, verdict, ops
        self.steps, self.deepest = steps, deepest  # deepest: longest linearized prefix seen


class Result:
    """ok is True only when every key was proven linearizable."""

    def __init__(self, keys):
        self.keys = keys
        self.bad = [k for k in keys if k.verdict != "ok"]
        self.ok = not self.bad

    def report(self, ops_max=40):
        lines = ["linearizability: %d keys checked, %d not linearizable, %d undecided"
                 % (len(self.keys), sum(k.verdict == "violation" for k in self.bad),
                    sum(k.verdict == "undecided" for k in self.bad))]
        for k in self.bad:
            lines.append("key %s: %s after %d search steps; longest linearization found (%d of "
                         "%d ops):" % (k.key, k.verdict, k.steps, len(k.deepest), len(k.ops)))
            for op in k.deepest[-ops_max:]:
                lines.append("    %r" % (op,))
            rest = [op for op in k.ops if op not in k.deepest]
            lines.append("  not linearizable after it (%d ops, by invocation):" % len(rest))
            for op in rest[:ops_max]:
                lines.append("    %r" % (op,))
        return "\n".join(lines)


class _EventList:
    """Call/return events of one key's operations in a doubly linked list (node 0 is the head)."""

    def __init__(self, ops):
        events = []
        for i, op in enumerate(ops):
            events.append((op.invoke_ns, 0, i))
            if op.status == "ok":
                events.append((op.complete_ns, 1, i))
        events.sort()  # at equal times calls come first: such operations overlap
        n = len(events) + 1
        self.next = list(range(1, n)) + [-1]
        self.prev = [-1] + list(range(0, n - 1))
        self.op = [-1] + [e[2] for e in events]
        self.is_call = [False] + [e[1] == 0 for e in events]
        self.match = [-1] * n  # call node -> its return node (-1: unknown outcome)
        call_of = {}
        for node in range(1, n):
            if self.is_call[node]:
                call_of[self.op[node]] = node
            else:
                self.match[call_of[self.op[node]]] = node

    def _remove(self, node):
        self.next[self.prev[node]] = self.next[node]
        if self.next[node] != -1:
            self.prev[self.next[node]] = self.prev[node]

    def _restore(self, node):
        self.next[self.prev[node]] = node
        if self.next[node] != -1:
            self.prev[self.next[node]] = node

    def lift(self, call):
        self._remove(call)
        if self.match[call] != -1:
            self._remove(self.match[call])

    def unlift(self, call):
        if self.match[call] != -1:
            self._restore(self.match[call])
        self._restore(call)


class _Cache:
    """Search states already entered: (linearized required ops, register value) -> the sets of
    linearized unknown-outcome ops seen with them. A state is skipped when one with a subset of
    its unknown ops was entered: that one can do everything this one can (its extra unknown ops
    may still be linearized later, or never), so whatever this one could reach it reached.
    Without the subset test, each unknown write that did not take effect would double the work
    of proving a violation after it."""

    def __init__(self, initial):
        self.seen = {(0, initial): [0]}

    def enter(self, required_bits, unknown_bits, state):
        """True (and recorded) when the state is not dominated by one already entered."""
        masks = self.seen.setdefault((required_bits, state), [])
        for mask in masks:
            if mask & ~unknown_bits == 0:
                return False
        masks.append(unknown_bits)
        return True


def _candidates(ev, unknown):
    """The calls that may be linearized next: those before the first return in the list,
    required ones first (unknown-outcome ones last, so that a state reached without an unknown
    operation is entered before the same state reached with it, which it dominates). None when
    no return is left: every required operation is linearized."""
    required, optional, node = [], [], ev.next[0]
    while node != -1 and ev.is_call[node]:
        (optional if unknown[ev.op[node]] else required).append(node)
        node = ev.next[node]
    return None if node == -1 else required + optional


def check_key(key, ops, initial, steps_max):
    """Checks one key's operations (failed ones and unknown reads already dropped)."""
    ev = _EventList(ops)
    unknown = [op.status == "unknown" for op in ops]
    cache = _Cache(initial)
    state, required_bits, unknown_bits, steps = initial, 0, 0, 0
    frames = []  # (candidates, next index, the call linearized to reach this frame, state)
    deepest = []
    candidates, index = _candidates(ev, unknown), 0
    while candidates is not None:
        steps += 1
        if steps > steps_max:
            return KeyResult(key, "undecided", ops, steps, deepest)
        if index < len(candidates):
            node = candidates[index]
            index += 1
            i = ev.op[node]
            if frames and unknown[ev.op[frames[-1][2]]] and ops[i].kind == "write":
                continue  # the unknown operation just linearized would be blind: see below
            accepted, new_state = register_step(state, ops[i])
            if not accepted:
                continue
            new_required = required_bits | (0 if unknown[i] else 1 << i)
            new_unknown = unknown_bits | (1 << i if unknown[i] else 0)
            if not cache.enter(new_required, new_unknown, new_state):
                continue
            frames.append((candidates, index, node, state))
            state, required_bits, unknown_bits = new_state, new_required, new_unknown
            ev.lift(node)
            if len(frames) > len(deepest):
                deepest = [ops[ev.op[f[2]]] for f in frames]
            candidates, index = _candidates(ev, unknown), 0
            continue
        # A write right after an unknown operation hides that operation's effect: the same
        # state is reached by linearizing the write instead of the unknown operation one step
        # earlier (it was a candidate there too), with the unknown one still free to happen
        # later; that sibling is searched, so this branch is skipped above.
        # Every candidate of this frame failed: undo the choice that led here.
        if not frames:
            return KeyResult(key, "violation", ops, steps, deepest)
        candidates, index, node, state = frames.pop()
        required_bits &= ~(1 << ev.op[node])
        unknown_bits &= ~(1 << ev.op[node])
        ev.unlift(node)
    return KeyResult(key, "ok", ops, steps, [])


def check(ops, initial=None, steps_max=2_000_000):
    """Checks a whole history (a list of Op); returns a Result with one KeyResult per key."""
    by_key = {}
    for op in ops:
        if op.status == "fail" or (op.status == "unknown" and op.kind == "read"):
            continue
        assert op.status != "ok" or op.complete_ns is not None, op
        by_key.setdefault(op.key, []).append(op)
    results = []
    for key in sorted(by_key, key=repr):
        key_ops = sorted(by_key[key], key=lambda o: o.invoke_ns)
        results.append(check_key(key, key_ops, initial, steps_max))
    return Result(results)


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="check a saved history for linearizability")
    ap.add_argument("history")
    ap.add_argument("--initial", default="v0", help="every register's initial value")
    ap.add_argument("--steps-max", type=int, default=2_000_000)
    args = ap.parse_args(argv)
    with open(args.history) as f:
        ops = [Op.from_json(json.loads(line)) for line in f if line.strip()]
    result = check(ops, initial=args.initial, steps_max=args.steps_max)
    print(result.report() if not result.ok else
          "linearizable: %d ops on %d keys" % (len(ops), len(result.keys)))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
