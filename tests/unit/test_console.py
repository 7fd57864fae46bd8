"""The console's access: the signed session cookie, CSRF, where the cookie counts, and its keyset listing."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.auth.credentials import FULL, READ_ONLY, Credential
from api.console.session import SESSION_COOKIE, SessionSigner, signing_key
from api.main import create_app
from taskplatform.core.db import get_engine, session_factory
from taskplatform.core.settings import get_settings
from taskplatform.ledger.listing import TaskFilter, list_task_records, list_task_records_after
from taskplatform.ledger.models import TaskRecord
from taskplatform.messaging.schedule_runs import ScheduleRun
from tests.unit.settings_env import settings

FULL_KEY = "full-key-for-console-0123456789"
READ_KEY = "read-key-for-console-0123456789"


def test_a_session_is_signed_and_expires() -> None:
    """Breach caught: a cookie edited to claim the write scope, or kept past its expiry, accepted."""
    signer = SessionSigner(b"k" * 32)
    value = signer.sign(Credential(id="key:abc", scopes=READ_ONLY), now=1000.0)
    assert signer.verify(value, now=1001.0) == Credential(id="key:abc", scopes=READ_ONLY)
    payload, mac = value.split(".")
    forged = SessionSigner(b"x" * 32).sign(Credential(id="key:abc", scopes=FULL), now=1000.0)
    assert signer.verify(f"{forged.split('.')[0]}.{mac}", now=1001.0) is None
    assert signer.verify(forged, now=1001.0) is None
    assert signer.verify(value, now=1000.0 + 13 * 3600) is None
    short = signer.sign(Credential(id="jwt:a", scopes=FULL), expires_at=1060.0, now=1000.0)  # a JWT's own exp
    assert signer.verify(short, now=1059.0) is not None and signer.verify(short, now=1061.0) is None
    assert signer.verify("garbage", now=1001.0) is None and signer.verify(None) is None


@pytest.mark.usefixtures("clean_env")
def test_the_signing_key_never_comes_from_a_read_key_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Breach caught: a read-key holder able to derive the key and sign a session with the write scope."""
    both = signing_key(settings(monkeypatch, API_KEYS=FULL_KEY, API_READ_KEYS=READ_KEY))
    monkeypatch.setenv("API_READ_KEYS", "another-read-key-0123456789")
    assert signing_key(settings(monkeypatch, API_KEYS=FULL_KEY)) == both
    own = signing_key(settings(monkeypatch, API_KEYS=FULL_KEY, CONSOLE_SECRET="c" * 40))
    assert own != both


