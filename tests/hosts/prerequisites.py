"""Why this machine cannot build the hosts, if it cannot: `make test-hosts` then skips, loudly (CI fails)."""

from __future__ import annotations

import os
import shutil
import subprocess

from taskplatform.dev.embedded import weed_binary
from tests.hosts.postgres import postgres_missing
from tests.hosts.rabbit import rabbitmq_missing


def missing() -> str | None:
    if os.geteuid() != 0:
        return "not root: network namespaces (ip netns) need root"
    if shutil.which("ip") is None:
        return "`ip` (iproute2) is not installed"
    if subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        return "`ip netns` does not work here (no network namespaces in this kernel or container)"
    for reason in (rabbitmq_missing(), postgres_missing()):
        if reason:
            return reason
    try:
        weed_binary()
    except RuntimeError as exc:
        return str(exc)
    return None
