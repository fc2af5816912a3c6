#!/usr/bin/env python3
"""Multi-process tests of the distributed lock example, run by ctest:

  lock_cluster_test.py --lock BIN --store BIN --worker BIN TEST

TEST is one of:
  paused_holder  holder A is SIGSTOP'd before its write, past its TTL; B
                 acquires and writes with a higher token; A resumes and the
                 fenced store rejects its write with the older token.
  killed_holder  a `run` holder is kill -9'd: the lock stays held until its
                 TTL, then frees and B gets a higher token.
  run_ok         `run` passes the token in SYNOD_FENCING_TOKEN, keeps the lock
                 past several TTLs by renewing, releases it and returns the
                 command's exit code.
  run_lost       `run` stops its command (exit 3) before the lease can have
                 expired when the cluster loses its quorum.
  run_signal_acquiring
                 SIGTERM reaches `run` while its acquire is granted but the
                 reply is held back (by a proxy between `run` and the
                 replicas): `run` waits for it, releases the grant, exits 143,
                 and the lock is free at once; likewise when the held-back
                 acquire ends with an unknown outcome (found with `status`).
  run_signal_releasing
                 SIGTERM reaches `run` after its command ended, while its
                 release is in flight (held back by the proxy): `run` waits
                 for the answer before it exits 143, and the lock is free.
  run_second_signal
                 a second signal makes `run` exit at once with its own
                 128 + N: while an acquire to a silent member is in flight,
                 and while its command ignores SIGTERM (then the command's
                 group is SIGKILLed).
  election       three synod-election-worker processes: exactly one runs the
                 job; a SIGSTOP'd leader is replaced and its late work is fenced
                 off; a kill -9'd leader is replaced; terms' tokens increase.
  election_same_id
                 a leading worker is SIGSTOP'd and a second worker with the
                 same --id started (a supervisor's replacement): the second
                 waits for the term to end and leads with a higher token, and
                 the store refuses the first one's token.
  election_resign_acquiring
                 SIGTERM reaches a worker while its acquire is granted but the
                 reply is held back by the proxy: it resigns by releasing that
                 grant, exits 0, and the lock is free at once.
  restart        every replica is kill -9'd and restarted: the replayed log
                 gives the same holder and token, the lease still ends on time,
                 and the next grant's token continues the counter.
  renew_race     a renew racing with the lease's expiry and another owner's
                 acquire: never both succeed.
Every test binds only 127.0.0.1 on free ports, bounds its time and kills the
processes it started. Exit 0 on success.
"""
import argparse
import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, free_ports, scaled, wait_until  # noqa: E402


