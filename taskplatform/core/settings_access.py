"""Access settings (read by `api/auth`): API keys with their scopes, bearer JWTs, documentation, public text
generation. Part of the one `Settings` object (`taskplatform/core/settings.py`)."""

from __future__ import annotations

from pathlib import Path

import limits
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings


def _split_keys(value: SecretStr | None) -> frozenset[str]:
    raw = value.get_secret_value() if value else ""
    return frozenset(k.strip() for k in raw.split(",") if k.strip())


class AccessSettings(BaseSettings):
    """Auth is on as soon as one of API_KEYS, API_READ_KEYS, JWT_SECRET, JWT_JWKS_FILE is set: then every route
    but `/`, `/status` (short form), `/demo` and the docs needs a credential."""

    #: Comma-separated full keys, sent as `X-API-Key`: every method. Required in production.
    api_keys: SecretStr | None = None
    #: Comma-separated read-only keys (`X-API-Key`): GET and HEAD only; a write with one is a 403.
    api_read_keys: SecretStr | None = None
    #: Shared secret for `Authorization: Bearer` JWTs signed with HS256 (RFC 7518: at least 32 bytes).
    jwt_secret: SecretStr | None = Field(default=None, min_length=32)
    #: A local JWKS file (JSON) with the public keys of RS256 JWTs; read when the API starts, never fetched.
    jwt_jwks_file: Path | None = None
    #: When set, a JWT's `aud` (`iss`) claim must be this value; when unset, a token with `aud` is refused.
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    #: Signs the console's (`/painel`) session cookies. Unset: derived from API_KEYS and JWT_SECRET (so rotating
    #: them signs every operator out); set it to keep sessions across a key rotation. At least 32 characters.
    console_secret: SecretStr | None = Field(default=None, min_length=32)
    #: Serve /docs, /redoc and /openapi.json in production too (development always serves them).
    api_docs: bool = False
    #: Open text generation (`/api/predict`, `/api/result/{id}`) to anonymous callers; `/demo` is always open.
    textgen_public: bool = False
    #: Anonymous `/api/predict` calls allowed per client address, per API process ("10/minute", `limits` notation).
    textgen_public_rate: str = "10/minute"

    @field_validator("textgen_public_rate")
    @classmethod
    def _parsable_rate(cls, value: str) -> str:
        try:
            limits.parse(value)
        except ValueError as exc:
            raise ValueError(f"TEXTGEN_PUBLIC_RATE {value!r} is not a rate such as 10/minute") from exc
        return value

    @property
    def auth_configured(self) -> bool:
        return bool(self.api_key_set() or self.api_read_key_set() or self.jwt_secret or self.jwt_jwks_file)

    def api_key_set(self) -> frozenset[str]:
        return _split_keys(self.api_keys)

    def api_read_key_set(self) -> frozenset[str]:
        return _split_keys(self.api_read_keys)
