"""The production guard on real processes: the API, a worker and beat refuse to start on bad credentials."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.stack import ROOT, platform_env

#: The three long-running commands of a deployment (Flower loads the same settings).
COMMANDS = {
    "api": [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", "9"],
    "worker": [sys.executable, "-m", "celery", "-A", "taskplatform", "worker", "-l", "info"],
    "beat": [sys.executable, "-m", "celery", "-A", "taskplatform", "beat", "-l", "info"],
}
#: Credentials that pass every check, so a test can break exactly one.
GOOD = {
    "BROKER_URL": "amqp://taskplatform:Broker-password-0123456789@127.0.0.1:9//",
    "DATABASE_URL": "postgresql+psycopg://taskplatform:Db-password-0123456789@127.0.0.1:9/taskplatform",
    "API_KEYS": "k" * 40,
    "FLOWER_BASIC_AUTH": "admin:Flower-password-0123456789",
    "S3_ENDPOINT_URL": "http://127.0.0.1:9",
    "S3_ACCESS_KEY": "access-key-0123456789",
    "S3_SECRET_KEY": "secret-key-0123456789-0123456789-0123456789",
}


def _example_values() -> dict[str, str]:
    """Every `# NAME=value` example of .env.example, as someone copying it would set it."""
    text = (ROOT / ".env.example").read_text()
    return dict(re.findall(r"^# ?([A-Z][A-Z0-9_]*)=(\S+)", text, flags=re.MULTILINE))


def _env(**values: str) -> dict[str, str]:
    env = platform_env()
    env.update(values)
    return env


def _refusal(command: str, env: dict[str, str]) -> str:
    """Run the command until it exits (it must, and non-zero); return what it printed."""
    done = subprocess.run(COMMANDS[command], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode != 0, f"{command} started in production with bad credentials:\n{output}"
    assert "refusing to start in production" in output, output
    assert "Traceback" not in output, output
    return output


@pytest.mark.parametrize("command", list(COMMANDS))
def test_env_example_as_shipped_is_refused(command: str) -> None:
    """Breach caught: a process starting in production on `.env.example` (nothing set: embedded defaults)."""
    output = _refusal(command, _env(ENVIRONMENT="production", TASKPLATFORM_ENV_FILE=str(ROOT / ".env.example")))
    for problem in ("BROKER_URL is not set", "DATABASE_URL is not set", "API_KEYS is not set"):
        assert problem in output


@pytest.mark.parametrize("command", list(COMMANDS))
def test_env_example_values_copied_verbatim_are_refused(command: str, tmp_path: Path) -> None:
    """Breach caught: the examples' placeholder credentials (user:password, key-one, admin:a-long-password...)
    accepted in production by a process that loaded them."""
    values = _example_values()
    assert {"BROKER_URL", "DATABASE_URL", "API_KEYS", "FLOWER_BASIC_AUTH", "S3_ACCESS_KEY"} <= set(values)
    env_file = tmp_path / "production.env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in {**values, "ENVIRONMENT": "production"}.items()))
    output = _refusal(command, _env(TASKPLATFORM_ENV_FILE=str(env_file)))
    for name in ("BROKER_URL", "DATABASE_URL", "API_KEYS", "FLOWER_BASIC_AUTH", "S3_ACCESS_KEY", "S3_SECRET_KEY"):
        assert f"- {name}" in output, f"{name} not named:\n{output}"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_passwordless_broker_url_is_refused(command: str) -> None:
    """Breach caught: a production process connecting to a broker that needs no password."""
    output = _refusal(command, _env(ENVIRONMENT="production", TASKPLATFORM_ENV_FILE=str(ROOT / ".env.example"),
                                    **{**GOOD, "BROKER_URL": "redis://127.0.0.1:9/0"}))
    assert "- BROKER_URL has no password" in output
    assert output.count("  - ") == 1, output  # that problem only
    assert "password-0123456789" not in output  # no secret echoed


def test_a_passwordless_database_url_is_refused() -> None:
    """Breach caught: a production API connecting to a PostgreSQL that needs no password (the settings are
    the same object in every process)."""
    url = "postgresql+psycopg://taskplatform@127.0.0.1:9/taskplatform"
    output = _refusal("api", _env(ENVIRONMENT="production", TASKPLATFORM_ENV_FILE=str(ROOT / ".env.example"),
                                  **{**GOOD, "DATABASE_URL": url}))
    assert "- DATABASE_URL has no password" in output
    assert output.count("  - ") == 1, output
