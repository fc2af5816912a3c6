"""Private network for multi-process tests: one network namespace per replica
and one for clients, joined by a bridge in a namespace of its own, so a test
can cut real links while every process keeps running.

Nothing outside the namespaces this creates is touched: the host's own
interfaces, routes and ports stay as they were. A partition is a pair of
blackhole routes (iproute2 only, no tc or firewall modules needed): packets
on established connections are silently lost, as on a cut cable, and new
connections between the two sides fail. Clients reach every replica
throughout, so a cut-off leader keeps being offered commands.

Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and `ip`; `PrivateNetwork.probe()`
says why it cannot run, so a test can skip cleanly. Always use it as a context
manager: leaving deletes every namespace it made (which deletes their links);
entering first deletes those a killed earlier run left behind.
"""
import os
import re
import shutil
import signal
import subprocess

SUBNET = "10.77.0"  # private to these namespaces; never visible on the host
CLIENT_HOST = 200   # address suffix of the clients' namespace


def _ip(*args, check=True):
    proc = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=20)
    if check and proc.returncode != 0:
        raise RuntimeError("ip %s failed: %s" % (" ".join(args), proc.stderr.strip()))
    return proc


class PrivateNetwork:
    def __init__(self, replica_ids):
        self.prefix = "synod%d" % os.getpid()
        self.replica_ids = list(replica_ids)
        self.created = []
        self.cuts = set()

    @staticmethod
    def probe():
        """None if namespaces can be made here, else the reason they cannot."""
        if shutil.which("ip") is None:
            return "the ip command (iproute2) is not installed"
        if os.geteuid() != 0:
            return "network namespaces need root"
        name = "synodprobe%d" % os.getpid()
        proc = _ip("netns", "add", name, check=False)
        if proc.returncode != 0:
            return "cannot create a network namespace: " + proc.stderr.strip()
        try:
            for kind, args in (("bridge", ("link", "add", "probebr", "type", "bridge")),
                               ("veth", ("link", "add", "probev0", "type", "veth", "peer",
                                         "name", "probev1"))):
                proc = _ip("-n", name, *args, check=False)
                if proc.returncode != 0:
                    return "cannot create a %s link: %s" % (kind, proc.stderr.strip())
        finally:
            _ip("netns", "del", name, check=False)
        return None

    def namespace(self, who):
        """Namespace name of replica `who` (an int) or of the clients ("client")."""
        return "%s-%s" % (self.prefix, who)

    def address(self, who):
        return "%s.%d" % (SUBNET, CLIENT_HOST if who == "client" else who)

    def exec_prefix(self, who):
        """Command prefix that runs a program inside `who`'s namespace (the
        program keeps the pid Popen reports: `ip netns exec` execs it)."""
        return ["ip", "netns", "exec", self.namespace(who)]

    @staticmethod
    def remove_leftovers():
        """Deletes the namespaces of earlier runs whose test process is gone
        (killed, e.g. by a ctest timeout, before it could clean up), first
        killing whatever still runs inside them."""
        listing = _ip("netns", "list", check=False).stdout
        for line in listing.splitlines():
            match = re.match(r"^(synod(\d+)-\S+)", line)
            if not match or os.path.exists("/proc/%s" % match.group(2)):
                continue
            name = match.group(1)
            for pid in _ip("netns", "pids", name, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            _ip("netns", "del", name, check=False)

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
                inner, outer = "synv%d" % index, "synh%d" % index
                _ip("-n", ns, "link", "add", inner, "type", "veth", "peer", "name", outer)
                _ip("-n", ns, "link", "set", outer, "netns", hub)
                _ip("-n", hub, "link", "set", outer, "master", "bridge0")
                _ip("-n", hub, "link", "set", outer, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "addr", "add", self.address(who) + "/24", "dev", inner)
                _ip("-n", ns, "link", "set", inner, "up")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        for ns in reversed(self.created):
            _ip("netns", "del", ns, check=False)
        self.created = []

    def _add_namespace(self, name):
        _ip("netns", "del", name, check=False)  # a leftover of a killed run with our pid
        _ip("netns", "add", name)
        self.created.append(name)

    def cut(self, a, b):
        """Drops all traffic between replicas `a` and `b`, both ways."""
        for src, dst in ((a, b), (b, a)):
            _ip("-n", self.namespace(src), "route", "add", "blackhole",
                self.address(dst) + "/32")
        self.cuts.add(frozenset((a, b)))

    def isolate(self, rid):
        """Cuts replica `rid` off from every other replica (clients still reach it)."""
        for other in self.replica_ids:
            if other != rid and frozenset((rid, other)) not in self.cuts:
                self.cut(rid, other)

    def heal(self):
        """Removes every cut."""
        for pair in list(self.cuts):
            a, b = tuple(pair)
            for src, dst in ((a, b), (b, a)):
                _ip("-n", self.namespace(src), "route", "del", "blackhole",
                    self.address(dst) + "/32")
            self.cuts.discard(pair)
