"""Settings: broker resolution, derived URLs, seed aliases, validation and the production guard."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from taskplatform.core.settings import redact_url
from tests.unit.settings_env import PRODUCTION, only_refusal, settings

FLOWER = "FLOWER_BASIC_AUTH is not set to user:password with a real password"
pytestmark = pytest.mark.usefixtures("clean_env")


def test_broker_url_explicit_wins_over_every_seed_name(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(monkeypatch, BROKER_URL="amqp://a:b@explicit//", RABBITMQ_URL="amqp://c:d@seed//",
                 RABBITMQ_HOST="host", REDIS_URL="redis://redis:6379/0")
    assert s.broker_url == "amqp://a:b@explicit//"


def test_rabbitmq_url_wins_over_host_and_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(monkeypatch, RABBITMQ_URL="amqp://c:d@seed//", RABBITMQ_HOST="host", REDIS_URL="redis://r:6379/0")
    assert s.broker_url == "amqp://c:d@seed//"


def test_rabbitmq_host_parts_build_a_quoted_url(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(monkeypatch, RABBITMQ_HOST="rabbit", RABBITMQ_PORT="5673", RABBITMQ_USER="app",
                 RABBITMQ_PASSWORD="p@ss:w/rd%#", REDIS_URL="redis://r:6379/0")
    assert s.broker_url == "amqp://app:p%40ss%3Aw%2Frd%25%23@rabbit:5673/%2F"
    assert s.broker_kind == "amqp"


def test_rabbitmq_host_defaults_to_guest_on_the_default_vhost(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings(monkeypatch, RABBITMQ_HOST="rabbit").broker_url == "amqp://guest:guest@rabbit:5672/%2F"


def test_redis_url_is_the_last_resort_and_none_is_possible(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings(monkeypatch).broker_url is None
    assert settings(monkeypatch, REDIS_URL="redis://r:6379/0").broker_url == "redis://r:6379/0"


@pytest.mark.parametrize(("url", "kind"), [
    ("amqp://u:p@h//", "amqp"), ("amqps://u:p@h//", "amqp"), ("pyamqp://u:p@h//", "amqp"),
    ("redis://h:6379/0", "redis"), ("rediss://h:6380/0", "redis"), ("sqs://", "other"),
])
def test_broker_kind(monkeypatch: pytest.MonkeyPatch, url: str, kind: str) -> None:
    assert settings(monkeypatch, BROKER_URL=url).broker_kind == kind


def test_broker_kind_without_broker_is_other(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings(monkeypatch).broker_kind == "other"


def test_result_backend_explicit_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(monkeypatch, RESULT_BACKEND="redis://rb:6379/1", BROKER_URL="redis://b:6379/0")
    assert s.effective_result_backend == "redis://rb:6379/1"


def test_result_backend_is_the_redis_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(monkeypatch, BROKER_URL="redis://b:6379/0", REDIS_URL="redis://other:6379/0")
    assert s.effective_result_backend == "redis://b:6379/0"


def test_result_backend_with_rabbitmq_falls_back_to_redis_url_or_none(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings(monkeypatch, BROKER_URL="amqp://u:p@h//").effective_result_backend is None
    s = settings(monkeypatch, BROKER_URL="amqp://u:p@h//", REDIS_URL="redis://r:6379/2")
    assert s.effective_result_backend == "redis://r:6379/2"


def test_database_url_defaults_to_sqlite_under_var_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = settings(monkeypatch, VAR_DIR=str(tmp_path / "var"))
    assert s.effective_database_url == f"sqlite:///{(tmp_path / 'var').resolve() / 'taskplatform.sqlite3'}"
    s = settings(monkeypatch, DATABASE_URL="postgresql://u:p@db/x")
    assert s.effective_database_url == "postgresql://u:p@db/x"


def test_garage_seed_names_configure_s3(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(monkeypatch, GARAGE_ENDPOINT="http://garage:3900", GARAGE_ACCESS_KEY="gk", GARAGE_SECRET_KEY="gs",
                 GARAGE_BUCKET="sessions", GARAGE_REGION="garage")
    assert s.s3_endpoint_url == "http://garage:3900"
    assert s.s3_access_key is not None and s.s3_access_key.get_secret_value() == "gk"
    assert s.s3_secret_key is not None and s.s3_secret_key.get_secret_value() == "gs"
    assert (s.s3_bucket, s.s3_region) == ("sessions", "garage")


def test_unknown_timezone_is_rejected_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match=r"unknown time zone 'Mars/Olympus' \(use an IANA name"):
        settings(monkeypatch, TIMEZONE="Mars/Olympus")


def test_known_timezone_is_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings(monkeypatch, TIMEZONE="Europe/Lisbon").tz.key == "Europe/Lisbon"


def test_api_key_set_parses_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings(monkeypatch).api_key_set() == frozenset()
    assert settings(monkeypatch, API_KEYS="a, b,,c").api_key_set() == frozenset({"a", "b", "c"})


@pytest.mark.parametrize(("url", "redacted"), [
    ("amqp://user:s3cret@rabbit:5672//", "amqp://user:***@rabbit:5672//"),
    ("redis://:s3cret@redis:6379/0", "redis://:***@redis:6379/0"),
    ("postgresql+psycopg://u:s3cret@db/app", "postgresql+psycopg://u:***@db/app"),
    # kombu's failover list: the second password was shown by /status (breach caught)
    ("amqp://u:s3cret@rabbit-1:5672//;amqp://u:s3cret@rabbit-2:5672//",
     "amqp://u:***@rabbit-1:5672//;amqp://u:***@rabbit-2:5672//"),
])
def test_redact_url_hides_the_password(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


@pytest.mark.parametrize("url", ["redis://redis:6379/0", "sqlite:////tmp/x.db", "amqp://user@rabbit//", None, ""])
def test_redact_url_leaves_passwordless_urls_alone(url: str | None) -> None:
    assert redact_url(url) == url


def test_redact_url_hides_every_password_of_a_failover_list() -> None:
    assert (redact_url("amqp://u:s3cret@a:5672//;amqp://u:s3cret@b:5672//")
            == "amqp://u:***@a:5672//;amqp://u:***@b:5672//")


def test_a_failover_list_is_split_into_its_urls_and_keeps_its_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(monkeypatch, BROKER_URL="amqp://u:p@a:5672//; amqp://u:p@b:5672//")
    assert s.broker_urls == ["amqp://u:p@a:5672//", "amqp://u:p@b:5672//"]
    assert s.broker_kind == "amqp"


def test_production_checks_every_url_of_a_failover_list(monkeypatch: pytest.MonkeyPatch) -> None:
    urls = "amqp://taskplatform:s3cr3t-Broker-1234@a:5672//;amqp://guest:guest@b:5672//"
    assert only_refusal(monkeypatch, {"BROKER_URL": urls}) == (
        "refusing to start in production: BROKER_URL (URL 2 of 2) uses a default credential")


def test_redact_url_keeps_an_ipv6_host_valid() -> None:
    assert redact_url("amqp://user:s3cret@[::1]:5672//") == "amqp://user:***@[::1]:5672//"


def test_production_with_nothing_set_lists_every_problem_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as excinfo:
        settings(monkeypatch, ENVIRONMENT="production")
    assert len(excinfo.value.errors()) == 1
    message = str(excinfo.value)
    assert "refusing to start in production" in message
    for problem in ("BROKER_URL is not set", "DATABASE_URL is not set", "API_KEYS is not set",
                    "FLOWER_BASIC_AUTH is not set", "S3_ENDPOINT_URL is not set",
                    "S3_ACCESS_KEY is missing or a default value", "S3_SECRET_KEY is missing or a default value"):
        assert problem in message


def test_production_fully_configured_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(monkeypatch, **PRODUCTION)
    assert s.environment == "production"
    assert s.api_key_set() == frozenset(PRODUCTION["API_KEYS"].split(","))


@pytest.mark.parametrize(("override", "problem"), [
    ({"BROKER_URL": "amqp://guest:s3cr3t-Broker@rabbitmq:5672//"}, "BROKER_URL uses a default credential"),
    ({"BROKER_URL": "amqp://taskplatform:CHANGE_ME@rabbitmq:5672//"}, "BROKER_URL uses a default credential"),
    ({"BROKER_URL": "", "RABBITMQ_HOST": "rabbitmq"},
     "BROKER_URL (from RABBITMQ_HOST/USER/PASSWORD) uses a default credential"),
    ({"S3_ACCESS_KEY": "CHANGE_ME"}, "S3_ACCESS_KEY is missing or a default value"),
    ({"S3_ACCESS_KEY": "changeme"}, "S3_ACCESS_KEY is missing or a default value"),
    ({"S3_SECRET_KEY": "ChangeMe"}, "S3_SECRET_KEY is missing or a default value"),
    ({"S3_SECRET_KEY": "Change_Me"}, "S3_SECRET_KEY is missing or a default value"),
    ({"FLOWER_BASIC_AUTH": "admin:CHANGE_ME"}, FLOWER),
    ({"FLOWER_BASIC_AUTH": "admin:changeme"}, FLOWER),
    ({"FLOWER_BASIC_AUTH": "a-long-password"}, FLOWER),
])
def test_production_refuses_default_credentials(monkeypatch: pytest.MonkeyPatch, override: dict[str, str],
                                                problem: str) -> None:
    assert only_refusal(monkeypatch, override) == f"refusing to start in production: {problem}"  # that problem only


@pytest.mark.parametrize("override", [
    {"API_KEYS": "CHANGE_ME"},
    {"DATABASE_URL": "postgresql+psycopg://taskplatform:CHANGE_ME@postgres:5432/taskplatform"},
    {"RESULT_BACKEND": "redis://:CHANGE_ME@redis:6379/0"},
])
def test_production_refuses_placeholder_api_keys_and_database_passwords(monkeypatch: pytest.MonkeyPatch,
                                                                        override: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="refusing to start in production"):
        settings(monkeypatch, **{**PRODUCTION, **override})


def test_get_settings_exits_with_the_problems_and_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Breach caught: a refused start dumping a traceback with pydantic's echo of the input values (secrets)."""
    from taskplatform.core.settings import SettingsError, get_settings

    for key, value in {**PRODUCTION, "BROKER_URL": "redis://redis:6379/0",
                       "DATABASE_URL": "postgresql://u:TopSecret-db-password-123@db/x"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TASKPLATFORM_ENV_FILE", "")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError) as excinfo:
            get_settings()
    finally:
        get_settings.cache_clear()
    message = str(excinfo.value.code)
    assert message.startswith("taskplatform: invalid settings")
    assert "BROKER_URL has no password" in message
    assert "TopSecret" not in message and "0123456789" not in message and "input" not in message
    assert excinfo.value.__suppress_context__


def test_development_accepts_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(monkeypatch, RABBITMQ_HOST="localhost", S3_ACCESS_KEY="CHANGE_ME")
    assert s.environment == "development"
    assert s.broker_url == "amqp://guest:guest@localhost:5672/%2F"
