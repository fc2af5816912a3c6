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
  join_flag   `serve --join` whose --members names no other member exits 64
              with the reason and creates nothing; on a member's data dir with
              history --join logs that it has no effect and recovers (the
              member serves again).
  join        3 replicas under 4 clients; `serve --join` of replica 4 before
              it was added says at once that it waits to be added, and again
              about 10 s later, serves nothing and reports not-member; after
              `members add 4=...` it prints "ready id=4", reports learner
              (never voter before the promotion) and its applied slot reaches
              the leader's under load; `members promote 4` prints "promoted 4
              config=S"; the clients' history is linearizable.
  join_resume a joiner killed (kill -9) while it waits, started again without
              --join, resumes the join (it says it waits again; it neither
              forms a cluster from its --members nor stops), then joins once
              added: ready, learner; once removed, a new `serve --join` under
              its id on an empty dir stops (exit 1, it was removed);
              linearizable history under 4 clients.
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
  founder_restart
              3 replicas with --snapshot-every 0 under 4 clients: their
              members files hold the one-line founding list; `members add
              4=...`, `members add 5=...`, `members remove 5` (4 and 5 never
              run) rewrite each to "# initial=..." (the founding list),
              "# config_slot=S", the address book 1,2,3,4; founder 1 stopped
              (SIGTERM) and started with a --members naming 4 at another
              address is refused, naming id 4, both addresses and the file;
              started with a --members naming 1,2,3,4,5 (5 was removed) it
              serves, replaying its log from slot 0 (no snapshot) from the
              recorded founding list: its status shows the leader's config
              slot S, and as leader (transfer-leader) it lists 1,2,3 voters
              and 4 learner at slot S; the clients' history is linearizable.
              (An initial configuration built from that --members would make
              every change void on replica 1 alone: 5 would leave without
              being retired.) Then replica 2 loses its members file (a data
              dir from before the file) and starts with replica 1's list:
              its log holds a change, so it refuses (exit 1, saying why);
              with replica 1's file copied in it serves at config slot S.
  other_lists 3 replicas; `members add 4=...` (4 never runs); founder 1
              restarted with a subset (1,2) and founder 2 with a list
              naming 4: with 2 stopped, 1 and 3 still form a quorum (1 links
              to 3 from the configuration, not its list); with 3 stopped, 1
              and 2 serve clients that name the founders (both state the
              configuration's address book, so a majority states one list).
  removed_view
              3 replicas; 3 applies a change (learner 9 added and removed,
              never run: its members file records its configuration), is
              stopped and removed; 4, 5, 6 join and are promoted; 1 and 2
              are removed (they stop). Replica 3 started on its data with a
              --members naming 3,4,5,6 knows no current member from its
              configuration (1,2,3): it dials its list's entries for the
              handshake, is refused as removed and stops (exit 1, saying
              so) without moving the leader or its ballot; 4, 5, 6 keep
              serving.
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
from cluster import Cluster, Replica, free_ports, scaled, wait_until  # noqa: E402
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
        # A new replica 4 with --join (first) and nobody else in --members:
        # there is no one to ask. Usage error, nothing written.
        port = free_ports(1)[0]
        data = os.path.join(cluster.root, "r4")
        code, out, err = run(args.counter, ["serve", "--join", "--id", "4", "--members",
                                            "4=127.0.0.1:%d" % port, "--data", data],
                             timeout_s=scaled(20))
        assert code == 64, (code, out, err)
        assert out == "", out  # no "ready id=4"
        assert "--join needs at least one current member in --members besides replica 4" in err, \
            err
        assert not os.path.exists(data), os.listdir(data)
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


def log_count(replica, text):
    """How often `text` occurs in `replica`'s log so far."""
    try:
        with open(replica.log_path) as f:
            return f.read().count(text)
    except OSError:
        return 0


def start_joiner(cluster, founders, extra=("--join",)):
    """Starts replica 4 (a new port, its own data dir) with --members =
    `founders` plus itself; returns it and that list."""
    joiner = Replica(cluster, 4, free_ports(1)[0])
    cluster.replicas.append(joiner)  # killed with the others
    members = founders + ",4=127.0.0.1:%d" % joiner.port
    joiner.start(wait_ready=False, extra=list(extra), members=members)
    return joiner, members


def joiner_status(cluster, joiner, members, never_voter=True):
    """Status of every replica of `members` ({id: dict}); asserts the joiner
    never reports itself a voter (before its promotion)."""
    status = cluster.status(members=members)
    mine = status.get(joiner.id)
    if never_voter and mine:
        assert mine.get("member") != "voter", mine
    return status


def add_and_catch_up(cluster, joiner, members):
    """`members add 4=...`, then waits for "ready id=4", a learner status and
    its applied slot reaching the leader's; returns the add's config slot."""
    code, out, err = member_change(cluster, "add", "4=127.0.0.1:%d" % joiner.port)
    assert code == 0 and out.startswith("added 4 learner config="), (code, out, err)
    add_slot = int(out.split("config=")[1])
    joiner.wait_ready(scaled(30))
    print("replica 4 added at slot %d and ready" % add_slot)
    # A learner once it applied the change (at once if its snapshot has it).
    wait_until(lambda: (joiner_status(cluster, joiner, members).get(4) or {}).get(
        "member") == "learner", scaled(10), "replica 4 to report member=learner")
    leader = cluster.leader(members=cluster.members)
    target = int(cluster.status()[leader]["applied"])
    wait_until(lambda: int((joiner_status(cluster, joiner, members).get(4) or {}).get(
        "applied", 0)) >= target, scaled(20), "replica 4 to apply up to slot %d" % target)
    print("replica 4 applied up to the leader's slot %d" % target)
    return add_slot


def test_join(args):
    with Cluster(args.counter) as cluster:
        cluster.start_all()
        founders = cluster.members
        with Load(cluster, members=founders) as load:
            time.sleep(scaled(0.5))
            joiner, members = start_joiner(cluster, founders)
            waiting = "replica 4 (127.0.0.1:%d) is waiting to be added to the cluster: " \
                "run 'members add 4=127.0.0.1:%d" % (joiner.port, joiner.port)
            wait_until(lambda: log_count(joiner, waiting) >= 1, scaled(5),
                       "replica 4 to say it waits to be added")
            first = time.monotonic()
            # Asked alone: it states its own list's hash (it has no cluster yet).
            status = cluster.status(members="4=127.0.0.1:%d" % joiner.port)
            assert status[4] and status[4]["member"] == "not-member", status
            wait_until(lambda: log_count(joiner, waiting) >= 2, scaled(15),
                       "replica 4 to say again that it waits")
            gap = time.monotonic() - first
            assert gap >= 8, "said it again after %.1f s" % gap
            assert joiner.alive() and not joiner.ready.is_set(), joiner.log_tail()
            print("replica 4 said it waits to be added, again %.1f s later" % gap)

            add_and_catch_up(cluster, joiner, members)
            code, out, err = member_change(cluster, "promote", "4",
                                           timeout_ms=int(scaled(20000)))
            assert code == 0 and out.startswith("promoted 4 config="), (code, out, err)
            status = joiner_status(cluster, joiner, members, never_voter=False)
            assert status[4]["member"] == "voter", status[4]
            print(out.strip())
            time.sleep(scaled(0.5))
        codes = load.codes
        print("client commands: %d, exit codes %s" % (len(codes), sorted(set(codes))))
        assert codes.count(0) > 0, codes
        check_linearizable(args, load.history, "members-join")


def test_join_resume(args):
    with Cluster(args.counter) as cluster:
        cluster.start_all()
        founders = cluster.members
        with Load(cluster, members=founders) as load:
            joiner, members = start_joiner(cluster, founders)
            waiting = "replica 4 (127.0.0.1:%d) is waiting to be added" % joiner.port
            wait_until(lambda: log_count(joiner, waiting) >= 1, scaled(5),
                       "replica 4 to say it waits to be added")
            joiner.kill9()
            with open(os.path.join(joiner.data_dir, "members")) as f:
                marker = f.read()
            assert marker.startswith("# joined\n"), marker
            # Started again without --join: it is still a joiner.
            joiner.start(wait_ready=False, members=members)
            wait_until(lambda: log_count(joiner, waiting) >= 2 or not joiner.alive(), scaled(5),
                       "restarted replica 4 to say it waits")
            assert joiner.alive(), joiner.log_tail()
            assert "joining a running cluster" in joiner.log_tail(200), joiner.log_tail()
            assert not joiner.ready.is_set()
            print("restarted without --join, replica 4 resumed the join")
            add_and_catch_up(cluster, joiner, members)

            # Removed, it stops; a new `serve --join` of id 4 on an empty
            # directory is refused as removed by the members it asks, and stops.
            code, out, err = member_change(cluster, "remove", "4")
            assert code == 0 and out.startswith("removed 4 config="), (code, out, err)
            wait_until(lambda: not joiner.alive(), scaled(10), "removed replica 4 to stop")
            shutil.rmtree(joiner.data_dir)
            joiner.start(wait_ready=False, extra=["--join"], members=members)
            wait_until(lambda: not joiner.alive(), scaled(20), "a new joiner 4 to stop")
            assert joiner.proc.returncode == 1, joiner.proc.returncode
            tail = joiner.log_tail(20)
            assert "replica 4 was removed from the cluster (replica " in tail, tail
            print("a new joiner under the removed id 4 stopped, saying it was removed")
            time.sleep(scaled(0.5))
        codes = load.codes
        assert codes.count(0) > 0, codes
        check_linearizable(args, load.history, "members-join-resume")


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


def read_file(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def test_founder_restart(args):
    with Cluster(args.counter) as cluster:
        founders = cluster.members
        for r in cluster.replicas:
            r.start(wait_ready=False, extra=["--snapshot-every", "0"])
        for r in cluster.replicas:
            r.wait_ready()
        first = cluster.replica(1)
        members_file = os.path.join(first.data_dir, "members")
        assert read_file(members_file) == founders + "\n", read_file(members_file)
        port4, port5 = free_ports(2)
        grown = founders + ",4=127.0.0.1:%d" % port4
        with Load(cluster, members=founders) as load:
            time.sleep(scaled(0.5))
            code, out, err = member_change(cluster, "add", "4=127.0.0.1:%d" % port4)
            assert code == 0 and out.startswith("added 4 learner config="), (code, out, err)
            code, out, err = member_change(cluster, "add", "5=127.0.0.1:%d" % port5)
            assert code == 0 and out.startswith("added 5 learner config="), (code, out, err)
            code, out, err = member_change(cluster, "remove", "5")
            assert code == 0 and out.startswith("removed 5 config="), (code, out, err)
            config_slot = int(out.split("config=")[1])
            print("added learners 4 and 5, removed 5 at slot %d" % config_slot)
            # Every founder records the change with its founding list.
            want = "# initial=%s\n# config_slot=%d\n%s\n" % (founders, config_slot, grown)
            for r in cluster.replicas:
                path = os.path.join(r.data_dir, "members")
                wait_until(lambda: read_file(path) == want, scaled(10),
                           "replica %d's members file to record slot %d (has %r)" %
                           (r.id, config_slot, read_file(path)))
            time.sleep(scaled(0.3))

            assert first.stop() == 0, first.log_tail()
            # 4 at another address than the cluster added it at: refused.
            wrong = founders + ",4=127.0.0.1:%d" % free_ports(1)[0]
            code, out, err = run(args.counter, ["serve", "--id", "1", "--members", wrong,
                                                "--data", first.data_dir], timeout_s=scaled(20))
            assert code == 1 and out == "", (code, out, err)
            assert ("replica 4 is at 127.0.0.1:%d in %s" % (port4, members_file)) in err, err
            assert "--members says " + wrong.split("4=")[1] in err, err

            # A list naming the added member and the removed one: the replica
            # starts, and its replay (no snapshot) starts from the founding list.
            time.sleep(scaled(0.3))
            first.start(members=grown + ",5=127.0.0.1:%d" % port5,
                        extra=["--snapshot-every", "0"])
            assert "(snapshot at slot 0," in first.log_tail(200), first.log_tail()
            leader = cluster.leader(members=founders)

            def same_configuration():
                status = cluster.status(members=founders)
                if status.get(1) is None or status.get(leader) is None:
                    return None
                slots = (status[1].get("config_slot"), status[leader].get("config_slot"))
                return slots if slots[0] == slots[1] else None

            try:
                wait_until(same_configuration, scaled(10), "replica 1 to agree on the config slot")
            except AssertionError:
                raise AssertionError("replica 1 status %r, leader %d status %r" % (
                    cluster.status(members=founders).get(1), leader,
                    cluster.status(members=founders).get(leader)))
            status = cluster.status(members=founders)
            assert status[1]["config_slot"] == str(config_slot), status
            assert status[1]["member"] == "voter", status
            # Its own configuration, as the leader states it: once it follows
            # the leader, hand it leadership (retried: under load it may lag).
            wait_until(lambda: (cluster.status(members=founders).get(1) or {}).get("leader") ==
                       str(leader), scaled(10), "replica 1 to follow leader %d" % leader)

            def transfer_to_first():
                code, out, err = cluster.client("transfer-leader", "1", members=founders)
                return code == 0 or print("transfer-leader 1: exit %d %s" % (code, err.strip()))

            wait_until(transfer_to_first, scaled(20), "transfer-leader 1 to succeed")
            code, out, err = member_change(cluster, "list")
            listing = ["%d %s:%d voter" % (r.id, r.host, r.port) for r in cluster.replicas]
            listing += ["4 127.0.0.1:%d learner" % port4, "config slot=%d" % config_slot]
            assert code == 0 and out.splitlines() == listing, (code, out, err)
            assert cluster.leader(members=founders) == 1
            print("founder 1 restarted with --members naming 4 and 5: config slot %d, "
                  "4 a learner, as the others" % config_slot)
            time.sleep(scaled(0.5))
        codes = load.codes
        print("client commands: %d, exit codes %s" % (len(codes), sorted(set(codes))))
        assert codes.count(0) > 0, codes
        check_linearizable(args, load.history, "members-founder-restart")

        # A data dir with history but no members file (deleted, or made
        # before the file) whose log holds a change: --members cannot be the
        # founding list, so the replica refuses to start (replayed from the
        # list it is given, 1..5 voters, the changes would be void here only).
        second = cluster.replica(2)
        assert second.stop() == 0, second.log_tail()
        os.remove(os.path.join(second.data_dir, "members"))
        second.start(wait_ready=False, members=grown + ",5=127.0.0.1:%d" % port5,
                     extra=["--snapshot-every", "0"])
        wait_until(lambda: not second.alive(), scaled(20), "replica 2 to refuse to start")
        assert second.proc.returncode == 1, second.proc.returncode
        assert "has no members file but its log holds a membership change" in \
            second.log_tail(20), second.log_tail()
        # Restored from another founder's file, it starts and agrees.
        shutil.copy(os.path.join(cluster.replica(1).data_dir, "members"),
                    os.path.join(second.data_dir, "members"))
        second.start(members=grown + ",5=127.0.0.1:%d" % port5, extra=["--snapshot-every", "0"])
        wait_until(lambda: (cluster.status(members=founders).get(2) or {}).get("config_slot") ==
                   str(config_slot), scaled(10), "replica 2 to state config slot %d" % config_slot)
        print("a data dir without members file but with a change in its log is refused; "
              "restored from a founder's file it serves")


def test_removed_view(args):
    with Cluster(args.counter) as cluster:
        cluster.start_all()
        founders = cluster.members
        third = cluster.replica(3)
        # A change replica 3 applies: its members file then records its
        # configuration, so it may start with a --members naming others.
        port9 = free_ports(1)[0]
        code, out, err = member_change(cluster, "add", "9=127.0.0.1:%d" % port9)
        assert code == 0 and out.startswith("added 9 learner config="), (code, out, err)
        code, out, err = member_change(cluster, "remove", "9")
        assert code == 0 and out.startswith("removed 9 config="), (code, out, err)
        slot9 = int(out.split("config=")[1])
        path3 = os.path.join(third.data_dir, "members")
        wait_until(lambda: "# config_slot=%d\n" % slot9 in (read_file(path3) or ""), scaled(10),
                   "replica 3 to record the configuration set at slot %d" % slot9)
        assert third.stop() == 0, third.log_tail()
        time.sleep(scaled(0.6))  # its replies age out
        code, out, err = member_change(cluster, "remove", "3")
        assert code == 0 and out.startswith("removed 3 config="), (code, out, err)
        print("replica 3 applied a change, was stopped and removed at %s" % out.split()[-1])

        joiners = []
        for rid in (4, 5, 6):
            joiner = Replica(cluster, rid, free_ports(1)[0])
            cluster.replicas.append(joiner)  # killed with the others
            joiner.start(wait_ready=False, extra=["--join"],
                         members=founders + ",%d=127.0.0.1:%d" % (rid, joiner.port))
            joiners.append(joiner)
        everyone = cluster.members_of(cluster.replicas)
        current = cluster.members_of(joiners)
        # Asked through the founders (a joiner states its own list until it
        # serves; then every member states the configuration's book).
        for joiner in joiners:
            address = "%d=127.0.0.1:%d" % (joiner.id, joiner.port)
            code, out, err = cluster.client("members", "add", address, members=founders)
            assert code == 0 and out.startswith("added %d learner" % joiner.id), (code, out, err)
            joiner.wait_ready(scaled(30))
            code, out, err = cluster.client("members", "promote", str(joiner.id),
                                            members=founders, timeout_ms=int(scaled(20000)))
            assert code == 0 and out.startswith("promoted %d config=" % joiner.id), \
                (code, out, err)
        print("replicas 4, 5, 6 joined and were promoted")
        for founder in cluster.replicas[:2]:
            code, out, err = cluster.client("members", "remove", str(founder.id),
                                            members=everyone, timeout_ms=int(scaled(20000)))
            assert code == 0 and out.startswith("removed %d config=" % founder.id), \
                (code, out, err)
            wait_until(lambda: not founder.alive(), scaled(10),
                       "removed replica %d to stop" % founder.id)
        print("replicas 1 and 2 removed; members %s" % current)

        leader = cluster.leader(members=current)
        before = cluster.status(members=current)[leader]
        third.start(wait_ready=False, members=cluster.members_of([third] + joiners))
        wait_until(lambda: not third.alive(), scaled(20), "the returning replica 3 to stop")
        assert third.proc.returncode == 1, (third.proc.returncode, third.log_tail())
        tail = third.log_tail(40)
        assert "replica 3 was removed from the cluster (replica " in tail, tail
        after = cluster.status(members=current)
        assert after[leader] and after[leader].get("role") == "leader", after
        assert after[leader]["ballot"] == before["ballot"], (before, after[leader])
        code, out, err = cluster.client("add", "1", members=current)
        assert code == 0, (code, out, err)
        print("replica 3, removed while down and knowing no current member, stopped saying "
              "so; leader %d kept ballot %s" % (leader, before["ballot"]))


def test_other_lists(args):
    with Cluster(args.counter) as cluster:
        founders = cluster.members
        cluster.start_all()
        port4 = free_ports(1)[0]
        code, out, err = member_change(cluster, "add", "4=127.0.0.1:%d" % port4)
        assert code == 0 and out.startswith("added 4 learner config="), (code, out, err)
        for r in cluster.replicas:
            path = os.path.join(r.data_dir, "members")
            wait_until(lambda: (read_file(path) or "").startswith("# initial="), scaled(10),
                       "replica %d to record the change" % r.id)
        first, second, third = cluster.replicas
        assert first.stop() == 0
        first.start(members=cluster.members_of([first, second]))
        assert second.stop() == 0
        second.start(members=founders + ",4=127.0.0.1:%d" % port4)

        def add_ok(what):
            code, out, err = cluster.client("add", "1", members=founders,
                                            timeout_ms=int(scaled(8000)))
            assert code == 0, (what, code, out, err)

        add_ok("all up")
        assert second.stop() == 0
        add_ok("replica 2 down: 1 (restarted with 1,2) and 3")
        second.start(members=founders + ",4=127.0.0.1:%d" % port4)
        assert third.stop() == 0
        add_ok("replica 3 down: 1 and 2, restarted with different lists")
        print("founders restarted with a subset and with a grown list serve together")


TESTS = {
    "list": test_list,
    "exit_codes": test_exit_codes,
    "join_flag": test_join_flag,
    "join": test_join,
    "join_resume": test_join_resume,
    "change": test_change,
    "founder_restart": test_founder_restart,
    "other_lists": test_other_lists,
    "removed_view": test_removed_view,
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
