#!/usr/bin/env python3
"""Multi-process test, run by ctest: a jump of the leader's wall clock neither
ends leases early nor stalls them, because log time counts monotonic time.

  clock_jump_cluster_test.py --lock BIN --wall-clock-offset MODULE [--jumps S,S,...]

Three synod-lock replicas run with the synod_wall_clock_offset LD_PRELOAD
module (tests/support/wall_clock_offset.cc), each reading its wall-clock
offset from a file of its own. For each jump (default +3600,-3600: the
leader's wall clock goes from true time to one hour ahead, then to one hour
behind), a lock is acquired with a 20 s TTL and right after it the leader's
offset file is set to the jump. Every lock must be seen held at 10 s and at
every poll until 19.5 s after its acquire was sent (a lease never ends early)
and be free by 23 s (the slack above 20 s scales with SYNOD_TIME_SCALE). A
`synod-lock run` keeps one client session and one lease across all jumps
(renewing every ttl/3) and must exit 0: neither expired. The leader must
still lead at the end. Then a lock is acquired with a 4 s TTL and that
leader is stopped (its last log line must show its moved wall clock: the
module was in effect); the lease must end between 3.9 s and 8 s (scaled)
under the new leader, whose clock is not moved. About 30 s in all.
Binds only 127.0.0.1 on free ports; kills the processes it started.
"""
import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import TIME_SCALE, Cluster, scaled, wait_until  # noqa: E402

TTL_MS = 20000
HELD_UNTIL_S = 19.5  # a lease ends at 20 s of log time after its grant, never earlier
HELD_SEEN_AT_S = 10.0  # some poll at or after this must see the lock held
FREE_BY_S = TTL_MS / 1000.0 + 3.0 * TIME_SCALE
JUMP_GAP_S = 2.0  # between one jump and the next lock: the leader ticks meanwhile
FAILOVER_TTL_MS = 4000


