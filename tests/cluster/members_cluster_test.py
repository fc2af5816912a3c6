#!/usr/bin/env python3
"""Multi-process tests of `members list` and the membership fields of
`status`, run by ctest:

  members_cluster_test.py --counter BIN --lock BIN --lincheck BIN TEST

TEST is one of:
  list        on a 3-replica synod-counter cluster, `members list` (both
              binaries; all members listed, or only one follower: the leader
              hint is followed) prints "ID HOST:PORT voter" per member sorted
              by id and "config slot=0", exit 0; `status` lines keep their
              fields and add "member=voter config_slot=0"; after the leader
              is killed the answer comes from the new leader;
  exit_codes  bad usage exits 64 (no subcommand, an unknown one, an extra
              argument, an unknown option, `--join`, no --members, a bad ID
              or ID=HOST:PORT) for both binaries; no reachable member exits 2
              with the reason on stderr;
  join_flag   `serve --join` (this build cannot join): on an empty data dir
              it exits 1 with the reason, prints no "ready", creates nothing
              and serves nothing; on a member's data dir with history it logs
              that --join has no effect and recovers (the member serves again).
  change      3 replicas under 4 clients: `members add 4=HOST:PORT` prints
              "added 4 learner config=S" and `members list` then shows it;
              adding it again, adding another id at a member's address,
              promoting the absent learner (it is behind) each exit 1 with
              the reason; `members remove 4` prints "removed 4 config=S'" and
              re-adding id 4, or adding id 5 at 4's address, exits 1; with
              a follower paused, removing the
              other follower or the leader exits 1 (no reachable quorum
              after it); removing the leader moves leadership first and
              prints "removed L config=S''"; a removed replica stops (exit
              1, saying it was removed: by its own log, or, if it was down
              when removed, because members refuse it) without moving the
              leader's ballot, also when started again on its data; the
              clients' history is linearizable.
Every test binds only 127.0.0.1 on free ports, bounds its time, and kills the
processes it started. Exit 0 on success.
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, free_ports, scaled, wait_until  # noqa: E402
from load import Load, check_linearizable  # noqa: E402


def run(binary, args, timeout_s=None):
    proc = subprocess.run([binary] + list(args), capture_output=True, text=True,
                          timeout=timeout_s or scaled(40))
    return proc.returncode, proc.stdout, proc.stderr


def expected_listing(replicas):
    lines = ["%d %s:%d voter" % (r.id, r.host, r.port) for r in sorted(replicas, key=lambda r: r.id)]
    return "\n".join(lines + ["config slot=0"]) + "\n"


def members_list(binary, members, timeout_ms=None):
    return run(binary, ["members", "list", "--members", members, "--timeout",
                        str(timeout_ms or int(scaled(10000)))])


def test_list(args):
    with Cluster(args.counter) as cluster:
        cluster.start_all()
        want = expected_listing(cluster.replicas)
        # At once, while the new cluster agrees on its id: a client that
        # learned the member-list hash must learn again when refused.
        code, out, err = members_list(args.counter, cluster.members)
        assert code == 0 and out == want, (code, out, err)
        leader = cluster.leader()
        for binary in (args.counter, args.lock):
            code, out, err = members_list(binary, cluster.members)
            assert code == 0 and out == want, (binary, code, out, err)
        # Only one follower listed: the answer still comes from the leader.
        follower = next(r for r in cluster.replicas if r.id != leader)
        code, out, err = members_list(args.counter, cluster.members_of([follower]))
        assert code == 0 and out == want, (code, out, err)
        print("members list:\n" + out.rstrip())

        # status: the old fields stay, membership is added.
        code, out, err = cluster.client("status")
        assert code == 0, (code, out, err)
        lines = out.splitlines()
        assert len(lines) == 3, out
        for line in lines:
            fields = line.split()
            # The role stays the only field without "=" (cluster.py's parser).
            assert fields[1] in ("leader", "follower", "candidate"), line
            assert [f.split("=")[0] for f in fields[2:]] == [
                "ballot", "chosen", "applied", "leader", "digest", "member", "config_slot"], line
            assert fields[-2:] == ["member=voter", "config_slot=0"], line

        # The leader dies: the surviving members answer through the new one.
        cluster.replica(leader).kill9()
        survivors = [r for r in cluster.replicas if r.id != leader]
        code, out, err = members_list(args.counter, cluster.members_of(survivors))
        assert code == 0 and out == want, (code, out, err)
        print("after the leader died: same listing from the new leader")


def test_exit_codes(args):
    port = free_ports(1)[0]
    members = "1=127.0.0.1:%d" % port
    for binary in (args.counter, args.lock):
        for argv in (["members", "--members", members],
                     ["members", "show", "--members", members],
                     ["members", "list", "extra", "--members", members],
                     ["members", "list", "--members", members, "--bogus", "1"],
                     ["members", "list"],
                     ["members", "list", "--members", members, "--timeout", "0"],
                     ["members", "add", "--members", members],
                     ["members", "add", "4", "--members", members],
                     ["members", "add", "0=127.0.0.1:7004", "--members", members],
                     ["members", "add", "4=127.0.0.1:99999", "--members", members],
                     ["members", "promote", "x", "--members", members],
                     ["members", "remove", "--members", members],
                     ["members", "remove", "1", "2", "--members", members],
                     ["members", "list", "--join", "--members", members]):
            code, out, err = run(binary, argv)
            assert code == 64, (binary, argv, code, out, err)
            assert out == "", (binary, argv, out)
            assert "usage:" in err, (binary, argv, err)
            if "--join" in argv:
                assert "unknown option --join for members list" in err, (binary, err)
        # Nobody listens: no leader can answer, the outcome is unknown (2).
        start = time.monotonic()
        code, out, err = members_list(binary, members, timeout_ms=int(scaled(1000)))
        assert code == 2 and out == "", (binary, code, out, err)
        assert "no leader answered" in err, err
        assert time.monotonic() - start < scaled(15), "took too long"
    print("usage errors exit 64; no reachable member exits 2")


def test_join_flag(args):
    with Cluster(args.counter) as cluster:
        cluster.start_all()
        code, out, err = cluster.client("add", "1")
        assert code == 0, (code, out, err)
        # A new replica 4 with --join (first) on an empty data dir: this build
        # cannot join, and must not form a cluster from its list either.
        port = free_ports(1)[0]
        data = os.path.join(cluster.root, "r4")
        members = cluster.members + ",4=127.0.0.1:%d" % port
        start = time.monotonic()
        code, out, err = run(args.counter, ["serve", "--join", "--id", "4", "--members", members,
                                            "--data", data], timeout_s=scaled(20))
        assert code == 1, (code, out, err)
        assert out == "", out  # no "ready id=4"
        assert ("--join: joining a running cluster is not supported by this build yet; "
                "the replica did not start (nothing written)") in err, err
        assert not os.path.exists(data), os.listdir(data)
        assert time.monotonic() - start < scaled(10), "took too long"
        # Member 3 restarted on its data dir with --join (last): recovers.
        victim = cluster.replica(3)
        victim.stop()
        victim.start(extra=["--join"])
        assert "data directory has history: --join has no effect, recovering" in \
            victim.log_tail(200), victim.log_tail()
        code, out, err = cluster.client("add", "1", members=cluster.members_of([victim]))
        assert code == 0, (code, out, err)
        print("--join: refused on an empty data dir (exit 1, nothing written); "
              "no effect on a data dir with history")


def member_change(cluster, *args, timeout_ms=None):
    return cluster.client("members", *args, timeout_ms=timeout_ms or int(scaled(10000)))


def expect_failed(result, reason):
    code, out, err = result
    assert code == 1 and out == "", (code, out, err)
    assert "failed: " + reason in err, (reason, err)


def test_change(args):
    with Cluster(args.counter) as cluster:
        cluster.start_all()
        port4 = free_ports(1)[0]
        with Load(cluster) as load:
            time.sleep(scaled(0.5))
            code, out, err = member_change(cluster, "add", "4=127.0.0.1:%d" % port4)
            assert code == 0, (code, out, err)
            words = out.split()
            assert out.endswith("\n") and words[:3] == ["added", "4", "learner"], out
            add_slot = int(words[3][len("config="):])
            assert add_slot > 0, out
            code, out, err = member_change(cluster, "list")
            want = ["%d %s:%d voter" % (r.id, r.host, r.port) for r in cluster.replicas]
            want += ["4 127.0.0.1:%d learner" % port4, "config slot=%d" % add_slot]
            assert code == 0 and out.splitlines() == want, (code, out, err)
            print("added learner 4 at slot %d" % add_slot)

            expect_failed(member_change(cluster, "add", "4=127.0.0.1:%d" % port4),
                          "replica 4 is already a member (learner at 127.0.0.1:%d)" % port4)
            first = cluster.replicas[0]
            expect_failed(member_change(cluster, "add", "5=127.0.0.1:%d" % first.port),
                          "address 127.0.0.1:%d is in use by replica 1" % first.port)
            code, out, err = member_change(cluster, "promote", "4",
                                           timeout_ms=int(scaled(1500)))
            assert code == 1 and "failed: learner 4 is " in err and "slots behind" in err, \
                (code, out, err)

            code, out, err = member_change(cluster, "remove", "4")
            assert code == 0 and out.startswith("removed 4 config="), (code, out, err)
            remove_slot = int(out.split("config=")[1])
            assert remove_slot > add_slot, out
            expect_failed(member_change(cluster, "add", "4=127.0.0.1:%d" % port4),
                          "replica id 4 was removed and cannot be reused")
            expect_failed(member_change(cluster, "remove", "4"), "replica 4 was already removed")
            expect_failed(member_change(cluster, "add", "5=127.0.0.1:%d" % port4),
                          "address 127.0.0.1:%d was used by removed replica 4" % port4)

            # With one follower paused, removing the other would leave a
            # configuration whose quorum cannot be reached: refused.
            leader = cluster.leader()
            paused, other = [r for r in cluster.replicas if r.id != leader]
            paused.pause()
            try:
                time.sleep(scaled(0.6))  # past an election timeout without its replies
                expect_failed(member_change(cluster, "remove", str(other.id)),
                              "after the change only 1 of its 2 voters would be reachable")
                expect_failed(member_change(cluster, "remove", str(leader)),
                              "after the change only 1 of its 2 voters would be reachable")
            finally:
                paused.resume()
            time.sleep(scaled(0.6))

            # A follower removed while it was down is refused when it comes
            # back (its log does not know): it says so and stops.
            leader = cluster.leader()
            gone = [r for r in cluster.replicas if r.id != leader][0]
            assert gone.stop() == 0
            time.sleep(scaled(0.6))  # its replies age out: the check counts it unreachable
            code, out, err = member_change(cluster, "remove", str(gone.id))
            assert code == 0 and out.startswith("removed %d config=" % gone.id), (code, out, err)
            ballot = cluster.status()[leader]["ballot"]
            gone.start(wait_ready=False)
            wait_until(lambda: not gone.alive(), scaled(20), "the removed follower to stop")
            assert gone.proc.returncode == 1, gone.proc.returncode
            assert "replica %d was removed from the cluster (replica " % gone.id in \
                gone.log_tail(20), gone.log_tail()
            assert cluster.status()[leader]["ballot"] == ballot, "the leader's ballot moved"
            print("replica %d, removed while down, was refused and stopped" % gone.id)

            leader = cluster.leader()
            code, out, err = member_change(cluster, "remove", str(leader))
            assert code == 0 and out.startswith("removed %d config=" % leader), (code, out, err)
            print("removed the leader %d at %s" % (leader, out.split()[-1]))
            new_leader = cluster.leader()
            assert new_leader != leader, new_leader
            # The removed replica stops by itself once it applied its removal.
            removed = cluster.replica(leader)
            wait_until(lambda: not removed.alive(), scaled(10), "the removed replica to stop")
            assert removed.proc.returncode == 1, removed.proc.returncode
            assert "replica %d was removed from the cluster" % leader in removed.log_tail(20), \
                removed.log_tail()
            # Started again on its data, it is refused, says so and stops,
            # without disturbing the leader's ballot.
            ballot = cluster.status()[new_leader]["ballot"]
            removed.start(wait_ready=False)
            wait_until(lambda: not removed.alive(), scaled(20), "the returning replica to stop")
            assert removed.proc.returncode == 1, removed.proc.returncode
            tail = removed.log_tail(20)
            assert tail.count("replica %d was removed from the cluster" % leader) >= 2, tail
            assert cluster.status()[new_leader]["ballot"] == ballot, "the leader's ballot moved"
            print("the removed replica %d stopped, and stopped again when restarted" % leader)
            time.sleep(scaled(0.5))
        codes = load.codes
        print("client commands: %d, exit codes %s" % (len(codes), sorted(set(codes))))
        assert codes.count(0) > 0, codes
        check_linearizable(args, load.history, "members-change")


TESTS = {
    "list": test_list,
    "exit_codes": test_exit_codes,
    "join_flag": test_join_flag,
    "change": test_change,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--counter", required=True)
    parser.add_argument("--lock", required=True)
    parser.add_argument("--lincheck", required=True)
    parser.add_argument("test", choices=sorted(TESTS))
    args = parser.parse_args()
    start = time.monotonic()
    TESTS[args.test](args)
    print("PASS %s in %.1f s" % (args.test, time.monotonic() - start))


if __name__ == "__main__":
    main()
