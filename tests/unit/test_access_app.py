"""The app factory's access wiring, without a server: docs toggle, OpenAPI security, the middleware's answers.

Requests here are all refused or answered by the middleware or by FastAPI itself before any route
touches a database, broker or object store.
"""

from __future__ import annotations

import hashlib
import time

import jwt
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from api.auth import AccessMiddleware, Verifier
from api.main import create_app
from tests.unit.settings_env import PRODUCTION, settings

pytestmark = pytest.mark.usefixtures("clean_env")
SECRET = "j" * 48


def test_docs_are_off_in_production_unless_api_docs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Breach caught: /docs and /openapi.json published in production, handing out the map of the API."""
    client = TestClient(create_app(settings(monkeypatch, **PRODUCTION)))
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 404, path
    assert (client.get("/").json()["docs"], client.get("/").json()["redoc"]) == (None, None)  # no dead links
    enabled = TestClient(create_app(settings(monkeypatch, **PRODUCTION, API_DOCS="true")))
    assert enabled.get("/openapi.json").status_code == 200
    assert enabled.get("/docs").status_code == 200
    assert enabled.get("/").json()["docs"] == "/docs"


def test_docs_stay_on_in_development_and_are_readable_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    client = TestClient(create_app(settings(monkeypatch, API_KEYS="full-key-0123456789")))
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_openapi_documents_which_credential_each_operation_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Breach caught: the document claiming reads are open (a client or fuzzer sends no credential)."""
    schema = create_app(settings(monkeypatch)).openapi()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"]["name"] == "X-API-Key" and schemes["BearerJWT"]["scheme"] == "bearer"
    either = [{"APIKeyHeader": []}, {"BearerJWT": []}]
    paths = schema["paths"]
    assert paths["/tarefas"]["get"]["security"] == either and "read scope" in paths["/tarefas"]["get"]["description"]
    assert paths["/checkin/batch"]["post"]["security"] == either
    assert "full scope" in paths["/checkin/batch"]["post"]["description"]
    assert {"401", "403"} <= set(paths["/checkin/batch"]["post"]["responses"])
    for public in ("/", "/status"):
        assert "security" not in paths[public]["get"], public
    assert "/demo" not in paths
    assert {} not in paths["/api/predict"]["post"]["security"]
    opened = create_app(settings(monkeypatch, TEXTGEN_PUBLIC="true")).openapi()["paths"]
    assert {} in opened["/api/predict"]["post"]["security"] and "429" in opened["/api/predict"]["post"]["responses"]
    assert {} in opened["/api/result/{job_id}"]["get"]["security"]
    assert {} not in opened["/tarefas"]["get"]["security"]


def test_middleware_answers_401_with_a_challenge_and_403_for_a_read_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Breach caught: refusals without WWW-Authenticate, or a read key's write refused as 401 (looks like a typo)."""
    app = create_app(settings(monkeypatch, API_KEYS="full-key-0123456789", API_READ_KEYS="read-key-0123456789",
                              JWT_SECRET=SECRET))
    client = TestClient(app)
    refused = client.get("/tarefas")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'X-API-Key realm="taskplatform", Bearer realm="taskplatform"'
    assert "X-API-Key" in refused.json()["detail"]
    forbidden = client.post("/checkin/batch", json=[], headers={"X-API-Key": "read-key-0123456789"})
    assert forbidden.status_code == 403 and "only reads" in forbidden.json()["detail"]
    token = jwt.encode({"scope": "read", "exp": int(time.time()) - 1}, SECRET, algorithm="HS256")
    expired = client.get("/tarefas", headers={"Authorization": f"Bearer {token}"})
    assert expired.status_code == 401 and expired.json()["detail"].startswith("token expired")
    # Through the middleware to FastAPI's validation: the credential was accepted.
    assert client.post("/checkin/batch", json={}, headers={"X-API-Key": "full-key-0123456789"}).status_code == 422


def test_anonymous_text_generation_gets_429_with_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """Breach caught: TEXTGEN_PUBLIC letting one address queue generations without limit."""
    app = create_app(settings(monkeypatch, API_KEYS="full-key-0123456789", TEXTGEN_PUBLIC="true",
                              TEXTGEN_PUBLIC_RATE="2/minute"))
    client = TestClient(app)
    # An empty body is a 422 from FastAPI: it went through the middleware, and nothing was enqueued.
    assert [client.post("/api/predict", json={}).status_code for _ in range(2)] == [422, 422]
    limited = client.post("/api/predict", json={})
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
    assert client.post("/api/predict", json={}, headers={"X-API-Key": "full-key-0123456789"}).status_code == 422


def test_settings_refuse_a_short_jwt_secret_and_an_unreadable_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="jwt_secret"):
        settings(monkeypatch, JWT_SECRET="short")
    monkeypatch.delenv("JWT_SECRET")
    with pytest.raises(ValidationError, match="TEXTGEN_PUBLIC_RATE"):
        settings(monkeypatch, TEXTGEN_PUBLIC_RATE="ten per minute")
    monkeypatch.delenv("TEXTGEN_PUBLIC_RATE")
    assert not settings(monkeypatch, API_READ_KEYS=" , ").auth_configured
    assert settings(monkeypatch, API_READ_KEYS="r").auth_configured


def test_the_middleware_records_who_called_for_later_steps() -> None:
    """Breach caught: idempotency keys scoped by a credential id that is missing, secret, or set without auth."""
    seen: list[dict[str, object]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(dict(scope.get("state", {})))
        await PlainTextResponse("ok")(scope, receive, send)

    key = "full-key-0123456789"
    TestClient(AccessMiddleware(app, verifier=Verifier())).get("/tarefas", headers={"X-API-Key": key})
    assert seen.pop() == {"auth_configured": False}
    guarded = TestClient(AccessMiddleware(app, verifier=Verifier(full_keys=[key], jwt_secret=SECRET)))
    guarded.get("/tarefas", headers={"X-API-Key": key})
    state = seen.pop()
    assert state["credential_id"] == "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    token = jwt.encode({"sub": "ana", "scope": "write", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    guarded.post("/alunos", headers={"Authorization": f"Bearer {token}"})
    assert seen.pop()["credential_id"] == "jwt:ana"
    guarded.get("/status")
    assert "credential_id" not in seen.pop()
