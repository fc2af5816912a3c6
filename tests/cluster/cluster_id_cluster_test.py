#!/usr/bin/env python3
"""Multi-process tests of the cluster id and member list checks, run by ctest:

  cluster_id_cluster_test.py --counter BIN TEST

TEST is one of:
  wrong_list_member  member 3 replaced by a brand-new process started with
                     another member list: 20 of 20 commands through a client
                     listing all three members succeed;
  restart_wrong_list member 3 restarted on its data directory with another
                     member list refuses to start, naming both lists;
  followers_only     a client listing only the two followers succeeds (it
                     follows the leader hint to a member it does not list);
  earlier_cluster    a process of an earlier cluster (same addresses, other
                     data) started in place of member 3 is refused by the
                     others, and refuses them: it never learns their commands;
  old_dir_without_list member 3's data dir loses its members file (as one
                     made before the file): a start with a wrong list records
                     nothing, the right list is recorded once a peer states it;
  typo_on_fresh_dir  member 3 first started with a mistyped list on a new data
                     dir starts with the corrected list (nothing was promised).
Every test binds only 127.0.0.1 on free ports, bounds its time, and kills the
processes it started. Exit 0 on success.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, free_ports, scaled, wait_until  # noqa: E402


def agreed_cluster_id(replica):
    """The id in replica's last "the cluster agreed on id X" log line, or None."""
    found = None
    for line in replica.log_tail(400).splitlines():
        if "the cluster agreed on id " in line:
            found = line.split("the cluster agreed on id ")[1].split()[0]
    return found


def start_agreed(cluster):
    """Starts every replica and waits until all logged one agreed cluster id."""
    cluster.start_all()
    code, out, err = cluster.client("add", "1")
    assert code == 0, (code, out, err)
    ids = wait_until(
        lambda: [agreed_cluster_id(r) for r in cluster.replicas]
        if all(agreed_cluster_id(r) for r in cluster.replicas) else None,
        scaled(20), "every replica to log the agreed cluster id")
    assert len(set(ids)) == 1, ids
    return ids[0]


def wrong_members(cluster):
    """A --members list like the cluster's, but with member 2 at another port."""
    other = free_ports(1)[0]
    return ",".join("%d=%s:%d" % (r.id, r.host, other if r.id == 2 else r.port)
                    for r in cluster.replicas)


def start_with_members(replica, members, data_dir, log_name):
    """Starts `replica` with its own --members and data dir, logging to
    `log_name` in the cluster's directory (its log_path from now on); returns
    the Popen."""
    replica.log_path = os.path.join(replica.cluster.root, log_name)
    log = open(replica.log_path, "a")
    cmd = [replica.cluster.binary, "serve", "--id", str(replica.id), "--members", members,
           "--data", data_dir, "--election-timeout-ms", str(int(scaled(300))),
           "--heartbeat-ms", str(int(scaled(50)))]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, text=True)
    replica.cluster.started_pids.add(proc.pid)
    replica.proc = proc
    return proc


def log_has(replica, text):
    return text in replica.log_tail(2000)


def test_wrong_list_member(args):
    with Cluster(args.counter) as cluster:
        start_agreed(cluster)
        victim = cluster.replica(3)
        victim.kill9()
        fresh_dir = os.path.join(cluster.root, "r3-new")
        start_with_members(victim, wrong_members(cluster), fresh_dir, "r3-wrong.log")
        wait_until(lambda: log_has(victim, "empty data directory"), scaled(10),
                   "the wrong-list member to start listening")
        failures = []
        for i in range(20):
            code, out, err = cluster.client("add", "1", timeout_ms=int(scaled(5000)))
            if code != 0:
                failures.append((i, code, out.strip(), err.strip()))
        assert not failures, "%d of 20 commands failed: %s" % (len(failures), failures[:3])
        assert victim.alive(), "the wrong-list member exited:\n" + victim.log_tail()
        print("20 of 20 commands succeeded with member 3 on another member list")


def test_restart_wrong_list(args):
    with Cluster(args.counter) as cluster:
        start_agreed(cluster)
        victim = cluster.replica(3)
        victim.stop()
        wrong = wrong_members(cluster)
        proc = start_with_members(victim, wrong, victim.data_dir, "r3-wrong.log")
        try:
            proc.wait(timeout=scaled(20))
        except subprocess.TimeoutExpired:
            raise AssertionError("member 3 started on its data dir with another member list:\n" +
                                 victim.log_tail())
        assert proc.returncode != 0, proc.returncode
        log = victim.log_tail()
        assert cluster.members in log and wrong in log, "both lists not named in:\n" + log
        # Its data is untouched: with the right list it starts and serves.
        victim.start()
        code, out, err = cluster.client("add", "1")
        assert code == 0, (code, out, err)
        print("refused with both lists named; restarted with the right list")


