"""Model artifacts: bytes that are not the registered ones are never loaded, and models can live in their own bucket."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import joblib
import pytest
from sqlalchemy import text

from ml.housing import synthetic_housing
from storage.keys import model_artifact_key, model_json_key
from storage.s3 import S3Location, get_object, put_object
from taskplatform.dev.processes import wait_until
from tests.integration.stack import Stack

FEATURES = [{k: v for k, v in row.items() if k != "preco"} for row in synthetic_housing(3, seed=5)]


class Canary:
    """Unpickling this creates `path` (pickle calls `open(path, "w")`): the file existing means the bytes ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def location(stack: Stack, bucket: str | None = None) -> S3Location:
    env = stack.env
    return S3Location(env["S3_ENDPOINT_URL"], env["S3_ACCESS_KEY"], env["S3_SECRET_KEY"], "us-east-1",
                      bucket or env["S3_BUCKET"])


def active_version(stack: Stack) -> str | None:
    return next((v["version"] for v in stack.api.get("/modelos/imoveis").json() if v["active"]), None)


def restore_active(stack: Stack, before: str | None, version: str) -> None:
    """Make `before` active again, or no version at all, so later tests on this stack see what they saw."""
    if before is not None:
        assert stack.api.post(f"/modelos/imoveis/{before}/ativar").status_code == 200
    else:
        with stack.engine.begin() as connection:
            connection.execute(text("UPDATE model_versions SET active = false WHERE version = :v"), {"v": version})


def predict_until_not_200(stack: Stack) -> httpx.Response:
    """The API may serve the version it had for up to a second before it looks for the new one."""
    answers: list[httpx.Response] = []

    def refused() -> bool:
        answers.append(stack.api.post("/prever", json={"dados": FEATURES}))
        return answers[-1].status_code != 200

    wait_until(refused, timeout=10, interval=0.2, what="the API to look for the new version")
    return answers[-1]


@pytest.fixture
def fresh_model(stack: Stack) -> Iterator[str]:
    """A newly trained, active housing model; afterwards the version active before is active again."""
    before = active_version(stack)
    trained = stack.api.post("/treinar", json={"dados": synthetic_housing(300, seed=int(uuid.uuid4().int % 10**6))})
    assert trained.status_code == 200, trained.text
    yield trained.json()["versao"]
    restore_active(stack, before, trained.json()["versao"])


def test_a_pickle_put_in_place_of_a_model_is_refused_and_never_run(stack: Stack, fresh_model: str,
                                                                   tmp_path: Path) -> None:
    """Breach: whoever can write to the object store replaces a model with a pickle, and the API and the workers
    run its code when they load it."""
    key = model_artifact_key("housing", fresh_model)
    genuine = asyncio.run(get_object(location(stack), key))
    assert genuine is not None
    canary = tmp_path / "unpickled"
    evil = io.BytesIO()
    joblib.dump(Canary(canary), evil)
    # The pickle path: a version without a JSON form (a model that is not linear, or trained before 0006).
    with stack.engine.begin() as connection:
        json_sha256 = connection.execute(text("SELECT json_sha256 FROM model_versions WHERE version = :v"),
                                         {"v": fresh_model}).scalar_one()
        connection.execute(text("UPDATE model_versions SET json_sha256 = NULL WHERE version = :v"),
                           {"v": fresh_model})
    asyncio.run(put_object(location(stack), key, evil.getvalue(), "application/octet-stream"))
    try:
        answer = predict_until_not_200(stack)
        assert answer.status_code == 503, answer.text
        assert "sha256 mismatch" in answer.json()["detail"] and fresh_model in answer.json()["detail"]
        queued = stack.api.post("/prever", params={"assincrono": "true"}, json={"dados": FEATURES})
        assert queued.status_code == 503 and "sha256 mismatch" in queued.json()["detail"]
        # a prediction sent to the worker directly (another producer) fails at once, naming the mismatch
        task_id = str(uuid.uuid4())
        stack.send_raw("housing.predict", {"dados": FEATURES}, task_id=task_id, queue="predictions")
        record = stack.wait_task(task_id)
        assert record["state"] == "FAILURE" and "sha256 mismatch" in record["error_message"], record
        assert not canary.exists(), "the substituted pickle was unpickled: its code ran"
    finally:
        asyncio.run(put_object(location(stack), key, genuine, "application/octet-stream"))
        with stack.engine.begin() as connection:
            connection.execute(text("UPDATE model_versions SET json_sha256 = :h WHERE version = :v"),
                               {"h": json_sha256, "v": fresh_model})


