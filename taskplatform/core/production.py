"""Production checks: the credentials a production process refuses to start with.

Called by the settings' validator (`taskplatform/core/settings.py`); every problem is listed at once,
each naming its variable and never its value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from taskplatform.core.settings import Settings

#: Credentials that ship in examples and must never reach production.
DEFAULT_CREDENTIALS = frozenset({"guest", "admin", "password", "changeme", "change_me", "changethis", "1234",
                                 "devkey", "devsecret", "your_access_key_here", "your_secret_key_here", ""})
#: Shortest secrets production accepts (an API key, S3's access key and secret, a Flower password).
MIN_API_KEY_LENGTH = 32
MIN_S3_ACCESS_KEY_LENGTH = 16
MIN_S3_SECRET_KEY_LENGTH = 32
MIN_FLOWER_PASSWORD_LENGTH = 16
#: URL schemes of servers that must have a password in production.
_PASSWORD_SCHEMES = frozenset({"redis", "rediss", "amqp", "amqps", "pyamqp", "postgresql", "postgres"})


def _is_default(secret: str | None) -> bool:
    return secret is None or secret.strip().lower() in DEFAULT_CREDENTIALS


def _needs_password(url: str) -> bool:
    # `postgresql+psycopg` and `db+postgresql` (a Celery database backend) name PostgreSQL too.
    return urlsplit(url).scheme.removeprefix("db+").split("+", 1)[0] in _PASSWORD_SCHEMES


def _url_password(url: str) -> str | None:
    """The password in a URL's user part or, as libpq accepts, in its `?password=` query parameter."""
    parts = urlsplit(url)
    return parts.password or next(iter(parse_qs(parts.query).get("password", [])), None)


def _url_has_default_password(url: str | None) -> bool:
    password = urlsplit(url).password if url else None
    return password is not None and _is_default(password)


def production_problems(settings: Settings) -> list[str]:
    """Everything that keeps these settings from running in production (empty: nothing)."""
    return [*_broker_problems(settings), *_database_problems(settings), *_secret_problems(settings)]


def _broker_source(settings: Settings) -> str:
    """The variable the broker URL came from, as the operator wrote it."""
    if settings.broker_url_explicit:
        return "BROKER_URL"
    if settings.rabbitmq_url:
        return "BROKER_URL (from RABBITMQ_URL)"
    if settings.rabbitmq_host:
        return "BROKER_URL (from RABBITMQ_HOST/USER/PASSWORD)"
    return "BROKER_URL (from REDIS_URL)"


def _broker_problems(settings: Settings) -> list[str]:
    broker = settings.broker_url
    if not broker:
        return ["BROKER_URL is not set"]
    problems = []
    urls = settings.broker_urls
    for number, url in enumerate(urls, start=1):
        # Each URL of a failover list is checked: a cluster node reached with a default credential is one too many.
        name = _broker_source(settings) + (f" (URL {number} of {len(urls)})" if len(urls) > 1 else "")
        parts = urlsplit(url)
        if parts.username == "guest" or (parts.password and _is_default(parts.password)):
            problems.append(f"{name} uses a default credential")
        elif settings.broker_kind != "other" and not parts.password:
            problems.append(f"{name} has no password")
    backend = settings.effective_result_backend
    if backend and backend != broker:
        backend_name = "RESULT_BACKEND" if settings.result_backend else "RESULT_BACKEND (from REDIS_URL)"
        if _url_has_default_password(backend):
            problems.append(f"{backend_name} uses a default password")
        elif _needs_password(backend) and not urlsplit(backend).password:
            problems.append(f"{backend_name} has no password")
    return problems


