#!/usr/bin/env python3
"""Real network partitions between running replicas, run by ctest:

  partition_cluster_test.py --counter BIN --lincheck BIN TEST

TEST is one of:
  isolated_leader  the leader is cut off from both followers while clients
                   still reach it: the majority elects a new leader and keeps
                   committing; the cut-off leader steps down by itself
                   (check-quorum), and commands offered only to it are never
                   acknowledged; after healing, the history is linearizable
                   and every replica applies the same prefix.
  isolated_follower  a follower is cut off while the others commit and
                   compact their logs past it; after healing it catches up
                   by fetching a snapshot, and all replicas converge.
  partial          the leader loses its link to one follower only (that
                   follower still reaches the other): commands keep committing
                   through the cut, and the history is linearizable.

Each replica and the clients run in network namespaces the test creates
(tests/cluster/netns.py) and deletes; it needs root. Where namespaces cannot be
made, it prints why and exits 77, which ctest reports as skipped. Exit 0 on
success; failures print why and the replicas' log tails.
"""
import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, History, scaled, wait_until  # noqa: E402
from load import check_linearizable, client_loop, wait_applied_equal, wait_converged  # noqa: E402
from netns import PrivateNetwork  # noqa: E402

SKIP = 77
OUTCOME = {0: "ok", 1: "fail"}  # any other exit: unknown ("info")