def test_the_api_loads_the_linear_model_from_its_json_and_checks_it_too(stack: Stack, fresh_model: str) -> None:
    """Breach: JSON coefficients swapped in the store would change every price without anyone noticing."""
    key = model_json_key("housing", fresh_model)
    genuine = asyncio.run(get_object(location(stack), key))
    assert genuine is not None and b"housing-linear/1" in genuine
    # With the pickle gone, the API still predicts: it never needed it.
    pickle_key = model_artifact_key("housing", fresh_model)
    pickled = asyncio.run(get_object(location(stack), pickle_key))
    assert pickled is not None
    asyncio.run(put_object(location(stack), pickle_key, b"not a pickle", "application/octet-stream"))
    never_unpickles = stack.start_api(name="api-no-pickle", MODELS_UNPICKLE="false")
    try:
        wait_until(lambda: stack.api.post("/prever", json={"dados": FEATURES}).json().get("versao") == fresh_model,
                   timeout=10, interval=0.2, what=f"the API to predict with {fresh_model}")
        served = never_unpickles.post("/prever", json={"dados": FEATURES})
        assert served.status_code == 200 and served.json()["versao"] == fresh_model, served.text
    finally:
        never_unpickles.close()
        stack.supervisor.stop("api-no-pickle")
        asyncio.run(put_object(location(stack), pickle_key, pickled, "application/octet-stream"))


def test_models_go_to_their_own_bucket_when_one_is_set(stack: Stack) -> None:
    """Breach: model artifacts share the sessions bucket, so a credential for sessions can replace models.

    The data is its own (a random seed): the object store is shared by every test, and a version trained
    from the same rows elsewhere would already sit in the main bucket."""
    bucket = f"tp-models-{uuid.uuid4().hex[:8]}"
    before = active_version(stack)
    api = stack.start_api(name="api-models-bucket", MODELS_S3_BUCKET=bucket)
    version = None
    try:
        trained = api.post("/treinar", json={"dados": synthetic_housing(300, seed=int(uuid.uuid4().int % 10**6))})
        assert trained.status_code == 200, trained.text
        version = trained.json()["versao"]
        assert asyncio.run(get_object(location(stack, bucket), model_json_key("housing", version))) is not None
        assert asyncio.run(get_object(location(stack, bucket), model_artifact_key("housing", version))) is not None
        assert asyncio.run(get_object(location(stack), model_artifact_key("housing", version))) is None
        predicted = api.post("/prever", json={"dados": FEATURES})
        assert predicted.status_code == 200 and predicted.json()["versao"] == version, predicted.text
    finally:
        api.close()
        stack.supervisor.stop("api-models-bucket")
        if version is not None:
            restore_active(stack, before, version)


def test_credentials_that_may_not_write_models_are_a_503_naming_them_not_a_500(stack: Stack,
                                                                              fresh_model: str) -> None:
    """Breach: with the recommended read-only model keys in the API, a synchronous training ended in a 500."""
    api = stack.start_api(name="api-models-denied", MODELS_S3_ACCESS_KEY="not-a-models-key",
                          MODELS_S3_SECRET_KEY="not-the-models-secret")
    try:
        trained = api.post("/treinar", json={"dados": synthetic_housing(100, seed=12)})
        assert trained.status_code == 503 and "MODELS_S3_" in trained.json()["detail"], trained.text
        predicted = api.post("/prever", json={"dados": FEATURES})  # fresh_model is active: reading it is denied
        assert predicted.status_code == 503 and "MODELS_S3_" in predicted.json()["detail"], predicted.text
    finally:
        api.close()
        stack.supervisor.stop("api-models-denied")
