"""Model artifacts: stored with their sha256 and refused, unloaded, when the store holds other bytes."""

from __future__ import annotations

import io
import logging
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ml.housing import synthetic_housing
from storage.keys import model_artifact_key, model_json_key
from taskplatform.core.settings import Settings
from taskplatform.housing import service as housing
from taskplatform.registry import artifacts as model_store
from taskplatform.registry.artifacts import ArtifactRefused, load_active, save_artifact, sha256_hex
from taskplatform.registry.versions import activate_version, register_version
from tests.unit.sessions import scope_on


class Canary:
    """Unpickling this creates `path`: the file existing means the bytes were run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


class MemoryStore:
    """Stands in for the object store (the integration test uses a real one)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.reads: list[str] = []

    def put(self, key: str, body: bytes, content_type: str, **_: Any) -> None:
        self.objects[key] = body

    def get(self, key: str, **_: Any) -> bytes | None:
        self.reads.append(key)
        return self.objects.get(key)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryStore]:
    memory = MemoryStore()
    monkeypatch.setattr(model_store, "put_bytes", memory.put)
    monkeypatch.setattr(model_store, "get_bytes", memory.get)
    monkeypatch.setattr(model_store, "get_settings", lambda: Settings(_env_file=None))  # type: ignore[call-arg]
    for cache in (model_store._cache, model_store._refused, model_store._warned):
        cache.clear()
    yield memory
    for cache in (model_store._cache, model_store._refused, model_store._warned):
        cache.clear()


def register(engine: Engine, kind: str, version: str, stored: model_store.StoredArtifact | None, *,
             artifact_sha256: str | None = None) -> None:
    with Session(engine) as session, session.begin():
        register_version(session=session, kind=kind, version=version,
                         artifact_key=model_artifact_key(kind, version),
                         artifact_sha256=stored.sha256 if stored else artifact_sha256,  # type: ignore[arg-type]
                         json_sha256=stored.json_sha256 if stored else None,
                         metrics={}, params={}, data_hash="d", task_id=None)
        activate_version(session=session, kind=kind, version=version)


def test_an_artifact_loads_when_its_bytes_are_the_registered_ones(store: MemoryStore, engine: Engine) -> None:
    stored = save_artifact("churn", "churn-1", {"weights": [1.0, 2.0]})
    assert stored.sha256 == sha256_hex(store.objects[stored.key])
    register(engine, "churn", "churn-1", stored)
    with Session(engine) as session:
        assert load_active("churn", session=session) == ("churn-1", {"weights": [1.0, 2.0]})


