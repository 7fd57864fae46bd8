"""The API's per-process predictor: one registry check at a time, however many requests find the model stale."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ml.housing import synthetic_housing, train_housing_model
from taskplatform.core.db import make_engine
from taskplatform.dev.processes import wait_until
from taskplatform.housing import service as housing
from tests.unit.sessions import scope_on


class SlowRegistry:
    """Stands in for the registry lookup (a query plus an object-store read): counts calls, takes `delay` s."""

    def __init__(self, model: dict[str, Any], delay: float) -> None:
        self.model, self.delay, self.version = model, delay, "v1"
        self.calls = 0
        self.lock = threading.Lock()
        #: Cleared, a lookup waits until it is set: the check is held open for as long as a test needs.
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, kind: str, *, session: Any, **_: Any) -> tuple[str, Any] | None:
        with self.lock:
            self.calls += 1
        time.sleep(self.delay)
        assert self.gate.wait(timeout=30), "the test never opened the gate"
        return (self.version, self.model) if self.version else None


@pytest.fixture()
def registry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[SlowRegistry]:
    trained = train_housing_model(synthetic_housing(300))
    slow = SlowRegistry({"pipeline": trained.pipeline, "spec": trained.spec}, delay=0.2)
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    monkeypatch.setattr(housing, "load_active", slow)
    monkeypatch.setattr(housing, "session_scope", scope_on(engine))
    yield slow
    engine.dispose()


ROW = {"area_m2": 80.0, "quartos": 2, "banheiros": 1, "vagas": 1, "idade_anos": 10, "bairro": "Moema",
       "tipo": "apartamento"}


def predict_from_threads(predictor: housing.Predictor, n: int) -> list[tuple[str, list[float]]]:
    results: list[tuple[str, list[float]]] = []
    threads = [threading.Thread(target=lambda: results.append(predictor.predict([ROW]))) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_a_stale_model_is_checked_once_while_the_others_keep_serving(registry: SlowRegistry) -> None:
    """Breach caught: requests queueing behind the registry check (a blocking refresh lock), or every stale
    request querying the registry. The check is held open by a gate, so no timing is asserted: the other 31
    requests must all be answered, by the loaded version, while the one check is still waiting."""
    predictor = housing.Predictor(refresh_s=0.5, flush_s=None)
    first = predict_from_threads(predictor, 16)  # nothing loaded yet: all wait for the one load
    assert len(first) == 16 and registry.calls == 1
    wait_until(lambda: not predictor.is_fresh(), timeout=10, interval=0.05, what="the loaded model to be stale")
    registry.version = "v2"
    registry.gate.clear()
    results: list[tuple[str, list[float]]] = []
    threads = [threading.Thread(target=lambda: results.append(predictor.predict([ROW]))) for _ in range(32)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(results) == 31, timeout=30, interval=0.01, what="31 requests served during the check")
    assert registry.calls == 2, "one thread checks the registry, not 32"
    assert {version for version, _ in results} == {"v1"}, "served by the loaded model while the check waits"
    registry.gate.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 32 and registry.calls == 2
    assert predictor.predict([ROW], refresh=False)[0] == "v2"


def test_refresh_false_never_queries_and_no_model_is_an_error(registry: SlowRegistry) -> None:
    registry.version = ""
    predictor = housing.Predictor(refresh_s=60, flush_s=None)
    with pytest.raises(housing.NoModel, match="train one"):
        predictor.predict([ROW])
    assert not predictor.is_fresh()
    registry.version = "v1"
    calls = registry.calls
    with pytest.raises(housing.NoModel):
        predictor.predict([ROW], refresh=False)  # the API checks is_fresh() before calling it so
    assert registry.calls == calls
    assert predictor.predict([ROW])[0] == "v1" and predictor.is_fresh()
    assert predictor.predict([ROW], refresh=False)[0] == "v1" and registry.calls == calls + 1


def test_a_pipeline_prediction_leaves_the_warnings_filters_as_it_found_them(registry: SlowRegistry) -> None:
    """Breach caught: the filter that hides scikit-learn's thread-pool warning installed for the whole process
    (it hid that warning from everything else) instead of around the prediction that raises it."""
    filters = list(warnings.filters)
    predictor = housing.Predictor(flush_s=None)
    [(_, prices)] = predict_from_threads(predictor, 1)
    assert len(prices) == 1
    assert warnings.filters == filters
