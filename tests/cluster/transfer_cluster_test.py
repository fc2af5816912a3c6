#!/usr/bin/env python3
"""Leadership transfer on real synod-counter replicas.

usage: transfer_cluster_test.py --counter BIN --lincheck BIN TEST

TEST is one of:
  transfer          3 replicas under 4 concurrent clients: `transfer-leader ID`
                    to each follower in turn prints exactly "leader=ID", exits 0
                    and status then names ID leader; an id that is no member
                    exits 1 with the reason ("not a member"), and so does a
                    target that is stopped (SIGSTOP: the old leader still
                    leads after an election timeout); the clients' history is linearizable.
  rolling_sigterm   3 replicas under 4 clients: SIGTERM and restart each
                    replica in turn, the leader last (it hands leadership over
                    before it exits); no client command fails or ends unknown
                    and the history is linearizable.
  paused_target     3 replicas: the target is paused (SIGSTOP) after it
                    answered the leader's heartbeat but before it read the
                    TimeoutNow, so the transfer ends with the old leader
                    leading while the target may still take over: exit 1
                    ("failed") only if the target then never leads (it does
                    once resumed: exit 0 or 2). Five attempts.
Every test binds only 127.0.0.1 on free ports, bounds its time, and kills the
processes it started by pid.
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, scaled, wait_until  # noqa: E402
from load import Load, check_linearizable  # noqa: E402


def test_transfer(args):
    with Cluster(args.counter) as cluster:
        cluster.start_all()
        with Load(cluster, timeout_ms=6000) as load:
            time.sleep(scaled(0.5))
            for _ in range(2):
                leader = cluster.leader()
                for target in [r.id for r in cluster.replicas if r.id != leader]:
                    start = time.monotonic()
                    code, out, err = cluster.client("transfer-leader", str(target))
                    took = time.monotonic() - start
                    assert code == 0 and out == "leader=%d\n" % target, (code, out, err)
                    print("transfer-leader %d: %s in %.0f ms" % (target, out.strip(),
                                                                 took * 1000))
                    status = cluster.status()
                    assert status[target] and status[target]["role"] == "leader", status
                    time.sleep(scaled(0.3))
            # Naming the current leader is already done.
            leader = cluster.leader()
            code, out, err = cluster.client("transfer-leader", str(leader))
            assert code == 0 and out == "leader=%d\n" % leader, (code, out, err)
            # An id that is no member: a definite failure with the reason.
            code, out, err = cluster.client("transfer-leader", "9")
            assert code == 1 and out == "" and "not a member" in err, (code, out, err)
            print("transfer-leader 9: exit 1: %s" % err.strip())
            # A target that cannot take over (stopped): the transfer ends
            # after an election timeout with the old leader leading: exit 1.
            leader = cluster.leader()
            stopped = [r for r in cluster.replicas if r.id != leader][0]
            stopped.pause()
            try:
                code, out, err = cluster.client("transfer-leader", str(stopped.id))
            finally:
                stopped.resume()
            assert code == 1 and out == "" and "still leads" in err, (code, out, err)
            print("transfer-leader %d (stopped): exit 1: %s" % (stopped.id, err.strip()))
            assert cluster.leader() == leader
            # Usage errors.
            code, out, err = cluster.client("transfer-leader", "x")
            assert code == 64, (code, out, err)
            time.sleep(scaled(0.5))
        codes = load.codes
        print("client commands: %d, exit codes %s" % (len(codes), sorted(set(codes))))
        assert codes and all(c == 0 for c in codes), "client commands failed: %s" % codes
        check_linearizable(args, load.history, "transfer")


def test_rolling_sigterm(args):
    with Cluster(args.counter) as cluster:
        cluster.start_all()
        with Load(cluster, timeout_ms=6000) as load:
            time.sleep(scaled(0.5))
            leader = cluster.leader()
            order = [r.id for r in cluster.replicas if r.id != leader] + [leader]
            for rid in order:
                replica = cluster.replica(rid)
                was_leader = cluster.leader() == rid
                start = time.monotonic()
                code = replica.stop()
                took = time.monotonic() - start
                assert code == 0, "replica %d exited %s on SIGTERM" % (rid, code)
                if was_leader:
                    log = replica.log_tail(40)
                    assert "shutdown hand-over finished: another replica leads" in log, log
                    print("leader %d handed over and exited in %.0f ms" % (rid, took * 1000))
                replica.start()
                # Wait until the restarted replica caught up before the next one.
                wait_until(lambda: (cluster.status().get(rid) or {}).get("leader", "0") != "0",
                           scaled(20), "replica %d to follow a leader" % rid)
                time.sleep(scaled(0.5))
        codes = load.codes
        print("client commands: %d, exit codes %s" % (len(codes), sorted(set(codes))))
        assert codes and all(c == 0 for c in codes), "client commands failed: %s" % codes
        check_linearizable(args, load.history, "rolling-sigterm")


def test_paused_target(args):
    with Cluster(args.counter) as cluster:
        cluster.start_all()
        time.sleep(scaled(0.3))
        for attempt in range(5):
            leader = cluster.replica(cluster.leader())
            target = [r for r in cluster.replicas if r.id != leader.id][attempt % 2]
            started = leader.log_tail(400).count("transferring leadership to %d" % target.id)
            target.pause()
            cmd = [args.counter, "transfer-leader", str(target.id), "--members", cluster.members,
                   "--timeout", str(int(scaled(3000)))]
            client = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True)
            cluster.started_pids.add(client.pid)
            try:
                wait_until(lambda: leader.log_tail(400).count(
                    "transferring leadership to %d" % target.id) > started,
                    scaled(5), "the transfer to start")
                leader.pause()  # holds the target's heartbeat reply unread
                target.resume()
                time.sleep(scaled(0.05))  # the target answers the heartbeat
                target.pause()
                leader.resume()  # reads the reply; the TimeoutNow waits at the paused target
                out, err = client.communicate(timeout=scaled(20))
            finally:
                leader.resume()
                target.resume()
            code = client.returncode
            assert code in (0, 1, 2), (code, out, err)
            try:
                wait_until(lambda: (cluster.status().get(target.id) or {}).get("role") == "leader",
                           scaled(1.5), "replica %d to lead" % target.id)
                took_over = True
            except AssertionError:
                took_over = False
            print("attempt %d: transfer-leader %d exit %d (%s), then it %s" % (
                attempt, target.id, code, (out + err).strip(),
                "leads" if took_over else "does not lead"))
            assert not (code == 1 and took_over), (
                "exit 1 (failed) although replica %d took over: %s" % (target.id, err.strip()))
            cluster.leader()
            time.sleep(scaled(0.3))


TESTS = {
    "paused_target": test_paused_target,
    "transfer": test_transfer,
    "rolling_sigterm": test_rolling_sigterm,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--counter", required=True)
    parser.add_argument("--lincheck", required=True)
    parser.add_argument("test", choices=sorted(TESTS))
    args = parser.parse_args()
    start = time.monotonic()
    TESTS[args.test](args)
    print("PASS %s in %.1f s" % (args.test, time.monotonic() - start))


if __name__ == "__main__":
    main()
