#!/usr/bin/env python3
"""Lease length against failover, measured on a real 3-replica synod-lock
cluster (127.0.0.1, free ports):

  lessons_lease.py --lock BIN check
  lessons_lease.py --lock BIN sweep [--ttls MS,MS,...] [--trials N] [--pauses N]
                                    [--seed S] [--out DIR] [--gnuplot BIN]

For a lock TTL, two things are measured with `synod-lock run` holders:

  failover     a holder is kill -9'd at a random point of its renew cycle while
               a second `run` waits for the lock: the time from the kill until
               the second one holds it (its "acquired" line).
  false losses the live holder's `run` is SIGSTOP'd for a random 0-2 s (seeded;
               the same pause lengths for every TTL), then resumed: a pause its
               lease does not survive makes `run` stop its command and exit 3
               although nothing failed. Counted per pause.

`check` (ctest cluster_lessons_lease, about 10 s) asserts the qualitative
claims on two TTLs: failover takes at least about the TTL (at least 2/3 of it:
the last renew was at most ttl/3 before the kill) and at most the TTL plus one
acquire retry and slack, and grows with the TTL; a pause longer than the TTL
makes the holder lose the lock (exit 3), and a pause of a fifth of it does not
(the holder still holds the lock with the same token).

`sweep` (ctest soak_cluster_lessons_lease_sweep, label soak; or
scripts/lessons-lease-sweep) runs every TTL, prints a table, writes
DIR/lessons-lease.dat and renders DIR/lessons-lease.svg with gnuplot.

Every process is started by this script and killed by its pid; timeouts scale
with SYNOD_TIME_SCALE. Exit 0 on success, 1 when a claim does not hold.
"""
import argparse
import datetime
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, scaled, wait_until  # noqa: E402

ACQUIRED = re.compile(r"^synod-lock: acquired \S+ token=(\d+), started pid (\d+)$")
# synod-election-worker's default --ttl: where Synod's own choice sits on the plot.
DEFAULT_TTL_MS = 2000


