"""Create the RabbitMQ user of the Raspberry Pis (`python -m taskplatform rabbitmq-device-user`).

Devices declare `rasp_data` (durable, no arguments) and publish to it through the default exchange, so
they need configure on that queue and write on `amq.default` (the default exchange's name in permissions),
and nothing else: they cannot read any queue, declare, bind or delete anything else, or use the management
API (no tags). RabbitMQ cannot limit the routing keys used on the default exchange, so a device can still
publish into another queue of the same vhost; docker/README.md says how to close that too.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from urllib.parse import quote

import httpx

from taskplatform.core.production import DEFAULT_CREDENTIALS
from taskplatform.core.settings import get_settings
from taskplatform.dev.rabbitmq_policies import broker_vhost, management_endpoint, management_url_from

#: configure / write / read regexes of the device user (anchored: RabbitMQ matches them unanchored).
DEVICE_PERMISSIONS = {"configure": "^rasp_data$", "write": r"^amq\.default$", "read": "^$"}
MIN_PASSWORD_LENGTH = 16


def checked_password(password: str | None) -> str:
    if not password or password.strip().lower() in DEFAULT_CREDENTIALS or len(password) < MIN_PASSWORD_LENGTH:
        raise SystemExit(f"set RABBITMQ_DEVICE_PASSWORD to a real password of at least {MIN_PASSWORD_LENGTH} "
                         "characters (there is no default)")
    return password


def management_requests(vhost: str, user: str, password: str) -> list[tuple[str, dict[str, str]]]:
    """(path, JSON body) of each PUT: the user (no tags: no management access), then its permissions."""
    return [(f"/api/users/{quote(user, safe='')}", {"password": password, "tags": ""}),
            (f"/api/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}", DEVICE_PERMISSIONS)]


def apply_with_management_api(management_url: str, vhost: str, user: str, password: str) -> None:
    """Create or update the user and set its permissions on `vhost` (PUT is idempotent)."""
    base, auth = management_endpoint(management_url)
    with httpx.Client(base_url=base, auth=auth, timeout=10) as client:
        for path, body in management_requests(vhost, user, password):
            client.put(path, json=body).raise_for_status()


def apply_with_rabbitmqctl(vhost: str, user: str, password: str) -> None:
    """On the broker's host. The password goes through stdin, never the command line."""
    added = subprocess.run(["rabbitmqctl", "add_user", user], input=f"{password}\n", text=True, capture_output=True)
    if added.returncode != 0:
        if "already exists" not in added.stdout + added.stderr:
            raise subprocess.CalledProcessError(added.returncode, added.args, added.stdout, added.stderr)
        subprocess.run(["rabbitmqctl", "change_password", user], input=f"{password}\n", text=True,
                       capture_output=True, check=True)
    subprocess.run(["rabbitmqctl", "set_user_tags", user], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "set_permissions", "-p", vhost, user, DEVICE_PERMISSIONS["configure"],
                    DEVICE_PERMISSIONS["write"], DEVICE_PERMISSIONS["read"]], check=True, capture_output=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m taskplatform rabbitmq-device-user", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--management-url", help="e.g. http://admin:password@rabbitmq:15672 (default: "
                        "RABBITMQ_MANAGEMENT_URL, else rabbitmqctl)")
    args = parser.parse_args(argv)
    settings = get_settings()
    secret = settings.rabbitmq_device_password
    password = checked_password(secret.get_secret_value() if secret else None)
    user, vhost = settings.rabbitmq_device_user, broker_vhost()
    management_url = management_url_from(args.management_url)
    if management_url:
        apply_with_management_api(management_url, vhost, user, password)
    elif shutil.which("rabbitmqctl"):
        apply_with_rabbitmqctl(vhost, user, password)
    else:
        raise SystemExit("neither --management-url (RABBITMQ_MANAGEMENT_URL) nor rabbitmqctl: run it on the broker's "
                         "host or give the management API")
    print(f"user {user!r} may declare rasp_data and publish on vhost {vhost!r}, nothing else")  # noqa: T201
    return 0
