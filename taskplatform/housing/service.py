"""Housing-price models: training into the registry, and predictions from the active version."""

from __future__ import annotations

import functools
import json
import logging
import sys
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ml.housing_data import HousingDataError, check_prediction_rows, rows_hash
from ml.housing_linear import NotLinear, compile_pricer, finite_prices, linear_model_from_json, linear_model_json
from storage.keys import model_plot_key
from taskplatform.core.db import session_scope
from taskplatform.core.object_store import put_bytes
from taskplatform.core.settings import get_settings
from taskplatform.registry.artifacts import load_active, save_artifact
from taskplatform.registry.flow import Candidate, Decision, register_and_decide
from taskplatform.registry.models import ModelVersion
from taskplatform.registry.versions import add_predictions_served, version_id

KIND = "housing"
logger = logging.getLogger("taskplatform.housing.service")

# An entry's memory besides its row key: the (version, key) tuple, the float, the dict slot and the linked-list
# node of OrderedDict (tracemalloc: about 155 bytes on CPython 3.11; rounded up for other builds).
ENTRY_OVERHEAD = 256


class PriceCache:
    """Prices by (model version, row key), least recently added evicted first, bounded in bytes.

    A bound in entries let 5 KB `bairro` strings grow one API process by 300 MB; an entry's size is estimated
    from its key (`sys.getsizeof`, exact for a str) plus ENTRY_OVERHEAD. Not thread-safe: the caller locks.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[tuple[str, str], float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def cost(key: str) -> int:
        return sys.getsizeof(key) + ENTRY_OVERHEAD

    def get(self, version: str, key: str) -> float | None:
        return self._entries.get((version, key))

    def put(self, version: str, key: str, price: float) -> None:
        cost = self.cost(key)
        if cost > self.max_bytes:
            return  # would evict everything and then itself
        entry = (version, key)
        if entry not in self._entries:
            self.bytes += cost
        self._entries[entry] = price
        while self.bytes > self.max_bytes:
            (_, evicted), _ = self._entries.popitem(last=False)
            self.bytes -= self.cost(evicted)


@functools.cache
def _regression() -> ModuleType:
    """ml.housing, which loads scikit-learn, pandas and matplotlib: imported on the first training or prediction
    from a pipeline, so a process that only predicts from the JSON form (the API) never loads them. A worker's
    parent imports it before forking (tasks/housing.py)."""
    import ml.housing

    return ml.housing


def _pipeline_prices(pipeline: Any, spec: Any, rows: Sequence[Mapping[str, Any]]) -> list[float]:
    """Prices from a scikit-learn pipeline (a model without a JSON form)."""
    with warnings.catch_warnings():
        # scikit-learn warns on every prediction made from a thread-pool thread (the API serves sync
        # predictions there) that its config cannot be propagated; we set none, so it is only noise. Scoped to
        # the call: a process-wide filter would hide that warning from everything else too.
        warnings.filterwarnings("ignore", message=r".*should be used with .*Parallel", category=UserWarning)
        prices: list[float] = _regression().predict_prices(pipeline, spec, rows, checked=True)
        return prices


class NoModel(LookupError):
    """No housing model has been trained yet."""


@dataclass(frozen=True)
class TrainingOutcome:
    version: str
    metrics: dict[str, float]
    features: dict[str, list[str]]


def activate_newly_trained(candidate: Candidate, active: ModelVersion | None) -> Decision:
    """Housing's promotion rule: a newly trained model is what the user asked for, so it becomes active."""
    return Decision(True, "activated: newly trained")


def train_and_register(rows: Sequence[Mapping[str, Any]], *, target: str, task_id: str | None,
                       progress: Callable[[int, str], None] = lambda _percent, _stage: None) -> TrainingOutcome:
    """Train, store the artifact and its plot, register the version and make it active.

    A newly trained model is what the user asked for, so it becomes active (an older one can be activated again);
    same data and parameters give the same version. `progress` marks a progress point (a cancel stops it)."""
    regression = _regression()
    model = regression.train_housing_model(rows, target=target)
    progress(70, "storing the model")
    data_hash = rows_hash(rows, target=target)
    version = version_id(KIND, data_hash, model.params)
    stored = save_artifact(KIND, version, {"pipeline": model.pipeline, "spec": model.spec},
                           plain=_plain_form(model.pipeline, model.spec))
    put_bytes(model_plot_key(KIND, version), regression.prediction_plot_png(
        model.holdout_actual, model.holdout_predicted, title=f"{version}: predicted vs actual (held-out rows)"),
        "image/png")
    candidate = Candidate(kind=KIND, version=version, stored=stored, metrics=model.metrics, params=model.params,
                          data_hash=data_hash, task_id=task_id)
    with session_scope() as session:
        register_and_decide(session=session, candidate=candidate, rule=activate_newly_trained)
    return TrainingOutcome(version, model.metrics, {"numeric": model.spec.numeric,
                                                    "categorical": model.spec.categorical})