class Holder:
    """One `synod-lock run NAME --ttl TTL --owner OWNER -- sleep 600` process
    whose stderr lines are collected with their arrival times."""

    def __init__(self, cluster, name, ttl_ms, owner):
        self.cluster = cluster
        self.proc = subprocess.Popen(
            [cluster.binary, "run", name, "--ttl", str(ttl_ms), "--owner", owner, "--members",
             cluster.members, "--timeout", str(int(scaled(3000))), "--", "sleep", "600"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        cluster.started_pids.add(self.proc.pid)
        self.lines = []  # (monotonic time, line)
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append((time.monotonic(), line.strip()))
                self.cond.notify_all()

    def wait_line(self, predicate, timeout, what):
        """The (time, line) of the first stderr line matching `predicate`."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for entry in self.lines:
                    if predicate(entry[1]):
                        return entry
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out waiting for %s; stderr: %r" %
                                         (what, [l for _, l in self.lines]))
                self.cond.wait(left)

    def wait_acquired(self, timeout=None):
        """(time it printed "acquired", token); remembers the command's pid."""
        at, line = self.wait_line(ACQUIRED.match, timeout or scaled(30), "run to acquire")
        match = ACQUIRED.match(line)
        self.child = int(match.group(2))
        return at, int(match.group(1))

    def wait_waiting(self):
        self.wait_line(lambda l: l.endswith("; waiting"), scaled(30), "run to wait for the lock")

    def reap(self, timeout):
        """Waits for `run` to exit; returns its code (None if it did not)."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.cluster.started_pids.discard(self.proc.pid)  # reaped: the pid may be reused
        return code

    def kill9(self):
        """kill -9 of `run` (no release); then ends its orphaned command by pid."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.reap(scaled(10))
        self.kill_child()

    def kill_child(self):
        child = getattr(self, "child", None)
        if child:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.child = None

    def stop(self):
        """SIGTERM: `run` stops its command and releases the lock."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            os.kill(self.proc.pid, signal.SIGTERM)
            if self.reap(scaled(15)) is None:
                self.kill9()
        else:
            self.reap(0)


def failover_trial(cluster, name, ttl_ms, rng):
    """Seconds from kill -9 of a holder until a waiting second `run` holds the lock."""
    a = Holder(cluster, name, ttl_ms, "A")
    b = None
    try:
        a.wait_acquired()
        # Kill at a random point of the holder's renew cycle (every ttl/3).
        time.sleep(0.1 + rng.uniform(0, ttl_ms / 3000.0))
        b = Holder(cluster, name, ttl_ms, "B")
        b.wait_waiting()
        killed = time.monotonic()
        a.kill9()
        acquired, _ = b.wait_acquired(timeout=ttl_ms / 1000.0 + scaled(15))
        return acquired - killed
    finally:
        a.kill9() if a.proc.poll() is None else a.kill_child()
        if b:
            b.stop()


def pause_trial(cluster, holder, pause_s, ttl_ms):
    """SIGSTOPs `holder`'s `run` for `pause_s` s, resumes it and returns True if
    it lost the lock (exited 3), False if it still runs."""
    os.kill(holder.proc.pid, signal.SIGSTOP)
    time.sleep(pause_s)
    os.kill(holder.proc.pid, signal.SIGCONT)
    # A pause past its own deadline is seen by its 10 ms watch at once; a
    # renew refused (the lease ended in log time) within one renew cycle.
    code = holder.reap(0.3 + ttl_ms / 3000.0 + scaled(0.5))
    if code is None:
        return False
    holder.kill_child()
    assert code == 3, "run exited %s after a pause, not 3 (lock lost): %r" % (
        code, [l for _, l in holder.lines])
    return True


def false_losses(cluster, name, ttl_ms, pauses, rng):
    """Runs `pauses` (seconds) against a `run` holder of lock `name`;
    returns the number of them after which it had lost the lock."""
    losses, owner = 0, 0
    holder = None
    try:
        for pause in pauses:
            if holder is None:
                owner += 1
                holder = Holder(cluster, name, ttl_ms, "P%d" % owner)
                holder.wait_acquired(timeout=ttl_ms / 1000.0 + scaled(30))
            # A random point of the renew cycle.
            time.sleep(0.2 + rng.uniform(0, min(ttl_ms / 3000.0, 1.0)))
            if pause_trial(cluster, holder, pause, ttl_ms):
                losses += 1
                holder = None
    finally:
        if holder:
            holder.stop()
            holder.kill_child()
    return losses


def measure(cluster, ttl_ms, trials, pauses, seed):
    rng = random.Random(seed * 1000003 + ttl_ms)
    failovers = [failover_trial(cluster, "fo-%d-%d" % (ttl_ms, i), ttl_ms, rng)
                 for i in range(trials)]
    losses = false_losses(cluster, "pause-%d" % ttl_ms, ttl_ms, pauses, rng) if pauses else 0
    return {"ttl_ms": ttl_ms, "failovers": failovers, "losses": losses,
            "pauses": len(pauses)}


def check(args):
    small, large = int(scaled(500)), int(scaled(2000))
    with Cluster(args.lock) as cluster:
        cluster.start_all()
        cluster.leader()
        rng = random.Random(1)
        failover = {}
        for ttl in (small, large):
            seconds = failover_trial(cluster, "fo-%d" % ttl, ttl, rng)
            failover[ttl] = seconds
            retry = min(max(ttl / 4000.0, 0.05), 1.0)
            print("ttl %5d ms: failover after kill -9 %.2f s" % (ttl, seconds))
            assert seconds >= ttl / 1000.0 * 2 / 3 - 0.05, (ttl, seconds)
            assert seconds <= ttl / 1000.0 + retry + scaled(1.5), (ttl, seconds)
        assert failover[large] > failover[small], failover

        ttl = int(scaled(1000))
        holder = Holder(cluster, "pause", ttl, "P")
        try:
            _, token = holder.wait_acquired()
            time.sleep(0.2)
            short = ttl / 5000.0
            assert not pause_trial(cluster, holder, short, ttl), \
                "a %.2f s pause lost a %d ms lease" % (short, ttl)
            # Still held by P with the same token, past a further renew.
            time.sleep(ttl / 1000.0)
            code, out, _ = cluster.client("status", "pause")
            assert code == 0 and out.startswith("held owner=P token=%d " % token), (code, out)
            print("ttl %5d ms: a %.2f s pause is survived (%s)" % (ttl, short, out.strip()))
            long = 2 * ttl / 1000.0
            assert pause_trial(cluster, holder, long, ttl), \
                "a %.2f s pause did not lose a %d ms lease" % (long, ttl)
            print("ttl %5d ms: a %.2f s pause loses the lock (run exit 3: %s)" %
                  (ttl, long, [l for _, l in holder.lines][-1]))
        finally:
            holder.stop()
            holder.kill_child()


def render(out_dir, rows, gnuplot, command, when):
    data = os.path.join(out_dir, "lessons-lease.dat")
    with open(data, "w") as f:
        f.write("# %s\n# %s\n" % (command, when))
        f.write("# ttl_ms failover_median_s failover_min_s failover_max_s trials "
                "losses pauses loss_pct\n")
        for r in rows:
            fo = r["failovers"]
            f.write("%d %.3f %.3f %.3f %d %d %d %.1f\n" % (
                r["ttl_ms"], statistics.median(fo), min(fo), max(fo), len(fo), r["losses"],
                r["pauses"], 100.0 * r["losses"] / max(r["pauses"], 1)))
    svg = os.path.join(out_dir, "lessons-lease.svg")
    script = """
set terminal svg size 760,440 font 'sans,12' background '#ffffff'
set output '{svg}'
set title 'Lease length against failover (synod-lock run, 3 replicas, {when})'
set logscale x 2
set xrange [{lo}:{hi}]
set xtics ({xtics})
set xlabel 'lock TTL (ms)'
set ylabel 'failover after kill -9 of the holder (s)'
set y2label 'false losses under 0-2 s pauses (% of pauses)'
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:105]
set key top left
set grid
set arrow from {default},graph 0 to {default},graph 1 nohead dt 2 lc rgb '#888888'
set label 'synod-election-worker default ({default} ms)' at {default},graph 0.6 offset 0.5,0 tc rgb '#555555'
plot '{data}' using 1:2:3:4 with yerrorlines lw 2 lc rgb '#1f77b4' title 'failover (median, min-max)', \\
     x / 1000.0 with lines dt 3 lc rgb '#1f77b4' title 'failover = TTL', \\
     '{data}' using 1:8 axes x1y2 with linespoints lw 2 lc rgb '#d62728' title 'false losses (%)'
""".format(svg=svg, data=data, when=when, default=DEFAULT_TTL_MS, lo=rows[0]["ttl_ms"] / 1.4,
           hi=rows[-1]["ttl_ms"] * 1.4, xtics=", ".join(str(r["ttl_ms"]) for r in rows))
    subprocess.run([gnuplot], input=script, text=True, check=True, timeout=60)
    return data, svg


def sweep(args):
    ttls = [int(t) for t in args.ttls.split(",")]
    rng = random.Random(args.seed)
    pauses = [round(rng.uniform(0, 2.0), 3) for _ in range(args.pauses)]
    command = " ".join(["lessons_lease.py"] + sys.argv[1:])
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = []
    with Cluster(args.lock) as cluster:
        cluster.start_all()
        cluster.leader()
        print("ttl_ms  failover_median_s  min_s  max_s  trials  false_losses/pauses")
        for ttl in ttls:
            r = measure(cluster, ttl, args.trials, pauses, args.seed)
            fo = r["failovers"]
            print("%6d  %17.2f  %5.2f  %5.2f  %6d  %d/%d (%.0f%%)" % (
                ttl, statistics.median(fo), min(fo), max(fo), len(fo), r["losses"],
                r["pauses"], 100.0 * r["losses"] / max(r["pauses"], 1)), flush=True)
            rows.append(r)
    os.makedirs(args.out, exist_ok=True)
    data, svg = render(args.out, rows, args.gnuplot, command, when)
    print("wrote %s and %s" % (data, svg))
    # The claims the short check asserts hold across the whole sweep too.
    medians = [statistics.median(r["failovers"]) for r in rows]
    assert all(b > a for a, b in zip(medians, medians[1:])), medians
    for r in rows:
        assert min(r["failovers"]) >= r["ttl_ms"] / 1000.0 * 2 / 3 - 0.05, r


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lock", required=True, help="the synod-lock binary")
    parser.add_argument("mode", choices=["check", "sweep"])
    parser.add_argument("--ttls", default="250,500,1000,2000,4000,8000")
    parser.add_argument("--trials", type=int, default=5, help="kill -9 trials per TTL")
    parser.add_argument("--pauses", type=int, default=20, help="SIGSTOP pauses per TTL")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=".", help="directory for the .dat and .svg files")
    parser.add_argument("--gnuplot", default="gnuplot")
    args = parser.parse_args()
    if args.trials < 1 or args.pauses < 0:
        parser.error("--trials must be at least 1 and --pauses at least 0")
    (check if args.mode == "check" else sweep)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