class ShellClient:
    """One `synod-counter shell` process: one client session for many
    commands (a one-shot command registers a session of its own, which a
    cut-off leader could never commit, so it would never propose the command
    itself). Started in the clients' namespace; killed with the cluster."""

    def __init__(self, cluster, members, timeout_ms):
        self.proc = subprocess.Popen(
            cluster.exec_prefix("client") + [cluster.client_binary, "shell", "--members", members,
                                             "--timeout", str(timeout_ms)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, bufsize=1)
        cluster.started_pids.add(self.proc.pid)

    def run(self, line):
        """Sends one command line; returns (exit code, its output line)."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.readline().strip()
        assert out, "the shell client ended early (exit %s)" % self.proc.poll()
        return (int(out[len("exit="):]) if out.startswith("exit=") else 0), out

    def close(self):
        self.proc.stdin.close()
        assert self.proc.wait(timeout=scaled(30)) == 0, self.proc.returncode


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


@contextlib.contextmanager
def client_load(args, cluster, name, count=3):
    """Runs `count` closed-loop counter clients (all members) for the body,
    which gets their History; then stops them, checks the history is
    linearizable and waits for every replica to apply the same prefix."""
    history, stop = History(), threading.Event()
    threads = start_clients(cluster, history, stop, count)
    try:
        yield history
    finally:
        stop_clients(threads, stop)
    check_linearizable(args, history, name)
    wait_applied_equal(cluster, scaled(20))


def oks_between(history, start, end):
    """Acknowledgements received within [start, end) (history µs)."""
    return sum(1 for e in history.events
               if e["type"] == "ok" and start <= e["time"] < end)


def history_now(history):
    return int((time.monotonic() - history.start) * 1e6)


def ballot_key(text):
    """Orders ballots as printed by `status` ("ROUND.ID")."""
    return tuple(int(part) for part in text.split("."))


def sole_leader(cluster, members=None):
    """Waits until one replica (of `members`, default all) reports itself
    leader with the highest ballot reported, in two polls in a row (just
    after a heal, a deposed leader may not have heard of its successor);
    returns (id, ballot)."""
    previous = [None]

    def settled():
        status = {rid: e for rid, e in cluster.status(members).items() if e}
        leaders = [rid for rid, e in status.items() if e.get("role") == "leader"]
        current = None
        if len(leaders) == 1:
            ballot = status[leaders[0]]["ballot"]
            if all(ballot_key(ballot) >= ballot_key(e["ballot"]) for e in status.values()):
                current = (leaders[0], ballot)
        agreed = current is not None and current == previous[0]
        previous[0] = current
        return current if agreed else None
    return wait_until(settled, scaled(20), "one replica to lead with the highest ballot")


def test_isolated_leader(args, net, cluster):
    cluster.start_all()
    stale_oks = []
    with client_load(args, cluster, "isolated-leader") as history:
        for round_ in range(2):
            time.sleep(scaled(1.0))
            old, old_ballot = sole_leader(cluster)
            others = [r for r in cluster.replicas if r.id != old]
            process = 100 + round_
            only_old = cluster.members_of([cluster.replica(old)])
            # A client that reaches only this leader opens its session now,
            # while the leader can still commit.
            shell = ShellClient(cluster, only_old, int(scaled(700)))
            history.record(process, "invoke", "get", None)
            code, out = shell.run("get")
            assert code == 0, "the leader did not answer before the cut: %s" % out
            history.record(process, "ok", "get", int(out.split()[0]))
            net.isolate(old)
            print("round %d: cut leader %d (ballot %s) off from %s" %
                  (round_, old, old_ballot, [r.id for r in others]))
            # That client keeps offering the cut-off leader commands in its
            # session: none may be acknowledged while it is cut off.
            stale_stop = threading.Event()

            def offer_to_old():
                while not stale_stop.is_set():
                    history.record(process, "invoke", "add", 1000)
                    code, out = shell.run("add 1000")
                    history.record(process, OUTCOME.get(code, "info"), "add", 1000)
                    if code == 0:
                        stale_oks.append(out)

            stale = threading.Thread(target=offer_to_old)
            stale.start()
            try:
                majority = cluster.members_of(others)
                new, new_ballot = sole_leader(cluster, members=majority)
                assert ballot_key(new_ballot) > ballot_key(old_ballot), (new_ballot, old_ballot)
                # The majority commits while the old leader is cut off.
                for _ in range(3):
                    history.record(200 + round_, "invoke", "add", 1)
                    code, out, err = cluster.client("add", "1", members=majority)
                    history.record(200 + round_, OUTCOME.get(code, "info"), "add", 1)
                    assert code == 0, "the majority did not commit: %s%s" % (out, err)
                print("round %d: replica %d leads the majority (ballot %s) and commits" %
                      (round_, new, new_ballot))
                # Check-quorum: hearing from no quorum for an election
                # timeout, the cut-off leader steps down by itself.

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
            shell.close()
            assert not stale_oks, "the cut-off leader acknowledged commands: %s" % stale_oks
            outcomes = [e["type"] for e in history.events
                        if e["process"] == process and e["type"] != "invoke" and
                        e["f"] == "add"]
            # "info": the command was taken (and proposed) by the cut-off
            # leader, which could not say whether it would ever be chosen.
            assert "info" in outcomes, "the cut-off leader never took a command: %s" % outcomes
            print("round %d: healed; the cut-off leader acknowledged none of %d commands "
                  "(%d unknown, %d refused)" % (round_, len(outcomes), outcomes.count("info"),
                                                outcomes.count("fail")))
        time.sleep(scaled(1.5))


def test_partial(args, net, cluster):
    cluster.start_all()
    with client_load(args, cluster, "partial") as history:
        time.sleep(scaled(1.0))
        leader, ballot = sole_leader(cluster)
        follower = next(r.id for r in cluster.replicas if r.id != leader)
        before = history_now(history)
        time.sleep(scaled(1.0))
        net.cut(leader, follower)
        cut_from = history_now(history)
        rate_before = oks_between(history, before, cut_from) / (cut_from - before)
        print("cut the link between leader %d (ballot %s) and follower %d" %
              (leader, ballot, follower))
        # Long enough for the cut-off follower's election timeout to pass
        # many times over: pre-vote must keep it from disrupting the leader,
        # which still hears from a quorum (itself and the other follower).
        time.sleep(scaled(3.0))
        status = cluster.status()
        cut_to = history_now(history)
        rate_during = oks_between(history, cut_from, cut_to) / (cut_to - cut_from)
        net.heal()
        print("acknowledged per second: %.0f before the cut, %.0f during it; healed" %
              (rate_before * 1e6, rate_during * 1e6))
        entry = status.get(leader) or {}
        assert (entry.get("role"), entry.get("ballot")) == ("leader", ballot), (
            "leadership changed during the cut: %s" % status)
        assert rate_during >= 0.25 * rate_before, "commits slowed to a crawl during the cut"
        time.sleep(scaled(1.0))


def test_isolated_follower(args, net, cluster):
    # Small snapshot and log-tail settings: while a follower is cut off, the
    # others compact their logs past it, so it must catch up by fetching a
    # snapshot over the healed link.
    flags = ["--snapshot-every", "40", "--log-tail", "10"]
    for r in cluster.replicas:
        r.start(wait_ready=False, extra=flags)
    for r in cluster.replicas:
        r.wait_ready()
    with client_load(args, cluster, "isolated-follower") as history:
        time.sleep(scaled(1.0))
        leader, _ = sole_leader(cluster)
        follower = next(r for r in cluster.replicas if r.id != leader)
        others = [r for r in cluster.replicas if r.id != follower.id]
        net.isolate(follower.id)
        cut_from = history_now(history)
        cut_applied = int(cluster.status(cluster.members_of([follower]))[follower.id]["applied"])
        print("cut follower %d off (applied %d)" % (follower.id, cut_applied))

        def compacted_past_follower():
            status = cluster.status(cluster.members_of(others))
            return all(e and int(e["applied"]) > cut_applied + 200 for e in status.values())
        wait_until(compacted_past_follower, scaled(60),
                   "the majority to apply 200 commands past the cut-off follower")
        # Longer than the per-call deadline (2 s): the links to the follower
        # are torn down, so what it missed is not simply retransmitted by TCP
        # once the cut heals.
        time.sleep(max(0.0, cut_from / 1e6 + scaled(5.0) - (time.monotonic() - history.start)))
        oks = oks_between(history, cut_from, history_now(history))
        net.heal()
        print("%d acknowledged while it was cut off; healed" % oks)

        def caught_up():
            with open(follower.log_path) as f:
                return "installed snapshot at slot" in f.read()
        wait_until(caught_up, scaled(30), "follower %d to install a snapshot" % follower.id)
        time.sleep(scaled(1.0))
    status = wait_converged(cluster, scaled(20))
    print("follower %d caught up by snapshot; all at applied %s, digest %s" %
          (follower.id, status[follower.id]["applied"], status[follower.id]["digest"]))


TESTS = {
    "isolated_follower": test_isolated_follower,
    "isolated_leader": test_isolated_leader,
    "partial": test_partial,
}


def give_up(signum, _frame):
    """A SIGTERM (a harness giving up) or the test's own deadline (SIGALRM):
    unwind like an error, so every process and namespace started is removed."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let cleanup finish
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    sys.exit("terminated by %s" % signal.Signals(signum).name)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--counter", required=True)
    parser.add_argument("--lincheck", required=True)
    parser.add_argument("--deadline-s", type=float, default=500,
                        help="give up (cleaning up) after this long; below ctest's TIMEOUT, "
                             "which kills without warning")
    parser.add_argument("test", choices=sorted(TESTS))
    args = parser.parse_args()
    why_not = PrivateNetwork.probe()
    if why_not is not None:
        print("SKIP: %s (this test makes its own network namespaces)" % why_not)
        return SKIP
    signal.signal(signal.SIGTERM, give_up)
    signal.signal(signal.SIGALRM, give_up)
    signal.setitimer(signal.ITIMER_REAL, args.deadline_s)
    start = time.monotonic()
    with PrivateNetwork([1, 2, 3]) as net, Cluster(args.counter, 3, network=net) as cluster:
        try:
            TESTS[args.test](args, net, cluster)
        except AssertionError:
            for r in cluster.replicas:
                print("--- replica %d log tail ---\n%s" % (r.id, r.log_tail(25)))
            raise
    print("PASS %s in %.1f s" % (args.test, time.monotonic() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