def _plain_form(pipeline: Any, spec: Any) -> dict[str, Any] | None:
    """The linear model as JSON coefficients, which predictors load instead of the pickle; None if not linear."""
    try:
        plain = linear_model_json(compile_pricer(pipeline, spec), spec)
        json.dumps(plain, allow_nan=False)  # a term that is not a finite number: keep the pickle only
    except (NotLinear, ValueError):
        return None
    return plain


def _from_plain(data: Any) -> dict[str, Any]:
    spec, pricer = linear_model_from_json(data)
    return {"spec": spec, "pricer": pricer}


class Predictor:
    """Predictions from the active model, loaded once per process and reloaded when it changes.

    The active version is looked up at most once per `refresh_s`, so a request does not pay a
    query; identical rows are answered from a cache keyed by model version.
    """

    def __init__(self, refresh_s: float = 1.0, flush_s: float | None = 2.0, cache_bytes: int | None = None) -> None:
        self._refresh_s = refresh_s
        self._flush_s = flush_s  # None: counts stay in memory until flush_served() is called
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._checked = 0.0
        self._active: tuple[str, Any] | None = None
        self._cache_bytes = cache_bytes  # None: PREDICTION_CACHE_BYTES, read on first use (not at import)
        self._cache: PriceCache | None = None
        self._served: dict[str, int] = {}
        self._flusher: threading.Thread | None = None

    def is_fresh(self) -> bool:
        """A model is loaded and was checked against the registry within `refresh_s`: `predict` will not query."""
        return self._active is not None and time.monotonic() - self._checked <= self._refresh_s

    def active(self, *, refresh: bool = True) -> tuple[str, Any]:
        """The active (version, model); `refresh=False` serves the loaded model without a registry check."""
        # One thread checks the registry; while it does, the others keep serving the loaded model (a
        # moment stale) instead of all querying at once and exhausting the connection pool.
        if refresh and not self.is_fresh() and self._refreshing.acquire(blocking=self._active is None):
            try:
                if not self.is_fresh():
                    checked = time.monotonic()
                    with session_scope() as session:
                        loaded = load_active(KIND, session=session, decode_json=_from_plain)
                    with self._lock:
                        self._active, self._checked = loaded, checked
            finally:
                self._refreshing.release()
        active = self._active
        if active is None:
            raise NoModel("no housing model yet: train one with POST /treinar")
        return active

    def predict(self, rows: Sequence[Mapping[str, Any]], *, refresh: bool = True) -> tuple[str, list[float]]:
        version, model = self.active(refresh=refresh)
        spec = model["spec"]
        check_prediction_rows(rows, spec)  # before the cache: a cached value must not skip validation
        keys = [repr(tuple(map(row.get, spec.features))) for row in rows]
        with self._lock:
            cache = self._price_cache()
            cached = [cache.get(version, key) for key in keys]
        missing = [i for i, value in enumerate(cached) if value is None]
        if missing:
            pricer = model.get("pricer")  # loaded from JSON: no pipeline at all
            asked = [rows[i] for i in missing]
            # raises HousingDataError for a price that is not finite: nothing of this call is cached then
            fresh = (finite_prices(asked, pricer.predict(asked), spec, pricer) if pricer is not None
                     else _pipeline_prices(model["pipeline"], spec, asked))
            with self._lock:
                for i, value in zip(missing, fresh, strict=True):
                    cached[i] = value
                    cache.put(version, keys[i], value)
        with self._lock:
            self._served[version] = self._served.get(version, 0) + len(rows)
            if self._flusher is None and self._flush_s is not None:
                # Counting in memory keeps a write off every request's path.
                self._flusher = threading.Thread(target=self._flush_forever, name="predictions-served", daemon=True)
                self._flusher.start()
        return version, [float(v) for v in cached if v is not None]

    def _price_cache(self) -> PriceCache:
        if self._cache is None:
            limit = self._cache_bytes if self._cache_bytes is not None else get_settings().prediction_cache_bytes
            self._cache = PriceCache(limit)
        return self._cache

    def _flush_forever(self) -> None:
        while True:
            time.sleep(self._flush_s or 2.0)
            try:
                self.flush_served()
            except Exception:  # a database blip: the counts are kept for the next flush
                logger.warning("could not record predictions served; retrying", exc_info=True)

    def flush_served(self) -> None:
        """Add the predictions counted in memory to the registry (one UPDATE per version)."""
        with self._lock:
            served, self._served = self._served, {}
        if not served:
            return
        try:
            with session_scope() as session:
                add_predictions_served(session=session, kind=KIND, served=served)
        except Exception:
            with self._lock:
                for version, count in served.items():
                    self._served[version] = self._served.get(version, 0) + count
            raise


PREDICTOR = Predictor()

__all__ = ("KIND", "PREDICTOR", "HousingDataError", "NoModel", "PriceCache", "Predictor", "TrainingOutcome",
           "activate_newly_trained", "train_and_register")
