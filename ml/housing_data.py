"""Housing rows in and out: CSV parsing, feature inference, prediction-input checks and an order-free hash."""

from __future__ import annotations

import hashlib
import math
import numbers
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MIN_TRAIN_ROWS = 20
MAX_ROWS_NAMED = 10
# Up to this many values a Python loop checks a column faster than numpy's per-call overhead allows.
FEW_ROWS = 32
#: Largest magnitude of a numeric feature or target. No area, age or price in R$ comes near a quadrillion; beyond
#: it, sums of squares in the fit lose meaning and a prediction may not be a finite number at all (1e308 makes inf).
MAX_MAGNITUDE = 1e15
# Errors quote the caller's values and column names: short, whatever their size.
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxdict = 4
_SHORT.maxlevel = 2


def short_repr(value: Any) -> str:
    return _SHORT.repr(value)


class HousingDataError(ValueError):
    """Bad input the caller maps to HTTP 422: `problems` are human-readable, `columns` the offending column names."""

    def __init__(self, problems: list[str], columns: Sequence[str] = ()) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)
        self.columns = sorted({c if len(c) <= 100 else c[:100] + "..." for c in map(str, columns)})


@dataclass(frozen=True)
class FeatureSpec:
    numeric: list[str]
    categorical: list[str]
    target: str

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]


def is_number(value: Any) -> bool:
    """int/float (numpy included) but not bool: True is a category, not 1."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _to_float(value: Any) -> float:
    try:
        return math.nan if value is None else float(value)
    except OverflowError:  # an int beyond float range is as unusable as infinity
        return math.inf


def _in_range(value: Any) -> bool:
    """A number within ±MAX_MAGNITUDE (so also finite)."""
    return is_number(value) and abs(_to_float(value)) <= MAX_MAGNITUDE


_PLAIN_TYPES = {float, int, type(None)}


def numeric_array(values: list[Any]) -> np.ndarray | None:
    """The values as floats with NaN for missing, or None when some value is neither a number nor missing."""
    if set(map(type, values)) <= _PLAIN_TYPES:
        try:
            return np.array(values, dtype=np.float64)
        except OverflowError:
            pass
    elif not all(v is None or is_number(v) for v in values):
        return None
    return np.array([_to_float(v) for v in values], dtype=np.float64)


def which_rows(noun: str, indexes: list[int], verb: tuple[str, str] = ("has", "have")) -> str:
    """'row 3 has' or 'rows 3, 8 and 12 more have': a bad file names at most MAX_ROWS_NAMED rows, so it stays short."""
    shown = ", ".join(str(i) for i in indexes[:MAX_ROWS_NAMED])
    more = len(indexes) - MAX_ROWS_NAMED
    if len(indexes) == 1:
        return f"{noun} {shown} {verb[0]}"
    return f"{noun}s {shown} and {more} more {verb[1]}" if more > 0 else f"{noun}s {shown} {verb[1]}"


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every key of any row, in order of first appearance."""
    seen: dict[str, None] = {}
    for row in rows:
        if row.keys() != seen.keys():  # rows nearly always share their keys; skip the per-key work then
            seen.update(dict.fromkeys(row))
    return list(seen)


def infer_features(rows: Sequence[Mapping[str, Any]], *, target: str, max_columns: int | None = None) -> FeatureSpec:
    """Every column but `target` is a feature: numeric when all its present values are numbers, else categorical.

    A key absent from a row counts as a missing value, like None, so JSON rows may leave out their nulls. Numbers
    must lie within ±MAX_MAGNITUDE; at most `max_columns` columns (target included) are accepted.
    """
    if not rows:
        raise HousingDataError(["there are no rows"])
    columns = _columns(rows)
    if max_columns is not None and len(columns) > max_columns:
        raise HousingDataError([f"the rows have {len(columns)} columns; at most {max_columns} are accepted"])
    if target not in columns:
        raise HousingDataError([f"the target column {short_repr(target)} is not in the data (columns: "
                                f"{', '.join(map(short_repr, columns))})"], [target])
    unstorable = [c for c in columns if "\x00" in str(c)]  # names go to the registry, where PostgreSQL refuses NUL
    if unstorable:
        raise HousingDataError([f"column name {short_repr(c)} holds a NUL character" for c in unstorable], unstorable)
    problems: list[str] = []
    bad_columns: list[str] = []
    if len(rows) < MIN_TRAIN_ROWS:
        problems.append(f"{len(rows)} rows are too few to train on; at least {MIN_TRAIN_ROWS} are needed")
    absent = [i for i, row in enumerate(rows) if target not in row]
    if absent:
        problems.append(f"{which_rows('row', absent)} no {target!r} value")
    values = [row.get(target) for row in rows]
    targets = numeric_array(values)
    usable = (np.abs(targets) <= MAX_MAGNITUDE if targets is not None  # NaN compares False: unusable
              else np.array([_in_range(v) for v in values], dtype=bool))
    unusable = [i for i in np.flatnonzero(~usable).tolist() if target in rows[i]]
    if unusable:
        problems.append(f"{which_rows('row', unusable)} a missing or non-numeric {target!r} value, or one beyond "
                        f"±{MAX_MAGNITUDE:g}")
    if absent or unusable:
        bad_columns.append(target)
    numeric: list[str] = []
    categorical: list[str] = []
    for name in (c for c in columns if c != target):
        column_values = numeric_array([row.get(name) for row in rows])
        if column_values is None:
            categorical.append(name)  # holds a non-number, so it is not entirely missing
            continue
        if np.isnan(column_values).all():
            problems.append(f"column {name!r} has no values")
            bad_columns.append(name)
        elif (np.abs(column_values) > MAX_MAGNITUDE).any():
            beyond = np.flatnonzero(np.abs(column_values) > MAX_MAGNITUDE).tolist()
            problems.append(f"column {short_repr(name)}: {which_rows('row', beyond)} a number beyond "
                            f"±{MAX_MAGNITUDE:g}")
            bad_columns.append(name)
        numeric.append(name)
    if len(columns) == 1:
        problems.append(f"there are no feature columns besides the target {target!r}")
    if problems:
        raise HousingDataError(problems, bad_columns)
    return FeatureSpec(numeric=sorted(numeric), categorical=sorted(categorical), target=target)


