"""The console's sign-in session and CSRF token: signed cookies, no server-side store.

An operator pastes a key (or a JWT) once at `/painel/entrar`; the API verifies it as it verifies a header and
sets `painel_sessao`: the credential's id and scopes with an expiry, signed with HMAC-SHA256. The key itself is
never kept. The cookie is HttpOnly and SameSite=Strict (Secure over https) and accepted for `/painel/*` only.

CSRF: double submit. `painel_csrf` holds a random token; every console POST carries the same value (a form
field, or the `X-CSRF-Token` header from the pages' JavaScript). Another site can make the browser send the
cookie (not with SameSite=Strict, but older browsers), never read it to copy it into the request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping

from api.auth.credentials import Credential
from taskplatform.core.settings import Settings

SESSION_COOKIE = "painel_sessao"
CSRF_COOKIE = "painel_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
#: A signed-in session lasts at most this long (a JWT's own expiry, if earlier), even if the browser stays open.
SESSION_TTL_S = 12 * 3600


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_key(settings: Settings) -> bytes:
    """CONSOLE_SECRET, or a key derived from the full credentials' secrets (API_KEYS, JWT_SECRET).

    Read-only keys count only when nothing else is configured: whoever holds a key the derivation uses could
    sign a session, and a read key must never be enough to sign a session with the write scope.
    """
    if settings.console_secret is not None:
        material = settings.console_secret.get_secret_value()
    else:
        full = sorted(settings.api_key_set())
        jwt_secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else ""
        parts = full + [jwt_secret] if full or jwt_secret else sorted(settings.api_read_key_set())
        if settings.jwt_jwks_file is not None:
            parts.append(str(settings.jwt_jwks_file))
        material = "\n".join(parts)
    return hmac.new(b"taskplatform console session v1", material.encode(), hashlib.sha256).digest()


class SessionSigner:
    """Makes and checks `painel_sessao` values."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def sign(self, credential: Credential, *, expires_at: float | None = None, now: float | None = None) -> str:
        now = time.time() if now is None else now
        until = min(now + SESSION_TTL_S, expires_at) if expires_at else now + SESSION_TTL_S
        body = {"id": credential.id, "sc": sorted(credential.scopes), "exp": int(until)}
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload)}"

    def verify(self, value: str | None, *, now: float | None = None) -> Credential | None:
        """The session's credential; None when absent, tampered with or expired."""
        if not value or value.count(".") != 1:
            return None
        payload, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            body = json.loads(_unb64(payload))
        except ValueError:
            return None
        if not isinstance(body, dict) or float(body.get("exp", 0)) <= (time.time() if now is None else now):
            return None
        return Credential(id=str(body["id"]), scopes=frozenset(str(s) for s in body.get("sc", [])))


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def csrf_matches(cookies: Mapping[str, str], given: str | None) -> bool:
    """Whether a POST carries the token of its `painel_csrf` cookie."""
    expected = cookies.get(CSRF_COOKIE)
    return bool(expected and given and hmac.compare_digest(expected.encode(), given.encode()))


def cookie_options(*, secure: bool) -> dict[str, object]:
    """HttpOnly, SameSite=Strict, for `/painel` only; no Max-Age: gone when the browser session ends."""
    return {"httponly": True, "samesite": "strict", "secure": secure, "path": "/painel"}
