#!/usr/bin/env python3
"""Multi-process test of snapshots, log compaction and catch-up by snapshot
transfer, run by ctest:

  snapshot_cluster_test.py --bench BIN --status BIN [--commands N] [--max-dir-mb MB]

Three synod-bench replicas (the benchmark state machine) run with
--snapshot-every 1000 --log-tail 200. One follower is killed (kill -9) while
closed-loop clients commit at least N commands through the other two; every
data directory must stay under --max-dir-mb meanwhile. The follower is then
restarted: it must catch up by fetching and installing a snapshot (its log
says so), and end with the same applied index and the same state digest
(CRC32C of the applied state, from `status`) as the others.

Binds only 127.0.0.1 on free ports, bounds its time, kills (by pid) every
process it started and removes its directories. Also checks that SIGUSR1
makes a replica take a snapshot on demand. Exit 0 on success.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, scaled, wait_until  # noqa: E402

SNAPSHOT_FLAGS = ["--snapshot-every", "1000", "--log-tail", "200"]


def dir_mb(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass  # removed meanwhile (compaction, pruning)
    return total / (1 << 20)


def run_load(args, cluster, follower, max_dir_mb):
    """Commits at least args.commands commands; returns how many."""
    total = 0
    deadline = time.time() + scaled(600)
    while total < args.commands:
        if time.time() > deadline:
            raise AssertionError("only %d of %d commands in the time allowed" %
                                 (total, args.commands))
        duration = 3
        proc = subprocess.run(
            [args.bench, "run", "--members", cluster.members, "--clients", "16",
             "--duration-s", str(duration), "--warmup-s", "0"],
            capture_output=True, text=True, timeout=scaled(120))
        match = re.search(r"ops/s=(\d+).*errors=(\d+)", proc.stdout)
        if proc.returncode != 0 or not match:
            raise AssertionError("synod-bench run failed (%d):\n%s\n%s" %
                                 (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:]))
        total += int(match.group(1)) * duration
        for r in cluster.replicas:
            if r is follower:
                continue
            size = dir_mb(r.data_dir)
            if size > max_dir_mb:
                raise AssertionError("replica %d's data dir is %.1f MB (limit %d MB) after %d "
                                     "commands" % (r.id, size, max_dir_mb, total))
        print("committed about %d commands; live data dirs %s MB" % (total, [
            "%.1f" % dir_mb(r.data_dir) for r in cluster.replicas if r is not follower]),
            flush=True)
    return total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", required=True)
    parser.add_argument("--status", required=True)
    parser.add_argument("--commands", type=int, default=20000)
    parser.add_argument("--max-dir-mb", type=int, default=32)
    args = parser.parse_args()

    cluster = Cluster(args.bench, 3, client_binary=args.status)
    failed = True  # until the run reaches its end (any exception counts)
    try:
        for r in cluster.replicas:
            r.start(wait_ready=False, extra=SNAPSHOT_FLAGS)
        for r in cluster.replicas:
            r.wait_ready()
        leader = cluster.leader(scaled(30))
        follower = next(r for r in cluster.replicas if r.id != leader)
        follower.kill9()
        print("killed follower %d; leader is %d" % (follower.id, leader), flush=True)

        committed = run_load(args, cluster, follower, args.max_dir_mb)

        follower.start(extra=SNAPSHOT_FLAGS)

        def converged():
            s = cluster.status()
            if any(v is None for v in s.values()) or len(s) != 3:
                return None
            applied = {v["applied"] for v in s.values()}
            digests = {v["digest"] for v in s.values()}
            return s if len(applied) == 1 and len(digests) == 1 else None

        final = wait_until(converged, scaled(120),
                           "the restarted follower to match the others (applied and digest)")
        with open(follower.log_path) as f:
            log = f.read()
        if "installed snapshot at slot" not in log:
            raise AssertionError("the follower caught up without installing a snapshot:\n" +
                                 follower.log_tail(40))
        # On demand: SIGUSR1 makes a replica snapshot its current state.
        target = next(r for r in cluster.replicas if r.id == leader)
        applied = int(final[leader]["applied"])

        def snapshot_slots():
            names = os.listdir(os.path.join(target.data_dir, "snapshots"))
            return sorted(int(n[5:-5]) for n in names if n.startswith("snap-") and
                          n.endswith(".meta"))

        if not snapshot_slots() or snapshot_slots()[-1] < applied:
            os.kill(target.proc.pid, signal.SIGUSR1)
            wait_until(lambda: snapshot_slots() and snapshot_slots()[-1] >= applied, scaled(30),
                       "a snapshot taken on SIGUSR1")
            print("SIGUSR1: replica %d snapshotted slot %d" % (target.id, snapshot_slots()[-1]))
        sizes = {r.id: dir_mb(r.data_dir) for r in cluster.replicas}
        for rid, size in sizes.items():
            if size > args.max_dir_mb:
                raise AssertionError("replica %d's data dir is %.1f MB (limit %d MB)" %
                                     (rid, size, args.max_dir_mb))
        print("ok: ~%d commands; follower %d installed a snapshot and matches: %s; dirs %s MB" %
              (committed, follower.id, final[follower.id],
               {k: round(v, 1) for k, v in sizes.items()}))
        failed = False
        return 0
    except AssertionError as failure:
        print("FAILED: %s" % failure)
        for r in cluster.replicas:
            print("--- replica %d log tail ---\n%s" % (r.id, r.log_tail(25)))
        return 1
    finally:
        cluster.shutdown()
        # Keep the data of a failed run (or on request) for a post-mortem,
        # as cluster.Cluster does.
        if failed or os.environ.get("SYNOD_KEEP_CLUSTER"):
            print("cluster data kept in %s" % cluster.root, file=sys.stderr)
        else:
            shutil.rmtree(cluster.root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