def set_offset(path, seconds):
    """Atomically sets the wall-clock offset a replica's module reads."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % seconds)
    os.replace(tmp, path)


class PolledLock:
    """A lock acquired with `ttl_ms`, then polled: it must stay held until
    `held_until` s after its acquire was sent and be free by `free_by` s."""

    def __init__(self, name, what, ttl_ms, held_until, free_by):
        self.name = name
        self.owner = "owner-" + name
        self.what = what  # what happened right after the acquire
        self.ttl_ms = ttl_ms
        self.held_until = held_until
        self.free_by = free_by
        self.sent = None  # monotonic time the acquire was sent
        self.token = None
        self.held_seen_at = []  # seconds after `sent` of polls that saw it held
        self.free_at = None

    def describe(self):
        return "lock %s (%s right after the acquire)" % (self.name, self.what)

    def acquire(self, cluster):
        self.sent = time.monotonic()
        code, out, err = cluster.client("acquire", self.name, "--owner", self.owner, "--ttl",
                                        str(self.ttl_ms))
        assert code == 0 and out.startswith("token="), (self.name, code, out, err)
        self.token = int(out.strip().split("=")[1])

    def poll(self, cluster):
        """One status poll unless already free; fails on an early or late end."""
        if self.free_at is not None:
            return
        code, out, err = cluster.client("status", self.name, timeout_ms=int(scaled(5000)))
        at = time.monotonic() - self.sent
        out = out.strip()
        if code == 0 and out.startswith("held owner=%s token=%d " % (self.owner, self.token)):
            self.held_seen_at.append(at)
        elif code == 0:
            assert out == "free", "%s: unexpected status %r at %.1f s" % (
                self.describe(), out, at)
            assert at >= self.held_until, (
                "%s was free %.1f s after its acquire was sent (ttl %.1f s): log time jumped "
                "ahead of real time" % (self.describe(), at, self.ttl_ms / 1000.0))
            self.free_at = at
            return
        assert at <= self.free_by, (
            "%s was still held %.1f s after its acquire was sent (ttl %.1f s): log time "
            "stalled" % (self.describe(), at, self.ttl_ms / 1000.0))

    def report(self):
        return "%s: token %d, held at %.1f s, free at %.1f s (ttl %.1f s)" % (
            self.describe(), self.token, max(self.held_seen_at, default=0.0), self.free_at,
            self.ttl_ms / 1000.0)


def poll_until_free(cluster, locks):
    while any(lock.free_at is None for lock in locks):
        for lock in locks:
            lock.poll(cluster)
        time.sleep(0.25)


def run_test(args):
    jumps = [int(j) for j in args.jumps.split(",")]
    offsets_dir = tempfile.mkdtemp(prefix="synod-wall-clock-")
    try:
        run_cluster(args, jumps, offsets_dir)
    finally:
        shutil.rmtree(offsets_dir, ignore_errors=True)


def run_cluster(args, jumps, offsets_dir):
    with Cluster(args.lock) as cluster:
        offset_files = {}
        for r in cluster.replicas:
            offset_files[r.id] = os.path.join(offsets_dir, "r%d" % r.id)
            set_offset(offset_files[r.id], 0)
            env = dict(os.environ, LD_PRELOAD=args.wall_clock_offset,
                       SYNOD_TEST_WALL_CLOCK_OFFSET_FILE=offset_files[r.id],
                       ASAN_OPTIONS=(os.environ.get("ASAN_OPTIONS", "") +
                                     ":verify_asan_link_order=0").lstrip(":"))
            r.start(wait_ready=False, env=env)
        for r in cluster.replicas:
            r.wait_ready()
        leader = cluster.leader()

        # One client session (and one lease) held across every jump.
        session_ttl = int(scaled(3000))
        hold_s = len(jumps) * JUMP_GAP_S + 6.0
        holder = subprocess.Popen(
            [cluster.binary, "run", "session", "--ttl", str(session_ttl), "--owner", "S",
             "--members", cluster.members, "--timeout", str(int(scaled(5000))), "--",
             "sleep", str(hold_s)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        cluster.started_pids.add(holder.pid)

        def session_held():
            c, o, _ = cluster.client("status", "session")
            return c == 0 and o.startswith("held owner=S ")
        wait_until(session_held, scaled(10), "the run holder to get its lock")

        locks = [PolledLock("jump%d" % i, "leader's wall clock moved %+d s" % jump, TTL_MS,
                            HELD_UNTIL_S, FREE_BY_S) for i, jump in enumerate(jumps)]
        for lock, jump in zip(locks, jumps):
            lock.acquire(cluster)
            set_offset(offset_files[leader], jump)
            gap_end = time.monotonic() + JUMP_GAP_S
            while time.monotonic() < gap_end:
                for polled in locks:
                    if polled.token is not None:
                        polled.poll(cluster)
                time.sleep(0.1)
        poll_until_free(cluster, locks)
        for lock in locks:
            assert any(at >= HELD_SEEN_AT_S for at in lock.held_seen_at), (
                "%s: no poll saw it held at or after %.0f s (polls: %s)" %
                (lock.describe(), HELD_SEEN_AT_S, lock.held_seen_at))

        out, err = holder.communicate(timeout=scaled(30))
        assert holder.returncode == 0, (
            "the run holder's session or lease did not survive the jumps: exit %d\n%s" %
            (holder.returncode, err))
        assert "expired" not in err, err

        now_leader = cluster.leader()
        assert now_leader == leader, (
            "leadership moved from %d to %d: the jumps did not stay on the leader" %
            (leader, now_leader))
        # Failover from the leader whose clock is off to one whose clock is
        # not: a lease taken before it ends neither early nor much later (the
        # new leader continues from the log time it has applied).
        failover = PolledLock("failover", "leader with its clock off stopped", FAILOVER_TTL_MS,
                              FAILOVER_TTL_MS / 1000.0 - 0.1,
                              FAILOVER_TTL_MS / 1000.0 + 4.0 * TIME_SCALE)
        failover.acquire(cluster)
        # The module was in effect: the leader's own log stamps its shutdown
        # with the moved wall clock.
        replica = cluster.replica(leader)
        replica.stop()
        logged = None
        for line in replica.log_tail(5).splitlines():
            if "shutting down" in line:
                logged = datetime.datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%f")
        assert logged is not None, replica.log_tail(5)
        moved = (logged - datetime.datetime.now()).total_seconds()
        assert abs(moved - jumps[-1]) < 120, (
            "the leader's log shows its clock %+.0f s off, not %+d s: the wall-clock module "
            "was not in effect" % (moved, jumps[-1]))
        poll_until_free(cluster, [failover])
        new_leader = cluster.leader()
        assert new_leader != leader, new_leader

        for lock in locks + [failover]:
            print(lock.report())
        print("run holder kept its session and lease across the jumps; leader %d's clock "
              "ended %+.0f s off; replica %d took over" % (leader, moved, new_leader))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lock", required=True)
    parser.add_argument("--wall-clock-offset", required=True,
                        help="synod_wall_clock_offset module (LD_PRELOAD)")
    parser.add_argument("--jumps", default="3600,-3600",
                        help="leader wall-clock offsets in s, one lock each, in order")
    args = parser.parse_args()
    start = time.monotonic()
    run_test(args)
    print("PASS clock_jump in %.1f s" % (time.monotonic() - start))


if __name__ == "__main__":
    main()
