"""A fitted housing pipeline as the linear formula it computes, for predictions without pandas or scikit-learn.

The pipeline (median imputation + standard scaling of numbers, most-frequent imputation + one-hot
encoding of text, then Ridge) is linear in each feature, so a price is

    intercept + Σ numeric slope·(value or median) + Σ categorical weight[category]

`LinearPricer` holds those terms. Predicting a row is a few dictionary lookups, a thousand times
cheaper than building a DataFrame for `Pipeline.predict`, which matters for the one-row requests
the API answers synchronously. `compile_pricer` refuses a pipeline of any other shape, and the
tests check that both give the same prices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ml.housing_data import FeatureSpec, HousingDataError, is_missing, is_number, which_rows

__all__ = ["JSON_FORMAT", "LinearPricer", "NotLinear", "category_of", "compile_pricer", "finite_prices",
           "linear_model_from_json", "linear_model_json"]


class NotLinear(ValueError):
    """The pipeline is not the imputer/scaler/one-hot/linear-regressor shape `compile_pricer` knows."""


def category_of(value: Any) -> Any:
    """The category a categorical value falls in, as training saw it: 3 and 3.0 are both "3"; None means missing."""
    if is_missing(value):
        return None
    if is_number(value) and float(value).is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class _Numeric:
    name: str
    fill: float  # the training median, used for a missing value
    mean: float
    scale: float
    coef: float


@dataclass(frozen=True)
class _Categorical:
    name: str
    fill: str  # the most frequent training category, used for a missing value
    weights: dict[str, float]  # category -> its coefficient; a category never seen adds nothing
    infrequent: frozenset[str]
    infrequent_weight: float


@dataclass(frozen=True)
class LinearPricer:
    intercept: float
    numeric: tuple[_Numeric, ...]
    categorical: tuple[_Categorical, ...]

    def price(self, row: Mapping[str, Any]) -> float:
        """The price of one row already checked by `check_prediction_rows`."""
        total = 0.0
        for term in self.numeric:
            value = row.get(term.name)
            if value is None or value != value:  # None or NaN: what SimpleImputer fills
                value = term.fill
            total += (float(value) - term.mean) / term.scale * term.coef
        for cat in self.categorical:
            value = row.get(cat.name)
            category = value if type(value) is str else category_of(value)
            if category is None:
                category = cat.fill
            weight = cat.weights.get(category)
            if weight is None:
                weight = cat.infrequent_weight if category in cat.infrequent else 0.0
            total += weight
        return total + self.intercept

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[float]:
        return [self.price(row) for row in rows]

    def largest_term(self, row: Mapping[str, Any]) -> str | None:
        """The numeric column that moves this row's price the most (the culprit of a price that is not finite)."""
        def size(term: _Numeric) -> float:
            value = row.get(term.name)
            value = term.fill if value is None or value != value else float(value)
            with np.errstate(all="ignore"):
                moved = abs(float(np.float64(value - term.mean) / term.scale * term.coef))
            return moved if moved == moved else math.inf  # NaN: inf times 0 somewhere, as guilty as inf

        return max(self.numeric, key=size).name if self.numeric else None


def _steps(pipeline: Any, names: Sequence[str]) -> list[Any]:
    steps = getattr(pipeline, "named_steps", None)
    if steps is None or list(steps) != list(names):
        raise NotLinear(f"expected a pipeline of {list(names)}, got {list(steps or [])}")
    return [steps[name] for name in names]


def _categories(values: Any) -> list[str]:
    if not all(isinstance(v, str) for v in values):
        raise NotLinear("categories are not all strings")
    return [str(v) for v in values]


def compile_pricer(pipeline: Any, spec: FeatureSpec) -> LinearPricer:
    """The linear terms of a fitted pipeline built by `ml.housing.build_pipeline`; NotLinear for any other."""
    preprocess, regressor = _steps(pipeline, ["preprocess", "regressor"])
    coef = np.asarray(getattr(regressor, "coef_", None), dtype=np.float64)
    if coef.ndim != 1 or not hasattr(regressor, "intercept_"):
        raise NotLinear(f"{type(regressor).__name__} is not a single-output linear model")
    fitted = {name: (transformer, list(columns)) for name, transformer, columns in preprocess.transformers_
              if name != "remainder"}
    expected = {name: columns for name, columns in (("numeric", spec.numeric), ("categorical", spec.categorical))
                if columns}
    if {name: columns for name, (_, columns) in fitted.items()} != expected:
        raise NotLinear("the column transformer does not hold exactly the spec's numeric and categorical columns")
    numeric: list[_Numeric] = []
    categorical: list[_Categorical] = []
    if "numeric" in fitted:
        transformer, columns = fitted["numeric"]
        imputer, scaler = _steps(transformer, ["impute", "scale"])
        weights = coef[preprocess.output_indices_["numeric"]]
        if not (len(imputer.statistics_) == len(scaler.mean_) == len(weights) == len(columns)):
            raise NotLinear("the numeric imputer, scaler and coefficients disagree on the column count")
        numeric = [_Numeric(name, float(fill), float(mean), float(scale), float(w)) for name, fill, mean, scale, w
                   in zip(columns, imputer.statistics_, scaler.mean_, scaler.scale_, weights, strict=True)]
    if "categorical" in fitted:
        transformer, columns = fitted["categorical"]
        imputer, onehot = _steps(transformer, ["impute", "onehot"])
        if onehot.drop is not None or onehot.handle_unknown != "ignore":
            raise NotLinear("the one-hot encoder drops a category or does not ignore unknown ones")
        weights = coef[preprocess.output_indices_["categorical"]]
        infrequent_lists = getattr(onehot, "infrequent_categories_", [None] * len(columns))
        offset = 0
        for name, fill, seen, rare in zip(columns, imputer.statistics_, onehot.categories_, infrequent_lists,
                                          strict=True):
            rare_set = frozenset(_categories(rare)) if rare is not None else frozenset()
            frequent = [c for c in _categories(seen) if c not in rare_set]
            # sklearn's layout: the frequent categories in order, then one column for all infrequent ones
            width = len(frequent) + (1 if rare_set else 0)
            block = weights[offset:offset + width]
            offset += width
            categorical.append(_Categorical(
                name=name, fill=str(fill), weights=dict(zip(frequent, map(float, block), strict=False)),
                infrequent=rare_set, infrequent_weight=float(block[-1]) if rare_set else 0.0))
        if offset != len(weights):
            raise NotLinear(f"the one-hot encoder makes {len(weights)} columns, the categories explain {offset}")
    intercept = float(np.asarray(regressor.intercept_, dtype=np.float64).reshape(-1)[0])
    if not math.isfinite(intercept) or not np.isfinite(coef).all():
        raise NotLinear("the regressor's coefficients are not finite")
    return LinearPricer(intercept, tuple(numeric), tuple(categorical))


