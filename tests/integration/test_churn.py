"""Churn retraining through a worker: progress, registry, promotion rule and the risk ranking."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from ml.synthetic_gym import generate_gym
from tests.integration.stack import Stack

STUDENTS = 600


def _load_gym(stack: Stack) -> frozenset[int]:
    gym = generate_gym(students=STUDENTS, start=date.today() - timedelta(days=182), days=182,
                       tz=ZoneInfo("America/Sao_Paulo"), seed=11)
    assert stack.api.post("/alunos", json=[{"aluno_id": i, "nome": n} for i, n in gym.students]).status_code == 200
    for offset in range(0, len(gym.checkins), 10_000):
        chunk = gym.checkins[offset:offset + 10_000]
        accepted = stack.api.post("/checkin/batch", json=[{"aluno_id": i, "data_hora": t.isoformat()}
                                                          for i, t in chunk])
        assert stack.wait_task(accepted.json()["task_id"])["state"] == "SUCCESS"
    return gym.churned


def test_retrain_reports_progress_registers_promotes_and_ranks_students(stack: Stack) -> None:
    churned = _load_gym(stack)
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
