"""Churn retraining through a worker: progress, registry, promotion rule and the risk ranking.

The model trains on every check-in in the database, so these tests run a worker and an API on a database of
their own: no other test's check-ins (nor today's date) can change what they train on."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from ml.synthetic_gym import SyntheticGym, generate_gym
from taskplatform.dev.processes import wait_until
from tests.integration.conftest import postgres_database
from tests.integration.stack import Stack, migrate

STUDENTS = 600
#: A fixed half-year: the reference time of a model is its latest check-in, never today.
GYM_START = date(2025, 3, 3)


@pytest.fixture()
def own(stack: Stack, tmp_path: Path) -> Iterator[Stack]:
    """The stack with its worker and an API switched to a fresh, migrated database (restored afterwards)."""
    if stack.broker_kind == "amqp":
        pytest.skip("churn training is checked on the Redis stacks, on SQLite and PostgreSQL: the broker carries "
                    "its task as any other (each restart of the worker here costs time)")
    fresh = (postgres_database() if stack.engine.dialect.name == "postgresql"
             else nullcontext(f"sqlite:///{tmp_path / 'churn.sqlite3'}"))
    with fresh as url:
        migrate({**stack.env, "DATABASE_URL": url})
        stack.stop_worker()
        view = copy.copy(stack)  # its `api` talks to the fresh database; `engine` is still the stack's
        try:
            stack.start_worker(DATABASE_URL=url)
            view.api = stack.start_api(name="api-churn", DATABASE_URL=url)
            yield view
        finally:
            for process in ("api-churn", "worker"):
                if any(m.name == process for m in stack.supervisor.children):
                    stack.supervisor.stop(process)
            stack.start_worker()


def _load_gym(stack: Stack) -> SyntheticGym:
    gym = generate_gym(students=STUDENTS, start=GYM_START, days=182, tz=ZoneInfo("America/Sao_Paulo"), seed=11)
    assert stack.api.post("/alunos", json=[{"aluno_id": i, "nome": n} for i, n in gym.students]).status_code == 200
    _send_checkins(stack, list(gym.checkins))
    return gym


def _send_checkins(stack: Stack, pairs: list[tuple[int, datetime]]) -> None:
    for offset in range(0, len(pairs), 10_000):
        chunk = pairs[offset:offset + 10_000]
        accepted = stack.api.post("/checkin/batch",
                                  json=[{"aluno_id": i, "data_hora": t.isoformat()} for i, t in chunk])
        assert stack.wait_task(accepted.json()["task_id"])["state"] == "SUCCESS"


def _unpredictable_students(last: datetime, count: int) -> list[tuple[int, datetime]]:
    """Regular visitors whose return after the cut-off is a coin flip: nothing in their history predicts it."""
    rng = np.random.default_rng(5)
    pairs: list[tuple[int, datetime]] = []
    for k in range(count):
        student = 10_000 + k
        pairs += [(student, last - timedelta(days=190 - d, hours=int(rng.integers(0, 10)))) for d in range(0, 150, 3)]
        if rng.random() < 0.5:
            pairs.append((student, last - timedelta(days=int(rng.integers(1, 29)))))
    return pairs


def test_retrain_reports_progress_registers_promotes_and_ranks_students(own: Stack) -> None:
    """Breach caught: a model promoted or kept against the rule, a ranking not by risk or without reasons, a
    retrain on unchanged data registering a new version."""
    stack = own
    churned = _load_gym(stack).churned
    accepted = stack.api.post("/relatorio/churn/atualizar-modelo")
    assert accepted.status_code == 202
    first = stack.wait_task(accepted.json()["task_id"], timeout=180)
    assert first["state"] == "SUCCESS", first
    stages = [e["detail"]["message"] for e in first["events"] if e["state"] == "PROGRESS"]
    assert stages[0] == "loading check-ins" and "training" in stages and stages[-1] == "scoring students"
    result = first["result"]
    assert result["promoted"] is True and result["reason"].startswith("promoted")
    assert result["metrics"]["roc_auc"] >= 0.80
    assert result["active_version"] == result["version"]

    models = stack.api.get("/relatorio/churn/modelos").json()
    assert [(m["version"], m["active"]) for m in models] == [(result["version"], True)]
    assert models[0]["metrics"]["roc_auc"] == result["metrics"]["roc_auc"] and models[0]["decision"]

    ranking = stack.api.get("/relatorio/churn", params={"limit": 10_000}).json()
    assert ranking["model_version"] == result["version"]
    probabilities = [s["probability"] for s in ranking["students"]]
    assert probabilities == sorted(probabilities, reverse=True)
    gym_top = [s for s in ranking["students"] if s["aluno_id"] <= STUDENTS][:30]
    assert all(s["reasons"] for s in gym_top) and gym_top[0]["nome"]
    assert sum(s["aluno_id"] in churned for s in gym_top) >= 21, gym_top
    assert len(stack.api.get("/relatorio/churn", params={"limit": 5}).json()["students"]) == 5

    # Unchanged data: the same version again, so the active model stays.
    again = stack.wait_task(stack.api.post("/relatorio/churn/atualizar-modelo").json()["task_id"], timeout=180)
    assert again["state"] == "SUCCESS"
    assert again["result"]["promoted"] is False and again["result"]["reason"].startswith("unchanged")
    assert again["result"]["active_version"] == result["version"]
    assert [m["version"] for m in stack.api.get("/relatorio/churn/modelos").json()] == [result["version"]]


def test_a_worse_model_is_registered_but_not_promoted(own: Stack) -> None:
    """Breach caught: a new model made active although its ROC AUC is worse than the active one's. The second
    training adds 300 students whose return is a coin flip, so the new model scores a lower AUC: it must be
    registered with its decision, and the first model stay active and keep scoring."""
    stack = own
    last = max(t for _, t in _load_gym(stack).checkins)
    first = stack.wait_task(stack.api.post("/relatorio/churn/atualizar-modelo").json()["task_id"], timeout=180)
    assert first["state"] == "SUCCESS" and first["result"]["promoted"] is True, first
    noise = _unpredictable_students(last, 300)
    assert stack.api.post("/alunos", json=[{"aluno_id": i, "nome": f"aluno {i}"}
                                           for i in sorted({i for i, _ in noise})]).status_code == 200
    _send_checkins(stack, noise)
    second = stack.wait_task(stack.api.post("/relatorio/churn/atualizar-modelo").json()["task_id"], timeout=180)
    assert second["state"] == "SUCCESS", second
    result = second["result"]
    assert result["metrics"]["roc_auc"] < first["result"]["metrics"]["roc_auc"]
    assert result["promoted"] is False and result["reason"].startswith("not promoted"), result
    assert result["active_version"] == first["result"]["version"] != result["version"]
    models = {m["version"]: m for m in stack.api.get("/relatorio/churn/modelos").json()}
    assert set(models) == {first["result"]["version"], result["version"]}
    assert models[first["result"]["version"]]["active"] is True and models[result["version"]]["active"] is False
    assert models[result["version"]]["decision"] == result["reason"]
    assert stack.api.get("/relatorio/churn", params={"limit": 1}).json()["model_version"] == first["result"]["version"]


def test_a_retraining_canceled_while_running_stops_at_its_next_progress_point(own: Stack) -> None:
    """Breach caught: a running task asked to stop that runs on to SUCCESS, or ends as a FAILURE (retried, or
    dead-lettered) instead of CANCELED."""
    stack = own
    _load_gym(stack)
    task_id = stack.api.post("/relatorio/churn/atualizar-modelo").json()["task_id"]
    wait_until(lambda: stack.api.get(f"/tarefa/{task_id}").json()["state"] == "PROGRESS", timeout=120,
               interval=0.02, what="the retraining's first progress point")
    answer = stack.api.post(f"/tarefa/{task_id}/cancelar")
    assert answer.status_code == 202 and answer.json() == {"task_id": task_id, "state": "CANCELING"}, answer.text
    record = stack.wait_task(task_id, timeout=180)
    assert record["state"] == "CANCELED", record
    states = [e["state"] for e in record["events"]]
    assert states[:2] == ["QUEUED", "STARTED"] and states[-2:] == ["CANCELING", "CANCELED"], states
    assert not {"SUCCESS", "FAILURE", "RETRY"} & set(states)
    assert record["canceled_by"] == "anonymous" and record["result"] is None
    assert record["events"][-1]["detail"]["reason"].startswith("canceled at ")
