#!/usr/bin/env python3
"""Multi-process tests of the replicated counter, run by ctest:

  counter_cluster_test.py --counter BIN --lincheck BIN [--same-start-clock LIB] TEST

TEST is one of: basic, kill_leader, sigstop_leader, garbage, amnesia,
plain_log, seeded_cluster_ids, session_limits, session_expiry, same_start_clock
(needs --same-start-clock: the synod_same_start_clock LD_PRELOAD module, tests/support/same_start_clock.cc).
Every test binds only 127.0.0.1 on free ports, bounds its time, and kills the
processes it started. Exit 0 on success; failures print why and the replicas'
log tails.
"""
import argparse
import os
import queue
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, History, scaled, wait_until  # noqa: E402
from load import Load, check_linearizable, parse_value, wait_applied_equal  # noqa: E402


def test_basic(args):
    with Cluster(args.counter) as cluster:
        cluster.start_all()
        code, out, err = cluster.client("add", "5")
        assert code == 0, (code, out, err)
        assert parse_value(out) == 5, out
        assert "slot=" in out and "leader=" in out, out
        code, out, _ = cluster.client("add", "10")
        assert code == 0 and parse_value(out) == 15, out
        code, out, _ = cluster.client("get")
        assert code == 0 and parse_value(out) == 15, out
        # shell: many commands in one session, one output line each.
        proc = subprocess.run([cluster.client_binary, "shell", "--members", cluster.members],
                              input="add 2\nget\n\nbogus\nadd x\nadd -7\n", text=True,
                              capture_output=True, timeout=scaled(60))
        lines = proc.stdout.splitlines()
        assert proc.returncode == 0 and len(lines) == 5, (proc.returncode, proc.stdout,
                                                           proc.stderr)
        assert [parse_value(line) for line in (lines[0], lines[1], lines[4])] == [17, 17, 10], lines
        assert lines[2:4] == ["exit=64", "exit=64"], lines
        status = cluster.status()
        assert len(status) == 3 and all(status.values()), status
        code, out, err = cluster.client("add", "notanumber")
        assert code == 64, (code, out, err)
        wait_applied_equal(cluster, scaled(10))
        for r in cluster.replicas:
            assert r.stop() == 0, "replica %d did not exit 0 on SIGTERM" % r.id


def test_kill_leader(args):
    with Cluster(args.counter) as cluster:
        cluster.start_all()
        with Load(cluster) as load:
            for _ in range(3):
                time.sleep(scaled(1.5))
                leader = cluster.leader()
                cluster.replica(leader).kill9()
                print("killed leader %d" % leader)
                new_leader = cluster.leader()
                assert new_leader != leader
                time.sleep(scaled(1.0))
                cluster.replica(leader).start()
            time.sleep(scaled(1.5))
        check_linearizable(args, load.history, "kill-leader")
        wait_applied_equal(cluster, scaled(20))


def test_sigstop_leader(args):
    with Cluster(args.counter) as cluster:
        cluster.start_all()
        code, out, _ = cluster.client("add", "1")
        assert code == 0, out
        old = cluster.leader()
        others = [r for r in cluster.replicas if r.id != old]
        others_members = ",".join("%d=127.0.0.1:%d" % (r.id, r.port) for r in others)
        history = History()
        history.record(0, "invoke", "add", 1)
        history.record(0, "ok", "add", 1)
        cluster.replica(old).pause()
        try:
            code, out, _ = cluster.client("add", "2", members=others_members)
            assert code == 0, "the majority must elect a new leader and commit: %s" % out
            history.record(1, "invoke", "add", 2)
            history.record(1, "ok", "add", 2)
            new_leader = int(out.split("leader=")[1].split()[0])
            assert new_leader != old, out
        finally:
            cluster.replica(old).resume()
        # Straight after resuming, the stale leader is offered commands directly.
        old_only = "%d=127.0.0.1:%d" % (old, cluster.replica(old).port)
        for i in range(3):
            history.record(2, "invoke", "add", 100)
            code, out, _ = cluster.client("add", "100", members=old_only,
                                          timeout_ms=int(scaled(1500)))
            history.record(2, {0: "ok", 1: "fail"}.get(code, "info"), "add", 100)
            if code == 0:
                leader = int(out.split("leader=")[1].split()[0])
                assert leader != old or cluster.leader() == old, \
                    "acknowledged by the stale leader: %s" % out
        history.record(3, "invoke", "get", None)
        code, out, _ = cluster.client("get")
        assert code == 0, out
        history.record(3, "ok", "get", parse_value(out))
        check_linearizable(args, history, "sigstop")
        wait_applied_equal(cluster, scaled(20))


