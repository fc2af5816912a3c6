#!/usr/bin/env python3
"""Membership changes as an operator makes them, on real synod-counter
replicas under 4 concurrent clients whose history is checked by lincheck.

usage: membership_scenarios_test.py --counter BIN --lincheck BIN TEST

TEST is one of:
  replace_wiped   replica 3 is killed (-9) and its data directory wiped;
                  `serve --join` under id 3 is refused (a voter that lost
                  its data); `members add 4=HOST:PORT`, `serve --join` of 4 (prints
                  "ready id=4"), `members promote 4`, `members remove 3` print
                  exactly what the contract says; `members list` then shows
                  voters 1, 2, 4 and the remove's slot.
  grow_then_kill  3 -> 5 (add, join and promote 4, then 5), then kill -9 two
                  of the original three: clients that know only 3, 4 and 5
                  keep committing.
  shrink          3 -> 5 as above, then `members remove` 4 and 5: the three
                  founders serve on, the removed replicas stop by themselves.
Clients' --members always names the current members (cluster.members), the
way an operator's scripts would, except where a test says otherwise. Every
test binds only 127.0.0.1 on free ports, bounds its time, and kills the
processes it started by pid.
"""
import argparse
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, Replica, free_ports, scaled, wait_until  # noqa: E402
from load import Load, check_linearizable  # noqa: E402


def members_command(cluster, *args, timeout_ms=None):
    """Runs `members ARGS` against the current members; returns (code, out, err)."""
    return cluster.client("members", *args, timeout_ms=timeout_ms or int(scaled(20000)))


def config_slot_of(out, prefix):
    """The S of a one-line answer "PREFIX config=S"."""
    assert out.startswith(prefix + " config=") and out.endswith("\n"), (prefix, out)
    return int(out[len(prefix + " config="):])


def listing(cluster):
    """`members list` as ([(id, address, role)], config slot)."""
    code, out, err = members_command(cluster, "list")
    assert code == 0, (code, out, err)
    lines = out.splitlines()
    assert lines[-1].startswith("config slot="), out
    rows = [tuple(line.split()) for line in lines[:-1]]
    return [(int(r[0]), r[1], r[2]) for r in rows], int(lines[-1][len("config slot="):])


def add_and_join(cluster, rid):
    """Adds replica `rid` as a learner on a free port, starts it with --join
    (its --members names the current members and itself) and waits for
    "ready id=RID"; returns the Replica. Clients then name it too."""
    assert rid == len(cluster.replicas) + 1, "ids are consecutive in the harness"
    replica = Replica(cluster, rid, free_ports(1)[0])
    replica.removed = False
    code, out, err = members_command(cluster, "add", "%d=%s:%d" % (rid, replica.host,
                                                                   replica.port))
    assert code == 0, (code, out, err)
    slot = config_slot_of(out, "added %d learner" % rid)
    cluster.replicas.append(replica)
    cluster.members = cluster.members_of([r for r in cluster.replicas if not r.removed])
    replica.start(wait_ready=True, extra=["--join"])
    print("added learner %d at slot %d; it joined" % (rid, slot))
    return replica


def promote(cluster, rid):
    """Promotes learner `rid` (the server waits until it caught up); returns the slot."""
    code, out, err = members_command(cluster, "promote", str(rid))
    assert code == 0, (code, out, err)
    slot = config_slot_of(out, "promoted %d" % rid)
    print("promoted %d at slot %d" % (rid, slot))
    return slot


def remove(cluster, rid):
    """Removes replica `rid`; clients stop naming it. Returns the slot."""
    code, out, err = members_command(cluster, "remove", str(rid))
    assert code == 0, (code, out, err)
    slot = config_slot_of(out, "removed %d" % rid)
    cluster.replica(rid).removed = True
    cluster.members = cluster.members_of([r for r in cluster.replicas if not r.removed])
    print("removed %d at slot %d" % (rid, slot))
    return slot


def start(cluster):
    for r in cluster.replicas:
        r.removed = False
    cluster.start_all()
    cluster.leader()


