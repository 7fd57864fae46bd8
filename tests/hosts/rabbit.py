"""A RabbitMQ cluster of three nodes, one per host: Debian's rabbitmq-server, each node with its own files and an
Erlang cookie of this run (never the machine's broker, its cookie or its configuration)."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from taskplatform.dev.embedded import port_open, write_private
from taskplatform.dev.processes import Supervisor, wait_until
from taskplatform.dev.rabbitmq_policies import rabbitmqctl_commands
from tests.hosts.network import Network

#: The scripts themselves: /usr/sbin/rabbitmq-server switches to the rabbitmq user and writes its output under
#: /var/log/rabbitmq, the machine's broker's directories. Root runs these fine with files of our own.
SBIN = Path("/usr/lib/rabbitmq/bin")
USER = "taskplatform"
#: Erlang VMs on a shared 2-core machine: one scheduler each, and schedulers that sleep instead of spinning
#: when idle (busy waiting would take the CPU the workers measure throughput with).
ERL_ARGS = "+S 1:1 +sbwt none +sbwtdcpu none +sbwtdio none"


def rabbitmq_missing() -> str | None:
    """Why this machine cannot run the cluster, or None."""
    if not (SBIN / "rabbitmq-server").exists() and not shutil.which("rabbitmq-server"):
        return "rabbitmq-server is not installed (Debian package rabbitmq-server)"
    return None


def script(name: str) -> str:
    found = SBIN / name
    return str(found) if found.exists() else name


@dataclass
class RabbitNode:
    host: str
    address: str
    base: Path

    @property
    def node(self) -> str:
        return f"rabbit@{self.address}"

    def env(self) -> dict[str, str]:
        """The variables both the server and its CLI read: our cookie (in HOME), long node names by address, and
        an empty rabbitmq-env.conf instead of the machine's (which pins the node to 127.0.0.1)."""
        return {"HOME": str(self.base), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"), "RABBITMQ_USE_LONGNAME": "true",
                "RABBITMQ_NODENAME": self.node}


@dataclass
class RabbitCluster:
    network: Network
    supervisor: Supervisor
    root: Path
    consumer_timeout_ms: int
    nodes: list[RabbitNode] = field(default_factory=list)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    def add(self, host: str) -> None:
        self.nodes.append(RabbitNode(host, self.network.hosts[host], self.root / host))

    @property
    def broker_url(self) -> str:
        """Every node's URL, `;`-separated: kombu's failover list."""
        return ";".join(f"amqp://{USER}:{self.password}@{node.address}:5672//" for node in self.nodes)

    def _write_files(self, node: RabbitNode) -> None:
        node.base.mkdir(parents=True, exist_ok=True)
        (node.base / "rabbitmq-env.conf").write_text("")
        (node.base / "enabled_plugins").write_text("[].\n")
        cookie = node.base / ".erlang.cookie"
        if not cookie.exists():
            write_private(cookie, self.cookie)
            cookie.chmod(0o400)
        write_private(node.base / "rabbitmq.conf", "\n".join([
            "listeners.tcp.default = 5672",
            f"default_user = {USER}",
            f"default_pass = {self.password}",
            # A delivery unacknowledged longer than this closes its channel and the message is redelivered: it
            # must outlast the longest task (see hosts.py).
            f"consumer_timeout = {self.consumer_timeout_ms}",
            # A node cut off from the other two stops serving rather than diverging from them.
            "cluster_partition_handling = pause_minority",
            "log.console = true",
            "log.console.level = warning",
            "log.file = false",
            "",
        ]))

    @property
    def cookie(self) -> str:
        if not hasattr(self, "_cookie"):
            self._cookie = secrets.token_hex(16)
        return self._cookie

    def start_node(self, node: RabbitNode) -> None:
        self._write_files(node)
        env = {**node.env(),
               "RABBITMQ_MNESIA_BASE": str(node.base / "mnesia"), "RABBITMQ_LOG_BASE": str(node.base / "log"),
               "RABBITMQ_CONFIG_FILE": str(node.base / "rabbitmq.conf"),
               "RABBITMQ_ENABLED_PLUGINS_FILE": str(node.base / "enabled_plugins"),
               "RABBITMQ_PID_FILE": str(node.base / "pid"), "RABBITMQ_LOGS": "-",
               "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": ERL_ARGS}
        self.supervisor.start(f"rabbit-{node.host}", self.network.run_in(node.host, [script("rabbitmq-server")]),
                              env=env, cwd=node.base, stop_timeout=30)
        wait_until(lambda: port_open(5672, node.address), timeout=120, interval=0.5,
                   what=f"RabbitMQ {node.node} on {node.address}:5672")

    def ctl(self, node: RabbitNode, *args: str, timeout: float = 60) -> str:
        """`rabbitmqctl -n node args` from the node's own host."""
        argv = self.network.run_in(node.host, [script("rabbitmqctl"), "-n", node.node, *args])
        done = subprocess.run(argv, env=node.env(), capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} on {node.node}: {done.stdout}{done.stderr}".strip())
        return done.stdout

    def start(self) -> None:
        """Start every node, join the others to the first, apply the platform's policies."""
        for node in self.nodes:
            self.start_node(node)
        first = self.nodes[0]
        for node in self.nodes[1:]:
            self.ctl(node, "stop_app")
            self.ctl(node, "join_cluster", first.node)
            self.ctl(node, "start_app")
        wait_until(lambda: len(self.running_nodes()) == len(self.nodes), timeout=60, interval=0.5,
                   what=f"{len(self.nodes)} running nodes in the cluster")
        for command in rabbitmqctl_commands("/"):
            self.ctl(first, *command[1:])

    def running_nodes(self, via: RabbitNode | None = None) -> list[str]:
        status = json.loads(self.ctl(via or self.nodes[0], "cluster_status", "--formatter", "json"))
        return list(status.get("running_nodes", []))

    def kill(self, host: str) -> None:
        """SIGKILL a node's Erlang VM: the host stays, its broker is gone at once (connections reset)."""
        self.supervisor.kill(f"rabbit-{host}")

    def restart(self, host: str) -> None:
        node = next(n for n in self.nodes if n.host == host)
        self.start_node(node)
        other = next(n for n in self.nodes if n.host != host)
        wait_until(lambda: node.node in self.running_nodes(other), timeout=120, interval=1,
                   what=f"{node.node} back in the cluster")

    def queue_members(self, queue: str) -> list[str]:
        """The nodes holding a replica of a quorum queue."""
        rows = json.loads(self.ctl(self.nodes[0], "list_queues", "name", "type", "members", "--formatter", "json"))
        for row in rows:
            if row["name"] == queue:
                return list(row.get("members") or [])
        raise KeyError(queue)
