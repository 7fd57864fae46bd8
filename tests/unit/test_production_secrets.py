"""The production guard on servers without a password, SQLite, short secrets, and the credentials production
does not require (read keys, JWT secret, model-store keys)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.unit.settings_env import PRODUCTION, only_refusal, settings

pytestmark = pytest.mark.usefixtures("clean_env")

LONG = "r" * 40


@pytest.mark.parametrize(("override", "problem"), [
    ({"API_READ_KEYS": "changeme"}, "API_READ_KEYS contains a placeholder key"),
    ({"API_READ_KEYS": f"{LONG},short-reader"}, "API_READ_KEYS has 1 key(s) shorter than 32 characters"),
    ({"API_READ_KEYS": PRODUCTION["API_KEYS"].split(",")[0]},
     "API_READ_KEYS and API_KEYS share a key (it would have the full scope)"),
    ({"MODELS_S3_ACCESS_KEY": "AKIA-short", "MODELS_S3_SECRET_KEY": LONG},
     "MODELS_S3_ACCESS_KEY is a default value or shorter than 16 characters"),
    ({"MODELS_S3_ACCESS_KEY": LONG, "MODELS_S3_SECRET_KEY": "devsecret"},
     "MODELS_S3_SECRET_KEY is a default value or shorter than 32 characters"),
])
def test_production_refuses_weak_optional_credentials(monkeypatch: pytest.MonkeyPatch, override: dict[str, str],
                                                      problem: str) -> None:
    """Breach caught: a read key, or the model store's own keys, guessable in production while every required
    credential is strong (the optional ones were never checked)."""
    with pytest.raises(ValidationError) as excinfo:
        settings(monkeypatch, **{**PRODUCTION, **override})
    assert problem in str(excinfo.value)


def test_production_accepts_strong_optional_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = settings(monkeypatch, **{**PRODUCTION, "API_READ_KEYS": LONG, "JWT_SECRET": "j" * 40,
                                      "MODELS_S3_ACCESS_KEY": LONG, "MODELS_S3_SECRET_KEY": LONG})
    assert loaded.api_read_key_set() == {LONG}


@pytest.mark.parametrize(("override", "problem"), [
    ({"BROKER_URL": "redis://redis:6379/0"}, "BROKER_URL has no password"),
    ({"BROKER_URL": "redis://:@redis:6379/0"}, "BROKER_URL has no password"),
    ({"BROKER_URL": "amqp://taskplatform@rabbitmq:5672//"}, "BROKER_URL has no password"),
    ({"BROKER_URL": "amqps://taskplatform:@rabbitmq:5671//"}, "BROKER_URL has no password"),
    ({"BROKER_URL": "", "REDIS_URL": "redis://redis:6379/0"}, "BROKER_URL (from REDIS_URL) has no password"),
    ({"RESULT_BACKEND": "redis://redis:6379/1"}, "RESULT_BACKEND has no password"),
    ({"REDIS_URL": "rediss://redis:6380/1"}, "RESULT_BACKEND (from REDIS_URL) has no password"),
    ({"DATABASE_URL": "postgresql+psycopg://taskplatform@postgres:5432/taskplatform"},
     "DATABASE_URL has no password (set DATABASE_ALLOW_PASSWORDLESS=true only for a Unix socket with peer "
     "authentication or TLS client certificates)"),
    ({"DATABASE_URL": "sqlite:////var/lib/taskplatform/db.sqlite3"},
     "DATABASE_URL is SQLite: production needs PostgreSQL (the API, workers and beat share it, often from "
     "several hosts)"),
    ({"DATABASE_URL": "mysql://u:long-password@db/x"},
     "DATABASE_URL must be PostgreSQL (postgresql+psycopg://...), not 'mysql'"),
    ({"API_KEYS": "x"}, "API_KEYS has 1 key(s) shorter than 32 characters"),
    ({"API_KEYS": "0123456789abcdef0123456789abcdef,0123456789abcdef0123456789abcde"},
     "API_KEYS has 1 key(s) shorter than 32 characters"),
    ({"S3_ACCESS_KEY": "AKIA-short"}, "S3_ACCESS_KEY is shorter than 16 characters"),
    ({"S3_SECRET_KEY": "a-secret-of-31-characters-xxxxx"}, "S3_SECRET_KEY is shorter than 32 characters"),
    ({"FLOWER_BASIC_AUTH": "u:p"}, "FLOWER_BASIC_AUTH has a password shorter than 16 characters"),
    ({"FLOWER_BASIC_AUTH": "admin:a-long-flower-password,ops:short-password"},
     "FLOWER_BASIC_AUTH has a password shorter than 16 characters"),
])
def test_production_refuses_missing_and_short_secrets(monkeypatch: pytest.MonkeyPatch, override: dict[str, str],
                                                      problem: str) -> None:
    """Breach caught: production starting on a password-less broker, result backend or database, on SQLite,
    or with guessable API keys, S3 keys or Flower password (each refused alone, naming its variable)."""
    assert only_refusal(monkeypatch, override) == f"refusing to start in production: {problem}"


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://taskplatform@/taskplatform?host=/run/postgresql",
    "postgresql+psycopg://taskplatform@postgres/taskplatform?sslmode=verify-full&sslcert=/c.pem&sslkey=/k.pem",
])
def test_a_passwordless_database_is_accepted_only_when_allowed(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL has no password"):
        settings(monkeypatch, **{**PRODUCTION, "DATABASE_URL": url})
    assert settings(monkeypatch, **{**PRODUCTION, "DATABASE_URL": url,
                                    "DATABASE_ALLOW_PASSWORDLESS": "true"}).database_url == url


def test_a_database_password_in_the_query_string_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://taskplatform@postgres/taskplatform?password=a-real-database-password"
    assert settings(monkeypatch, **{**PRODUCTION, "DATABASE_URL": url}).database_url == url


def test_every_new_problem_is_listed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as excinfo:
        settings(monkeypatch, **{**PRODUCTION, "BROKER_URL": "redis://redis:6379/0", "API_KEYS": "k",
                                 "DATABASE_URL": "postgresql://u@db/x", "FLOWER_BASIC_AUTH": "u:p",
                                 "S3_ACCESS_KEY": "short", "S3_SECRET_KEY": "short-too"})
    message = str(excinfo.value)
    for name in ("BROKER_URL has", "DATABASE_URL has", "API_KEYS has", "FLOWER_BASIC_AUTH has",
                 "S3_ACCESS_KEY is shorter", "S3_SECRET_KEY is shorter"):
        assert name in message