def test_garbage(args):
    with Cluster(args.counter) as cluster:
        cluster.start_all()
        target = cluster.replicas[0]
        rng = random.Random(7)
        for size in (1, 7, 64, 4096, 100000):
            with socket.create_connection(("127.0.0.1", target.port), timeout=scaled(5)) as s:
                try:
                    s.sendall(bytes(rng.getrandbits(8) for _ in range(size)))
                    s.settimeout(scaled(5))
                    s.recv(16)
                except OSError:
                    pass
        assert target.alive(), "garbage bytes killed the replica:\n" + target.log_tail()
        only = "%d=127.0.0.1:%d" % (target.id, target.port)
        status = cluster.status()
        assert status.get(target.id), status
        code, out, _ = cluster.client("add", "3")
        assert code == 0, out


def test_amnesia(args):
    with Cluster(args.counter) as cluster:
        cluster.start_all()
        code, out, _ = cluster.client("add", "4")
        assert code == 0, out
        victim = cluster.replicas[2]
        victim.stop()
        shutil.rmtree(victim.data_dir)
        victim.start(wait_ready=False)
        try:
            victim.proc.wait(timeout=scaled(30))
        except subprocess.TimeoutExpired:
            raise AssertionError("a replica with an empty data dir joined peers with history")
        assert victim.proc.returncode != 0, victim.proc.returncode
        assert not victim.ready.is_set()
        log = victim.log_tail()
        assert "replace" in log or "lost" in log, "no explanation in:\n" + log


def spare_logs(data_dir):
    return [os.path.join(d, f) for d, _, files in os.walk(data_dir)
            for f in files if f.startswith("synod-spare.wal")]


def test_plain_log(args):
    """--preallocate-log no: plain LevelDB logs, same service; a bad value is
    a usage error (exit 64)."""
    with Cluster(args.counter) as cluster:
        for r in cluster.replicas[:2]:
            r.start(wait_ready=False)
        plain = cluster.replicas[2]
        plain.start(wait_ready=False, extra=("--preallocate-log", "no"))
        for r in cluster.replicas:
            r.wait_ready()
        for i in range(20):
            code, out, _ = cluster.client("add", "1")
            assert code == 0, out
        wait_applied_equal(cluster, scaled(10))
        assert spare_logs(cluster.replicas[0].data_dir), "the default keeps a spare log"
        assert not spare_logs(plain.data_dir), "--preallocate-log no made a spare"
        assert plain.stop() == 0
        proc = subprocess.run(
            [args.counter, "serve", "--id", "3", "--members", cluster.members, "--data",
             plain.data_dir, "--preallocate-log", "maybe"],
            capture_output=True, text=True, timeout=scaled(30))
        assert proc.returncode == 64, (proc.returncode, proc.stderr)
        assert "--preallocate-log takes yes or no" in proc.stderr, proc.stderr


