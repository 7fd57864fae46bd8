"""Housing-price regression: training with a held-out score, batch prediction, a diagnostic plot (synthetic data
in ml/housing_synthetic.py, re-exported)."""

from __future__ import annotations

import io
import math
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sklearn

# A Figure, never pyplot: it renders with Agg without a backend chosen for the whole process (no matplotlib.use).
# Imported at the top so a worker's parent loads it once, before forking.
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ml.housing_csv import rows_from_csv
from ml.housing_data import (
    FeatureSpec,
    HousingDataError,
    check_prediction_rows,
    infer_features,
    rows_hash,
)
from ml.housing_linear import LinearPricer, NotLinear, category_of, compile_pricer, finite_prices
from ml.housing_synthetic import BAIRROS, SYNTHETIC_COEFFICIENTS, synthetic_housing

__all__ = [
    "BAIRROS", "SYNTHETIC_COEFFICIENTS", "FeatureSpec", "HousingDataError", "TrainedHousingModel",
    "check_prediction_rows", "finite_prices", "infer_features", "predict_prices", "prediction_plot_png",
    "rows_from_csv", "rows_hash", "synthetic_housing", "train_housing_model",
]

REGRESSOR_PARAMS: dict[str, Any] = {"alpha": 1.0}
# Rarer categories share one "infrequent" column, so an id-like text column cannot blow up the design matrix.
MAX_CATEGORIES = 100
MIN_TRAIN_SPLIT = 10
MIN_TEST_SPLIT = 2


@dataclass(frozen=True)
class TrainedHousingModel:
    pipeline: Any
    spec: FeatureSpec
    metrics: dict[str, float]
    params: dict[str, Any]
    holdout_actual: list[float]
    holdout_predicted: list[float]


def _category(value: Any) -> Any:
    category = category_of(value)  # 3 from JSON and 3.0 from a CSV are the same category
    return np.nan if category is None else category


