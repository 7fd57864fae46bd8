"""Housing-price tasks: training (queue `training`) and predictions (queue `predictions`)."""

from __future__ import annotations

import json
from typing import Any

# ml.housing (scikit-learn, pandas, matplotlib) is loaded here, in the worker's parent, once before it forks;
# the API, which never imports tasks/, loads it only on a first training or pipeline prediction.
from ml.housing import HousingDataError
from taskplatform.core.errors import PermanentError, permanent_on
from taskplatform.core.object_store import get_bytes
from taskplatform.housing.service import PREDICTOR, NoModel, train_and_register
from taskplatform.messaging.celery_app import app
from taskplatform.messaging.task_names import TaskName


@app.task(name=TaskName.HOUSING_TRAIN.value, bind=True)
def train(self: Any, dataset_key: str, target: str = "preco") -> dict[str, Any]:
    """Train on the dataset stored at `dataset_key` (the message carries the key, not the rows)."""
    self.report_progress(10, "loading the dataset")
    body = get_bytes(dataset_key)
    if body is None:
        raise PermanentError(f"dataset {dataset_key} is missing from the object store")
    self.report_progress(30, "training")
    with permanent_on(HousingDataError):
        outcome = train_and_register(json.loads(body), target=target, task_id=self.request.id,
                                     progress=self.report_progress)
    return {"version": outcome.version, "metrics": outcome.metrics, "features": outcome.features}


@app.task(name=TaskName.HOUSING_PREDICT.value, ledger_started=False)
def predict(dados: list[dict[str, Any]]) -> dict[str, Any]:
    """Predict prices with the active model (loaded once per worker process)."""
    with permanent_on(HousingDataError, NoModel):
        version, predictions = PREDICTOR.predict(dados)
    return {"previsoes": predictions, "versao": version}
