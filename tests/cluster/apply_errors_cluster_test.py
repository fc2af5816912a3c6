#!/usr/bin/env python3
"""Multi-process tests of exceptions thrown by a StateMachine's Apply, on a
3-replica cluster of synod-test-machine (a test-only counter that throws on
request; tests/support/throwing_machine_main.cc). Run by ctest:

  apply_errors_cluster_test.py --binary BIN TEST

TEST is one of:
  std_exception_is_a_result   a std::exception from Apply is that command's
      failure: its client exits 1 naming the message, every replica logs it at
      error level, the commands before and after it succeed; a restart of
      every replica (replaying the log, then from a snapshot) reaches the same
      results and the replicas' states agree.
  non_std_exception_exits_70  an exception not derived from std::exception
      stops every replica that applies it with exit 70 and one line on stderr.
  bad_alloc_exits_70          the same for std::bad_alloc.
  one_replica_exits_70        the same on a 1-replica cluster (Apply runs in an
      Asio handler after the replica's own fsync), both under `serve`
      (RunServe) and in a program embedding node::Replica directly: exit 70
      promptly, one fatal line, nothing after it.
Every test binds only 127.0.0.1 on free ports, bounds its time, and kills the
processes it started.
"""
import argparse
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, scaled, wait_until  # noqa: E402

FATAL_PREFIX = "synod: fatal internal error in "


def run(cluster, command):
    return cluster.client("run", command)


def expect_ok(cluster, command, value):
    code, out, err = run(cluster, command)
    assert code == 0 and out.split()[0] == value, (command, code, out, err)


def log_text(replica):
    with open(replica.log_path) as f:
        return f.read()


def error_lines(replica, message):
    """Lines of `replica`'s log reporting that Apply threw `message`, at error level."""
    return [line for line in log_text(replica).splitlines()
            if " error " in line and "Apply threw" in line and line.endswith(": " + message)]


def wait_states_agree(cluster):
    """Waits until every replica reports the same applied slot and state digest."""
    def agree():
        status = cluster.status()
        if len(status) != len(cluster.replicas) or None in status.values():
            return False
        return len({(e.get("applied"), e.get("digest")) for e in status.values()}) == 1
    wait_until(agree, scaled(20), "the replicas' applied slots and digests to agree")


def restart_all(cluster, extra=()):
    for r in cluster.replicas:
        assert r.stop() == 0, "replica %d did not exit 0 on SIGTERM:\n%s" % (r.id, r.log_tail())
    for r in cluster.replicas:
        r.start(wait_ready=False, extra=extra)
    for r in cluster.replicas:
        r.wait_ready()


def test_std_exception_is_a_result(args):
    with Cluster(args.binary) as cluster:
        cluster.start_all()
        expect_ok(cluster, "add 5", "5")
        code, out, err = run(cluster, "throw bad input: x")
        assert code == 1, ("a throwing Apply must be a definite failure (exit 1)", code, out, err)
        assert "bad input: x" in err, err
        # What Apply changed before it threw stays changed, alike everywhere.
        code, out, err = run(cluster, "add-then-throw 10 half done")
        assert code == 1 and "half done" in err, (code, out, err)
        # A KJ exception's what() holds a per-process stack trace: the stored
        # failure (its description) must still be the same on every replica.
        code, out, err = run(cluster, "throw-kj kj refusal")
        assert code == 1 and "kj refusal" in err and "stack:" not in err, (code, out, err)
        expect_ok(cluster, "add 2", "17")
        expect_ok(cluster, "get", "17")
        for r in cluster.replicas:
            wait_until(lambda r=r: len(error_lines(r, "bad input: x")) == 1, scaled(10),
                       "replica %d to log the failure at error level" % r.id)
            assert r.alive(), "replica %d stopped:\n%s" % (r.id, r.log_tail())
        wait_states_agree(cluster)

        # Every replica restarts and replays the log: the same failure, logged again.
        restart_all(cluster)
        expect_ok(cluster, "get", "17")
        for r in cluster.replicas:
            wait_until(lambda r=r: len(error_lines(r, "bad input: x")) == 2, scaled(10),
                       "replica %d to replay the failure" % r.id)
        expect_ok(cluster, "add 1", "18")
        wait_states_agree(cluster)

        # From a snapshot (it holds the session table with the failure) too.
        for r in cluster.replicas:
            os.kill(r.proc.pid, signal.SIGUSR1)
        for r in cluster.replicas:
            snapshots = os.path.join(r.data_dir, "snapshots")
            wait_until(lambda s=snapshots: any(n.endswith(".meta") for n in os.listdir(s)),
                       scaled(10), "replica %d to write a snapshot" % r.id)
        restart_all(cluster)
        for r in cluster.replicas:
            assert "restored snapshot at slot" in log_text(r), r.log_tail()
        expect_ok(cluster, "get", "18")
        code, out, err = run(cluster, "throw again")
        assert code == 1 and "again" in err, (code, out, err)
        expect_ok(cluster, "add 1", "19")
        wait_states_agree(cluster)
        for r in cluster.replicas:
            assert r.alive(), "replica %d stopped:\n%s" % (r.id, r.log_tail())
        print("a throwing Apply failed its command alike on every replica, before and after "
              "restarts; the cluster kept serving")


