"""Housing limits: finite numbers in a sane range, CSV column count, and a prediction cache bounded in bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ml.housing import predict_prices, synthetic_housing, train_housing_model
from ml.housing_csv import duplicate_names, rows_from_csv
from ml.housing_data import MAX_MAGNITUDE, HousingDataError, check_prediction_rows, infer_features
from ml.housing_linear import LinearPricer, _Numeric
from taskplatform.core.db import make_engine
from taskplatform.housing import service as housing
from tests.unit.sessions import scope_on

ROW = {"area_m2": 80.0, "quartos": 2, "banheiros": 1, "vagas": 1, "idade_anos": 10, "bairro": "Moema",
       "tipo": "apartamento"}


@pytest.fixture(scope="module")
def trained() -> Any:
    return train_housing_model(synthetic_housing(300))


@pytest.mark.parametrize("price", [1e308, -1e300, MAX_MAGNITUDE * 10])
def test_a_target_beyond_the_sane_range_is_refused_naming_the_row(price: float) -> None:
    """Breach: /treinar with preco = 1e308 trained and answered 200."""
    rows = synthetic_housing(50)
    rows[7]["preco"] = price
    with pytest.raises(HousingDataError) as caught:
        infer_features(rows, target="preco")
    assert caught.value.columns == ["preco"] and "row 7" in caught.value.problems[0]


def test_a_feature_beyond_the_sane_range_is_refused_naming_the_column() -> None:
    rows = synthetic_housing(50)
    rows[3]["area_m2"] = 1e308
    with pytest.raises(HousingDataError) as caught:
        infer_features(rows, target="preco")
    assert caught.value.columns == ["area_m2"] and "row 3" in caught.value.problems[0]


@pytest.mark.parametrize("rows_count", [1, 200])  # the per-value loop and the numpy path
def test_a_prediction_input_beyond_the_range_names_the_row_and_column(trained: Any, rows_count: int) -> None:
    """Breach: /prever with area_m2 = 1e308 answered 200 with a null price (and cached it)."""
    rows = [dict(ROW) for _ in range(rows_count)]
    rows[-1]["area_m2"] = 1e308
    with pytest.raises(HousingDataError) as caught:
        check_prediction_rows(rows, trained.spec)
    assert caught.value.columns == ["area_m2"] and f"row {rows_count - 1}" in caught.value.problems[0]
    check_prediction_rows([{**ROW, "area_m2": MAX_MAGNITUDE}, {**ROW, "vagas": None}], trained.spec)


# A model whose price overflows for any area: what no training here makes, but a stored artifact might hold.
_OVERFLOWING = LinearPricer(0.0, (_Numeric("area_m2", 1.0, 0.0, 1e-300, 1e300),
                                  _Numeric("quartos", 1.0, 0.0, 1.0, 1.0)), ())


def test_a_price_that_is_not_finite_is_never_returned(trained: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Breach: a non-finite price went out as JSON null; any that still occurs is a 422 naming row and column."""
    monkeypatch.setattr("ml.housing.pricer_for", lambda pipeline, spec: _OVERFLOWING)
    with pytest.raises(HousingDataError) as caught:
        predict_prices(trained.pipeline, trained.spec, [ROW, {**ROW, "area_m2": 1e9}], checked=True)
    assert caught.value.columns == ["area_m2"] and "rows 0, 1" in caught.value.problems[0]


def test_a_non_finite_price_is_not_cached(trained: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    monkeypatch.setattr(housing, "load_active", lambda kind, session, **_: ("v1", {"pipeline": trained.pipeline,
                                                                                 "spec": trained.spec}))
    monkeypatch.setattr(housing, "session_scope", scope_on(engine))
    monkeypatch.setattr("ml.housing.pricer_for", lambda pipeline, spec: _OVERFLOWING)
    predictor = housing.Predictor(flush_s=None, cache_bytes=1 << 20)
    with pytest.raises(HousingDataError):
        predictor.predict([ROW])
    assert predictor._price_cache().bytes == 0
    engine.dispose()


class CountingName(str):
    """A column name that counts the comparisons made with it."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        CountingName.compared += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_finding_duplicate_header_names_is_linear_in_the_columns() -> None:
    """Breach: each header name was counted over the whole header: 40,000 columns froze the API for 15 s."""
    header = [CountingName(f"c{i}") for i in range(2000)] + [CountingName("c7")]
    CountingName.compared = 0
    assert duplicate_names(header) == ["c7"]
    assert CountingName.compared < 10 * len(header)  # quadratic would be about 4,000,000


def test_a_csv_with_more_columns_than_the_limit_is_refused_naming_the_limit() -> None:
    """Breach: a 349 KB CSV of 40,000 columns was parsed whole."""
    header = ",".join(f"c{i}" for i in range(40_000))
    with pytest.raises(HousingDataError, match="40000 columns; at most 200"):
        rows_from_csv(f"{header}\n{','.join('1' * 40_000)}\n".encode(), max_columns=200)
    assert rows_from_csv(b"a,b\n1,x\n", max_columns=2) == [{"a": 1.0, "b": "x"}]


def test_json_rows_with_more_columns_than_the_limit_are_refused() -> None:
    rows = [{**row, **{f"extra{i}": 1.0 for i in range(300)}} for row in synthetic_housing(30)]
    with pytest.raises(HousingDataError, match="at most 200"):
        infer_features(rows, target="preco", max_columns=200)


def test_the_cache_stays_within_its_bytes_with_5kb_keys() -> None:
    """Breach: the cache was bounded in entries (100,000): 5 KB `bairro` strings grew one process by 300 MB."""
    cache = housing.PriceCache(max_bytes=1_000_000)
    for i in range(2_000):
        cache.put("v1", repr((80.0, 2, f"{i:05d}" + "b" * 5_000)), float(i))
        assert cache.bytes <= cache.max_bytes
    assert 150 < len(cache) < 200  # about 1 MB / 5.3 KB: the oldest went first
    assert cache.get("v1", repr((80.0, 2, "01999" + "b" * 5_000))) == 1999.0
    assert cache.get("v1", repr((80.0, 2, "00000" + "b" * 5_000))) is None


def test_the_predictor_cache_is_bounded_in_bytes(trained: Any, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    monkeypatch.setattr(housing, "load_active", lambda kind, session, **_: ("v1", {"pipeline": trained.pipeline,
                                                                                 "spec": trained.spec}))
    monkeypatch.setattr(housing, "session_scope", scope_on(engine))
    predictor = housing.Predictor(flush_s=None, cache_bytes=200_000)
    for start in range(0, 400, 100):
        predictor.predict([{**ROW, "bairro": f"{i:04d}" + "b" * 5_000} for i in range(start, start + 100)])
        assert predictor._price_cache().bytes <= 200_000
    assert len(predictor._price_cache()) < 40
    engine.dispose()


def test_nul_characters_are_refused_in_column_names_and_text_values(trained: Any) -> None:
    """Breach: a column name with NUL went into the registry's JSON (PostgreSQL refuses it: a 500 after training),
    a text value with NUL into the ledger's copy of an asynchronous prediction."""
    rows = [{**row, "bair\x00ro": "x"} for row in synthetic_housing(30)]
    with pytest.raises(HousingDataError, match="NUL"):
        infer_features(rows, target="preco")
    for count in (1, 100):
        with pytest.raises(HousingDataError) as caught:
            check_prediction_rows([{**ROW, "bairro": "Mo\x00ema"}] * count, trained.spec)
        assert caught.value.columns == ["bairro"]
