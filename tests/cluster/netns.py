"""Private network for multi-process tests: one network namespace per replica
and one for clients, joined by a bridge in a namespace of its own, so a test
can cut real links while every process keeps running.

Nothing outside the namespaces this creates is touched: the host's own
interfaces, routes and ports stay as they were. A cut between two replicas
points each one's neighbour entry for the other at a MAC address no interface
has (iproute2 only, no tc or firewall modules needed): every packet either
sends the other is silently lost, on established connections and new ones
alike, as on a cut cable (a connect waits for its timeout). Clients reach
every replica throughout, so a cut-off leader keeps being offered commands.

Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and `ip`; `PrivateNetwork.probe()`
says why it cannot run, so a test can skip cleanly. Always use it as a context
manager: leaving kills whatever still runs in its namespaces and deletes them
(which deletes their links); entering first does the same to namespaces a
killed earlier run left behind.
"""
import os
import re
import shutil
import signal
import subprocess

SUBNET = "10.77.0"  # private to these namespaces; never visible on the host
CLIENT_HOST = 200   # address suffix of the clients' namespace
NOWHERE_MAC = "02:00:00:00:00:01"  # locally administered; no interface has it


def _ip(*args, check=True):
    """Runs `ip ARGS` (20 s at most); returns the CompletedProcess. With
    `check`, raises RuntimeError naming the command and its error on failure."""
    proc = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=20)
    if check and proc.returncode != 0:
        raise RuntimeError("ip %s failed: %s" % (" ".join(args), proc.stderr.strip()))
    return proc


def _delete_namespace(name):
    """Kills every process in namespace `name`, then deletes it (errors ignored)."""
    for pid in _ip("netns", "pids", name, check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    _ip("netns", "del", name, check=False)


class PrivateNetwork:
    def __init__(self, replica_ids):
        """A network for replicas `replica_ids` (ints 1..199) and one client
        namespace; nothing is created before __enter__."""
        self.prefix = "synod%d" % os.getpid()
        self.replica_ids = list(replica_ids)
        self.created = []
        self.cuts = set()

    @staticmethod
    def probe():
        """None if namespaces can be made and used here, else the reason not."""
        if shutil.which("ip") is None:
            return "the ip command (iproute2) is not installed"
        if os.geteuid() != 0:
            return "network namespaces need root"
        name = "synod%d-probe" % os.getpid()
        proc = _ip("netns", "add", name, check=False)
        if proc.returncode != 0:
            return "cannot create a network namespace: " + proc.stderr.strip()
        try:
            for what, args in (("create a bridge", ("-n", name, "link", "add", "probebr", "type",
                                                    "bridge")),
                               ("create a veth pair", ("-n", name, "link", "add", "probev0",
                                                       "type", "veth", "peer", "name",
                                                       "probev1")),
                               ("run a program in a namespace", ("netns", "exec", name, "true"))):
                proc = _ip(*args, check=False)
                if proc.returncode != 0:
                    return "cannot %s: %s" % (what, proc.stderr.strip())
        finally:
            _delete_namespace(name)
        return None

    @staticmethod
    def remove_leftovers():
        """Deletes the namespaces of earlier runs whose test process is gone
        (killed, e.g. by a ctest timeout, before it could clean up), first
        killing whatever still runs inside them."""
        listing = _ip("netns", "list", check=False).stdout
        for line in listing.splitlines():
            match = re.match(r"^(synod(\d+)-\S+)", line)
            if match and not os.path.exists("/proc/%s" % match.group(2)):
                _delete_namespace(match.group(1))

    def namespace(self, who):
        """Namespace name of replica `who` (an int) or of the clients ("client")."""
        return "%s-%s" % (self.prefix, who)

    def address(self, who):
        """IPv4 address of replica `who` or of the clients ("client")."""
        return "%s.%d" % (SUBNET, CLIENT_HOST if who == "client" else who)

    def exec_prefix(self, who):
        """Command prefix that runs a program inside `who`'s namespace (the
        program keeps the pid Popen reports: `ip netns exec` execs it)."""
        return ["ip", "netns", "exec", self.namespace(who)]

    def __enter__(self):
        self.remove_leftovers()
        try:
            hub = self.namespace("hub")
            self._add_namespace(hub)
            _ip("-n", hub, "link", "add", "bridge0", "type", "bridge")
            _ip("-n", hub, "link", "set", "bridge0", "up")
            for index, who in enumerate(self.replica_ids + ["client"]):
                ns = self.namespace(who)
                self._add_namespace(ns)
                outer = "synh%d" % index
                _ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", outer)
                _ip("-n", ns, "link", "set", outer, "netns", hub)
                _ip("-n", hub, "link", "set", outer, "master", "bridge0")
                _ip("-n", hub, "link", "set", outer, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "addr", "add", self.address(who) + "/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        for ns in reversed(self.created):
            _delete_namespace(ns)
        self.created = []

    def _add_namespace(self, name):
        _delete_namespace(name)  # a leftover of a killed run with our pid
        _ip("netns", "add", name)
        self.created.append(name)

    def cut(self, a, b):
        """Drops all traffic between replicas `a` and `b`, both ways (no-op if
        already cut). Raises RuntimeError if `ip` fails."""
        if frozenset((a, b)) in self.cuts:
            return
        for src, dst in ((a, b), (b, a)):
            _ip("-n", self.namespace(src), "neigh", "replace", self.address(dst), "lladdr",
                NOWHERE_MAC, "nud", "permanent", "dev", "eth0")
        self.cuts.add(frozenset((a, b)))

    def isolate(self, rid):
        """Cuts replica `rid` off from every other replica (clients still reach it)."""
        for other in self.replica_ids:
            if other != rid:
                self.cut(rid, other)

    def heal(self):
        """Removes every cut (the neighbours are then looked up afresh). Tries
        them all; raises RuntimeError afterwards if any removal failed."""
        failures = []
        for pair in list(self.cuts):
            a, b = tuple(pair)
            for src, dst in ((a, b), (b, a)):
                proc = _ip("-n", self.namespace(src), "neigh", "del", self.address(dst), "dev",
                           "eth0", check=False)
                if proc.returncode != 0:
                    failures.append(proc.stderr.strip())
            self.cuts.discard(pair)
        if failures:
            raise RuntimeError("could not heal every cut: %s" % failures)