class Store:
    """A synod-fenced-store process on a free port."""

    def __init__(self, binary):
        self.binary = binary
        self.proc = subprocess.Popen([binary, "serve"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("ready port="), "store did not start: %r" % line
        self.port = int(line.split("=")[1])

    def write_cmd(self, lock, token, data):
        return [self.binary, "write", "--port", str(self.port), "--lock", lock, "--token",
                str(token), "--data", data]

    def write(self, lock, token, data):
        p = subprocess.run(self.write_cmd(lock, token, data), capture_output=True, text=True,
                           timeout=scaled(20))
        return p.returncode, p.stdout.strip()

    def read(self, lock):
        p = subprocess.run([self.binary, "read", "--port", str(self.port), "--lock", lock],
                           capture_output=True, text=True, timeout=scaled(20))
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def token_of(out):
    assert out.startswith("token="), out
    return int(out.strip().split("=")[1])


def run_cmd(cluster, name, ttl, owner, command):
    return [cluster.binary, "run", name, "--ttl", str(ttl), "--owner", owner, "--members",
            cluster.members, "--timeout", str(int(scaled(3000))), "--"] + command


def catches(pid, *signals):
    """True once process `pid` has handlers installed for all `signals`."""
    try:
        with open("/proc/%d/status" % pid) as f:
            mask = next(int(l.split()[1], 16) for l in f if l.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return False
    return all(mask & (1 << (s - 1)) for s in signals)


def reaped(cluster, proc, timeout=None):
    """Waits for `proc` to exit and drops its pid from the pids the cluster
    SIGKILLs at shutdown: once reaped, the pid may belong to another process."""
    try:
        return proc.wait(timeout=timeout)
    finally:
        if proc.returncode is not None:
            cluster.started_pids.discard(proc.pid)


def test_paused_holder(args):
    ttl = int(scaled(1000))
    with Cluster(args.lock) as cluster:
        cluster.start_all()
        cluster.leader()
        store = Store(args.store)
        try:
            code, out, err = cluster.client("acquire", "job", "--owner", "A", "--ttl", str(ttl))
            assert code == 0, (code, out, err)
            token_a = token_of(out)
            # Holder A: about to write with its token, then paused (the whole
            # process group, like a GC pause) before the write happens.
            a = subprocess.Popen(["sh", "-c", "sleep %f; exec \"$@\"" % scaled(0.3), "holder-a"] +
                                 store.write_cmd("job", token_a, "from A"),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True)
            os.killpg(a.pid, signal.SIGSTOP)
            try:
                code, out, _ = cluster.client("acquire", "job", "--owner", "B", "--ttl", str(ttl))
                assert code == 1 and out.startswith("held owner=A token=%d" % token_a), (code, out)
                started = time.monotonic()

                def b_acquires():
                    c, o, _ = cluster.client("acquire", "job", "--owner", "B", "--ttl", str(ttl))
                    return o if c == 0 else None
                out = wait_until(b_acquires, scaled(10), "B to acquire after A's TTL")
                waited = time.monotonic() - started
                token_b = token_of(out)
                assert token_b > token_a, (token_a, token_b)
                code, out = store.write("job", token_b, "from B")
                assert (code, out) == (0, "ok"), (code, out)
            finally:
                os.killpg(a.pid, signal.SIGCONT)
            out, err = a.communicate(timeout=scaled(20))
            assert a.returncode == 1, (a.returncode, out, err)
            assert out.strip() == "rejected: token %d is older than %d" % (token_a, token_b), out
            assert store.read("job") == "token=%d data=from B" % token_b, store.read("job")
            print("A token %d paused; B acquired token %d after %.2f s; A's write: %s" %
                  (token_a, token_b, waited, out.strip()))
        finally:
            store.stop()


def test_killed_holder(args):
    ttl = int(scaled(1500))
    with Cluster(args.lock) as cluster:
        cluster.start_all()
        cluster.leader()
        pid_file = os.path.join(cluster.root, "holder-child.pid")
        holder = subprocess.Popen(run_cmd(cluster, "job", ttl, "A",
                                          ["sh", "-c", "echo $$ > %s; exec sleep 60" % pid_file]),
                                  stderr=subprocess.PIPE, text=True)
        cluster.started_pids.add(holder.pid)
        try:
            def held_by_a():
                c, o, _ = cluster.client("status", "job")
                return o if c == 0 and o.startswith("held owner=A ") else None
            wait_until(held_by_a, scaled(10), "run to hold the lock")
            holder.kill()  # kill -9: no release
            killed = time.monotonic()
            reaped(cluster, holder)
            code, out, _ = cluster.client("acquire", "job", "--owner", "B", "--ttl", str(ttl))
            assert code == 1 and out.startswith("held owner=A"), (code, out)

            def b_acquires():
                c, o, _ = cluster.client("acquire", "job", "--owner", "B", "--ttl", str(ttl))
                return o if c == 0 else None
            out = wait_until(b_acquires, scaled(10), "the killed holder's lock to free")
            freed = time.monotonic() - killed
            assert token_of(out) == 2, out
            # The last renew happened at most ttl/3 before the kill.
            assert freed <= ttl / 1000.0 + scaled(1.5), freed
            assert freed >= ttl / 1000.0 * 2 / 3 - 0.05, freed
            print("killed holder's lock freed %.2f s after kill -9 (ttl %.1f s)" %
                  (freed, ttl / 1000.0))
        finally:
            # The command `run` started outlives a kill -9 of `run`: end it by its pid.
            if os.path.exists(pid_file):
                try:
                    os.kill(int(open(pid_file).read()), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass


def test_run_ok(args):
    ttl = int(scaled(600))
    with Cluster(args.lock) as cluster:
        cluster.start_all()
        cluster.leader()
        script = "echo token=$SYNOD_FENCING_TOKEN; sleep %f; exit 7" % scaled(2.0)
        started = time.monotonic()
        proc = subprocess.Popen(run_cmd(cluster, "job", ttl, "R", ["sh", "-c", script]),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        cluster.started_pids.add(proc.pid)
        statuses = set()
        while proc.poll() is None:
            c, o, _ = cluster.client("status", "job")
            if c == 0:
                statuses.add(" ".join(o.split()[:3]))
            time.sleep(0.1)
        out, err = proc.communicate()
        cluster.started_pids.discard(proc.pid)  # reaped: the pid may be reused
        elapsed = time.monotonic() - started
        assert proc.returncode == 7, (proc.returncode, out, err)
        assert out.strip() == "token=1", out
        # It held the lock with one token through more than 3 TTLs.
        assert "held owner=R token=1" in statuses, statuses
        assert elapsed > 3 * ttl / 1000.0, elapsed
        code, out, _ = cluster.client("status", "job")
        assert (code, out.strip()) == (0, "free"), (code, out)
        # Without --owner, run holds the lock as <host>-<pid>-<16 random hex
        # digits> (two processes sharing a name would both hold it).
        cmd = run_cmd(cluster, "job", ttl, "unused", ["sh", "-c", "sleep %f" % scaled(1.0)])
        owner_at = cmd.index("--owner")
        del cmd[owner_at:owner_at + 2]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        cluster.started_pids.add(proc.pid)
        owners = set()
        while proc.poll() is None:
            c, o, _ = cluster.client("status", "job")
            if c == 0 and o.startswith("held owner="):
                owners.add(o.split()[1][len("owner="):])
            time.sleep(0.05)
        out, err = proc.communicate()
        cluster.started_pids.discard(proc.pid)  # reaped: the pid may be reused
        assert proc.returncode == 0, (proc.returncode, out, err)
        expected = re.compile(r"^%s-%d-[0-9a-f]{16}$" %
                              (re.escape(socket.gethostname()), proc.pid))
        assert len(owners) == 1 and expected.match(next(iter(owners))), owners
        code, out, _ = cluster.client("acquire", "job", "--owner", "X", "--ttl", "1000")
        assert (code, out.strip()) == (0, "token=3"), (code, out)
        print("run held the lock %.2f s (ttl %.2f s), returned 7, released; default owner %s" %
              (elapsed, ttl / 1000.0, next(iter(owners))))


def test_run_lost(args):
    ttl = int(scaled(1500))
    with Cluster(args.lock) as cluster:
        cluster.start_all()
        cluster.leader()
        marker = os.path.join(cluster.root, "child-alive")
        script = "trap 'exit 143' TERM; while true; do date +%%s%%N > %s; sleep 0.02; done" % marker
        proc = subprocess.Popen(run_cmd(cluster, "job", ttl, "R", ["sh", "-c", script]),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        cluster.started_pids.add(proc.pid)
        wait_until(lambda: os.path.exists(marker), scaled(10), "the command to start")
        time.sleep(ttl / 1000.0)  # a few renewals succeed
        # Lose the quorum: no renew can succeed any more.
        lost_at = time.monotonic()
        for r in cluster.replicas[:2]:
            r.kill9()
        out, err = proc.communicate(timeout=scaled(30))
        cluster.started_pids.discard(proc.pid)  # reaped: the pid may be reused
        stopped = time.monotonic() - lost_at
        assert proc.returncode == 3, (proc.returncode, out, err)
        last_write = os.path.getmtime(marker)
        time.sleep(0.2)
        assert os.path.getmtime(marker) == last_write, "command still running: " + err
        # Stopped before the lease could have expired: within ttl of the last
        # renew that succeeded, which was at most `lost_at`.
        assert stopped < ttl / 1000.0, (stopped, err)
        print("run stopped its command %.2f s after the quorum was lost (ttl %.2f s), exit 3" %
              (stopped, ttl / 1000.0))


def test_renew_race(args):
    ttl = 300
    rng = random.Random(8)
    with Cluster(args.lock) as cluster:
        cluster.start_all()
        cluster.leader()
        outcomes = {"renew": 0, "acquire": 0, "neither": 0}
        for round_ in range(12):
            name = "race%d" % round_
            code, out, _ = cluster.client("acquire", name, "--owner", "A", "--ttl", str(ttl))
            assert code == 0, out
            token = token_of(out)
            time.sleep((ttl + rng.randint(-60, 60)) / 1000.0 - 0.01)
            results = {}

            def renew():
                results["renew"] = cluster.client("renew", name, "--owner", "A", "--token",
                                                  str(token))

            def acquire():
                results["acquire"] = cluster.client("acquire", name, "--owner", "B", "--ttl",
                                                    str(ttl))
            threads = [threading.Thread(target=renew), threading.Thread(target=acquire)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            renewed = results["renew"][0] == 0
            acquired = results["acquire"][0] == 0
            assert not (renewed and acquired), "two holders: %r" % results
            assert results["renew"][0] in (0, 1) and results["acquire"][0] in (0, 1), results
            outcomes["renew" if renewed else "acquire" if acquired else "neither"] += 1
        print("renew/acquire races: %r (never both)" % outcomes)


class Worker:
    """A synod-election-worker whose stdout lines are collected."""

    def __init__(self, args, cluster, store, wid, ttl, members=None):
        self.id = wid
        self.proc = subprocess.Popen(
            [args.worker, "--id", wid, "--members", members or cluster.members, "--store-port",
             str(store.port), "--ttl", str(ttl), "--every", "100", "--timeout",
             str(int(scaled(2000)))], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True)
        cluster.started_pids.add(self.proc.pid)
        self.lines = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line.strip())

    def snapshot(self):
        with self.lock:
            return list(self.lines)

    def terms(self):
        return [int(l.split("=")[1]) for l in self.snapshot() if l.startswith("elected token=")]

    def leading(self):
        """True if its last elected/lost event is an election."""
        events = [l for l in self.snapshot() if l.startswith(("elected", "lost"))]
        return bool(events) and events[-1].startswith("elected")


def check_late_jobs(late, token):
    """`late`: job lines of a leader (term `token`) read after it was
    SIGSTOP'd past its lease. Lines written, or a job in flight, just before
    the stop may be read after the count that marks the pause (the stop is not
    ordered with the line reader), so not every line is refused; but those
    precede every refused one and carry the paused term's token. Fencing
    proper is checked against the store."""
    refused = [i for i, l in enumerate(late) if "rejected" in l]
    first_refused = refused[0] if refused else len(late)
    assert all("rejected" in l for l in late[first_refused:]), late
    assert all(" token=%d " % token in l for l in late[:first_refused]), (token, late)


def test_election(args):
    ttl = int(scaled(1000))
    with Cluster(args.lock) as cluster:
        cluster.start_all()
        cluster.leader()
        store = Store(args.store)
        workers = []
        try:
            workers = [Worker(args, cluster, store, "w%d" % i, ttl) for i in range(1, 4)]

            def single_leader(exclude=()):
                leaders = [w for w in workers if w.leading() and w not in exclude]
                return leaders[0] if len(leaders) == 1 else None
            first = wait_until(single_leader, scaled(15), "a leader")
            token1 = first.terms()[-1]
            wait_until(lambda: sum(1 for l in first.snapshot() if l.endswith(" ok")) >= 3,
                       scaled(10), "the leader's job to run")
            for w in workers:
                if w is not first:
                    assert not any(l.startswith("job") for l in w.snapshot()), w.snapshot()

            # Pause the leader past its lease: another worker takes over.
            os.kill(first.proc.pid, signal.SIGSTOP)
            paused_lines = len(first.snapshot())
            try:
                second = wait_until(lambda: single_leader(exclude=(first,)), scaled(15),
                                    "a new leader while the old one is paused")
                token2 = second.terms()[-1]
                assert token2 > token1, (token1, token2)
                wait_until(lambda: any(l.startswith("job") and ("token=%d ok" % token2) in l
                                       for l in second.snapshot()), scaled(10),
                           "the new leader's job to run")
            finally:
                os.kill(first.proc.pid, signal.SIGCONT)
            wait_until(lambda: any(l.startswith("lost") for l in first.snapshot()[paused_lines:]),
                       scaled(10), "the resumed leader to notice it lost")
            late = [l for l in first.snapshot()[paused_lines:] if l.startswith("job")]
            check_late_jobs(late, token1)
            assert store.read("leader").startswith("token=%d " % token2) or \
                int(store.read("leader").split()[0].split("=")[1]) > token2, store.read("leader")

            # kill -9 the current leader: someone else leads with a higher token.
            second.proc.kill()
            reaped(cluster, second.proc)
            third = wait_until(lambda: single_leader(exclude=(second,)), scaled(15),
                               "a leader after kill -9")
            token3 = third.terms()[-1]
            assert token3 > token2, (token2, token3)
            wait_until(lambda: any(("token=%d ok" % token3) in l for l in third.snapshot()),
                       scaled(10), "the third leader's job")
            # At no time did two workers write successfully with the same token.
            writers = {}
            for w in workers:
                for l in w.snapshot():
                    if l.startswith("job") and l.endswith(" ok"):
                        writers.setdefault(l.split()[2], set()).add(w.id)
            assert all(len(ids) == 1 for ids in writers.values()), writers
            print("terms %d (%s), %d (%s), %d (%s); paused leader's late jobs: %r" %
                  (token1, first.id, token2, second.id, token3, third.id, late))
        finally:
            for w in workers:
                if w.proc.poll() is None:
                    w.proc.kill()
                reaped(cluster, w.proc)
            store.stop()


def test_election_same_id(args):
    ttl = int(scaled(1000))
    with Cluster(args.lock) as cluster:
        cluster.start_all()
        cluster.leader()
        store = Store(args.store)
        workers = []
        try:
            first = Worker(args, cluster, store, "w", ttl)
            workers.append(first)
            wait_until(first.leading, scaled(15), "the first worker to lead")
            token1 = first.terms()[-1]
            wait_until(lambda: any(l.endswith("token=%d ok" % token1) for l in first.snapshot()),
                       scaled(10), "the first worker's job to run")
            # It hangs (paused); a supervisor starts a replacement under the same id.
            os.kill(first.proc.pid, signal.SIGSTOP)
            paused_lines = len(first.snapshot())
            try:
                second = Worker(args, cluster, store, "w", ttl)
                workers.append(second)
                wait_until(second.leading, scaled(15), "the replacement to lead")
                token2 = second.terms()[-1]
                # Same id, yet another owner: a new term with a higher token, not
                # the paused worker's term handed over.
                assert token2 > token1, (token1, token2, first.snapshot(), second.snapshot())
                wait_until(lambda: any(l.endswith("token=%d ok" % token2)
                                       for l in second.snapshot()), scaled(10),
                           "the replacement's job to run")
            finally:
                os.kill(first.proc.pid, signal.SIGCONT)
            wait_until(lambda: any(l.startswith("lost") for l in first.snapshot()[paused_lines:]),
                       scaled(10), "the resumed worker to notice it lost")
            late = [l for l in first.snapshot()[paused_lines:] if l.startswith("job")]
            check_late_jobs(late, token1)
            # A write with the paused worker's token is refused by the store.
            code, out = store.write("leader", token1, "late from the paused worker")
            assert code == 1 and out.startswith("rejected: token %d is older than " % token1), \
                (code, out)
            writers = {}
            for w in workers:
                for l in w.snapshot():
                    if l.startswith("job") and l.endswith(" ok"):
                        writers.setdefault(l.split()[2], set()).add(w)
            assert all(len(ws) == 1 for ws in writers.values()), writers
            print("same id 'w': paused worker token %d, replacement token %d; late jobs %r; "
                  "store: %s" % (token1, token2, late, out))
        finally:
            for w in workers:
                if w.proc.poll() is None:
                    os.kill(w.proc.pid, signal.SIGCONT)
                    w.proc.kill()
                reaped(cluster, w.proc)
            store.stop()


class HoldingProxy:
    """A TCP forwarder on 127.0.0.1 in front of every replica of `cluster`
    (`members` names it in place of the replicas). hold() stops replies
    (replica-to-client bytes), so a command is applied but not answered;
    hold(requests=True) stops requests too. release() lets them through in
    order, except requests of a client that has closed its connection
    meanwhile: those are dropped, as if lost on the way."""

    def __init__(self, cluster):
        self.cond = threading.Condition()
        self.holding = False
        self.holding_requests = False
        self.held_requests = 0  # request chunks waiting now
        self.closed = False
        self.sockets = []
        self.listeners = []
        members = []
        for r in cluster.replicas:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("127.0.0.1", 0))
            listener.listen(16)
            self.listeners.append(listener)
            members.append("%d=127.0.0.1:%d" % (r.id, listener.getsockname()[1]))
            threading.Thread(target=self._accept, args=(listener, r.port), daemon=True).start()
        self.members = ",".join(members)

    def _accept(self, listener, port):
        while True:
            try:
                down, _ = listener.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(("127.0.0.1", port), timeout=scaled(5))
                up.settimeout(None)
            except OSError:
                down.close()
                continue
            for s in (down, up):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.cond:
                self.sockets += [down, up]
            threading.Thread(target=self._pump, args=(down, up, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, down, True), daemon=True).start()

    @staticmethod
    def _closed(sock):
        """True if the peer of `sock` has closed (EOF or reset is pending)."""
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _pump(self, src, dst, replies):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.cond:
                    if replies:
                        while self.holding and not self.closed:
                            self.cond.wait()
                    elif self.holding_requests:
                        self.held_requests += 1
                        while self.holding_requests and not self.closed:
                            self.cond.wait()
                        self.held_requests -= 1
                        if self._closed(src):
                            break  # its client is gone: the request is lost
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def hold(self, requests=False):
        with self.cond:
            self.holding = True
            self.holding_requests = requests

    def waiting_requests(self):
        with self.cond:
            return self.held_requests

    def release(self):
        with self.cond:
            self.holding = False
            self.holding_requests = False
            self.cond.notify_all()

    def close(self):
        with self.cond:
            self.closed = True
            self.cond.notify_all()
            for s in self.listeners + self.sockets:
                try:
                    s.close()
                except OSError:
                    pass


class Lines:
    """Collects a pipe's lines in a thread."""

    def __init__(self, pipe):
        self.lines = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe):
        for line in pipe:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def has(self, text):
        with self.lock:
            return any(text in l for l in self.lines)

    def all(self):
        with self.lock:
            return "\n".join(self.lines)


def test_run_signal_acquiring(args):
    ttl = int(scaled(30000))  # run's lease: left to expire, it would outlast the test
    with Cluster(args.lock) as cluster:
        cluster.start_all()
        cluster.leader()
        proxy = HoldingProxy(cluster)
        try:
            for owner, unknown in (("R1", False), ("R2", True)):
                code, out, _ = cluster.client("acquire", "job", "--owner", "X", "--ttl", str(ttl))
                assert code == 0, (code, out)
                token_x = token_of(out)
                marker = os.path.join(cluster.root, "started-" + owner)
                proc = subprocess.Popen(
                    [args.lock, "run", "job", "--ttl", str(ttl), "--owner", owner, "--members",
                     proxy.members, "--timeout", str(int(scaled(2000))), "--", "touch", marker],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                cluster.started_pids.add(proc.pid)
                err = Lines(proc.stderr)
                wait_until(lambda: err.has("held owner=X"), scaled(10), "run to wait for X")
                # From now on run's acquire is applied but not answered.
                proxy.hold()
                code, out, _ = cluster.client("release", "job", "--owner", "X", "--token",
                                              str(token_x))
                assert code == 0, (code, out)

                def held_by_run():
                    c, o, _ = cluster.client("status", "job")
                    return o if c == 0 and o.startswith("held owner=%s " % owner) else None
                held = wait_until(held_by_run, scaled(15), "run's acquire to be granted")
                proc.send_signal(signal.SIGTERM)
                wait_until(lambda: err.has("signal 15: stopping"), scaled(10),
                           "run to take the signal")
                if unknown:  # the acquire times out in run: it asks `status` instead
                    wait_until(lambda: err.has("outcome is unknown"), scaled(15),
                               "run's acquire to time out")
                proxy.release()
                reaped(cluster, proc, scaled(20))
                exited = time.monotonic()
                code, out, _ = cluster.client("status", "job")
                assert proc.returncode == 143, (proc.returncode, err.all())
                assert (code, out.strip()) == (0, "free"), \
                    ("run exited but left its grant held", held, out, err.all())
                assert not os.path.exists(marker), "the command ran after the signal"
                print("%s: granted (%s) with the reply held back, SIGTERM, %s; lock free "
                      "%.2f s after run exited (ttl %.0f s)" %
                      (owner, held.strip(), "outcome unknown" if unknown else "reply let through",
                       time.monotonic() - exited, ttl / 1000.0))
        finally:
            proxy.close()


def test_run_signal_releasing(args):
    ttl = int(scaled(30000))  # left to expire, the lease would outlast the test
    with Cluster(args.lock) as cluster:
        cluster.start_all()
        cluster.leader()
        proxy = HoldingProxy(cluster)
        try:
            go = os.path.join(cluster.root, "go")
            proc = subprocess.Popen(
                [args.lock, "run", "job", "--ttl", str(ttl), "--owner", "R", "--members",
                 proxy.members, "--timeout", str(int(scaled(5000))), "--", "sh", "-c",
                 "while [ ! -e %s ]; do sleep 0.02; done" % go],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            cluster.started_pids.add(proc.pid)
            err = Lines(proc.stderr)
            wait_until(lambda: err.has("acquired job"), scaled(10), "run to start its command")
            proxy.hold(requests=True)
            open(go, "w").close()  # the command ends; run sends its release
            wait_until(lambda: proxy.waiting_requests() > 0, scaled(10), "run's release")
            proc.send_signal(signal.SIGTERM)
            wait_until(lambda: err.has("signal 15: stopping"), scaled(10),
                       "run to take the signal")
            proxy.release()
            reaped(cluster, proc, scaled(20))
            code, out, _ = cluster.client("status", "job")
            assert proc.returncode == 143, (proc.returncode, err.all())
            assert (code, out.strip()) == (0, "free"), \
                ("run exited before its release was answered", out, err.all())
            print("SIGTERM while the release was in flight: run waited for it, exit 143, "
                  "lock free")
        finally:
            proxy.close()


def test_run_second_signal(args):
    with Cluster(args.lock) as cluster:
        # Acquiring from a member that does not answer: the first signal
        # waits for the acquire in flight (up to --timeout), the second one
        # exits at once with its own 128 + N.
        port = free_ports(1)[0]  # nothing listens there
        timeout_ms = int(scaled(8000))
        proc = subprocess.Popen(
            [args.lock, "run", "job", "--ttl", "1000", "--members", "1=127.0.0.1:%d" % port,
             "--timeout", str(timeout_ms), "--", "true"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        cluster.started_pids.add(proc.pid)
        err = Lines(proc.stderr)
        wait_until(lambda: catches(proc.pid, signal.SIGINT, signal.SIGTERM), scaled(10),
                   "run to install its signal handlers")
        proc.send_signal(signal.SIGINT)
        wait_until(lambda: err.has("signal 2: stopping"), scaled(5), "run to take SIGINT")
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            reaped(cluster, proc, scaled(2))
        except subprocess.TimeoutExpired:
            raise AssertionError("a second signal did not make run exit at once: %r" % err.all())
        acquiring_exit = time.monotonic() - sent
        assert proc.returncode == 143, (proc.returncode, err.all())
        assert err.has("signal 15 again"), err.all()

        # The command ignores SIGTERM: the first signal waits for it (until
        # SIGKILL near the lease deadline); the second kills its group and exits.
        cluster.start_all()
        cluster.leader()
        ttl = int(scaled(30000))
        pidfile = os.path.join(cluster.root, "command.pid")
        proc = subprocess.Popen(
            [args.lock, "run", "job", "--ttl", str(ttl), "--owner", "R", "--members",
             cluster.members_of(cluster.replicas), "--", "sh", "-c",
             "trap '' TERM; echo $$ > %s.tmp; mv %s.tmp %s; while :; do sleep 0.05; done" %
             (pidfile, pidfile, pidfile)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        cluster.started_pids.add(proc.pid)
        err = Lines(proc.stderr)
        try:
            wait_until(lambda: os.path.exists(pidfile), scaled(10), "run to start its command")
        except AssertionError:
            raise AssertionError("run did not start its command: %r" % err.all())
        with open(pidfile) as f:
            command_pid = int(f.read())
        cluster.started_pids.add(command_pid)
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: err.has("signal 15: stopping"), scaled(5), "run to take SIGTERM")
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            reaped(cluster, proc, scaled(2))
        except subprocess.TimeoutExpired:
            raise AssertionError("a second signal did not make run exit at once: %r" % err.all())
        running_exit = time.monotonic() - sent
        assert proc.returncode == 130, (proc.returncode, err.all())

        def command_gone():
            try:
                with open("/proc/%d/stat" % command_pid) as f:
                    return f.read().split(")")[-1].split()[0] in ("Z", "X")
            except OSError:
                return True
        wait_until(command_gone, scaled(5), "the command to be killed")
        cluster.started_pids.discard(command_pid)
        code, out, _ = cluster.client("status", "job")
        print("second signal: exit %.2f s after it while acquiring (--timeout %d ms), "
              "%.2f s with a command ignoring SIGTERM (ttl %d ms), command killed; lock: %s" %
              (acquiring_exit, timeout_ms, running_exit, ttl, out.strip()))


def test_election_resign_acquiring(args):
    ttl = int(scaled(30000))  # left to expire, the lease would outlast the test
    with Cluster(args.lock) as cluster:
        cluster.start_all()
        cluster.leader()
        store = Store(args.store)
        proxy = HoldingProxy(cluster)
        worker = None
        try:
            code, out, _ = cluster.client("acquire", "leader", "--owner", "X", "--ttl", str(ttl))
            assert code == 0, (code, out)
            token_x = token_of(out)
            worker = Worker(args, cluster, store, "w", ttl, members=proxy.members)
            wait_until(lambda: "leader X token=%d" % token_x in worker.snapshot(), scaled(10),
                       "the worker to see X lead")
            # From now on the worker's acquire is applied but not answered.
            proxy.hold()
            code, out, _ = cluster.client("release", "leader", "--owner", "X", "--token",
                                          str(token_x))
            assert code == 0, (code, out)

            def held_by_worker():
                c, o, _ = cluster.client("status", "leader")
                return o if c == 0 and o.startswith("held owner=w.") else None
            held = wait_until(held_by_worker, scaled(15), "the worker's acquire to be granted")
            worker.proc.send_signal(signal.SIGTERM)
            wait_until(lambda: "resigning" in worker.snapshot(), scaled(10),
                       "the worker to take the signal")
            proxy.release()
            reaped(cluster, worker.proc, scaled(20))
            code, out, _ = cluster.client("status", "leader")
            assert worker.proc.returncode == 0, (worker.proc.returncode, worker.snapshot())
            assert (code, out.strip()) == (0, "free"), \
                ("the worker exited but left its grant held", held, out, worker.snapshot())
            assert not any(l.startswith(("elected", "job")) for l in worker.snapshot()), \
                worker.snapshot()
            print("worker granted (%s) with the reply held back, SIGTERM: resigned, lock free" %
                  held.strip())
        finally:
            if worker:
                if worker.proc.poll() is None:
                    worker.proc.kill()
                reaped(cluster, worker.proc)
            proxy.close()
            store.stop()


def test_restart(args):
    ttl = int(scaled(4000))
    with Cluster(args.lock) as cluster:
        cluster.start_all()
        cluster.leader()
        code, out, _ = cluster.client("acquire", "job", "--owner", "A", "--ttl", str(ttl))
        assert (code, out.strip()) == (0, "token=1"), (code, out)
        acquired = time.monotonic()
        for r in cluster.replicas:
            r.kill9()
        for r in cluster.replicas:
            r.start(wait_ready=False)
        for r in cluster.replicas:
            r.wait_ready()
        cluster.leader()
        code, out, _ = cluster.client("status", "job")
        assert code == 0 and out.startswith("held owner=A token=1 "), (code, out)
        remaining = int(out.split("remaining=")[1])
        assert remaining <= ttl, out

        def free():
            c, o, _ = cluster.client("status", "job")
            return c == 0 and o.strip() == "free"
        wait_until(free, scaled(15), "the replayed lease to end")
        freed = time.monotonic() - acquired
        assert freed >= ttl / 1000.0 - 0.3, freed
        code, out, _ = cluster.client("acquire", "job", "--owner", "B", "--ttl", str(ttl))
        assert (code, out.strip()) == (0, "token=2"), (code, out)
        print("after a full restart: held by A (%d ms left), free %.2f s after the grant "
              "(ttl %.1f s), next token 2" % (remaining, freed, ttl / 1000.0))


TESTS = {
    "restart": test_restart,
    "election": test_election,
    "election_same_id": test_election_same_id,
    "election_resign_acquiring": test_election_resign_acquiring,
    "run_signal_acquiring": test_run_signal_acquiring,
    "run_signal_releasing": test_run_signal_releasing,
    "run_second_signal": test_run_second_signal,
    "paused_holder": test_paused_holder,
    "killed_holder": test_killed_holder,
    "run_ok": test_run_ok,
    "run_lost": test_run_lost,
    "renew_race": test_renew_race,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lock", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--worker", required=True)
    parser.add_argument("test", choices=sorted(TESTS))
    args = parser.parse_args()
    start = time.monotonic()
    TESTS[args.test](args)
    print("PASS %s in %.1f s" % (args.test, time.monotonic() - start))


if __name__ == "__main__":
    main()
