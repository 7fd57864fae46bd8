"""Housing prices: train and predict, sync and async, validation, versions, and queue isolation."""

from __future__ import annotations

import csv
import io

import pytest

from ml.housing import synthetic_housing
from taskplatform.processes import wait_until
from tests.integration.stack import Stack

ROWS = synthetic_housing(5000, seed=3)
FEATURES = [{k: v for k, v in row.items() if k != "preco"} for row in ROWS]


@pytest.fixture(scope="module")
def trained(stack: Stack) -> dict:
    response = stack.api.post("/treinar", json={"dados": ROWS, "alvo": "preco"})
    assert response.status_code == 200, response.text
    return response.json()


def test_predicting_before_any_model_is_a_409_that_says_to_train(stack: Stack) -> None:
    if stack.api.get("/modelos/imoveis").json():
        pytest.skip("a model already exists on this stack")
    response = stack.api.post("/prever", json={"dados": FEATURES[:1]})
    assert response.status_code == 409 and "POST /treinar" in response.json()["detail"]


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


def test_predictions_are_not_stuck_behind_a_long_training(stack: Stack, trained: dict) -> None:
    big = synthetic_housing(60_000, seed=9)
    training = stack.api.post("/treinar", params={"assincrono": "true"}, json={"dados": big})
    assert training.status_code == 202
    prediction = stack.api.post("/prever", params={"assincrono": "true"}, json={"dados": FEATURES[:5]})
    done = stack.wait_task(prediction.json()["task_id"], timeout=60)
    training_now = stack.api.get(f"/tarefa/{training.json()['task_id']}").json()["state"]
    assert done["state"] == "SUCCESS"
    assert training_now in {"QUEUED", "STARTED", "PROGRESS"}, "training finished first: nothing was shown"
    assert stack.wait_task(training.json()["task_id"], timeout=300)["state"] == "SUCCESS"