def _database_problems(settings: Settings) -> list[str]:
    url = settings.database_url
    if not url:
        return ["DATABASE_URL is not set"]
    scheme = urlsplit(url).scheme.split("+", 1)[0]
    if scheme == "sqlite":
        return ["DATABASE_URL is SQLite: production needs PostgreSQL (the API, workers and beat share it, "
                "often from several hosts)"]
    if scheme not in {"postgresql", "postgres"}:
        return [f"DATABASE_URL must be PostgreSQL (postgresql+psycopg://...), not {scheme!r}"]
    if _url_has_default_password(url):
        return ["DATABASE_URL uses a default password"]
    if not _url_password(url) and not settings.database_allow_passwordless:
        return ["DATABASE_URL has no password (set DATABASE_ALLOW_PASSWORDLESS=true only for a Unix socket "
                "with peer authentication or TLS client certificates)"]
    return []


def _secret_problems(settings: Settings) -> list[str]:
    problems = []
    keys = settings.api_key_set()
    if not keys:
        problems.append("API_KEYS is not set")
    elif any(_is_default(key) for key in keys):
        problems.append("API_KEYS contains a placeholder key")
    elif short := sum(len(key) < MIN_API_KEY_LENGTH for key in keys):
        problems.append(f"API_KEYS has {short} key(s) shorter than {MIN_API_KEY_LENGTH} characters")
    auth = settings.flower_basic_auth.get_secret_value() if settings.flower_basic_auth else ""
    pairs = [pair.strip() for pair in auth.split(",") if pair.strip()]
    if not pairs or any(":" not in pair or _is_default(pair.split(":", 1)[1]) for pair in pairs):
        problems.append("FLOWER_BASIC_AUTH is not set to user:password with a real password")
    elif any(len(pair.split(":", 1)[1]) < MIN_FLOWER_PASSWORD_LENGTH for pair in pairs):
        problems.append(f"FLOWER_BASIC_AUTH has a password shorter than {MIN_FLOWER_PASSWORD_LENGTH} characters")
    if not settings.s3_endpoint_url:
        problems.append("S3_ENDPOINT_URL is not set")
    for name, secret, shortest in (("S3_ACCESS_KEY", settings.s3_access_key, MIN_S3_ACCESS_KEY_LENGTH),
                                   ("S3_SECRET_KEY", settings.s3_secret_key, MIN_S3_SECRET_KEY_LENGTH)):
        if secret is None or _is_default(secret.get_secret_value()):
            problems.append(f"{name} is missing or a default value")
        elif len(secret.get_secret_value()) < shortest:
            problems.append(f"{name} is shorter than {shortest} characters")
    return [*problems, *_optional_secret_problems(settings)]


def _optional_secret_problems(settings: Settings) -> list[str]:
    """Credentials production does not require, refused when set to a placeholder or too short."""
    problems = []
    read_keys = settings.api_read_key_set()
    if any(_is_default(key) for key in read_keys):
        problems.append("API_READ_KEYS contains a placeholder key")
    elif short := sum(len(key) < MIN_API_KEY_LENGTH for key in read_keys):
        problems.append(f"API_READ_KEYS has {short} key(s) shorter than {MIN_API_KEY_LENGTH} characters")
    if read_keys & settings.api_key_set():
        problems.append("API_READ_KEYS and API_KEYS share a key (it would have the full scope)")
    if settings.jwt_secret is not None and _is_default(settings.jwt_secret.get_secret_value()):
        problems.append("JWT_SECRET is a placeholder")
    if settings.console_secret is not None and _is_default(settings.console_secret.get_secret_value()):
        problems.append("CONSOLE_SECRET is a placeholder")
    for name, secret, shortest in (("MODELS_S3_ACCESS_KEY", settings.models_s3_access_key, MIN_S3_ACCESS_KEY_LENGTH),
                                   ("MODELS_S3_SECRET_KEY", settings.models_s3_secret_key, MIN_S3_SECRET_KEY_LENGTH)):
        if secret is not None and (_is_default(secret.get_secret_value()) or
                                   len(secret.get_secret_value()) < shortest):
            problems.append(f"{name} is a default value or shorter than {shortest} characters")
    return problems
