"""`make up`: the whole platform on one machine, with embedded servers for what is not set.

Broker: embedded Valkey unless BROKER_URL (or a seed alias) is set. Database: SQLite
under `var/` unless DATABASE_URL is set. Object store: `weed mini` unless
S3_ENDPOINT_URL is set. Then one worker on every queue, beat, Flower and the API.
Ctrl-C (or SIGTERM) stops everything it started.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from taskplatform.core.object_store import s3_location
from taskplatform.core.settings import Settings, get_settings, redact_url
from taskplatform.dev.embedded import ensure_bucket_ready, port_open, start_valkey, start_weed_mini, write_private
from taskplatform.dev.processes import Supervisor, api_command, wait_until, worker_command
from taskplatform.messaging.queues import TASK_QUEUES

logger = logging.getLogger("taskplatform.up")


def _dev_secrets(var_dir: Path) -> dict[str, str]:
    """Credentials generated on first start and kept in `var/` (mode 0600).

    A key missing from an older file (the Valkey password came later) is generated and added.
    """
    path = var_dir / "dev-secrets.json"
    values: dict[str, str] = dict(json.loads(path.read_text())) if path.exists() else {}
    # As long as production would require (taskplatform/core/production.py), so no habit is learnt here.
    generators = {"s3_access_key": lambda: "dev" + secrets.token_hex(8),
                  "s3_secret_key": lambda: secrets.token_urlsafe(32),
                  "flower_user": lambda: "admin",
                  "flower_password": lambda: secrets.token_urlsafe(16),
                  "valkey_password": lambda: secrets.token_urlsafe(32)}
    missing = {name: make() for name, make in generators.items() if name not in values}
    if missing:
        values.update(missing)
        write_private(path, json.dumps(values, indent=2))
    path.chmod(0o600)
    return values


def _start_servers(supervisor: Supervisor, settings: Settings, env: dict[str, str],
                   dev: dict[str, str]) -> list[str]:
    """Start embedded servers for whatever is not configured; return what was embedded."""
    var_dir = settings.var_dir.resolve()
    embedded = []
    if not settings.broker_url:
        env["BROKER_URL"] = start_valkey(supervisor, data_dir=var_dir / "valkey", port=settings.embedded_valkey_port,
                                         password=dev["valkey_password"])
        embedded.append(f"broker: embedded Valkey {redact_url(env['BROKER_URL'])} (password in dev-secrets.json)")
    if not settings.database_url:
        env["DATABASE_URL"] = settings.effective_database_url
        embedded.append(f"database: SQLite {settings.effective_database_url.removeprefix('sqlite:///')}")
    if not settings.s3_endpoint_url:
        s3 = start_weed_mini(supervisor, data_dir=var_dir / "s3", access_key=dev["s3_access_key"],
                             secret_key=dev["s3_secret_key"], s3_port=settings.embedded_s3_port)
        env.update(S3_ENDPOINT_URL=s3.endpoint_url, S3_ACCESS_KEY=s3.access_key, S3_SECRET_KEY=s3.secret_key)
        embedded.append(f"object store: weed mini {s3.endpoint_url}")
    return embedded


def _build_textgen_model(folder: Path) -> None:
    from ml.textgen_build import build_tiny_model, is_complete_model

    if not is_complete_model(folder):
        logger.info("building the tiny offline text-generation model into %s (about 20 s, once)", folder)
        build_tiny_model(folder)


def _start_platform(supervisor: Supervisor, settings: Settings, env: dict[str, str]) -> None:
    celery = [sys.executable, "-m", "celery", "-A", "taskplatform"]
    var_dir = settings.var_dir.resolve()
    supervisor.start("worker", worker_command(queues=TASK_QUEUES, concurrency=settings.worker_concurrency,
                                              name="worker@%h"), env=env, stop_timeout=60)
    supervisor.start("beat", [*celery, "beat", "-l", "info", "-s", str(var_dir / "celerybeat-schedule")], env=env)
    supervisor.start("api", api_command(host=settings.api_host, port=settings.api_port), env=env)


def _start_flower(supervisor: Supervisor, settings: Settings, env: dict[str, str], flower_auth: str) -> None:
    # Started once a worker answers: Flower's API lists the workers its first inspection found.
    # The credentials go through the environment (Flower reads FLOWER_BASIC_AUTH itself): on the
    # command line every user of the machine would see them in `ps`.
    supervisor.start("flower", [sys.executable, "-m", "celery", "-A", "taskplatform", "flower",
                                f"--address={settings.flower_host}", f"--port={settings.flower_port}"],
                     env={**env, "FLOWER_BASIC_AUTH": flower_auth})
    wait_until(lambda: port_open(settings.flower_port, settings.flower_host), timeout=60, what="Flower")


def _api_ready(url: str) -> bool:
    return httpx.get(f"{url}/status", timeout=5).json()["workers"]["ok"] is True


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s up: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = get_settings()
    var_dir = settings.var_dir.resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    dev = _dev_secrets(var_dir)
    flower_auth = (settings.flower_basic_auth.get_secret_value() if settings.flower_basic_auth
                   else f"{dev['flower_user']}:{dev['flower_password']}")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    env: dict[str, Any] = dict(os.environ)
    supervisor = Supervisor(log_dir=var_dir / "logs")
    try:
        embedded = _start_servers(supervisor, settings, env, dev)
        subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], env=env, check=True)
        os.environ.update(env)
        get_settings.cache_clear()
        started = get_settings()
        ensure_bucket_ready(s3_location(started))
        if not settings.textgen_model:
            _build_textgen_model(Path(started.effective_textgen_model))
        _start_platform(supervisor, started, env)
        api_url = f"http://{settings.api_host}:{settings.api_port}"
        wait_until(lambda: _api_ready(api_url) or stop.is_set(), timeout=90, interval=0.5,
                   what="the API and a worker")
        if not stop.is_set():
            _start_flower(supervisor, started, env, flower_auth)
            _print_banner(api_url, settings, flower_auth, embedded, var_dir)
        while not stop.wait(0.5):
            if dead := supervisor.exited():
                logger.error("stopping: %s exited (code %s); see %s", dead[0][0], dead[0][1], var_dir / "logs")
                return 1
        return 0
    finally:
        logger.info("stopping every process (worker finishes its tasks first)...")
        supervisor.stop_all()
        logger.info("stopped")


def _print_banner(api_url: str, settings: Settings, flower_auth: str, embedded: list[str], var_dir: Path) -> None:
    user, password = flower_auth.split(":", 1)
    lines = [
        "taskplatform is up",
        f"  API      {api_url}   (docs {api_url}/docs, status {api_url}/status)",
        f"  Flower   http://{settings.flower_host}:{settings.flower_port}   user {user!r} password {password!r}",
        *(f"  {line}" for line in embedded),
        f"  state and logs in {var_dir}",
        "  Ctrl-C stops everything.",
    ]
    print("\n".join(lines), flush=True)  # noqa: T201 (the launcher's output is for a person)
