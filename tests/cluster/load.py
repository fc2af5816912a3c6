"""Counter client load for the multi-process tests: closed-loop client
processes that record a Jepsen-style history, and the linearizability and
convergence checks run on it afterwards.

Every client command is a separate synod-counter process started through
`Cluster.client`, so a command's `--members` is read from the cluster when
the command starts: a test that changes `cluster.members` (or passes
`members`) moves the clients to another member list while they run.
"""
import os
import random
import subprocess
import threading
import time

from cluster import History, scaled


def parse_value(out):
    """The counter value of a `get` or `add` line: "VALUE slot=S leader=L"."""
    return int(out.split()[0])


def client_loop(cluster, process, history, stop, members=None, codes=None, timeout_ms=4000):
    """Runs adds (70 %) and gets (30 %) as client `process` until `stop` is
    set; records each command's invocation and outcome in `history` (exit 0:
    ok, 1: fail, else info) and, with `codes`, appends its exit code.
    `timeout_ms` is scaled for sanitized builds."""
    rng = random.Random(process)
    while not stop.is_set():
        if rng.random() < 0.7:
            n = rng.randint(1, 9)
            history.record(process, "invoke", "add", n)
            code, out, _ = cluster.client("add", str(n), members=members,
                                          timeout_ms=int(scaled(timeout_ms)))
            history.record(process, {0: "ok", 1: "fail"}.get(code, "info"), "add", n)
        else:
            history.record(process, "invoke", "get", None)
            code, out, _ = cluster.client("get", members=members,
                                          timeout_ms=int(scaled(timeout_ms)))
            if code == 0:
                history.record(process, "ok", "get", parse_value(out))
            else:
                history.record(process, {1: "fail"}.get(code, "info"), "get", None)
        if codes is not None:
            codes.append(code)


def check_linearizable(args, history, name):
    """Asserts `history` is linearizable for the counter model, checked by
    `args.lincheck`; the history file is kept (path in the message) if not."""
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "synod-%s-%d.jsonl" % (name, os.getpid()))
    history.write(path)
    proc = subprocess.run([args.lincheck, "--model", "counter", path, "--timeout", "120"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, "history %s is not linearizable (exit %d):\n%s%s" % (
        path, proc.returncode, proc.stdout, proc.stderr)
    ok = sum(1 for e in history.events if e["type"] == "ok")
    print("history: %d events, %d ok, linearizable (%s)" % (len(history.events), ok,
                                                            proc.stdout.strip()))
    os.unlink(path)


def wait_applied_equal(cluster, timeout):
    """Waits until every replica reports the same applied slot; returns
    {id: applied}. Raises AssertionError with the last reading otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        status = cluster.status()
        applied = {rid: (e or {}).get("applied") for rid, e in status.items()}
        last = applied
        if None not in applied.values() and len(set(applied.values())) == 1:
            return applied
        time.sleep(0.1)
    raise AssertionError("replicas did not converge: %s" % last)


def wait_converged(cluster, timeout):
    """Waits for one status round in which every replica reports the same
    applied slot and returns that round ({id: entry}); asserts their state
    digests agree in it. (The leader's ticks keep choosing slots while
    idle, so digests are compared within one round, never across two.)"""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        status = cluster.status()
        last = status
        if None not in status.values() and len({e["applied"] for e in status.values()}) == 1:
            digests = {e["digest"] for e in status.values()}
            assert len(digests) == 1, "replicas at one applied index differ: %s" % status
            return status
        time.sleep(0.1)
    raise AssertionError("replicas did not converge: %s" % last)


class Load:
    """`clients` client loops (threads, each running client processes) while
    the `with` block runs; `history` and `codes` hold what they did. Leaving
    the block stops them and fails if one does not finish in time."""

    def __init__(self, cluster, clients=4, members=None, timeout_ms=4000):
        self.history, self.stop, self.codes = History(), threading.Event(), []
        self.threads = [threading.Thread(target=client_loop,
                                         args=(cluster, p, self.history, self.stop, members,
                                               self.codes, timeout_ms))
                        for p in range(clients)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=scaled(60))
        assert not any(t.is_alive() for t in self.threads), "a client loop did not finish"