def test_followers_only(args):
    with Cluster(args.counter) as cluster:
        start_agreed(cluster)
        leader = cluster.leader()
        followers = [r for r in cluster.replicas if r.id != leader]
        members = cluster.members_of(followers)
        for _ in range(3):
            code, out, err = cluster.client("add", "1", members=members)
            assert code == 0, (members, code, out, err)
        code, out, err = cluster.client("get", members=members)
        assert code == 0 and int(out.split()[0]) == 4, (code, out, err)
        print("a client listing only followers %s succeeded" % members)


def test_earlier_cluster(args):
    with Cluster(args.counter) as cluster:
        earlier_id = start_agreed(cluster)
        for r in cluster.replicas:
            r.stop()
        # The same addresses, new data: a new cluster.
        earlier_dirs = {}
        for r in cluster.replicas:
            earlier_dirs[r.id] = r.data_dir + "-earlier"
            shutil.move(r.data_dir, earlier_dirs[r.id])
            r.log_path = os.path.join(cluster.root, "r%d-new.log" % r.id)
        new_id = start_agreed(cluster)
        assert new_id != earlier_id, (new_id, earlier_id)
        # A leftover of the earlier cluster comes back in member 3's place.
        victim = cluster.replica(3)
        victim.kill9()
        leftover = start_with_members(victim, cluster.members, earlier_dirs[3],
                                      "r3-earlier.log")
        wait_until(lambda: log_has(victim, "serving on"), scaled(20),
                   "the earlier cluster's member 3 to serve")
        before = cluster.status(members=cluster.members_of([victim]))[3]
        assert before is not None, "the leftover does not answer status"
        for r in cluster.replicas[:2]:
            wait_until(lambda: log_has(r, "(replica 3, cluster %s): wrong cluster id" %
                                       earlier_id), scaled(10),
                       "member %d to refuse the earlier cluster's member 3" % r.id)
        wait_until(lambda: log_has(victim, "refused our handshake: wrong cluster id"),
                   scaled(10), "the new members to refuse the leftover's hellos... "
                   "and the leftover to refuse theirs")
        for _ in range(5):
            code, out, err = cluster.client("add", "1")
            assert code == 0, (code, out, err)
        after = cluster.status(members=cluster.members_of([victim]))[3]
        assert after is not None and leftover.poll() is None
        assert after["leader"] in ("0", "3"), "the leftover follows the new cluster: %s" % after
        assert after["applied"] == before["applied"], (
            "the leftover applied the new cluster's commands: %s -> %s" % (before, after))
        print("earlier cluster %s's member refused by cluster %s" % (earlier_id, new_id))


def test_old_dir_without_list(args):
    """A data dir with history but no `members` file (made before the file
    existed) records no list from a wrong start; the right list is recorded
    once a peer states it."""
    with Cluster(args.counter) as cluster:
        start_agreed(cluster)
        victim = cluster.replica(3)
        victim.stop()
        members_file = os.path.join(victim.data_dir, "members")
        os.remove(members_file)
        start_with_members(victim, wrong_members(cluster), victim.data_dir, "r3-wrong.log")
        wait_until(lambda: log_has(victim, "refused our handshake"), scaled(10),
                   "the peers to refuse member 3 on the wrong list")
        assert not os.path.exists(members_file), "a wrong list was recorded"
        victim.stop()
        victim.start()
        wait_until(lambda: os.path.exists(members_file), scaled(10),
                   "member 3 to record the list a peer confirmed")
        with open(members_file) as f:
            recorded = f.read().strip()
        assert recorded == cluster.members, (recorded, cluster.members)
        code, out, err = cluster.client("add", "1")
        assert code == 0, (code, out, err)
        print("no list recorded from the wrong start; the right one recorded once confirmed")


def test_typo_on_fresh_dir(args):
    """A member first started with a mistyped list on a new data dir (it never
    reached its peers, so promised nothing) starts later with the right one."""
    with Cluster(args.counter) as cluster:
        victim = cluster.replica(3)
        start_with_members(victim, wrong_members(cluster), victim.data_dir, "r3-typo.log")
        wait_until(lambda: os.path.exists(os.path.join(victim.data_dir, "members")),
                   scaled(10), "member 3 to record the mistyped list")
        victim.stop()
        victim.log_path = os.path.join(cluster.root, "r3.log")
        cluster.start_all()
        code, out, err = cluster.client("add", "1")
        assert code == 0, (code, out, err)
        print("restarted with the corrected list on a data dir without history")


TESTS = {
    "wrong_list_member": test_wrong_list_member,
    "restart_wrong_list": test_restart_wrong_list,
    "followers_only": test_followers_only,
    "earlier_cluster": test_earlier_cluster,
    "old_dir_without_list": test_old_dir_without_list,
    "typo_on_fresh_dir": test_typo_on_fresh_dir,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--counter", required=True)
    parser.add_argument("test", choices=sorted(TESTS))
    args = parser.parse_args()
    start = time.monotonic()
    TESTS[args.test](args)
    print("PASS %s in %.1f s" % (args.test, time.monotonic() - start))


if __name__ == "__main__":
    main()
