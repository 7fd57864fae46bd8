"""Access decisions without a server: key scopes, HS256 and RS256 JWTs, public paths, anonymous text generation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from api.auth.credentials import FULL, READ_ONLY, CredentialError, Verifier, load_jwks
from api.auth.middleware import PublicRateLimit, shows_details
from api.auth.policy import Decision, Outcome, decide
from taskplatform.dev.processes import wait_until

SECRET = "s" * 48
FULL_KEY, READ_KEY = "full-key-0123456789", "read-key-0123456789"


def keys_only() -> Verifier:
    return Verifier(full_keys=[FULL_KEY], read_keys=[READ_KEY])


def ask(verifier: Verifier, method: str, path: str, *, key: str | None = None, bearer: str | None = None,
        textgen_public: bool = False) -> Decision:
    return decide(verifier, method=method, path=path, api_key=key,
                  authorization=f"Bearer {bearer}" if bearer else None, textgen_public=textgen_public)


def hs256(claims: dict[str, Any], secret: str = SECRET, **headers: Any) -> str:
    return jwt.encode({"exp": int(time.time()) + 300, **claims}, secret, algorithm="HS256", headers=headers or None)


def test_without_any_credential_configured_everything_is_open_and_nobody_is_identified() -> None:
    """Breach caught: existing deployments without keys suddenly refusing requests, or a credential id invented."""
    open_verifier = Verifier()
    assert not open_verifier.configured
    for method, path in (("GET", "/tarefas"), ("POST", "/checkin/batch"), ("GET", "/metrics")):
        decision = ask(open_verifier, method, path, key="anything")
        assert decision == Decision(Outcome.ALLOW), (method, path)


@pytest.mark.parametrize("path", ["/tarefas", "/dead-letters", "/relatorio/churn", "/devices", "/tarefa/abc",
                                  "/api/result/abc", "/metrics", "/celery-status", "/sessions/u/1"])
def test_reads_need_a_credential_once_keys_are_set(path: str) -> None:
    """Breach caught: item 11, reads (sessions, churn names, tracebacks) open to anyone once keys are set."""
    decision = ask(keys_only(), "GET", path)
    assert decision.outcome is Outcome.UNAUTHORIZED
    assert ask(keys_only(), "GET", path, key="not-a-key").outcome is Outcome.UNAUTHORIZED
    assert ask(keys_only(), "GET", path, key=READ_KEY).outcome is Outcome.ALLOW
    assert ask(keys_only(), "HEAD", path, key=READ_KEY).outcome is Outcome.ALLOW
    assert ask(keys_only(), "GET", path, key=FULL_KEY).outcome is Outcome.ALLOW


def test_a_read_key_may_not_write_and_a_full_key_may() -> None:
    """Breach caught: a read-only key that can enqueue, replay dead letters or activate models."""
    for method, path in (("POST", "/checkin/batch"), ("POST", "/dead-letters/replay"), ("DELETE", "/x")):
        refused = ask(keys_only(), method, path, key=READ_KEY)
        assert refused.outcome is Outcome.FORBIDDEN and "only reads" in refused.reason
        assert ask(keys_only(), method, path, key=FULL_KEY).outcome is Outcome.ALLOW
    assert ask(keys_only(), "POST", "/checkin/batch").outcome is Outcome.UNAUTHORIZED


def test_a_key_listed_as_both_full_and_read_only_is_full() -> None:
    verifier = Verifier(full_keys=[FULL_KEY], read_keys=[FULL_KEY, READ_KEY])
    assert ask(verifier, "POST", "/alunos", key=FULL_KEY).credential.scopes == FULL  # type: ignore[union-attr]


@pytest.mark.parametrize("path", ["/", "/status", "/demo", "/demo/app.js", "/docs", "/redoc", "/openapi.json"])
def test_public_paths_need_nothing_and_ignore_a_bad_credential(path: str) -> None:
    """Breach caught: health checks or the demo page broken by auth, or by a stale header."""
    assert ask(keys_only(), "GET", path) == Decision(Outcome.ALLOW)
    assert ask(keys_only(), "GET", path, key="stale") == Decision(Outcome.ALLOW)
    assert ask(keys_only(), "GET", path, key=READ_KEY).credential is not None  # /status shows details then


def test_credential_ids_are_stable_and_not_secret() -> None:
    """Breach caught: idempotency keys scoped by something that leaks the key, or changes between requests."""
    decision = ask(keys_only(), "GET", "/tarefas", key=READ_KEY)
    assert decision.credential is not None and decision.credential.scopes == READ_ONLY
    assert decision.credential.id == "key:" + hashlib.sha256(READ_KEY.encode()).hexdigest()[:16]
    assert READ_KEY not in decision.credential.id
    assert ask(keys_only(), "GET", "/x", key=READ_KEY).credential == decision.credential


def test_hs256_scopes_read_and_write() -> None:
    """Breach caught: a bearer token's `scope` claim ignored (a read token that writes)."""
    verifier = Verifier(jwt_secret=SECRET)
    reader = hs256({"sub": "ana", "scope": "read"})
    assert ask(verifier, "GET", "/tarefas", bearer=reader).credential.id == "jwt:ana"  # type: ignore[union-attr]
    assert ask(verifier, "POST", "/checkin/batch", bearer=reader).outcome is Outcome.FORBIDDEN
    writer = hs256({"sub": "svc", "scope": "openid write"})
    assert ask(verifier, "POST", "/checkin/batch", bearer=writer).outcome is Outcome.ALLOW
    assert ask(verifier, "GET", "/tarefas", bearer=writer).outcome is Outcome.ALLOW
    nothing = hs256({"sub": "x", "scope": "admin"})
    assert ask(verifier, "GET", "/tarefas", bearer=nothing).outcome is Outcome.FORBIDDEN
    no_sub = hs256({"scope": "read"})
    ident = ask(verifier, "GET", "/tarefas", bearer=no_sub).credential.id  # type: ignore[union-attr]
    assert ident == "jwt:" + hashlib.sha256(no_sub.encode()).hexdigest()[:16]