def test_same_start_clock(args):
    """Client processes that read the same steady_clock instant at start-up
    (forced by the synod_same_start_clock LD_PRELOAD module) must still open
    distinct sessions: each add is applied once and answered with its own
    result, none as a duplicate of another's."""
    env = dict(os.environ, LD_PRELOAD=args.same_start_clock,
               ASAN_OPTIONS=(os.environ.get("ASAN_OPTIONS", "") +
                             ":verify_asan_link_order=0").lstrip(":"))
    # The module marks each process it froze: without the marks the test
    # would pass vacuously (no interposition, every client reads its own clock).
    mark_dir = tempfile.mkdtemp(prefix="synod-same-start-")
    env["SYNOD_TEST_STEADY_MARK_DIR"] = mark_dir
    amounts = (1, 10, 100, 1000)
    with Cluster(args.counter) as cluster:
        cluster.start_all()
        expected = 0
        for _ in range(3):
            env["SYNOD_TEST_STEADY_START_NS"] = str(time.monotonic_ns())
            procs = [subprocess.Popen(
                [args.counter, "add", str(n), "--members", cluster.members,
                 "--timeout", str(int(scaled(10000)))],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for n in amounts]
            results = []
            for proc in procs:
                cluster.started_pids.add(proc.pid)
                out, err = proc.communicate(timeout=scaled(40))
                assert proc.returncode == 0, (proc.returncode, out, err)
                results.append(parse_value(out))
                assert os.path.exists(os.path.join(mark_dir, str(proc.pid))), (
                    "the same-start clock module did not freeze pid %d's clock" % proc.pid)
            expected += sum(amounts)
            assert len(set(results)) == len(results), (
                "adds answered with the same result (shared session): %s" % results)
        code, out, err = cluster.client("get")
        assert code == 0 and parse_value(out) == expected, (code, out, err, expected)
    shutil.rmtree(mark_dir, ignore_errors=True)


def agreed_cluster_id(replica):
    """The id in replica's "the cluster agreed on id X" log line, or None."""
    for line in replica.log_tail(200).splitlines():
        if "the cluster agreed on id " in line:
            return line.split("the cluster agreed on id ")[1].split()[0]
    return None


def test_seeded_cluster_ids(args):
    """Two clusters whose replicas all get one explicit --seed still agree on
    different cluster ids."""
    ids = []
    for _ in range(2):
        with Cluster(args.counter) as cluster:
            for r in cluster.replicas:
                r.start(wait_ready=False, extra=("--seed", "5"))
            for r in cluster.replicas:
                r.wait_ready()
            code, out, err = cluster.client("add", "1")
            assert code == 0, (code, out, err)
            agreed = wait_until(
                lambda: [agreed_cluster_id(r) for r in cluster.replicas]
                if all(agreed_cluster_id(r) for r in cluster.replicas) else None,
                scaled(20), "every replica to log the agreed cluster id")
            assert len(set(agreed)) == 1, agreed
            ids.append(agreed[0])
    assert ids[0] != ids[1], "two clusters with --seed 5 share cluster id %s" % ids[0]
    print("cluster ids with --seed 5: %s and %s" % tuple(ids))


def test_session_limits(args):
    """--max-sessions travels in the log: with 2 at the leader, a third client
    process (a third session) is refused with a definite failure (exit 1, "too
    many sessions"), and replica 3, whose own flag says 1000, decides the same
    as the others (equal state digests)."""
    with Cluster(args.counter) as cluster:
        def start(r, wait_ready):
            r.start(wait_ready=wait_ready,
                    extra=("--max-sessions", "1000" if r.id == 3 else "2"))
        for r in cluster.replicas:
            start(r, False)
        for r in cluster.replicas:
            r.wait_ready()
        leader = cluster.leader()
        if leader == 3:  # its limit would count: let 1 or 2 lead
            cluster.replica(3).stop()
            leader = cluster.leader(members=cluster.members_of(cluster.replicas[:2]))
            start(cluster.replica(3), True)
        for n in (1, 2):
            code, out, err = cluster.client("add", str(n))
            assert code == 0, (code, out, err)
        code, out, err = cluster.client("add", "100")
        assert code == 1 and "too many sessions" in err, (code, out, err)
        assert cluster.leader() == leader, "leadership moved during the test"
        # Compare digests within one status round whose applied slots agree
        # (the leader's ticks keep choosing slots, so two rounds may differ).
        def same_applied():
            status = cluster.status()
            if None in status.values():
                return None
            return status if len({e["applied"] for e in status.values()}) == 1 else None
        status = wait_until(same_applied, scaled(10), "the replicas to report one applied slot")
        digests = {e["digest"] for e in status.values()}
        assert len(digests) == 1, status
        print("applied %s, digests %s" % ({r: e["applied"] for r, e in status.items()}, digests))


def test_session_expiry(args):
    """serve --session-expiry-ms: a shell client's session expires once it has
    been idle past the expiry in log time (which the leader's time ticks move
    on, about one entry a second). Its next command is refused on the expired
    session, never proposed before, so the client re-sends it on a new
    session: applied once, answered ok. Zero is a usage error (exit 64)."""
    with Cluster(args.counter) as cluster:
        for r in cluster.replicas:
            r.start(wait_ready=False, extra=("--session-expiry-ms", "1000"))
        for r in cluster.replicas:
            r.wait_ready()
        errors = open(os.path.join(cluster.root, "shell.err"), "w+")
        shell = subprocess.Popen(
            cluster.exec_prefix("client") + [
                cluster.client_binary, "shell", "--members", cluster.members,
                "--timeout", str(int(scaled(10000)))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True)
        cluster.started_pids.add(shell.pid)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(l.strip()) for l in shell.stdout],
                         daemon=True).start()

        def command(line):
            shell.stdin.write(line + "\n")
            shell.stdin.flush()
            try:
                return lines.get(timeout=scaled(30))
            except queue.Empty:
                raise AssertionError("no answer to %r" % line)

        first = command("add 1")
        assert parse_value(first) == 1, first
        slot = int(first.split("slot=")[1].split()[0])
        leader = cluster.leader()
        # Three time ticks after the add: over two seconds of log time.
        wait_until(lambda: int((cluster.status().get(leader) or {}).get("applied", 0)) >= slot + 3,
                   scaled(30), "three time ticks after the first add")
        second = command("add 1")
        errors.seek(0)
        assert not second.startswith("exit="), (second, errors.read())
        assert parse_value(second) == 2, second
        assert parse_value(command("get")) == 2
        shell.stdin.close()
        assert shell.wait(timeout=scaled(30)) == 0
    with tempfile.TemporaryDirectory() as data_dir:
        proc = subprocess.run(
            [args.counter, "serve", "--id", "1", "--members", "1=127.0.0.1:1", "--data",
             data_dir, "--session-expiry-ms", "0"],
            capture_output=True, text=True, timeout=scaled(30))
        assert proc.returncode == 64, (proc.returncode, proc.stderr)
        assert "--session-expiry-ms must be positive" in proc.stderr, proc.stderr


TESTS = {
    "basic": test_basic,
    "kill_leader": test_kill_leader,
    "sigstop_leader": test_sigstop_leader,
    "garbage": test_garbage,
    "amnesia": test_amnesia,
    "plain_log": test_plain_log,
    "same_start_clock": test_same_start_clock,
    "seeded_cluster_ids": test_seeded_cluster_ids,
    "session_limits": test_session_limits,
    "session_expiry": test_session_expiry,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--counter", required=True)
    parser.add_argument("--lincheck", required=True)
    parser.add_argument("--same-start-clock", help="synod_same_start_clock module (LD_PRELOAD)")
    parser.add_argument("test", choices=sorted(TESTS))
    args = parser.parse_args()
    start = time.monotonic()
    TESTS[args.test](args)
    print("PASS %s in %.1f s" % (args.test, time.monotonic() - start))


if __name__ == "__main__":
    main()