def finish(args, load, name):
    codes = load.codes
    print("client commands: %d, exit codes %s" % (len(codes), sorted(set(codes))))
    assert codes.count(0) > 0, codes
    check_linearizable(args, load.history, name)


def test_replace_wiped(args):
    with Cluster(args.counter) as cluster:
        start(cluster)
        with Load(cluster, timeout_ms=6000) as load:
            time.sleep(scaled(0.5))
            lost = cluster.replica(3)
            lost.kill9()
            shutil.rmtree(lost.data_dir)
            # Back under its old id with --join: refused, it would vote having
            # forgotten its promises.
            lost.start(wait_ready=False, extra=["--join"])
            wait_until(lambda: not lost.alive(), scaled(20), "the wiped voter to be refused")
            assert lost.proc.returncode == 1 and not lost.ready.is_set(), lost.log_tail()
            assert "replica 3 is a voter of the cluster" in lost.log_tail(20), lost.log_tail()
            add_and_join(cluster, 4)
            promote(cluster, 4)
            remove_slot = remove(cluster, 3)
            rows, slot = listing(cluster)
            want = [(r.id, "%s:%d" % (r.host, r.port), "voter") for r in cluster.replicas
                    if r.id != 3]
            assert rows == want and slot == remove_slot, (rows, slot, want, remove_slot)
            status = cluster.status()
            assert status[4] and status[4]["member"] == "voter", status
            time.sleep(scaled(0.5))
        finish(args, load, "membership-replace-wiped")


def grow_to_five(cluster):
    for rid in (4, 5):
        add_and_join(cluster, rid)
        promote(cluster, rid)
    rows, _ = listing(cluster)
    assert [r[2] for r in rows] == ["voter"] * 5, rows


def test_grow_then_kill(args):
    with Cluster(args.counter) as cluster:
        start(cluster)
        with Load(cluster, timeout_ms=6000) as load:
            time.sleep(scaled(0.5))
            grow_to_five(cluster)
            time.sleep(scaled(0.5))
            for rid in (1, 2):
                cluster.replica(rid).kill9()
            # Clients that know only the survivors; one of them leads soon.
            cluster.members = cluster.members_of(cluster.replicas[2:])
            cluster.leader(timeout=scaled(10))
            before = len([c for c in load.codes if c == 0])
            wait_until(lambda: len([c for c in load.codes if c == 0]) >= before + 20,
                       scaled(20), "the survivors 3, 4, 5 to commit 20 more commands")
        finish(args, load, "membership-grow-then-kill")


def test_shrink(args):
    with Cluster(args.counter) as cluster:
        start(cluster)
        with Load(cluster, timeout_ms=6000) as load:
            time.sleep(scaled(0.5))
            grow_to_five(cluster)
            for rid in (4, 5):
                remove(cluster, rid)
                replica = cluster.replica(rid)
                wait_until(lambda: not replica.alive(), scaled(20),
                           "removed replica %d to stop" % rid)
                assert replica.proc.returncode == 1, replica.proc.returncode
            rows, _ = listing(cluster)
            assert [(r[0], r[2]) for r in rows] == [(1, "voter"), (2, "voter"), (3, "voter")], rows
            before = len([c for c in load.codes if c == 0])
            wait_until(lambda: len([c for c in load.codes if c == 0]) >= before + 20,
                       scaled(20), "the founders to commit 20 more commands")
        finish(args, load, "membership-shrink")


TESTS = {
    "replace_wiped": test_replace_wiped,
    "grow_then_kill": test_grow_then_kill,
    "shrink": test_shrink,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--counter", required=True)
    parser.add_argument("--lincheck", required=True)
    parser.add_argument("test", choices=sorted(TESTS))
    args = parser.parse_args()
    start_time = time.monotonic()
    TESTS[args.test](args)
    print("PASS %s in %.1f s" % (args.test, time.monotonic() - start_time))


if __name__ == "__main__":
    main()