#: The plain-data (JSON) form of a compiled housing model: loaded without unpickling anything.
JSON_FORMAT = "housing-linear/1"


def linear_model_json(pricer: LinearPricer, spec: FeatureSpec) -> dict[str, Any]:
    """The pricer and its feature spec as JSON-ready data (`linear_model_from_json` reads it back)."""
    return {
        "format": JSON_FORMAT,
        "spec": {"numeric": list(spec.numeric), "categorical": list(spec.categorical), "target": spec.target},
        "intercept": pricer.intercept,
        "numeric": [[t.name, t.fill, t.mean, t.scale, t.coef] for t in pricer.numeric],
        "categorical": [{"name": c.name, "fill": c.fill, "weights": c.weights, "infrequent": sorted(c.infrequent),
                         "infrequent_weight": c.infrequent_weight} for c in pricer.categorical],
    }


def _finite(value: Any) -> float:
    if not is_number(value) or not math.isfinite(float(value)):
        raise ValueError(f"{value!r} is not a finite number")
    return float(value)


def linear_model_from_json(data: Any) -> tuple[FeatureSpec, LinearPricer]:
    """Read `linear_model_json`'s output back; ValueError for anything else."""
    if not isinstance(data, dict) or data.get("format") != JSON_FORMAT:
        raise ValueError(f"not a {JSON_FORMAT} document")
    spec_data = data["spec"]
    spec = FeatureSpec(numeric=[str(n) for n in spec_data["numeric"]],
                       categorical=[str(n) for n in spec_data["categorical"]], target=str(spec_data["target"]))
    numeric = tuple(_Numeric(str(name), _finite(fill), _finite(mean), _finite(scale), _finite(coef))
                    for name, fill, mean, scale, coef in data["numeric"])
    categorical = tuple(_Categorical(
        name=str(c["name"]), fill=str(c["fill"]),
        weights={str(k): _finite(v) for k, v in c["weights"].items()},
        infrequent=frozenset(str(v) for v in c["infrequent"]), infrequent_weight=_finite(c["infrequent_weight"]))
        for c in data["categorical"])
    if [t.name for t in numeric] != spec.numeric or [c.name for c in categorical] != spec.categorical:
        raise ValueError("the terms do not match the feature spec")
    return spec, LinearPricer(_finite(data["intercept"]), numeric, categorical)


def finite_prices(rows: Sequence[Mapping[str, Any]], prices: list[float], spec: FeatureSpec,
                  pricer: LinearPricer | None) -> list[float]:
    """`prices`, or HousingDataError when one is not finite (JSON would carry it as null, and a cache keep it)."""
    if not all(map(math.isfinite, prices)):
        _refuse_non_finite(rows, prices, spec, pricer)
    return prices


def _refuse_non_finite(rows: Sequence[Mapping[str, Any]], prices: list[float], spec: FeatureSpec,
                       pricer: LinearPricer | None) -> None:
    """HousingDataError naming the rows whose price is not a number (JSON would carry it as null) and the column
    that drove the first of them there."""
    bad = [i for i, price in enumerate(prices) if not math.isfinite(price)]
    row = rows[bad[0]]
    if pricer is not None:
        column = pricer.largest_term(row)
    else:
        sizes = {name: abs(float(v)) for name in spec.numeric
                 if (v := row.get(name)) is not None and is_number(v) and v == v}
        column = max(sizes, key=sizes.__getitem__) if sizes else None
    culprit = f" (column {column!r} in row {bad[0]} is too large for this model)" if column else ""
    raise HousingDataError([f"{which_rows('row', bad)} no finite predicted price{culprit}"],
                           [column] if column else [])
