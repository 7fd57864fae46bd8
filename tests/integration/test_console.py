"""The console (`/painel`) in headless Chromium, walked as an operator would: every view, finding a task by filter,
a task's page, replaying an edited dead letter, a day's report chart, signing in with a key.

Every page is watched for JavaScript errors (uncaught exceptions and console errors). Screenshots of the views are
written to `var/screenshots/painel-*.png`; with UPDATE_SCREENSHOTS=1 to the README's `docs/painel-*.png` (a test
run leaves the checkout's tracked files as they were).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from taskplatform.dead_letters.store import NewDeadLetter, record_dead_letters
from tests.integration.browser import operator
from tests.integration.helpers import new_student_ids
from tests.integration.stack import ROOT, Stack

VIEWS = ["/painel", "/painel/tarefas", "/painel/dead-letters", "/painel/agendamentos", "/painel/academia",
         "/painel/modelos", "/painel/dispositivos"]
FULL_KEY = "full-key-for-the-console-0123456789"
READ_KEY = "read-key-for-the-console-0123456789"
#: Where the screenshots go: the README's copies only when asked for.
DOCS = ROOT / "docs" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else ROOT / "var" / "screenshots"
REPORT_DAY = "2025-04-11"


@pytest.fixture(autouse=True)
def _redis_sqlite_only(stack: Stack) -> None:
    if stack.name != "redis-sqlite":
        pytest.skip("the browser tests run on the redis-sqlite stack only")


def test_find_a_task_by_filter_and_open_its_page(stack: Stack, tmp_path: Path) -> None:
    accepted = stack.api.post("/relatorio/diario", params={"data": "2025-04-01"}).json()
    assert stack.wait_task(accepted["task_id"])["state"] == "SUCCESS"
    with operator(stack.api_url, tmp_path, "filter") as person:
        person.open("/painel/tarefas")
        person.page.select_option("#f-state", "SUCCESS")
        person.page.fill("#f-name", "reports.daily")
        person.page.click("#filtrar")
        person.page.wait_for_url("**/painel/tarefas?*")
        rows = person.page.locator("#lista-tarefas tbody tr")
        expect(rows.first).to_be_visible()
        assert all(row.locator(".c-estado").inner_text() == "SUCCESS" for row in rows.all())
        person.page.click(f"a[href='/painel/tarefas/{accepted['task_id']}']")
        person.page.wait_for_url(f"**/painel/tarefas/{accepted['task_id']}")
        expect(person.page.locator("#estado")).to_have_text("SUCCESS")
        expect(person.page.locator("#percentual")).to_have_text("100")
        expect(person.page.locator("#resultado")).to_contain_text("2025-04-01")
        timeline = person.page.locator("#linha-do-tempo li")
        states = [t.locator(".estado").inner_text() for t in timeline.all()]
        assert states[:2] == ["QUEUED", "STARTED"] and states[-1] == "SUCCESS", states
        person.page.screenshot(path=str(DOCS / "painel-tarefa.png"))


def test_replay_an_edited_dead_letter_and_count_a_bulk_replay_first(stack: Stack, tmp_path: Path) -> None:
    reason = f"console-{uuid.uuid4().hex[:8]}"
    device = f"console-{uuid.uuid4().hex[:8]}"
    broken = json.dumps({"args": [], "kwargs": {"reading": {"wifi_status": "connected"}}})  # no device id
    with Session(stack.engine) as session, session.begin():
        record_dead_letters(session=session, letters=[
            NewDeadLetter(queue="devices", task_name="devices.upsert", reason=reason, body=broken,
                          error="ValueError: id is required", attempts=1)])
    with operator(stack.api_url, tmp_path, "dead-letter") as person:
        person.open(f"/painel/dead-letters?reason={reason}")
        person.page.click("#lote-contar")
        expect(person.page.locator("#lote-contagem")).to_contain_text("1 dead letter")
        expect(person.page.locator("#lote-confirmar")).to_be_visible()
        letter = person.page.locator("article.carta").first
        fixed = json.dumps({"args": [], "kwargs": {"reading": {"id": device, "wifi_status": "connected"}}})
        letter.locator("textarea.corpo").fill(fixed)
        letter.locator("button[data-mode='editado']").click()
        link = letter.locator("a.tarefa-reenviada")
        expect(link).to_be_visible()
        task_id = link.inner_text()
        assert stack.wait_task(task_id)["state"] == "SUCCESS"
        assert stack.api.get(f"/devices/{device}").json()["wifi_status"] == "connected"
        link.click()
        person.page.wait_for_url(f"**/painel/tarefas/{task_id}")
        expect(person.page.locator("#estado")).to_have_text("SUCCESS")
        person.open(f"/painel/dead-letters?reason={reason}&replayed=nao")
        person.page.click("#lote-contar")
        expect(person.page.locator("#lote-contagem")).to_contain_text("0 dead letter")
        expect(person.page.locator("#lote-confirmar")).to_be_hidden()


def test_open_a_days_report_and_its_chart(stack: Stack, tmp_path: Path) -> None:
    students = new_student_ids(stack.api, 3)
    body = [{"aluno_id": s, "data_hora": f"{REPORT_DAY}T{hour:02d}:15:00"} for s in students for hour in (7, 8, 18)]
    assert stack.wait_task(stack.api.post("/checkin/batch", json=body).json()["task_id"])["state"] == "SUCCESS"
    report = stack.api.post("/relatorio/diario", params={"data": REPORT_DAY}).json()
    assert stack.wait_task(report["task_id"])["state"] == "SUCCESS"
    with operator(stack.api_url, tmp_path, "report") as person:
        person.open("/painel/academia")
        person.page.fill("#data", REPORT_DAY)
        person.page.click("#ver-dia")
        person.page.wait_for_url(f"**/painel/academia?data={REPORT_DAY}")
        expect(person.page.locator("#relatorio")).to_contain_text("9")
        chart = person.page.locator("#grafico")
        expect(chart).to_be_visible()
        person.page.wait_for_function("() => document.querySelector('#grafico').naturalWidth > 0")
        person.page.screenshot(path=str(DOCS / "painel-academia.png"))


def test_sign_in_with_a_key_read_only_then_full(stack: Stack, tmp_path: Path) -> None:
    """With API_KEYS set: every view sends an anonymous browser to the sign-in form; a read key shows the views
    without buttons; signing out ends the session; a full key gets the buttons."""
    guarded = stack.start_api(name="api-console", API_KEYS=FULL_KEY, API_READ_KEYS=READ_KEY)
    try:
        accepted = guarded.post("/relatorio/diario", params={"data": "2025-04-02"}, headers={"X-API-Key": FULL_KEY})
        task_id = accepted.json()["task_id"]
        stack.wait_task(task_id)
        with operator(str(guarded.base_url), tmp_path, "sign-in") as person:
            for path in VIEWS:
                person.open(path)
                person.page.wait_for_url("**/painel/entrar")
            person.page.fill("#chave", "not-a-key")
            person.page.click("#entrar")
            expect(person.page.locator("#erro")).to_have_text("Chave ou token inválido.")
            person.errors = [e for e in person.errors if "401" not in e]  # the refused form's own answer
            person.page.fill("#chave", READ_KEY)
            person.page.click("#entrar")
            person.page.wait_for_url("**/painel")
            expect(person.page.locator(".quem")).to_contain_text("somente leitura")
            for path in VIEWS:
                person.open(path)
            person.open(f"/painel/tarefas/{task_id}")
            expect(person.page.locator("#reexecutar")).to_be_hidden()
            person.open("/painel/academia")
            expect(person.page.locator("#gerar-relatorio")).to_have_count(0)
            person.page.click("#sair")
            person.page.wait_for_url("**/painel/entrar")
            person.open("/painel/tarefas")
            person.page.wait_for_url("**/painel/entrar")
            person.page.fill("#chave", FULL_KEY)
            person.page.click("#entrar")
            person.page.wait_for_url("**/painel")
            person.open("/painel/academia")
            expect(person.page.locator("#gerar-relatorio")).to_be_visible()
            expect(person.page.locator(".quem")).not_to_contain_text("somente leitura")
    finally:
        stack.supervisor.stop("api-console")


def test_every_view_answers_without_a_javascript_error(stack: Stack, tmp_path: Path) -> None:
    """Last in this file, so the overview's screenshot shows the tasks the tests before it ran."""
    with operator(stack.api_url, tmp_path, "views") as person:
        for path in VIEWS:
            person.open(path)
            expect(person.page.locator("h1")).to_be_visible()
        person.open("/painel")
        expect(person.page.locator("#workers-online")).not_to_have_text("0")
        person.page.screenshot(path=str(DOCS / "painel-visao-geral.png"))
