"""The console's live operations in headless Chromium: a churn retraining's progress bar moving to 100 %, the task
list showing a new task live, a queued task cancelled from its page (it ends CANCELED without ever starting), and
a failed task re-run from its page."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.integration.browser import operator
from tests.integration.stack import Stack
from tests.integration.test_churn import _load_gym, own  # noqa: F401  (`own`: the churn tests' fixture)

#: Retraining on the synthetic gym, and the tiny text model's first generation, take seconds.
TASK_TIMEOUT_MS = 180_000
#: Records every percentage the task page shows, across the reload at its final state.
RECORD_PROGRESS_JS = """() => {
  const target = document.getElementById('percentual');
  if (!target) return;
  window.recordProgress(target.textContent);
  new MutationObserver(() => window.recordProgress(target.textContent))
    .observe(target, {childList: true, characterData: true, subtree: true});
}"""


def _states(stack: Stack, task_id: str) -> list[str]:
    return [event["state"] for event in stack.api.get(f"/tarefa/{task_id}").json()["events"]]


@pytest.fixture(autouse=True)
def _redis_sqlite_only(stack: Stack) -> None:
    if stack.name != "redis-sqlite":
        pytest.skip("the browser tests run on the redis-sqlite stack only")


def test_watch_a_churn_retraining_progress_bar_reach_100(own: Stack, tmp_path: Path) -> None:  # noqa: F811
    _load_gym(own)
    seen: list[int] = []
    with operator(str(own.api.base_url), tmp_path, "churn-progress") as person:
        person.page.expose_function("recordProgress", lambda text: seen.append(int(text)))
        person.page.add_init_script(f"document.addEventListener('DOMContentLoaded', {RECORD_PROGRESS_JS})")
        person.open("/painel/academia")
        person.page.click("#retreinar")
        person.page.wait_for_url("**/painel/tarefas/*")
        expect(person.page.locator("#estado")).to_have_text("SUCCESS", timeout=TASK_TIMEOUT_MS)
        expect(person.page.locator("#percentual")).to_have_text("100")
        assert person.page.locator("#barra").evaluate("bar => bar.style.width") == "100%"
    moving = [p for p in seen if 0 < p < 100]
    assert moving and moving == sorted(moving), seen  # it moved, and only forward
    assert seen[-1] == 100


def test_the_task_list_shows_a_new_task_and_its_state_live(stack: Stack, tmp_path: Path) -> None:
    with operator(stack.api_url, tmp_path, "live-list") as person:
        person.open("/painel/tarefas?name=reports.daily")
        expect(person.page.locator("#ao-vivo")).to_have_text("atualiza ao vivo")
        task_id = stack.api.post("/relatorio/diario", params={"data": "2025-04-07"}).json()["task_id"]
        row = person.page.locator(f"#lista-tarefas tr[data-task-id='{task_id}']")
        expect(row.locator(".c-estado")).to_have_text("SUCCESS", timeout=TASK_TIMEOUT_MS)  # no reload
        assert person.page.locator("#lista-tarefas tbody tr").first.get_attribute("data-task-id") == task_id


def test_cancel_a_queued_task_from_its_page_while_the_list_shows_it_live(stack: Stack, tmp_path: Path) -> None:
    stack.stop_worker()
    try:
        with operator(stack.api_url, tmp_path, "cancel") as person:
            person.open("/painel/tarefas?name=reports.daily")
            expect(person.page.locator("#ao-vivo")).to_have_text("atualiza ao vivo")
            task_id = stack.api.post("/relatorio/diario", params={"data": "2025-04-05"}).json()["task_id"]
            row = person.page.locator(f"#lista-tarefas tr[data-task-id='{task_id}']")
            expect(row.locator(".c-estado")).to_have_text("QUEUED")  # arrived without a reload
            row.locator("a.id").click()
            person.page.wait_for_url(f"**/painel/tarefas/{task_id}")
            expect(person.page.locator("#estado")).to_have_text("QUEUED")
            person.page.click("#cancelar")
            expect(person.page.locator("#estado")).to_have_text("CANCELED")
            expect(person.page.locator("#reexecutar")).to_be_visible()
            expect(person.page.locator("#cancelar")).to_be_hidden()
    finally:
        stack.start_worker()
    later = stack.api.post("/relatorio/diario", params={"data": "2025-04-06"}).json()["task_id"]
    assert stack.wait_task(later)["state"] == "SUCCESS"  # the same queue has been consumed past the cancelled one
    assert stack.wait_task(task_id)["state"] == "CANCELED"
    assert "STARTED" not in _states(stack, task_id)


def test_rerun_a_failed_task_from_its_page(stack: Stack, tmp_path: Path) -> None:
    stack.stop_worker()
    try:
        stack.start_worker(queues=("textgen",), TEXTGEN_MODEL=str(tmp_path / "missing-model"))
        failed_id = stack.api.post("/api/predict", json={"text": "Olá!", "max_new_tokens": 4}).json()["job_id"]
        assert stack.wait_task(failed_id)["state"] == "FAILURE"
    finally:
        stack.stop_worker()
        stack.start_worker()
    with operator(stack.api_url, tmp_path, "rerun") as person:
        person.open(f"/painel/tarefas/{failed_id}")
        expect(person.page.locator("#erro")).to_be_visible()
        person.page.click("#reexecutar")
        person.page.wait_for_url(lambda url: "/painel/tarefas/" in url and failed_id not in url)
        rerun_id = person.page.url.rsplit("/", 1)[1]
        expect(person.page.locator("#estado")).to_have_text("SUCCESS", timeout=TASK_TIMEOUT_MS)
        expect(person.page.locator("#reexecucao-de")).to_have_text(failed_id)
        person.open(f"/painel/tarefas/{failed_id}")
        expect(person.page.locator("a.reexecucao")).to_have_text(rerun_id)