def _first_bad(values: list[Any], numeric: bool) -> int | None:
    """Index of the first value a numeric (or categorical) column cannot take, None when all are fine."""
    if numeric and len(values) <= FEW_ROWS:
        return next((i for i, v in enumerate(values) if not (is_missing(v) or _in_range(v))), None)
    if numeric:
        floats = numeric_array(values)
        if floats is not None:
            bad = np.flatnonzero(np.abs(floats) > MAX_MAGNITUDE)  # NaN (missing) compares False
            return int(bad[0]) if bad.size else None
        return next(i for i, v in enumerate(values) if not (v is None or is_number(v)))
    # NUL: an asynchronous prediction's rows go into the ledger, where PostgreSQL refuses it
    if set(map(type, values)) <= {str, type(None)}:
        return next((i for i, v in enumerate(values) if v is not None and "\x00" in v), None)
    return next((i for i, v in enumerate(values) if not (v is None or isinstance(v, bool) or is_number(v)
                                                         or (isinstance(v, str) and "\x00" not in v))), None)


def check_prediction_rows(rows: Sequence[Mapping[str, Any]], spec: FeatureSpec) -> None:
    """Raise HousingDataError unless every row has exactly the model's features (the target may be present too).

    None is a missing value the model imputes; an absent key is a mistake worth reporting. Each problem names the
    first row where it occurs.
    """
    if not rows:
        raise HousingDataError(["there are no rows to predict"])
    features = spec.features
    exact, with_target = set(features), {*features, spec.target}
    unknown: dict[str, int] = {}
    missing: dict[str, int] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise HousingDataError([f"row {i} is not an object of column: value"])
        keys = row.keys()
        if keys in (exact, with_target):
            continue
        for key in keys - with_target:
            unknown.setdefault(key, i)
        for name in exact - keys:
            missing.setdefault(name, i)
    wrong: dict[str, tuple[int, Any]] = {}
    for name in features:
        values = [row.get(name) for row in rows]
        bad = _first_bad(values, name in spec.numeric)
        if bad is not None:
            wrong[name] = (bad, values[bad])
    named = dict(list(unknown.items())[:MAX_ROWS_NAMED])  # any number of keys may be unknown: name a few
    problems = [f"unknown column {short_repr(name)} (first in row {i})" for name, i in named.items()]
    if len(unknown) > len(named):
        problems.append(f"{len(unknown) - len(named)} more unknown columns")
    problems += [f"missing column {name!r} (first in row {i})" for name, i in missing.items()]
    problems += [f"column {name!r} must be {'a number' if name in spec.numeric else 'text without NUL characters'}"
                 f"{f' within ±{MAX_MAGNITUDE:g}' if name in spec.numeric else ''}, got {short_repr(value)} in row {i}"
                 for name, (i, value) in wrong.items()]
    if problems:
        raise HousingDataError(problems, [*named, *missing, *wrong])


def _canonical_column(values: list[Any]) -> list[Any]:
    if set(map(type, values)) <= {str, type(None)}:
        return values
    floats = numeric_array(values)
    if floats is not None:
        # 3 and 3.0 are the same price; + 0.0 folds -0.0 into 0.0
        return [None if v != v else v + 0.0 for v in floats.tolist()]
    # str() also turns str subclasses such as numpy.str_ into plain str, whose repr is the same everywhere
    return [v if v is None or type(v) is bool else None if is_missing(v)
            else float(v) + 0.0 if is_number(v) else str(v) for v in values]


def rows_hash(rows: Sequence[Mapping[str, Any]], *, target: str) -> str:
    """sha256 hex of the rows as a multiset: any row or key order gives the same hash; an absent key equals None."""
    columns = sorted(_columns(rows))
    canonical = [_canonical_column([row.get(c) for row in rows]) for c in columns]
    # repr of float, str, bool and None is stable across Python versions and cheaper than json
    lines = sorted(repr(values) for values in zip(*canonical, strict=True))
    digest = hashlib.sha256(b"housing-rows/v1\0")
    digest.update(repr((target, columns, len(lines))).encode())
    digest.update("\n".join(lines).encode())
    return digest.hexdigest()