def _signed_in(client: TestClient, key: str) -> None:
    form = client.get("/painel/entrar")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    answer = client.post("/painel/entrar", data={"chave": key, "csrf": token.group(1)}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert "httponly" in answer.headers["set-cookie"].lower() and "samesite=strict" in \
        answer.headers["set-cookie"].lower()


@pytest.fixture
def settings_cache() -> Iterator[None]:
    """The routes read `get_settings()`: what they cached under this test's variables goes with it."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("clean_env", "settings_cache")
def test_the_cookie_counts_under_painel_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Breach caught: the console's ambient cookie authorizing the JSON API (CSRF from any page) or a read
    session's buttons writing."""
    client = TestClient(create_app(settings(monkeypatch, API_KEYS=FULL_KEY, API_READ_KEYS=READ_KEY)))
    unsigned = client.get("/painel/tarefas", follow_redirects=False)
    assert unsigned.status_code == 303 and unsigned.headers["location"] == "/painel/entrar"
    assert client.get("/painel/api/tarefas").status_code == 401
    _signed_in(client, READ_KEY)
    assert client.cookies.get(SESSION_COOKIE)
    assert "key:" in client.get("/painel/entrar").text  # the page knows who signed in
    assert client.get("/tarefas").status_code == 401  # the same cookie, outside /painel
    csrf = {"X-CSRF-Token": client.cookies["painel_csrf"]}
    assert client.post("/painel/api/relatorio/diario?data=2999-01-01", headers=csrf).status_code == 403  # read
    _signed_in(client, FULL_KEY)
    assert client.post("/painel/api/relatorio/diario?data=2999-01-01").status_code == 403  # no CSRF token
    assert client.post("/painel/api/relatorio/diario?data=2999-01-01",
                       headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert client.post("/painel/api/relatorio/diario?data=2999-01-01", headers=csrf).status_code == 422  # the route
    assert client.get("/painel/api/status").status_code == 404  # only the paths the console uses
    bad = client.post("/painel/entrar", data={"chave": "wrong", "csrf": client.cookies["painel_csrf"]})
    assert bad.status_code == 401
    assert client.post("/painel/entrar", data={"chave": FULL_KEY, "csrf": "forged"}).status_code == 403


@pytest.mark.usefixtures("clean_env")
def test_the_console_pages_are_not_in_the_openapi_document(monkeypatch: pytest.MonkeyPatch) -> None:
    paths = create_app(settings(monkeypatch)).openapi()["paths"]
    assert not [path for path in paths if path.startswith("/painel")]


def test_keyset_pages_walk_the_listing_newest_first_without_overlap(engine: Engine) -> None:
    """The console's pages hold the same rows as `/tarefas`' listing, each once; an arrival between two pages
    shifts nothing."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with Session(engine) as session:
        for i in range(25):  # pairs share a created_at: the id breaks the tie
            at = start + timedelta(seconds=i // 2)
            session.add(TaskRecord(id=f"t{i:02d}", name="n", queue="q", state="SUCCESS", attempts=1,
                                   created_at=at, updated_at=at))
        session.commit()
        everything = [r.id for r in list_task_records(session=session, filters=TaskFilter(), limit=100,
                                                      offset=0).items]
        walked, after = [], None
        while True:
            page = list_task_records_after(session=session, filters=TaskFilter(name="n"), limit=7, after=after)
            walked += [r.id for r in page.items]
            if page.next_key is None:
                break
            after = page.next_key
            if len(walked) == 7:  # a new task arrives while the operator reads the first page
                session.add(TaskRecord(id="new", name="n", queue="q", state="QUEUED", attempts=0,
                                       created_at=start + timedelta(hours=1), updated_at=start))
                session.commit()
        assert sorted(walked) == sorted(everything) and len(walked) == len(set(walked)) == 25
        assert [r.id for r in list_task_records_after(session=session, filters=TaskFilter(), limit=30).items][1:] \
            == walked


@pytest.mark.usefixtures("clean_env", "settings_cache")
def test_a_jwt_signs_in_for_no_longer_than_it_lives(monkeypatch: pytest.MonkeyPatch) -> None:
    """Breach caught: a pasted JWT's session outliving the token's `exp`."""
    secret = "s" * 40
    client = TestClient(create_app(settings(monkeypatch, JWT_SECRET=secret)))
    token = jwt.encode({"sub": "ops", "scope": "read", "exp": int(time.time()) + 60}, secret, algorithm="HS256")
    _signed_in(client, token)
    signer = SessionSigner(signing_key(settings(monkeypatch, JWT_SECRET=secret)))
    assert signer.verify(client.cookies[SESSION_COOKIE]) == Credential(id="jwt:ops", scopes=READ_ONLY)
    assert signer.verify(client.cookies[SESSION_COOKIE], now=time.time() + 61) is None


@pytest.mark.usefixtures("clean_env", "settings_cache")
def test_sign_out_needs_the_form_token_and_ends_the_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """Breach caught: a cross-site form signing an operator out (no CSRF check on /painel/sair), or a sign-out
    that leaves the session cookie working."""
    client = TestClient(create_app(settings(monkeypatch, API_KEYS=FULL_KEY)))
    _signed_in(client, FULL_KEY)
    assert client.post("/painel/sair", data={"csrf": "forged"}, follow_redirects=False).status_code == 403
    assert "key:" in client.get("/painel/entrar").text  # still signed in (the page names the credential)
    signed_out = client.post("/painel/sair", data={"csrf": client.cookies["painel_csrf"]}, follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/painel/entrar"
    assert "key:" not in client.get("/painel/entrar").text
    assert client.get("/painel/tarefas", follow_redirects=False).status_code == 303  # back to the sign-in form


@pytest.mark.usefixtures("clean_env", "settings_cache")
def test_the_task_list_pages_by_the_cursor_of_tarefas(monkeypatch: pytest.MonkeyPatch, engine: Engine) -> None:
    """Breach caught: the console's "mais antigas" link not carrying `/tarefas`' `proximo`, a page repeating or
    skipping a task, or a refused cursor answered with a 500."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with Session(engine) as session:
        session.add_all(TaskRecord(id=f"t{i:03d}", name="n", queue="q", state="SUCCESS", attempts=1,
                                   created_at=start + timedelta(seconds=i), updated_at=start) for i in range(120))
        session.commit()
    client = TestClient(create_app(settings(monkeypatch, DATABASE_URL=str(engine.url))))
    for cached in (get_engine, session_factory):  # another test's database may be cached
        cached.cache_clear()
    seen: list[str] = []
    path: str | None = "/painel/tarefas?name=n"
    while path is not None:
        answer = client.get(path)
        assert answer.status_code == 200
        seen += re.findall(r'<tr data-task-id="([^"]+)"', answer.text)
        link = re.search(r'id="proxima" href="([^"]+)"', answer.text)
        path = link.group(1).replace("&amp;", "&") if link else None
        if path is not None:
            cursor = path.split("cursor=")[1]
            assert client.get("/tarefas", params={"name": "n", "cursor": cursor}).status_code == 200
    assert seen == [f"t{i:03d}" for i in range(119, -1, -1)]
    refused = client.get("/painel/tarefas?cursor=nonsense")
    assert refused.status_code == 422 and 'id="cursor-invalido"' in refused.text
    get_engine().dispose()
    for cached in (get_engine, session_factory):
        cached.cache_clear()


@pytest.mark.usefixtures("clean_env", "settings_cache")
def test_the_schedules_page_shows_each_fire_its_beat_and_the_beats_refused(monkeypatch: pytest.MonkeyPatch,
                                                                          engine: Engine) -> None:
    """Breach caught: the page listing tasks by name only, so an operator could not tell which beat sent a fire,
    that another beat's attempt was refused, or that a claimed fire was never sent."""
    fired = datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
    with Session(engine) as session:
        session.add(TaskRecord(id="fire-1", name="reports.daily", queue="reports", state="SUCCESS", attempts=1,
                               created_at=fired, updated_at=fired))
        session.add_all([
            ScheduleRun(schedule="daily-report", fire_time=fired, task="reports.daily", task_id="fire-1",
                        fired_by="beat-a:11", claimed_at=fired, sent_at=fired, skipped=2, skipped_by="beat-b:22",
                        skipped_at=fired),
            ScheduleRun(schedule="daily-report", fire_time=fired + timedelta(days=1), task="reports.daily",
                        task_id="fire-2", fired_by="beat-b:22", claimed_at=fired, sent_at=None, skipped=0),
        ])
        session.commit()
    client = TestClient(create_app(settings(monkeypatch, DATABASE_URL=str(engine.url), BROKER_URL="memory://")))
    for cached in (get_engine, session_factory):  # another test's database may be cached
        cached.cache_clear()
    try:
        answer = client.get("/painel/agendamentos")
        assert answer.status_code == 200
        row = re.search(r"<tr><td>daily-report</td>.*?</tr>", answer.text, re.S)
        assert row is not None
        fires = re.findall(r'<div class="disparo">(.*?)</div>', row.group(0), re.S)
        assert len(fires) == 2  # newest first
        assert "beat-b:22" in fires[0] and "não enviado" in fires[0] and "/painel/tarefas/fire-2" in fires[0]
        assert "beat-a:11" in fires[1] and "SUCCESS" in fires[1] and "2 recusas" in fires[1]
        assert "não enviado" not in fires[1]
    finally:
        get_engine().dispose()
        for cached in (get_engine, session_factory):
            cached.cache_clear()
