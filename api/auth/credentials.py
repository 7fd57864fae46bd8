"""Who is calling: API keys (full or read-only) and bearer JWTs (HS256 secret or RS256 JWKS file).

Pure logic: no FastAPI, no Starlette. `Verifier.identify` turns the two request headers into a
`Credential` (or None when none was sent) and raises `CredentialError` for one that is not valid.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from taskplatform.core.settings import Settings

READ = "read"
WRITE = "write"
FULL = frozenset({READ, WRITE})
READ_ONLY = frozenset({READ})
#: The only algorithms ever accepted, each with the only kind of key it is checked against.
HS256 = "HS256"
RS256 = "RS256"
#: Verified tokens remembered (until their `exp`), oldest dropped first.
VERIFIED_TOKENS_KEPT = 1024


@dataclass(frozen=True)
class Credential:
    """A verified caller. `id` is stable and not secret: safe to store and log."""

    id: str
    scopes: frozenset[str]


class CredentialError(Exception):
    """The request carried a credential that is not valid (a 401); the message says why, without secrets."""


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def key_id(key: str) -> str:
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _split(secret: Any) -> list[str]:
    raw = secret.get_secret_value() if secret is not None else ""
    return [part.strip() for part in raw.split(",") if part.strip()]


def load_jwks(path: Path) -> jwt.PyJWKSet:
    """The RS256 public keys of a local JWKS file (read once: restart the API to rotate keys)."""
    try:
        return jwt.PyJWKSet.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, jwt.PyJWTError) as exc:
        raise ValueError(f"JWT_JWKS_FILE {path}: not a readable JWKS ({type(exc).__name__}: {exc})") from exc


class Verifier:
    """Checks API keys and JWTs against the configured secrets."""

    def __init__(self, *, full_keys: list[str] = (), read_keys: list[str] = (),  # type: ignore[assignment]
                 jwt_secret: str | None = None, jwks: jwt.PyJWKSet | None = None,
                 audience: str | None = None, issuer: str | None = None) -> None:
        # Keys are compared by digest, all of them every time, so timing says nothing about which matched.
        # A key listed as both full and read-only is full.
        self._keys = [(_digest(k), key_id(k), READ_ONLY) for k in read_keys if k not in full_keys]
        self._keys += [(_digest(k), key_id(k), FULL) for k in full_keys]
        self._secret = jwt_secret
        self._jwks = jwks
        self._audience = audience
        self._issuer = issuer
        self._verified: dict[str, tuple[Credential, float]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Verifier:
        secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        jwks = load_jwks(settings.jwt_jwks_file) if settings.jwt_jwks_file else None
        return cls(full_keys=_split(settings.api_keys), read_keys=_split(settings.api_read_keys), jwt_secret=secret,
                   jwks=jwks, audience=settings.jwt_audience, issuer=settings.jwt_issuer)

    @property
    def configured(self) -> bool:
        """Whether any credential is configured: then every non-public route needs one."""
        return bool(self._keys or self._secret or self._jwks is not None)

    @property
    def accepts_jwt(self) -> bool:
        return bool(self._secret or self._jwks is not None)

    def identify(self, *, api_key: str | None, authorization: str | None) -> Credential | None:
        """The caller's credential from `X-API-Key` (tried first) or `Authorization: Bearer`; None if neither."""
        if api_key is not None:
            return self._check_key(api_key)
        if authorization is not None:
            scheme, _, token = authorization.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return self.check_jwt(token.strip())
        return None

    def _check_key(self, given: str) -> Credential:
        digest = _digest(given)
        found = None
        for known, ident, scopes in self._keys:
            if hmac.compare_digest(digest, known):
                found = Credential(id=ident, scopes=scopes)
        if found is None:
            raise CredentialError("invalid API key")
        return found

    def check_jwt(self, token: str) -> Credential:
        if not self.accepts_jwt:
            raise CredentialError("bearer tokens are not accepted here")
        cached = self._verified.get(token)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        try:
            header = jwt.get_unverified_header(token)
            alg = header.get("alg")
            key = self._key_for(alg, header.get("kid"))
            required = ["exp", *(["aud"] if self._audience else []), *(["iss"] if self._issuer else [])]
            claims = jwt.decode(token, key, algorithms=[str(alg)], audience=self._audience, issuer=self._issuer,
                                options={"require": required})
        except jwt.ExpiredSignatureError:
            raise CredentialError("token expired") from None
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError, jwt.MissingRequiredClaimError) as exc:
            raise CredentialError(f"invalid token: {exc}") from None
        except jwt.PyJWTError:
            raise CredentialError("invalid token") from None
        granted = frozenset(str(claims.get("scope") or "").split()) & FULL
        # `write` is the full scope: a client allowed to enqueue may also follow its tasks.
        scopes = FULL if WRITE in granted else granted
        subject = claims.get("sub")
        ident = f"jwt:{subject}" if isinstance(subject, str) and subject else \
            "jwt:" + hashlib.sha256(token.encode()).hexdigest()[:16]
        credential = Credential(id=ident, scopes=scopes)
        # Verifying costs ~0.15 ms (PyJWT checks every base64 character in Python); a client sends the same
        # token until it expires. Only verified tokens are kept, so nobody can fill this with junk.
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            self._verified.pop(next(iter(self._verified)))
        self._verified[token] = (credential, float(claims["exp"]))
        return credential

    def _key_for(self, alg: object, kid: object) -> Any:
        """The key that `alg` is checked with; no other algorithm (`none`, HS384, RS256 keyed by a secret...)."""
        if alg == HS256 and self._secret:
            return self._secret
        if alg == RS256 and self._jwks is not None:
            keys = [k for k in self._jwks.keys if k.key_type == "RSA" and k.public_key_use in (None, "sig")
                    and (kid is None or k.key_id == kid)]
            if len(keys) != 1:
                raise CredentialError("no matching key in JWT_JWKS_FILE")
            return keys[0]
        raise CredentialError(f"algorithm {alg!r} is not accepted")
