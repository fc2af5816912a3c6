#!/usr/bin/env python3
"""Real network partitions between running replicas (design notes §5), run by ctest:

  partition_cluster_test.py --counter BIN --lincheck BIN TEST

TEST is one of:
  isolated_leader  the leader is cut off from both followers while clients
                   still reach it: the majority elects a new leader and keeps
                   committing; the cut-off leader steps down by itself
                   (check-quorum), and commands offered only to it are never
                   acknowledged; after healing, the history is linearizable
                   and every replica applies the same prefix.
  partial          the leader loses its link to one follower only (that
                   follower still reaches the other): commands keep committing
                   through the cut, and the history is linearizable.

Each replica and the clients run in network namespaces the test creates
(tests/cluster/netns.py) and deletes; it needs root. Where namespaces cannot be
made, it prints why and exits 77, which ctest reports as skipped. Exit 0 on
success; failures print why and the replicas' log tails.
"""
import argparse
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, History, scaled, wait_until  # noqa: E402
from counter_cluster_test import (check_linearizable, client_loop,  # noqa: E402
                                  wait_applied_equal)
from netns import PrivateNetwork  # noqa: E402

SKIP = 77
OUTCOME = {0: "ok", 1: "fail"}  # any other exit: unknown ("info")


def start_clients(cluster, history, stop, count):
    threads = [threading.Thread(target=client_loop, args=(cluster, p, history, stop))
               for p in range(count)]
    for t in threads:
        t.start()
    return threads


def stop_clients(threads, stop):
    stop.set()
    for t in threads:
        t.join(timeout=scaled(60))
    assert not any(t.is_alive() for t in threads), "a client thread did not finish"


def oks_between(history, start, end):
    """Acknowledged operations invoked and completed within [start, end) (history µs)."""
    return sum(1 for e in history.events
               if e["type"] == "ok" and start <= e["time"] < end)


def history_now(history):
    return int((time.monotonic() - history.start) * 1e6)


def sole_leader(cluster):
    """Waits until exactly one replica reports itself leader; returns its id
    (just after a heal, a deposed leader may not have heard of its successor)."""
    def only_one():
        leaders = [rid for rid, e in cluster.status().items() if e and e.get("role") == "leader"]
        return leaders[0] if len(leaders) == 1 else None
    return wait_until(only_one, scaled(20), "exactly one replica to report itself leader")


def test_isolated_leader(args, net):
    with Cluster(args.counter, 3, network=net) as cluster:
        cluster.start_all()
        history, stop = History(), threading.Event()
        threads = start_clients(cluster, history, stop, 3)
        stale_oks = []
        try:
            for round_ in range(2):
                time.sleep(scaled(1.0))
                old = sole_leader(cluster)
                others = [r for r in cluster.replicas if r.id != old]
                net.isolate(old)
                print("round %d: cut leader %d off from %s" % (round_, old,
                                                               [r.id for r in others]))
                # A client that can reach only the cut-off leader keeps offering
                # it commands: none may be acknowledged while it is cut off.
                stale_stop = threading.Event()
                process = 100 + round_

                def offer_to_old():
                    only_old = cluster.members_of([cluster.replica(old)])
                    while not stale_stop.is_set():
                        history.record(process, "invoke", "add", 1000)
                        code, out, err = cluster.client("add", "1000", members=only_old,
                                                        timeout_ms=int(scaled(500)))
                        history.record(process, OUTCOME.get(code, "info"), "add", 1000)
                        if code == 0:
                            stale_oks.append(out.strip())

                stale = threading.Thread(target=offer_to_old)
                stale.start()
                try:
                    majority = cluster.members_of(others)
                    new = cluster.leader(members=majority)
                    assert new != old, (new, old)
                    # The majority commits while the old leader is cut off.
                    for _ in range(3):
                        history.record(200 + round_, "invoke", "add", 1)
                        code, out, err = cluster.client("add", "1", members=majority)
                        history.record(200 + round_, OUTCOME.get(code, "info"), "add", 1)
                        assert code == 0, "the majority did not commit: %s%s" % (out, err)
                    print("round %d: replica %d leads the majority and commits" % (round_, new))
                    # Check-quorum: hearing from no quorum for an election
                    # timeout, the cut-off leader steps down by itself.
                    only_old = cluster.members_of([cluster.replica(old)])

                    def old_stepped_down():
                        entry = cluster.status(only_old).get(old)
                        return entry is not None and entry.get("role") != "leader"
                    wait_until(old_stepped_down, scaled(10),
                               "the cut-off leader %d to step down" % old)
                    time.sleep(scaled(1.0))
                finally:
                    stale_stop.set()
                    stale.join(timeout=scaled(30))
                    net.heal()  # only after the stale client's last command ended
                assert not stale.is_alive(), "the stale client did not finish"
                assert not stale_oks, "the cut-off leader acknowledged commands: %s" % stale_oks
                offered = sum(1 for e in history.events
                              if e["process"] == process and e["type"] == "invoke")
                assert offered > 0, "the cut-off leader was offered no command"
                print("round %d: healed; the cut-off leader acknowledged none of %d commands" %
                      (round_, offered))
            time.sleep(scaled(1.5))
        finally:
            stop_clients(threads, stop)
        check_linearizable(args, history, "isolated-leader")
        wait_applied_equal(cluster, scaled(20))


def test_partial(args, net):
    with Cluster(args.counter, 3, network=net) as cluster:
        cluster.start_all()
        history, stop = History(), threading.Event()
        threads = start_clients(cluster, history, stop, 3)
        try:
            time.sleep(scaled(1.0))
            leader = sole_leader(cluster)
            follower = next(r.id for r in cluster.replicas if r.id != leader)
            net.cut(leader, follower)
            print("cut the link between leader %d and follower %d" % (leader, follower))
            cut_from = history_now(history)
            # Long enough for the cut-off follower's election timeout to pass
            # many times over.
            time.sleep(scaled(3.0))
            # Commands must keep committing (through the leader and the other
            # follower, or a new leader both followers reach): measured over
            # the second half of the cut, after any election has settled.
            half = cut_from + (history_now(history) - cut_from) // 2
            late_oks = oks_between(history, half, history_now(history))
            net.heal()
            print("%d acknowledged in the second half of the cut; healed" % late_oks)
            assert late_oks > 0, "nothing was acknowledged in the second half of the cut"
            time.sleep(scaled(1.0))
        finally:
            stop_clients(threads, stop)
        check_linearizable(args, history, "partial")
        wait_applied_equal(cluster, scaled(20))


TESTS = {
    "isolated_leader": test_isolated_leader,
    "partial": test_partial,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--counter", required=True)
    parser.add_argument("--lincheck", required=True)
    parser.add_argument("test", choices=sorted(TESTS))
    args = parser.parse_args()
    why_not = PrivateNetwork.probe()
    if why_not is not None:
        print("SKIP: %s (this test makes its own network namespaces)" % why_not)
        return SKIP
    # A SIGTERM (a harness giving up) unwinds like an error, so the processes
    # and namespaces this started are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    start = time.monotonic()
    with PrivateNetwork([1, 2, 3]) as net:
        TESTS[args.test](args, net)
    print("PASS %s in %.1f s" % (args.test, time.monotonic() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
