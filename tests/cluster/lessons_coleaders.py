#!/usr/bin/env python3
"""Idempotent co-leaders, on real processes (127.0.0.1, free ports):

  lessons_coleaders.py --lock BIN --counter BIN --store BIN --worker BIN

Two synod-election-worker processes campaign on a 3-replica synod-lock
cluster; their job is one idempotent job, key K: "add 1 key K" on a 3-replica
synod-counter cluster through each worker's own exactly-once client session,
then a write of the outcome to a synod-fenced-store with the term's token.
The job takes a while (--work-ms). The first leader starts job K and is then
SIGSTOP'd past its lease, mid-job: the other worker is elected and runs job K
too while the paused one still believes it leads (it has not printed "lost").
When the paused one resumes, its job finishes as well. Checked: both ran job
K; the counter applied it once (one "applied", one "duplicate", the counter
reads 1); the store holds the new leader's write, and refused the late one's
older token. Prints both workers' lines (the narrated run in docs/lessons.md).

Every process is started here and killed by its pid; timeouts scale with
SYNOD_TIME_SCALE. Exit 0 on success.
"""
import argparse
import os
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, scaled, wait_until  # noqa: E402
from lock_cluster_test import Store, reaped  # noqa: E402

KEY = "report-2026-12-07"


class Worker:
    """A synod-election-worker running the keyed job; collects its stdout lines."""

    def __init__(self, args, locks, counters, store, wid, ttl_ms, work_ms):
        self.id = wid
        self.proc = subprocess.Popen(
            [args.worker, "--id", wid, "--members", locks.members, "--store-port",
             str(store.port), "--ttl", str(ttl_ms), "--every", "100", "--timeout",
             str(int(scaled(3000))), "--job-key", KEY, "--counter-members", counters.members,
             "--work-ms", str(work_ms)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        locks.started_pids.add(self.proc.pid)
        self.lines = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line.strip())

    def snapshot(self):
        with self.lock:
            return list(self.lines)

    def line(self, predicate):
        return next((l for l in self.snapshot() if predicate(l)), None)

    def term(self):
        """The token of its first term, or None."""
        l = self.line(lambda l: l.startswith("elected token="))
        return int(l.split("=")[1]) if l else None


def main():
    parser = argparse.ArgumentParser()
    for flag in ("--lock", "--counter", "--store", "--worker"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    ttl, work = int(scaled(1000)), int(scaled(2500))
    with Cluster(args.lock) as locks, Cluster(args.counter) as counters:
        locks.start_all()
        counters.start_all()
        locks.leader()
        counters.leader()
        store = Store(args.store)
        workers = []
        try:
            workers = [Worker(args, locks, counters, store, "w%d" % i, ttl, work)
                       for i in (1, 2)]
            first = wait_until(lambda: next((w for w in workers if w.term()), None),
                               scaled(20), "a leader")
            second = workers[1] if first is workers[0] else workers[0]
            t1 = first.term()
            started = " token=%d key=%s started" % (t1, KEY)
            wait_until(lambda: first.line(lambda l: l.endswith(started)), scaled(10),
                       "the first leader to start job " + KEY)
            # Mid-job, the first leader is paused past its lease.
            os.kill(first.proc.pid, signal.SIGSTOP)
            try:
                t2 = wait_until(second.term, scaled(20), "the second worker to be elected")
                assert t2 > t1, (t1, t2)
                wait_until(lambda: second.line(lambda l: l.endswith(" token=%d ok" % t2)),
                           scaled(20), "the second leader's job to finish")
                # Both ran job K as leader: the paused one has not seen its loss.
                assert not first.line(lambda l: l.startswith("lost")), first.snapshot()
                assert second.line(lambda l: l.endswith("key=%s counter=1 applied" % KEY)), \
                    second.snapshot()
            finally:
                os.kill(first.proc.pid, signal.SIGCONT)
            wait_until(lambda: first.line(lambda l: " rejected: older than " in l or
                                          l.endswith(" ok") or l.endswith(" unknown")),
                       scaled(20), "the resumed leader's job to finish")
            mine = first.snapshot()
            assert any(l.startswith("lost") for l in mine), mine
            assert "job 1 token=%d key=%s counter=1 duplicate" % (t1, KEY) in mine, mine
            assert "job 1 token=%d rejected: older than %d" % (t1, t2) in mine, mine
            for w in workers:
                applied = [l for l in w.snapshot() if l.endswith(" applied")]
                assert len(applied) == (1 if w is second else 0), (w.id, w.snapshot())

            code, out, err = counters.client("get")
            assert code == 0 and out.split()[0] == "1", (code, out, err)
            stored = store.read("leader")
            assert stored == "token=%d data=%s run 1 key=%s counter=1 applied" % (
                t2, second.id, KEY), stored
            for w in (first, second):
                print("%s: %s" % (w.id, " | ".join(w.snapshot())))
            print("counter get: %s" % out.strip())
            print("store read:  %s" % stored)
        finally:
            for w in workers:
                if w.proc.poll() is None:
                    os.kill(w.proc.pid, signal.SIGCONT)
                    w.proc.kill()
                reaped(locks, w.proc)
            store.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
