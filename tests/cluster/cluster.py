"""Harness for multi-process tests: real synod-counter replicas on 127.0.0.1
(or, given a netns.PrivateNetwork, each in its own network namespace).

Starts replicas on free ports in a temporary directory, runs client commands
with deadlines, and always kills (by pid) every process it started. Timeouts
scale with SYNOD_TIME_SCALE (sanitizer builds set it above 1).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

TIME_SCALE = float(os.environ.get("SYNOD_TIME_SCALE", "1"))


def scaled(seconds):
    return seconds * TIME_SCALE


def wait_until(predicate, timeout, what):
    """Polls `predicate` until it returns a true value (returned) or `timeout` s pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def free_ports(count):
    """Ports the kernel hands out for 127.0.0.1, released before use."""
    sockets, ports = [], []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


class Replica:
    def __init__(self, cluster, replica_id, port):
        self.cluster = cluster
        self.id = replica_id
        self.host = "127.0.0.1"
        self.port = port
        self.data_dir = os.path.join(cluster.root, "r%d" % replica_id)
        self.proc = None
        self.log_path = os.path.join(cluster.root, "r%d.log" % replica_id)
        self.ready = threading.Event()

    def start(self, wait_ready=True, extra=(), env=None, members=None):
        """Starts `serve` (with `extra` flags; `env`: its environment, default
        ours; `members`: its --members, default the cluster's)."""
        log = open(self.log_path, "a")
        self.ready.clear()
        cmd = [self.cluster.binary, "serve", "--id", str(self.id), "--members",
               members or self.cluster.members, "--data", self.data_dir,
               "--election-timeout-ms", str(int(scaled(300))), "--heartbeat-ms",
               str(int(scaled(50)))] + list(extra)
        self.proc = subprocess.Popen(self.cluster.exec_prefix(self.id) + cmd,
                                     stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        self.cluster.started_pids.add(self.proc.pid)
        threading.Thread(target=self._watch_stdout, args=(self.proc,), daemon=True).start()
        if wait_ready:
            self.wait_ready()
        return self

    def _watch_stdout(self, proc):
        for line in proc.stdout:
            if line.strip() == "ready id=%d" % self.id:
                self.ready.set()

    def wait_ready(self, timeout=None):
        if not self.ready.wait(timeout or scaled(20)):
            raise AssertionError("replica %d never printed 'ready id=%d'; log:\n%s" %
                                 (self.id, self.id, self.log_tail()))

    def log_tail(self, lines=30):
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=scaled(10))

    def stop(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGCONT)
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                return self.proc.wait(timeout=scaled(10))
            except subprocess.TimeoutExpired:
                self.kill9()
                return None
        return self.proc.returncode if self.proc else None

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)


class Cluster:
    def __init__(self, binary, size=3, client_binary=None, network=None):
        """`binary` serves; `client_binary` (default: the same) runs client
        commands. With `network` (an entered netns.PrivateNetwork for replica
        ids 1..size), replica i listens on network.address(i) in its own
        namespace and clients run in the network's client namespace."""
        self.binary = binary
        self.client_binary = client_binary or binary
        self.network = network
        self.root = tempfile.mkdtemp(prefix="synod-cluster-")
        if network is None:
            ports = free_ports(size)
            hosts = ["127.0.0.1"] * size
        else:
            ports = [7000] * size  # each replica has a namespace of its own
            hosts = [network.address(i + 1) for i in range(size)]
        self.replicas = [Replica(self, i + 1, ports[i]) for i in range(size)]
        for r in self.replicas:
            r.host = hosts[r.id - 1]
        self.members = self.members_of(self.replicas)
        self.started_pids = set()

    def members_of(self, replicas):
        """The --members value naming `replicas`."""
        return ",".join("%d=%s:%d" % (r.id, r.host, r.port) for r in replicas)

    def exec_prefix(self, who):
        """Command prefix that runs a program as replica `who` (an id) or as a
        client ("client") would: empty on 127.0.0.1."""
        return [] if self.network is None else self.network.exec_prefix(who)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        """Stops every process; removes the data unless the test failed or
        SYNOD_KEEP_CLUSTER is set (then its path is printed)."""
        self.shutdown()
        if exc_type is None and not os.environ.get("SYNOD_KEEP_CLUSTER"):
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            print("cluster data kept in %s" % self.root, file=sys.stderr)

    def start_all(self):
        for r in self.replicas:
            r.start(wait_ready=False)
        for r in self.replicas:
            r.wait_ready()

    def shutdown(self):
        for r in self.replicas:
            if r.alive():
                try:
                    r.resume()
                except ProcessLookupError:
                    pass
                r.kill9()
        for pid in self.started_pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def client(self, *args, members=None, timeout_ms=None):
        """Runs a client command; returns (exit code, stdout, stderr)."""
        timeout_ms = timeout_ms or int(scaled(10000))
        cmd = self.exec_prefix("client") + [self.client_binary] + list(args) + [
            "--members", members or self.members, "--timeout", str(timeout_ms)]
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=timeout_ms / 1000.0 + scaled(20))
        return proc.returncode, proc.stdout, proc.stderr

    def status(self, members=None):
        """Parses `status` (of `members`, default all): {id: dict or None (unreachable)}."""
        code, out, _ = self.client("status", members=members, timeout_ms=int(scaled(2000)))
        result = {}
        for line in out.splitlines():
            fields = line.split()
            if not fields:
                continue
            rid = int(fields[0])
            if "unreachable" in fields:
                result[rid] = None
                continue
            entry = {"id": rid}
            for field in fields[1:]:
                if "=" in field:
                    k, v = field.split("=", 1)
                    entry[k] = v
                else:
                    entry["role"] = field
            result[rid] = entry
        return result

    def leader(self, timeout=None, members=None):
        """Waits until some live replica (of `members`, default all) reports
        itself leader; returns its id."""
        deadline = time.monotonic() + (timeout or scaled(20))
        while time.monotonic() < deadline:
            for rid, entry in self.status(members).items():
                if entry and entry.get("role") == "leader":
                    return rid
            time.sleep(0.05)
        raise AssertionError("no leader within the deadline; logs:\n" +
                             "\n".join(r.log_tail(10) for r in self.replicas))

    def replica(self, rid):
        return self.replicas[rid - 1]


class History:
    """Jepsen-style history, written as JSON Lines for synod-lincheck."""

    def __init__(self):
        self.lock = threading.Lock()
        self.events = []
        self.start = time.monotonic()

    def record(self, process, type_, f, value):
        with self.lock:
            self.events.append({"process": process, "type": type_, "f": f, "value": value,
                                "time": int((time.monotonic() - self.start) * 1e6)})

    def write(self, path):
        with open(path, "w") as f:
            for e in self.events:
                f.write(json.dumps(e) + "\n")