@pytest.mark.parametrize(("token", "reason"), [
    (lambda: hs256({"scope": "read", "exp": int(time.time()) - 5}), "token expired"),
    (lambda: jwt.encode({"scope": "read"}, SECRET, algorithm="HS256"), "exp"),
    (lambda: hs256({"scope": "read"}, secret="another secret of more than 32 bytes"), "invalid token"),
    (lambda: hs256({"scope": "read", "aud": "someone-else"}), "audience"),
    (lambda: jwt.encode({"scope": "read", "exp": int(time.time()) + 60}, SECRET, algorithm="HS384"), "HS384"),
    (lambda: jwt.encode({"scope": "read", "exp": int(time.time()) + 60}, None, algorithm="none"), "'none'"),
    (lambda: "not.a.token", "invalid token"),
])
def test_bad_tokens_are_401_with_the_reason(token: Any, reason: str) -> None:
    """Breach caught: expired, unsigned (`alg: none`), foreign-audience or mis-signed tokens accepted."""
    decision = ask(Verifier(jwt_secret=SECRET), "GET", "/tarefas", bearer=token())
    assert decision.outcome is Outcome.UNAUTHORIZED and reason in decision.reason, decision


def test_audience_and_issuer_are_checked_when_configured() -> None:
    verifier = Verifier(jwt_secret=SECRET, audience="taskplatform", issuer="https://idp.example")
    good = hs256({"scope": "read", "aud": "taskplatform", "iss": "https://idp.example"})
    assert ask(verifier, "GET", "/tarefas", bearer=good).outcome is Outcome.ALLOW
    for claims in ({"aud": "other", "iss": "https://idp.example"}, {"aud": "taskplatform", "iss": "https://evil"},
                   {"iss": "https://idp.example"}):
        assert ask(verifier, "GET", "/tarefas", bearer=hs256({"scope": "read", **claims})).outcome \
            is Outcome.UNAUTHORIZED, claims


