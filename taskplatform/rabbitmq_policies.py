"""Apply the platform's RabbitMQ policies (`python -m taskplatform rabbitmq-policies`)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from urllib.parse import quote, unquote, urlsplit

import httpx

from taskplatform.raw_queues import POLICIES
from taskplatform.settings import get_settings


def rabbitmqctl_commands(vhost: str) -> list[list[str]]:
    return [["rabbitmqctl", "set_policy", "-p", vhost, "--apply-to", "queues", name, pattern, json.dumps(definition)]
            for name, (pattern, definition) in POLICIES.items()]


def apply_with_rabbitmqctl(vhost: str) -> None:
    """On the broker's host (needs the Erlang cookie, i.e. root or the rabbitmq user)."""
    for command in rabbitmqctl_commands(vhost):
        subprocess.run(command, check=True, capture_output=True)


def apply_with_management_api(management_url: str, vhost: str) -> None:
    """Through the management plugin's HTTP API (credentials in the URL)."""
    parts = urlsplit(management_url)
    auth = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
    base = f"{parts.scheme}://{parts.hostname}:{parts.port or 15672}"
    for name, (pattern, definition) in POLICIES.items():
        response = httpx.put(f"{base}/api/policies/{quote(vhost, safe='')}/{name}", auth=auth, timeout=10,
                             json={"pattern": pattern, "definition": definition, "apply-to": "queues"})
        response.raise_for_status()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m taskplatform rabbitmq-policies", description=__doc__)
    parser.add_argument("--management-url", help="e.g. http://user:password@rabbitmq:15672 (else rabbitmqctl)")
    args = parser.parse_args(argv)
    broker = get_settings().broker_url or ""
    vhost = unquote(urlsplit(broker).path.lstrip("/")) or "/"
    if args.management_url:
        apply_with_management_api(args.management_url, vhost)
    elif shutil.which("rabbitmqctl"):
        apply_with_rabbitmqctl(vhost)
    else:
        commands = "\n".join(" ".join(map(repr, c)) for c in rabbitmqctl_commands(vhost))
        raise SystemExit(f"neither --management-url nor rabbitmqctl: run on the broker's host:\n{commands}")
    print(f"applied {', '.join(POLICIES)} on vhost {vhost!r}")  # noqa: T201
    return 0
