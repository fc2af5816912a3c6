#!/usr/bin/env python3
"""The main demo: a real 3-replica synod-counter cluster on 127.0.0.1.

Starts three replicas on free ports, adds numbers, kills the leader with
SIGKILL, shows a new leader carrying on, restarts the killed replica and shows
it catching up, then stops everything it started (by pid).
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "cluster"))
from cluster import Cluster  # noqa: E402


def say(text):
    print("[demo] " + text, flush=True)


def show_status(cluster):
    for rid, entry in sorted(cluster.status().items()):
        if entry is None:
            say("  replica %d: unreachable" % rid)
        else:
            say("  replica %d: %-9s ballot=%s chosen=%s applied=%s" %
                (rid, entry["role"], entry["ballot"], entry["chosen"], entry["applied"]))


def add(cluster, n):
    code, out, err = cluster.client("add", str(n))
    if code != 0:
        say("add %d: exit %d %s" % (n, code, err.strip().splitlines()[-1:] or ""))
        return
    value, slot, leader = out.split()
    say("add %-3d -> counter = %-4s (%s, %s)" % (n, value, slot, leader))


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "build/release/examples/counter/synod-counter"
    with Cluster(binary) as cluster:
        say("starting 3 replicas: " + cluster.members)
        cluster.start_all()
        leader = cluster.leader()
        say("replica %d is the leader" % leader)
        for n in (5, 10, 20):
            add(cluster, n)
        show_status(cluster)

        say("kill -9 the leader, replica %d" % leader)
        cluster.replica(leader).kill9()
        new_leader = cluster.leader()
        say("replica %d took over as leader" % new_leader)
        for n in (1, 2):
            add(cluster, n)
        show_status(cluster)

        say("restarting replica %d from its data directory" % leader)
        cluster.replica(leader).start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status = cluster.status()
            applied = {rid: (e or {}).get("applied") for rid, e in status.items()}
            if None not in applied.values() and len(set(applied.values())) == 1:
                break
            time.sleep(0.1)
        show_status(cluster)
        code, out, _ = cluster.client("get")
        say("get -> counter = %s" % out.split()[0] if code == 0 else "get failed")
        ok = code == 0 and out.split()[0] == "38"
        say("replica %d caught up; stopping everything" % leader if ok else "unexpected result")
        for r in cluster.replicas:
            r.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