@pytest.fixture
def rsa_keys(tmp_path: Path) -> tuple[rsa.RSAPrivateKey, Path]:
    """A private key and a JWKS file holding its public half (kid `k1`) and another key (kid `k2`)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys = []
    for kid, key in (("k1", private), ("k2", other)):
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": keys}))
    return private, path


def rs256(private: rsa.RSAPrivateKey, claims: dict[str, Any], kid: str | None = "k1") -> str:
    return jwt.encode({"exp": int(time.time()) + 300, **claims}, private, algorithm="RS256",
                      headers={"kid": kid} if kid else None)


def test_rs256_against_a_jwks_file(rsa_keys: tuple[rsa.RSAPrivateKey, Path]) -> None:
    """Breach caught: RS256 tokens checked against the wrong key, or any key of the set."""
    private, path = rsa_keys
    verifier = Verifier(jwks=load_jwks(path))
    assert ask(verifier, "POST", "/alunos", bearer=rs256(private, {"sub": "svc", "scope": "write"})).outcome \
        is Outcome.ALLOW
    assert ask(verifier, "POST", "/alunos", bearer=rs256(private, {"scope": "read"})).outcome is Outcome.FORBIDDEN
    wrong_kid = ask(verifier, "GET", "/tarefas", bearer=rs256(private, {"scope": "read"}, kid="k2"))
    assert wrong_kid.outcome is Outcome.UNAUTHORIZED and wrong_kid.reason == "invalid token"
    no_kid = ask(verifier, "GET", "/tarefas", bearer=rs256(private, {"scope": "read"}, kid=None))
    assert no_kid.outcome is Outcome.UNAUTHORIZED  # two keys: which one is not guessed
    expired = ask(verifier, "GET", "/tarefas", bearer=rs256(private, {"scope": "read", "exp": 1}))
    assert expired.reason == "token expired"
    # HS256 signed with the public key as the "secret" (the algorithm-confusion attack), no JWT_SECRET set.
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": "k1"}).encode()).rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps({"scope": "write", "exp": int(time.time()) + 60}).encode())
    signing_input = header + b"." + payload.rstrip(b"=")
    signature = base64.urlsafe_b64encode(hmac.new(public_pem, signing_input, "sha256").digest()).rstrip(b"=")
    forged = (signing_input + b"." + signature).decode()
    assert ask(verifier, "POST", "/alunos", bearer=forged).outcome is Outcome.UNAUTHORIZED


def test_public_text_generation_is_rate_limited_and_only_there() -> None:
    """Breach caught: TEXTGEN_PUBLIC opening more than text generation, or opening it without a limit."""
    verifier = keys_only()
    assert ask(verifier, "POST", "/api/predict").outcome is Outcome.UNAUTHORIZED
    assert ask(verifier, "POST", "/api/predict", textgen_public=True).outcome is Outcome.RATE_LIMITED
    assert ask(verifier, "GET", "/api/result/abc", textgen_public=True).outcome is Outcome.ALLOW
    assert ask(verifier, "POST", "/api/predict", key=READ_KEY, textgen_public=True).outcome is Outcome.FORBIDDEN
    assert ask(verifier, "POST", "/api/predict", key=FULL_KEY, textgen_public=True).outcome is Outcome.ALLOW
    assert ask(verifier, "POST", "/api/predict", key="bad", textgen_public=True).outcome is Outcome.UNAUTHORIZED
    for method, path in (("GET", "/tarefas"), ("POST", "/prever"), ("GET", "/api/resultados")):
        assert ask(verifier, method, path, textgen_public=True).outcome is Outcome.UNAUTHORIZED, path


def test_rate_limit_counts_per_client_and_says_when_to_retry() -> None:
    limit = PublicRateLimit("2/minute")
    assert limit.retry_after("10.0.0.1") is None and limit.retry_after("10.0.0.1") is None
    wait = limit.retry_after("10.0.0.1")
    assert wait is not None and 1 <= wait <= 60
    assert limit.retry_after("10.0.0.2") is None


def test_status_details_only_for_readers_or_when_auth_is_off() -> None:
    """Breach caught: /status details shown to anonymous callers, or shown when the middleware did not run."""
    assert shows_details({"state": {"auth_configured": False}})
    assert shows_details({"state": {"auth_configured": True, "credential_scopes": READ_ONLY}})
    assert not shows_details({"state": {"auth_configured": True}})
    assert not shows_details({"state": {"auth_configured": True, "credential_scopes": frozenset()}})
    assert not shows_details({})


def test_an_unusable_jwks_file_stops_the_start_with_its_name(tmp_path: Path) -> None:
    """Breach caught: a missing or empty JWKS file starting an API that then refuses every token silently."""
    empty = tmp_path / "empty.json"
    empty.write_text('{"keys": []}')
    for path in (tmp_path / "missing.json", empty):
        with pytest.raises(ValueError, match=f"JWT_JWKS_FILE {path}"):
            load_jwks(path)


def test_a_single_key_jwks_needs_no_kid(tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"keys": [json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))]}))
    token = rs256(private, {"sub": "svc", "scope": "read"}, kid=None)
    assert ask(Verifier(jwks=load_jwks(path)), "GET", "/tarefas", bearer=token).credential.id == "jwt:svc"  # type: ignore[union-attr]


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    """Breach caught: the cache of verified tokens accepting a token after its `exp`."""
    verifier = Verifier(jwt_secret=SECRET)
    token = jwt.encode({"scope": "read", "exp": int(time.time()) + 1}, SECRET, algorithm="HS256")
    assert verifier.check_jwt(token).scopes == READ_ONLY  # verified, and now remembered

    def refused() -> bool:
        try:
            verifier.check_jwt(token)
        except CredentialError as exc:
            assert str(exc) == "token expired"
            return True
        return False

    wait_until(refused, timeout=10, interval=0.1, what="the token to expire")
