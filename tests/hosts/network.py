"""Hosts as Linux network namespaces on one private bridge, and the cuts the fault tests make in their links.

Layout: the bridge `br0` lives in a namespace of its own (`tph-net`), so nothing of it is in the machine's own
namespace; each host is a namespace `tph-<host>` whose `eth0` is one end of a veth pair, the other end a port of
the bridge. The test process stays in the machine's namespace and reaches the hosts through one more veth,
`tph-root`, the only interface this module adds there: its route covers the private subnet only, and neither the
machine's namespace nor the bridge's forwards packets, so no host can reach anything but the other hosts.

Every name starts with `tph-` (taskplatform hosts), so the leftovers of a run that was killed can be found and
removed by the next one (`remove_leftovers`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

PREFIX = "tph-"
BRIDGE_NS = f"{PREFIX}net"
BRIDGE = "br0"
ROOT_LINK = f"{PREFIX}root"
SUBNET = ipaddress.ip_network("10.213.0.0/24")
ROOT_ADDRESS = "10.213.0.1"


def ip(*args: str, namespace: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`ip [-n namespace] args...`; raises with ip's own message when `check` and it fails."""
    argv = ["ip", *(("-n", namespace) if namespace else ()), *args]
    done = subprocess.run(argv, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done


def namespaces() -> list[str]:
    """The names of every network namespace `ip netns` knows."""
    listed = ip("netns", "list").stdout.splitlines()
    return [line.split()[0] for line in listed if line.strip()]


def pids_in(namespace: str) -> list[int]:
    done = ip("netns", "pids", namespace, check=False)
    return [int(pid) for pid in done.stdout.split() if pid.isdigit()]


def kill_namespace_processes(namespace: str, *, timeout: float = 10) -> None:
    """SIGKILL every process whose network namespace is `namespace` (epmd and anything a crash left), and wait
    until none is left, so the namespace can go."""
    deadline = time.monotonic() + timeout
    while pids := pids_in(namespace):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {pids} of namespace {namespace} survived SIGKILL for {timeout:g}s")
        time.sleep(0.1)


def remove_leftovers() -> list[str]:
    """Remove every namespace, process and link of ours: a previous run's that was interrupted, or this run's at
    its end. Returns what was removed, for the log."""
    removed = []
    for namespace in namespaces():
        if namespace.startswith(PREFIX):
            kill_namespace_processes(namespace)
            ip("netns", "del", namespace)  # its veth ends go with it, and with them their peers
            removed.append(f"namespace {namespace}")
    if ip("link", "show", ROOT_LINK, check=False).returncode == 0:
        ip("link", "del", ROOT_LINK)
        removed.append(f"link {ROOT_LINK}")
    return removed


def subnet_taken() -> str | None:
    """A route of the machine's namespace that overlaps our subnet (someone else's network), else None."""
    for line in ip("-4", "route", "show").stdout.splitlines():
        destination = line.split()[0]
        if destination == "default":
            continue
        with contextlib.suppress(ValueError):
            if ipaddress.ip_network(destination, strict=False).overlaps(SUBNET) and f"dev {ROOT_LINK}" not in line:
                return line
    return None


@dataclass
class Network:
    """The bridge and the hosts attached to it (name -> address)."""

    hosts: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def namespace(host: str) -> str:
        return f"{PREFIX}{host}"

    @staticmethod
    def port(host: str) -> str:
        """The host's link as the bridge sees it: the veth end a cable cut takes down."""
        return f"v-{host}"

    def create(self) -> None:
        if taken := subnet_taken():
            raise RuntimeError(f"{SUBNET} is already routed on this machine ({taken}); not touching it")
        ip("netns", "add", BRIDGE_NS)
        ip("link", "add", BRIDGE, "type", "bridge", namespace=BRIDGE_NS)
        ip("link", "set", BRIDGE, "up", namespace=BRIDGE_NS)
        ip("link", "add", ROOT_LINK, "type", "veth", "peer", "name", "v-root", "netns", BRIDGE_NS)
        ip("link", "set", "v-root", "master", BRIDGE, "up", namespace=BRIDGE_NS)
        ip("addr", "add", f"{ROOT_ADDRESS}/{SUBNET.prefixlen}", "dev", ROOT_LINK)
        ip("link", "set", ROOT_LINK, "up")

    def add_host(self, host: str, address: str) -> None:
        """A namespace with loopback and `eth0` at `address`, plugged into the bridge. No default route: the
        subnet is all it can reach."""
        namespace = self.namespace(host)
        ip("netns", "add", namespace)
        ip("link", "set", "lo", "up", namespace=namespace)
        ip("link", "add", "eth0", "netns", namespace, "type", "veth", "peer", "name", self.port(host),
           "netns", BRIDGE_NS)
        ip("link", "set", self.port(host), "master", BRIDGE, "up", namespace=BRIDGE_NS)
        ip("addr", "add", f"{address}/{SUBNET.prefixlen}", "dev", "eth0", namespace=namespace)
        ip("link", "set", "eth0", "up", namespace=namespace)
        self.hosts[host] = address

    def run_in(self, host: str, argv: Sequence[str]) -> list[str]:
        """`argv` as run inside `host`'s namespace."""
        return ["ip", "netns", "exec", self.namespace(host), *argv]

    def cut(self, host: str) -> None:
        """Unplug the host's cable at the bridge: its packets go nowhere, and nobody is told (no reset, no FIN),
        as when a host's link fails; the host itself sees only its carrier drop."""
        ip("link", "set", self.port(host), "down", namespace=BRIDGE_NS)

    def restore(self, host: str) -> None:
        ip("link", "set", self.port(host), "up", namespace=BRIDGE_NS)

    def destroy(self) -> list[str]:
        self.hosts.clear()
        return remove_leftovers()