def expect_exit_70(cluster, command, description):
    """Runs `command`, which every replica that applies it must answer by
    exiting 70 with one line on stderr. The first leader applies it and stops;
    the next leader (the other two are a quorum) gets it chosen again and
    stops; the last replica alone is no quorum and may never learn it was
    chosen, so it may stay up (it cannot serve anything either)."""
    cluster.start_all()
    expect_ok(cluster, "add 5", "5")
    code, out, err = cluster.client("run", command, timeout_ms=int(scaled(3000)))
    assert code != 0, (code, out, err)
    wait_until(lambda: sum(not r.alive() for r in cluster.replicas) >= 2, scaled(30),
               "two replicas to stop after %s" % command)
    for r in cluster.replicas:
        fatal = [line for line in log_text(r).splitlines() if line.startswith(FATAL_PREFIX)]
        if r.alive():
            assert not fatal, (fatal, r.log_tail())
            continue
        assert r.proc.returncode == 70, "replica %d exited %s:\n%s" % (
            r.id, r.proc.returncode, r.log_tail())
        assert len(fatal) == 1 and fatal[0].endswith(description), (fatal, r.log_tail())
        print("replica %d exited 70: %s" % (r.id, fatal[0]))


def test_non_std_exception_exits_70(args):
    with Cluster(args.binary) as cluster:
        expect_exit_70(cluster, "throw-int",
                           "an exception of a type not derived from std::exception")


def test_bad_alloc_exits_70(args):
    with Cluster(args.binary) as cluster:
        expect_exit_70(cluster, "throw-bad-alloc", "std::bad_alloc: std::bad_alloc")


def test_one_replica_exits_70(args):
    description = "an exception of a type not derived from std::exception"
    for embed in ("0", "1"):
        os.environ["SYNOD_TEST_EMBED"] = embed
        with Cluster(args.binary, size=1) as cluster:
            cluster.start_all()
            expect_ok(cluster, "add 5", "5")
            r = cluster.replicas[0]
            code, out, err = cluster.client("run", "throw-int", timeout_ms=int(scaled(3000)))
            assert code != 0, (code, out, err)
            wait_until(lambda: not r.alive(), scaled(10), "the replica to stop (embed=%s)" % embed)
            assert r.proc.returncode == 70, "embed=%s: exited %s:\n%s" % (
                embed, r.proc.returncode, r.log_tail())
            lines = log_text(r).splitlines()
            fatal = [line for line in lines if line.startswith(FATAL_PREFIX)]
            assert len(fatal) == 1 and fatal[0].endswith(description), (embed, fatal, r.log_tail())
            assert lines[-1] == fatal[0], ("nothing may follow the fatal line", embed, r.log_tail())
            print("embed=%s: the replica exited 70: %s" % (embed, fatal[0]))
    del os.environ["SYNOD_TEST_EMBED"]


TESTS = {
    "std_exception_is_a_result": test_std_exception_is_a_result,
    "non_std_exception_exits_70": test_non_std_exception_exits_70,
    "bad_alloc_exits_70": test_bad_alloc_exits_70,
    "one_replica_exits_70": test_one_replica_exits_70,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("test", choices=sorted(TESTS))
    args = parser.parse_args()
    started = time.monotonic()
    TESTS[args.test](args)
    print("%s passed in %.1f s" % (args.test, time.monotonic() - started))


if __name__ == "__main__":
    main()
