"""Platform settings: the only place the environment and `.env` are read."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from taskplatform.core.production import production_problems
from taskplatform.core.settings_access import AccessSettings
from taskplatform.core.settings_devices import DeviceSettings
from taskplatform.core.settings_limits import LimitSettings
from taskplatform.core.settings_tasks import TaskSettings
from taskplatform.core.settings_workers import WorkerSettings

_REFUSAL = "refusing to start in production: "


def split_urls(urls: str) -> list[str]:
    """The URLs of a failover list, `url1;url2;...` as kombu reads BROKER_URL (one URL gives a list of one)."""
    return [url.strip() for url in urls.split(";") if url.strip()]


def redact_url(url: str | None) -> str | None:
    """Return the URL with its password replaced by `***` (for logs and /status); each URL of a `;`-separated
    failover list is redacted."""
    if not url:
        return url
    if ";" in url:
        return ";".join(str(redact_url(part)) for part in split_urls(url))
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]  # as written: keeps IPv6 brackets and case
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class Settings(AccessSettings, LimitSettings, DeviceSettings, TaskSettings, WorkerSettings, BaseSettings):
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
    #: RabbitMQ only: the AMQP heartbeat a worker asks for, in seconds (0: none). A worker whose host is cut off
    #: is noticed by the broker after about two intervals, and its unacknowledged messages go to other workers;
    #: Celery's default is 120 s (tests/hosts/ runs with a few seconds).
    broker_heartbeat: float = Field(default=120.0, ge=0)

    database_url: str | None = None
    #: Production: accept a PostgreSQL DATABASE_URL without a password. Only for a Unix socket with peer
    #: authentication or TLS client certificates (`sslmode=verify-full&sslcert=...`); off by default.
    database_allow_passwordless: bool = False

    s3_endpoint_url: str | None = Field(default=None, validation_alias=AliasChoices("S3_ENDPOINT_URL",
                                                                                    "GARAGE_ENDPOINT"))
    s3_access_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("S3_ACCESS_KEY",
                                                                                        "GARAGE_ACCESS_KEY"))
    s3_secret_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("S3_SECRET_KEY",
                                                                                        "GARAGE_SECRET_KEY"))
    s3_bucket: str = Field(default="ux-auditor-sessions", validation_alias=AliasChoices("S3_BUCKET",
                                                                                       "GARAGE_BUCKET"))
    s3_region: str = Field(default="us-east-1", validation_alias=AliasChoices("S3_REGION", "GARAGE_REGION"))

    #: Model artifacts (joblib is pickle: whoever can write them runs code where they are loaded). Their bucket,
    #: default the main one (keys under `models/`), and their S3 credentials, default the main pair. Production:
    #: a bucket the API may only read and only the training workers may write (docker/README.md).
    models_s3_bucket: str | None = None
    models_s3_access_key: SecretStr | None = None
    models_s3_secret_key: SecretStr | None = None
    #: Refuse to load a model version registered without a sha256 (trained before migration 0006); false
    #: loads it with a warning, once per version and process.
    models_require_sha256: bool = False
    #: false: this process never unpickles a model, only models with a plain-data (JSON) form load (enough for
    #: the API and prediction workers with linear housing models; docker/compose.yaml sets it there).
    models_unpickle: bool = True
    #: The RabbitMQ user the Raspberry Pis log in with: it may declare `rasp_data` and publish, nothing else
    #: (`python -m taskplatform rabbitmq-device-user` creates it). Its password has no default.
    rabbitmq_device_user: str = "rasp-devices"
    rabbitmq_device_password: SecretStr | None = None
    #: The management API with an administrator's credentials (`http://user:password@rabbitmq:15672`), used by
    #: the `rabbitmq-*` commands when no --management-url is given (keeps the password out of the process list).
    rabbitmq_management_url: SecretStr | None = None

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
    #: Seconds a PostgreSQL connection whose server stopped answering may hang before it fails (TCP keepalives,
    #: TCP_USER_TIMEOUT and the connect timeout: taskplatform/core/db.py).
    database_dead_peer_s: float = Field(default=15.0, ge=3)
    #: How long an enqueue waits for a free broker connection of the producer pool before answering 503.
    broker_pool_timeout_s: float = Field(default=3.0, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as America/Sao_Paulo)") from exc
        return value

    @property
    def docs_enabled(self) -> bool:
        return self.environment != "production" or self.api_docs

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
    def broker_urls(self) -> list[str]:
        """Each broker URL of BROKER_URL's failover list (`amqp://a//;amqp://b//`: kombu tries them in turn)."""
        return split_urls(self.broker_url or "")

    @property
    def broker_kind(self) -> Literal["amqp", "redis", "other"]:
        # Every URL of a failover list names the same kind of broker; the first one tells.
        scheme = urlsplit(next(iter(self.broker_urls), "")).scheme
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

    @model_validator(mode="after")
    def _production_needs_real_credentials(self) -> Settings:
        if self.environment != "production":
            return self
        if problems := production_problems(self):
            raise ValueError(_REFUSAL + "; ".join(problems))
        return self


class SettingsError(SystemExit):
    """Settings the platform cannot start with. A `SystemExit`: a process that meets it at start-up
    prints the message and exits with status 1, with no traceback and no input values (secrets)."""


def describe_errors(exc: ValidationError) -> str:
    """One line per problem, naming the variable, without the values pydantic would echo."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        if message.startswith(_REFUSAL):
            lines += [_REFUSAL.rstrip(": ") + ":", *(f"  - {p}" for p in message.removeprefix(_REFUSAL).split("; "))]
            continue
        where = ".".join(str(part) for part in error["loc"]).upper()
        lines.append(f"{where}: {message}" if where else message)
    return "taskplatform: invalid settings\n" + "\n".join(f"  {line}" for line in lines)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache to reload).

    TASKPLATFORM_ENV_FILE names another dotenv file; set it empty to read none. Invalid settings
    (among them the production checks) raise `SettingsError`, which ends the process with the list.
    """
    env_file = os.environ.get("TASKPLATFORM_ENV_FILE", ".env") or None
    try:
        return Settings(_env_file=env_file)
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc)) from None
