"""Platform settings: the only place the environment and `.env` are read."""

from __future__ import annotations

import os
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Credentials that ship in examples and must never reach production.
DEFAULT_CREDENTIALS = frozenset({"guest", "admin", "password", "changeme", "change_me", "changethis", "1234",
                                 "devkey", "devsecret", "your_access_key_here", "your_secret_key_here", ""})



def _is_default(secret: str | None) -> bool:
    return secret is None or secret.strip().lower() in DEFAULT_CREDENTIALS


def redact_url(url: str | None) -> str | None:
    """Return the URL with its password replaced by `***` (for logs and /status)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]  # as written: keeps IPv6 brackets and case
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _url_has_default_password(url: str | None) -> bool:
    password = urlsplit(url).password if url else None
    return password is not None and _is_default(password)


class Settings(BaseSettings):
    """Every setting of the platform, from the environment or `.env`.

    The seeds' variable names are accepted too: `RABBITMQ_HOST/PORT/USER/PASSWORD`,
    `RABBITMQ_URL` and `REDIS_URL` for the broker, `GARAGE_*` for the object store.
    """

    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    environment: Literal["development", "production"] = "development"
    timezone: str = "America/Sao_Paulo"
    var_dir: Path = Path("var")

    # Broker: BROKER_URL wins, then the seeds' names (see `resolved_broker_url`).
    broker_url_explicit: str | None = Field(default=None, validation_alias=AliasChoices("BROKER_URL"))
    rabbitmq_url: str | None = None
    rabbitmq_host: str | None = None
    rabbitmq_port: int = 5672
    rabbitmq_user: str = "guest"
    rabbitmq_password: SecretStr = SecretStr("guest")
    rabbitmq_vhost: str = "/"
    redis_url: str | None = None
    result_backend: str | None = None
    #: Redis only: seconds before an unacknowledged message is redelivered. Must exceed
    #: the longest task time limit plus the longest retry countdown.
    broker_visibility_timeout: int = 7200
    #: Redis only: seconds between sweeps that return such messages to their queue.
    broker_unacked_restore_interval: int = 10

    database_url: str | None = None

    s3_endpoint_url: str | None = Field(default=None, validation_alias=AliasChoices("S3_ENDPOINT_URL",
                                                                                    "GARAGE_ENDPOINT"))
    s3_access_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("S3_ACCESS_KEY",
                                                                                        "GARAGE_ACCESS_KEY"))
    s3_secret_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("S3_SECRET_KEY",
                                                                                        "GARAGE_SECRET_KEY"))
    s3_bucket: str = Field(default="ux-auditor-sessions", validation_alias=AliasChoices("S3_BUCKET",
                                                                                       "GARAGE_BUCKET"))
    s3_region: str = Field(default="us-east-1", validation_alias=AliasChoices("S3_REGION", "GARAGE_REGION"))

    #: Comma-separated keys; when set, every mutating endpoint needs `X-API-Key`.
    api_keys: SecretStr | None = None
    #: `user:password` for Flower's basic auth.
    flower_basic_auth: SecretStr | None = None

    #: Where `make up` serves the API and Flower (loopback unless changed on purpose).
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    flower_host: str = "127.0.0.1"
    flower_port: int = 5555
    #: Ports of the embedded servers `make up` starts when no external one is configured.
    embedded_valkey_port: int = 6390
    embedded_s3_port: int = 8333

    #: A device silent for longer than this many seconds is reported as stale.
    device_stale_after: int = 300
    #: How many raw device messages `GET /devices/messages` keeps.
    device_messages_kept: int = 200
    #: Raw-queue consumers: messages held unacknowledged at once (a device batch is half of it),
    #: and how often a partial device batch is flushed, in seconds.
    raw_prefetch: int = 1000
    raw_flush_interval: float = 0.2
    #: Session uploads in flight at once per worker, and how long one upload is retried
    #: (object store down) before the message goes back to the queue, in seconds.
    sessions_in_flight: int = 32
    sessions_retry_window: float = 600.0

    #: Text generation: a local model folder (or a hub id already in the local cache). Default:
    #: the tiny GPT-2 that `make up` and the tests build offline under VAR_DIR.
    textgen_model: str | None = None

    #: Largest accepted `/checkin/batch` body.
    checkin_batch_max: int = 10_000
    #: Default hard and soft time limits of a task, in seconds.
    task_time_limit: int = 1800
    task_soft_time_limit: int = 1500
    #: Attempts for transient faults (broker, database, object store unavailable).
    task_max_retries: int = 8
    #: Redis only: a task still QUEUED this many seconds after it was enqueued is published again, once
    #: (its message may have been lost with a killed worker; taskplatform/redelivery.py).
    task_redeliver_after: float = Field(default=900.0, gt=0)
    #: Days a finished task's record (and its events) stays in the ledger; 0 keeps them forever.
    task_retention_days: int = Field(default=30, ge=0)
    #: Days a dead letter stays after it was replayed (never-replayed ones always stay); 0: forever.
    dead_letter_retention_days: int = Field(default=90, ge=0)
    worker_concurrency: int = 2

    # Limits: what one request may ask of the platform (README, "Limits"). Bodies are counted as they arrive
    # (api/body_limit.py): a larger one is a 413 before it is read whole, with or without Content-Length.
    #: Largest request body of any route without a limit of its own, in bytes.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: Largest body of `POST /checkin/batch` (10,000 check-ins with their instants, in bytes).
    max_body_bytes_checkins: int = Field(default=4 * 1024 * 1024, ge=1024)
    #: Largest body of `POST /treinar` (JSON rows or a multipart CSV upload), in bytes.
    max_body_bytes_training: int = Field(default=50 * 1024 * 1024, ge=1024)
    #: Largest body of `POST /prever` (up to 10,000 rows), in bytes.
    max_body_bytes_prediction: int = Field(default=8 * 1024 * 1024, ge=1024)
    #: Largest UX session, over HTTP or from `raw_sessions`, in bytes.
    max_body_bytes_sessions: int = Field(default=5 * 1024 * 1024, ge=1024)
    #: Largest device health check, over HTTP or from `rasp_data`, in bytes.
    max_body_bytes_device_health: int = Field(default=64 * 1024, ge=1024)
    #: Largest `extra` of a health check (the fields the table has no column for), serialized as JSON, in bytes.
    device_extra_max_bytes: int = Field(default=16 * 1024, ge=0)
    #: Longest `user_id` and `session_uuid` of a session, in characters; both go into the object key, which the
    #: object store limits to 1,024 bytes.
    session_id_max_length: int = Field(default=200, ge=1, le=500)
    #: Most columns of a housing CSV upload or JSON training rows.
    housing_max_columns: int = Field(default=200, ge=2)
    #: Memory the prediction cache may take in each API process, estimated from its keys, in bytes.
    prediction_cache_bytes: int = Field(default=32 * 1024 * 1024, ge=0)
    #: The earliest date a daily report may be requested for (the report compares with a week before it).
    report_earliest_date: date = Field(default=date(2000, 1, 1), ge=date(1, 1, 10))

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as America/Sao_Paulo)") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def broker_url(self) -> str | None:
        """The broker to use: BROKER_URL, RABBITMQ_URL, RABBITMQ_HOST..., then REDIS_URL."""
        if self.broker_url_explicit:
            return self.broker_url_explicit
        if self.rabbitmq_url:
            return self.rabbitmq_url
        if self.rabbitmq_host:
            password = quote(self.rabbitmq_password.get_secret_value(), safe="")
            vhost = quote(self.rabbitmq_vhost, safe="")
            return (f"amqp://{quote(self.rabbitmq_user, safe='')}:{password}@{self.rabbitmq_host}:"
                    f"{self.rabbitmq_port}/{vhost}")
        return self.redis_url

    @property
    def broker_kind(self) -> Literal["amqp", "redis", "other"]:
        scheme = urlsplit(self.broker_url or "").scheme
        if scheme in {"amqp", "amqps", "pyamqp"}:
            return "amqp"
        if scheme.startswith("redis") or scheme.startswith("rediss"):
            return "redis"
        return "other"

    @property
    def effective_result_backend(self) -> str | None:
        """RESULT_BACKEND, else the broker when it is Redis, else REDIS_URL; None disables results.

        The task ledger in the database is the record clients read; the result backend only
        serves callers that use Celery's AsyncResult directly.
        """
        if self.result_backend:
            return self.result_backend
        if self.broker_kind == "redis":
            return self.broker_url
        return self.redis_url

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.var_dir / 'taskplatform.sqlite3').resolve()}"

    @property
    def effective_textgen_model(self) -> str:
        return self.textgen_model or str((self.var_dir / "models" / "tiny-gpt2").resolve())

    def api_key_set(self) -> frozenset[str]:
        raw = self.api_keys.get_secret_value() if self.api_keys else ""
        return frozenset(k.strip() for k in raw.split(",") if k.strip())

    @model_validator(mode="after")
    def _production_needs_real_credentials(self) -> Settings:
        if self.environment != "production":
            return self
        problems = []
        broker = self.broker_url
        if not broker:
            problems.append("BROKER_URL is not set")
        else:
            parts = urlsplit(broker)
            if parts.username == "guest" or (parts.password is not None and _is_default(parts.password)):
                problems.append("BROKER_URL uses a default credential")
        if not self.database_url:
            problems.append("DATABASE_URL is not set")
        elif _url_has_default_password(self.database_url):
            problems.append("DATABASE_URL uses a default password")
        if _url_has_default_password(self.effective_result_backend):
            problems.append("RESULT_BACKEND uses a default password")
        keys = self.api_key_set()
        if not keys:
            problems.append("API_KEYS is not set")
        elif any(_is_default(key) for key in keys):
            problems.append("API_KEYS contains a placeholder key")
        auth = self.flower_basic_auth.get_secret_value() if self.flower_basic_auth else ""
        if ":" not in auth or _is_default(auth.split(":", 1)[1]):
            problems.append("FLOWER_BASIC_AUTH is not set to user:password with a real password")
        if not self.s3_endpoint_url:
            problems.append("S3_ENDPOINT_URL is not set")
        for name, secret in (("S3_ACCESS_KEY", self.s3_access_key), ("S3_SECRET_KEY", self.s3_secret_key)):
            if secret is None or _is_default(secret.get_secret_value()):
                problems.append(f"{name} is missing or a default value")
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache to reload).

    TASKPLATFORM_ENV_FILE names another dotenv file; set it empty to read none.
    """
    env_file = os.environ.get("TASKPLATFORM_ENV_FILE", ".env") or None
    return Settings(_env_file=env_file)  # type: ignore[call-arg]
