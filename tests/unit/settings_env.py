"""Settings built from exactly the variables a test sets (with the `clean_env` fixture of conftest.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from taskplatform.core.settings import Settings

#: Production settings every production check accepts; tests override one variable at a time.
PRODUCTION = {
    "ENVIRONMENT": "production",
    "BROKER_URL": "amqp://taskplatform:s3cr3t-Broker@rabbitmq:5672//",
    "DATABASE_URL": "postgresql+psycopg://taskplatform:s3cr3t-Db@postgres:5432/taskplatform",
    "API_KEYS": "key-one-0123456789abcdef0123456789,key-two-0123456789abcdef0123456789",
    "FLOWER_BASIC_AUTH": "admin:a-long-flower-password",
    "S3_ENDPOINT_URL": "http://seaweedfs:8333",
    "S3_ACCESS_KEY": "AKIA-real-access-key",
    "S3_SECRET_KEY": "real-secret-value-0123456789abcdef",
}


def setting_env_names() -> set[str]:
    """Every variable a setting reads, aliases included (upper case: names are case-insensitive)."""
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(name.upper())
        alias = field.validation_alias
        if alias is not None:
            names.update(str(choice).upper() for choice in getattr(alias, "choices", [alias]))
    return names


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def only_refusal(monkeypatch: pytest.MonkeyPatch, override: dict[str, str]) -> str:
    """The one validation error of PRODUCTION with `override` (an empty BROKER_URL is left unset)."""
    env = {**PRODUCTION, **override}
    if not env["BROKER_URL"]:
        del env["BROKER_URL"]
    with pytest.raises(ValidationError) as excinfo:
        settings(monkeypatch, **env)
    [error] = excinfo.value.errors()  # that problem only
    return str(error["msg"]).removeprefix("Value error, ")