def _frame(spec: FeatureSpec, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The model's input: one float column per numeric feature, one object column per categorical one."""
    data: dict[str, Any] = {}
    for name in spec.numeric:
        data[name] = np.array([row.get(name) for row in rows], dtype=np.float64)  # None becomes NaN
    for name in spec.categorical:
        # object, not pandas' str dtype, keeps NaN as the missing marker the imputer expects
        values = (row.get(name) for row in rows)
        data[name] = pd.Series([v if type(v) is str else _category(v) for v in values], dtype=object)
    return pd.DataFrame(data, columns=spec.features)


def build_pipeline(spec: FeatureSpec) -> Pipeline:
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categorical = Pipeline([
        ("impute", SimpleImputer(strategy="most_frequent")),
        ("onehot", OneHotEncoder(handle_unknown="ignore", max_categories=MAX_CATEGORIES)),
    ])
    parts = [("numeric", numeric, spec.numeric), ("categorical", categorical, spec.categorical)]
    preprocess = ColumnTransformer([part for part in parts if part[2]])
    return Pipeline([("preprocess", preprocess), ("regressor", Ridge(**REGRESSOR_PARAMS))])


def train_housing_model(rows: Sequence[Mapping[str, Any]], *, target: str = "preco", test_share: float = 0.2,
                        seed: int = 0) -> TrainedHousingModel:
    """Fit on a random (1 - test_share) of the rows and score on the rest. The returned pipeline is the one fitted on
    the training rows, so the metrics describe it exactly."""
    if not 0.0 < test_share < 1.0:
        raise HousingDataError([f"test_share must be between 0 and 1, got {test_share}"])
    spec = infer_features(rows, target=target)
    n_test = math.ceil(test_share * len(rows))
    if n_test < MIN_TEST_SPLIT or len(rows) - n_test < MIN_TRAIN_SPLIT:
        raise HousingDataError([f"a test_share of {test_share} splits {len(rows)} rows into {len(rows) - n_test} to "
                                f"train on and {n_test} to test; at least {MIN_TRAIN_SPLIT} and {MIN_TEST_SPLIT} "
                                "are needed"])
    x = _frame(spec, rows)
    y = np.array([float(row[target]) for row in rows], dtype=np.float64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=n_test, random_state=seed)
    pipeline = build_pipeline(spec).fit(x_train, y_train)
    predicted = pipeline.predict(x_test)
    metrics = {
        "r2": float(r2_score(y_test, predicted)),
        "mae": float(mean_absolute_error(y_test, predicted)),
        "rmse": float(root_mean_squared_error(y_test, predicted)),
        "n_train": float(y_train.size),
        "n_test": float(y_test.size),
    }
    params = {
        "target": target, "test_share": test_share, "seed": seed, "regressor": "Ridge",
        "regressor_params": dict(REGRESSOR_PARAMS),
        "features": {"numeric": list(spec.numeric), "categorical": list(spec.categorical)},
        "preprocessing": {"numeric": "median imputation + standard scaling",
                          "categorical": f"most-frequent imputation + one-hot (unknown values ignored, at most "
                                         f"{MAX_CATEGORIES} categories per column)"},
        "n_rows": len(rows), "dataset_sha256": rows_hash(rows, target=target), "sklearn": sklearn.__version__,
    }
    return TrainedHousingModel(pipeline=pipeline, spec=spec, metrics=metrics, params=params,
                               holdout_actual=y_test.tolist(), holdout_predicted=predicted.astype(float).tolist())


# Each loaded pipeline's linear form, compiled on its first prediction (None: not linear, use the pipeline).
_PRICERS: weakref.WeakKeyDictionary[Any, LinearPricer | None] = weakref.WeakKeyDictionary()


def pricer_for(pipeline: Any, spec: FeatureSpec) -> LinearPricer | None:
    try:
        return _PRICERS[pipeline]
    except KeyError:
        pass
    try:
        pricer: LinearPricer | None = compile_pricer(pipeline, spec)
    except NotLinear:
        pricer = None
    _PRICERS[pipeline] = pricer
    return pricer


def predict_prices(pipeline: Any, spec: FeatureSpec, rows: Sequence[Mapping[str, Any]], *,
                   checked: bool = False) -> list[float]:
    """One price per row, in order. Raises HousingDataError as check_prediction_rows does, unless the caller says
    the rows are already `checked`."""
    if not checked:
        check_prediction_rows(rows, spec)
    pricer = pricer_for(pipeline, spec)
    if pricer is not None:
        prices = pricer.predict(rows)
    else:
        prices = np.asarray(pipeline.predict(_frame(spec, rows)), dtype=np.float64).tolist()
    return finite_prices(rows, prices, spec, pricer)


def _money(value: float, _position: int | None = None) -> str:
    if abs(value) >= 1e6:
        return f"{value / 1e6:.1f}M".replace(".0M", "M")
    return f"{value / 1e3:.0f}k" if abs(value) >= 1e3 else f"{value:.0f}"


def prediction_plot_png(actual: Sequence[float], predicted: Sequence[float], *, title: str) -> bytes:
    """Predicted against actual prices with the y = x line a perfect model would sit on, as PNG bytes."""
    if len(actual) != len(predicted):
        raise ValueError(f"{len(actual)} actual and {len(predicted)} predicted values")
    figure = Figure(figsize=(6.5, 6), dpi=100)
    axes = figure.add_subplot()
    # many points would merge into a blob; smaller, fainter markers keep the density visible
    size, alpha = (12, 0.6) if len(actual) <= 2000 else (4, 0.25)
    axes.scatter(actual, predicted, s=size, alpha=alpha, color="#2a7ab0", linewidths=0)
    values = [*actual, *predicted]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    axes.plot([low, high], [low, high], color="#c0392b", linewidth=1.2, label="y = x (perfect prediction)")
    axes.set_title(title)
    axes.set_xlabel("actual price")
    axes.set_ylabel("predicted price")
    axes.xaxis.set_major_formatter(FuncFormatter(_money))
    axes.yaxis.set_major_formatter(FuncFormatter(_money))
    axes.legend(loc="upper left")
    axes.grid(alpha=0.3)
    figure.subplots_adjust(left=0.13, right=0.97, bottom=0.1, top=0.92)  # fixed: tight_layout draws twice
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
