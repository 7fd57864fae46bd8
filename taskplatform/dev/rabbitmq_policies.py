"""Apply the platform's RabbitMQ policies (`python -m taskplatform rabbitmq-policies`)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from urllib.parse import quote, unquote, urlsplit

import httpx

from taskplatform.core.settings import get_settings
from taskplatform.devices.raw_queue import RASP_DATA
from taskplatform.messaging.raw_queues import RawQueue
from taskplatform.sessions.raw_queue import RAW_SESSIONS

#: Every domain's raw queue (this command line is an entry point: it may name the domains).
RAW_QUEUES: tuple[RawQueue, ...] = (RASP_DATA, RAW_SESSIONS)
#: name -> (pattern, definition) of the RabbitMQ policies the raw queues need.
POLICIES: dict[str, tuple[str, dict[str, str]]] = {name: policy for raw in RAW_QUEUES
                                                    for name, policy in raw.policies.items()}


def rabbitmqctl_commands(vhost: str) -> list[list[str]]:
    return [["rabbitmqctl", "set_policy", "-p", vhost, "--apply-to", "queues", name, pattern, json.dumps(definition)]
            for name, (pattern, definition) in POLICIES.items()]


def apply_with_rabbitmqctl(vhost: str) -> None:
    """On the broker's host (needs the Erlang cookie, i.e. root or the rabbitmq user)."""
    for command in rabbitmqctl_commands(vhost):
        subprocess.run(command, check=True, capture_output=True)


def management_endpoint(management_url: str) -> tuple[str, tuple[str, str]]:
    """(base URL, basic-auth pair) of a management URL carrying its credentials."""
    parts = urlsplit(management_url)
    auth = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 15672}", auth


def management_url_from(argument: str | None) -> str | None:
    """--management-url, else RABBITMQ_MANAGEMENT_URL (which keeps the password off the command line)."""
    configured = get_settings().rabbitmq_management_url
    return argument or (configured.get_secret_value() if configured else None)


def broker_vhost() -> str:
    # Every URL of a failover list names the same vhost on another node of the cluster.
    first = next(iter(get_settings().broker_urls), "")
    return unquote(urlsplit(first).path.lstrip("/")) or "/"


def apply_with_management_api(management_url: str, vhost: str) -> None:
    """Through the management plugin's HTTP API (credentials in the URL)."""
    base, auth = management_endpoint(management_url)
    for name, (pattern, definition) in POLICIES.items():
        response = httpx.put(f"{base}/api/policies/{quote(vhost, safe='')}/{name}", auth=auth, timeout=10,
                             json={"pattern": pattern, "definition": definition, "apply-to": "queues"})
        response.raise_for_status()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m taskplatform rabbitmq-policies", description=__doc__)
    parser.add_argument("--management-url", help="e.g. http://user:password@rabbitmq:15672 (default: "
                        "RABBITMQ_MANAGEMENT_URL, else rabbitmqctl)")
    args = parser.parse_args(argv)
    vhost = broker_vhost()
    management_url = management_url_from(args.management_url)
    if management_url:
        apply_with_management_api(management_url, vhost)
    elif shutil.which("rabbitmqctl"):
        apply_with_rabbitmqctl(vhost)
    else:
        commands = "\n".join(" ".join(map(repr, c)) for c in rabbitmqctl_commands(vhost))
        raise SystemExit(f"neither --management-url nor rabbitmqctl: run on the broker's host:\n{commands}")
    print(f"applied {', '.join(POLICIES)} on vhost {vhost!r}")  # noqa: T201
    return 0
