"""Housing prices: train and predict, sync and async, validation, versions, and queue isolation."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from ml.housing import synthetic_housing
from taskplatform.dev.processes import wait_until
from tests.integration.helpers import accepted_task, run_task
from tests.integration.stack import Stack, migrate

ROWS = synthetic_housing(5000, seed=3)
FEATURES = [{k: v for k, v in row.items() if k != "preco"} for row in ROWS]


@pytest.fixture(scope="module")
def trained(stack: Stack) -> dict:
    response = stack.api.post("/treinar", json={"dados": ROWS, "alvo": "preco"})
    assert response.status_code == 200, response.text
    return response.json()


def test_predicting_before_any_model_is_a_409_that_says_to_train(stack: Stack, tmp_path: Path) -> None:
    """Breach caught: a 500 (or a prediction from nowhere) when no model was ever trained. An API on a database
    of its own, migrated and empty, so no other test's model can be there; the answer depends on the registry
    only, so one stack is enough."""
    if stack.name != "redis-sqlite":
        pytest.skip("the 409 depends on the model registry only: checked on the redis-sqlite stack")
    empty = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    migrate({**stack.env, "DATABASE_URL": empty})
    api = stack.start_api(name="api-no-model", DATABASE_URL=empty)
    try:
        assert api.get("/modelos/imoveis").json() == []
        response = api.post("/prever", json={"dados": FEATURES[:1]})
        assert response.status_code == 409 and "POST /treinar" in response.json()["detail"]
    finally:
        api.close()
        stack.supervisor.stop("api-no-model")


def test_sync_training_reaches_r2_09_and_predicts_one_and_10000_rows(stack: Stack, trained: dict) -> None:
    assert trained["metricas"]["r2"] >= 0.9 and {"mae", "rmse"} <= set(trained["metricas"])
    one = stack.api.post("/prever", json={"dados": FEATURES[:1]}).json()
    assert one["versao"] == trained["versao"] and len(one["previsoes"]) == 1
    many = stack.api.post("/prever", json={"dados": (FEATURES * 2)[:10_000]})
    assert many.status_code == 200 and len(many.json()["previsoes"]) == 10_000
    first = many.json()["previsoes"][0]
    assert first == pytest.approx(one["previsoes"][0])
    assert stack.api.get(f"/modelos/imoveis/{trained['versao']}/grafico.png").content[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_columns_are_422s_naming_them(stack: Stack, trained: dict) -> None:
    unknown = stack.api.post("/prever", json={"dados": [{**FEATURES[0], "piscina": True}]})
    assert unknown.status_code == 422 and unknown.json()["detail"]["columns"] == ["piscina"]
    missing = {k: v for k, v in FEATURES[0].items() if k != "bairro"}
    response = stack.api.post("/prever", json={"dados": [missing]})
    assert response.status_code == 422 and response.json()["detail"]["columns"] == ["bairro"]
    assert stack.api.post("/prever", json={"dados": []}).status_code == 422
    assert stack.api.post("/prever", json={"dados": FEATURES[:1] * 10_001}).status_code == 422
    assert stack.api.post("/treinar", json={"dados": ROWS[:5], "alvo": "preco"}).status_code == 422
    assert stack.api.post("/treinar", json={"dados": ROWS[:100], "alvo": "nope"}).status_code == 422


def test_async_training_from_a_csv_upload_and_async_predictions(stack: Stack, trained: dict) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(ROWS[0]))
    writer.writeheader()
    writer.writerows(ROWS[:3000])
    accepted = stack.api.post("/treinar", params={"assincrono": "true"},
                              files={"arquivo": ("imoveis.csv", buffer.getvalue().encode(), "text/csv")})
    assert accepted.status_code == 202, accepted.text
    record = stack.wait_task(accepted.json()["task_id"], timeout=120)
    assert record["state"] == "SUCCESS" and record["result"]["metricas"]["r2"] >= 0.9
    new_version = record["result"]["versao"]

    predicted = stack.api.post("/prever", params={"assincrono": "true"}, json={"dados": FEATURES[:3]})
    assert predicted.status_code == 202
    result = stack.wait_task(predicted.json()["task_id"])["result"]
    assert result["versao"] == new_version and len(result["previsoes"]) == 3

    versions = stack.api.get("/modelos/imoveis").json()
    assert [v["version"] for v in versions if v["active"]] == [new_version]
    activated = stack.api.post(f"/modelos/imoveis/{trained['versao']}/ativar")
    assert activated.status_code == 200 and activated.json()["active"] is True
    wait_until(lambda: stack.api.post("/prever", json={"dados": FEATURES[:1]}).json()["versao"] == trained["versao"],
               timeout=10, interval=0.2, what="the API to use the activated version")
    assert stack.api.post("/modelos/imoveis/nope/ativar").status_code == 404
    status = stack.api.get("/status").json()["models"]["housing"]
    assert status["version"] == trained["versao"] and "r2" in status["metrics"]


def test_predictions_are_served_by_their_own_worker_while_training_runs(stack: Stack, trained: dict) -> None:
    """Breach caught: predictions queued behind training (routed to the training queue, or sharing its busy
    worker). As in production (docker/compose.yaml), one worker serves `training` and another `predictions`,
    one process each: a prediction sent while a long training is running must finish while it still runs."""
    stack.stop_worker()
    try:
        stack.start_worker(queues=("training",), concurrency=1, process="training")
        stack.start_worker(queues=("predictions",), concurrency=1, process="predictions")
        training = stack.api.post("/treinar", params={"assincrono": "true"},
                                  json={"dados": synthetic_housing(60_000, seed=9)})
        training_id = accepted_task(training)
        wait_until(lambda: stack.api.get(f"/tarefa/{training_id}").json()["state"] in {"STARTED", "PROGRESS"},
                   timeout=60, interval=0.05, what="the training to start")
        prediction = stack.api.post("/prever", params={"assincrono": "true"}, json={"dados": FEATURES[:5]})
        done = run_task(stack, prediction)
        training_now = stack.api.get(f"/tarefa/{training_id}").json()
        assert done["state"] == "SUCCESS" and len(done["result"]["previsoes"]) == 5
        assert training_now["state"] in {"STARTED", "PROGRESS"}, "training finished first: predictions waited"
        assert stack.wait_task(training_id, timeout=300)["state"] == "SUCCESS"
    finally:
        for process in ("training", "predictions"):
            if any(m.name == process for m in stack.supervisor.children):
                stack.stop_worker(process)
        stack.start_worker()