def test_other_bytes_in_the_store_are_refused_and_never_unpickled(store: MemoryStore, engine: Engine,
                                                                  tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """Breach: whoever can write to the bucket replaces a model with a pickle that runs code in the API."""
    stored = save_artifact("churn", "churn-1", {"weights": [1.0]})
    register(engine, "churn", "churn-1", stored)
    canary = tmp_path / "pwned"
    buffer = io.BytesIO()
    joblib.dump(Canary(canary), buffer)
    store.objects[stored.key] = buffer.getvalue()
    with Session(engine) as session, caplog.at_level(logging.ERROR, "taskplatform.registry.artifacts"):
        with pytest.raises(ArtifactRefused, match="sha256 mismatch") as refused:
            load_active("churn", session=session)
        assert not canary.exists()
        assert "sha256 mismatch" in caplog.text and stored.sha256 in str(refused.value)
        # asked again at once, the refusal is remembered: no new download for every request
        reads = len(store.reads)
        with pytest.raises(ArtifactRefused, match="sha256 mismatch"):
            load_active("churn", session=session)
        assert len(store.reads) == reads
    assert isinstance(refused.value, model_store.PermanentError), "a worker must not retry a refused artifact"


def test_a_version_without_a_hash_loads_with_one_warning_unless_hashes_are_required(
        store: MemoryStore, engine: Engine, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Breach: versions trained before migration 0006 have no hash; the operator must be able to refuse them."""
    body = io.BytesIO()
    joblib.dump({"old": True}, body)
    store.objects[model_artifact_key("churn", "churn-old")] = body.getvalue()
    register(engine, "churn", "churn-old", None, artifact_sha256=None)
    with Session(engine) as session, caplog.at_level(logging.WARNING, "taskplatform.registry.artifacts"):
        assert load_active("churn", session=session) == ("churn-old", {"old": True})
        model_store._cache.clear()
        assert load_active("churn", session=session) == ("churn-old", {"old": True})
    assert caplog.text.count("without an integrity check") == 1

    model_store._cache.clear()
    monkeypatch.setattr(model_store, "get_settings",
                        lambda: Settings(_env_file=None, models_require_sha256=True))  # type: ignore[call-arg]
    with Session(engine) as session, pytest.raises(ArtifactRefused, match="MODELS_REQUIRE_SHA256"):
        load_active("churn", session=session)


def test_a_repeated_training_registers_the_hash_of_the_bytes_it_just_stored(store: MemoryStore,
                                                                           engine: Engine) -> None:
    register(engine, "churn", "churn-1", None, artifact_sha256="0" * 64)
    stored = save_artifact("churn", "churn-1", {"retrained": True})
    register(engine, "churn", "churn-1", stored)
    with Session(engine) as session:
        assert load_active("churn", session=session) == ("churn-1", {"retrained": True})


def test_the_housing_predictor_loads_the_linear_model_from_json_without_unpickling(
        store: MemoryStore, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Breach: the API unpickles the housing model although its coefficients are all it needs."""
    monkeypatch.setattr(housing, "put_bytes", store.put)
    monkeypatch.setattr(housing, "session_scope", scope_on(engine))
    rows = synthetic_housing(300, seed=1)
    outcome = housing.train_and_register(rows, target="preco", task_id=None)
    assert model_json_key("housing", outcome.version) in store.objects

    def no_unpickling(*_: Any, **__: Any) -> Any:
        raise AssertionError("a pickle was opened")

    monkeypatch.setattr("joblib.load", no_unpickling)  # model_store imports joblib where it unpickles
    monkeypatch.setattr(pickle, "loads", no_unpickling)
    predictor = housing.Predictor(flush_s=None)
    features = [{k: v for k, v in row.items() if k != "preco"} for row in rows[:5]]
    version, prices = predictor.predict(features)
    assert version == outcome.version and len(prices) == 5
    assert "pricer" in predictor.active()[1]

    # and its JSON is checked like the pickle: other coefficients are refused
    store.objects[model_json_key("housing", outcome.version)] = b'{"format": "housing-linear/1"}'
    model_store._cache.clear()
    with Session(engine) as session, pytest.raises(ArtifactRefused, match="sha256 mismatch"):
        load_active("housing", session=session, decode_json=housing._from_plain)


def test_the_json_form_prices_rows_as_the_pipeline_does() -> None:
    import json

    from ml.housing import predict_prices, train_housing_model
    from ml.housing_linear import compile_pricer, linear_model_from_json, linear_model_json

    rows = synthetic_housing(400, seed=2)
    trained = train_housing_model(rows)
    document = json.loads(json.dumps(linear_model_json(compile_pricer(trained.pipeline, trained.spec), trained.spec)))
    spec, pricer = linear_model_from_json(document)
    features = [{k: v for k, v in row.items() if k != "preco"} for row in rows[:50]]
    features[0]["bairro"] = "nowhere seen"
    assert spec == trained.spec
    assert pricer.predict(features) == pytest.approx(predict_prices(trained.pipeline, trained.spec, features))
    with pytest.raises(ValueError):
        linear_model_from_json({**document, "intercept": "nan"})


def test_models_have_their_own_bucket_and_credentials_when_set() -> None:
    """Breach: model artifacts share the sessions bucket and the credentials every process holds."""
    from taskplatform.core.object_store import models_location, s3_location

    main = {"S3_ENDPOINT_URL": "http://s3:8333", "S3_ACCESS_KEY": "main-key", "S3_SECRET_KEY": "main-secret",
            "S3_BUCKET": "sessions"}
    default = Settings(_env_file=None, **{k.lower(): v for k, v in main.items()})  # type: ignore[call-arg]
    assert models_location(default) == s3_location(default)
    own = Settings(_env_file=None, **{k.lower(): v for k, v in main.items()},  # type: ignore[call-arg]
                   models_s3_bucket="models", models_s3_access_key="api-read-only",
                   models_s3_secret_key="ro-secret")
    location = models_location(own)
    assert (location.bucket, location.access_key, location.secret_key) == ("models", "api-read-only", "ro-secret")
    assert location.endpoint_url == "http://s3:8333" and s3_location(own).access_key == "main-key"
    half = Settings(_env_file=None, **{k.lower(): v for k, v in main.items()},  # type: ignore[call-arg]
                    models_s3_access_key="api-read-only")
    with pytest.raises(ValueError, match="MODELS_S3_SECRET_KEY"):
        models_location(half)


def test_a_json_form_that_is_not_a_model_is_refused_not_a_crash(store: MemoryStore, engine: Engine) -> None:
    """Breach: a JSON form whose recorded hash matches but whose content is not a model (a database writer's
    doing) crashed the predictor with a KeyError, a 500 in the API."""
    document = b'{"format": "housing-linear/1", "spec": {}}'
    store.objects[model_json_key("housing", "housing-x")] = document
    with Session(engine) as session, session.begin():
        register_version(session=session, kind="housing", version="housing-x",
                         artifact_key=model_artifact_key("housing", "housing-x"), artifact_sha256="0" * 64,
                         json_sha256=sha256_hex(document), metrics={}, params={}, data_hash="d", task_id=None)
        activate_version(session=session, kind="housing", version="housing-x")
    with Session(engine) as session, pytest.raises(ArtifactRefused, match="not a valid model"):
        load_active("housing", session=session, decode_json=housing._from_plain)


def test_a_process_that_never_unpickles_loads_json_forms_only(store: MemoryStore, engine: Engine,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Breach: whoever can write both the registry and the store still runs code in the API through a pickle."""
    stored = save_artifact("churn", "churn-1", {"weights": [1.0]})
    register(engine, "churn", "churn-1", stored)
    monkeypatch.setattr(model_store, "get_settings",
                        lambda: Settings(_env_file=None, models_unpickle=False))  # type: ignore[call-arg]
    with Session(engine) as session, pytest.raises(ArtifactRefused, match="MODELS_UNPICKLE"):
        load_active("churn", session=session)
    assert store.reads == [], "the pickle was not even to be downloaded"

    monkeypatch.setattr(housing, "put_bytes", store.put)
    monkeypatch.setattr(housing, "session_scope", scope_on(engine))
    outcome = housing.train_and_register(synthetic_housing(300, seed=4), target="preco", task_id=None)
    with Session(engine) as session:
        loaded = load_active("housing", session=session, decode_json=housing._from_plain)
    assert loaded is not None and loaded[0] == outcome.version and "pricer" in loaded[1]
