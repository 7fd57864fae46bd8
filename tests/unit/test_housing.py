"""Housing-price model: CSV input, feature inference, held-out R2, prediction checks, persistence, plot and hashing."""

from __future__ import annotations

import io
import json
import random
from typing import Any

import joblib
import numpy as np
import pytest

from ml.housing import (
    BAIRROS,
    FeatureSpec,
    HousingDataError,
    TrainedHousingModel,
    check_prediction_rows,
    infer_features,
    predict_prices,
    prediction_plot_png,
    rows_hash,
    synthetic_housing,
    train_housing_model,
)

FEATURES = ["area_m2", "bairro", "banheiros", "idade_anos", "quartos", "tipo", "vagas"]


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return synthetic_housing(5000)


@pytest.fixture(scope="module")
def trained(rows: list[dict[str, Any]]) -> TrainedHousingModel:
    return train_housing_model(rows)


def listing(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"area_m2": 72.0, "quartos": 2, "banheiros": 1, "vagas": 1, "idade_anos": 10,
                           "bairro": "Pinheiros", "tipo": "apartamento"}
    return {**row, **changes}


def test_synthetic_listings_are_plausible_and_reproducible(rows: list[dict[str, Any]]) -> None:
    assert synthetic_housing(200, seed=3) == synthetic_housing(200, seed=3)
    assert synthetic_housing(200, seed=3) != synthetic_housing(200, seed=4)
    assert len(rows) == 5000 and sorted(rows[0]) == sorted([*FEATURES, "preco"])
    assert json.loads(json.dumps(rows)) == rows  # plain Python values, ready for a JSON API
    assert {r["bairro"] for r in rows} == {name for name, _, _ in BAIRROS}
    assert {r["tipo"] for r in rows} == {"apartamento", "casa"}
    assert all(r["preco"] > 0 and 20 <= r["area_m2"] <= 500 and 1 <= r["quartos"] <= 5 for r in rows)
    for name in ("vagas", "idade_anos"):
        missing = sum(r[name] is None for r in rows)
        assert 0 < missing < 0.1 * len(rows)
    # the priciest district is pricier than the cheapest on average
    mean = {b: np.mean([r["preco"] for r in rows if r["bairro"] == b]) for b in (BAIRROS[0][0], BAIRROS[-1][0])}
    assert mean[BAIRROS[0][0]] > mean[BAIRROS[-1][0]] + 200_000


def test_training_scores_well_on_held_out_rows(trained: TrainedHousingModel) -> None:
    metrics = trained.metrics
    assert metrics["r2"] >= 0.9
    assert 0 < metrics["mae"] <= metrics["rmse"] < 150_000
    assert (metrics["n_train"], metrics["n_test"]) == (4000, 1000)
    assert len(trained.holdout_actual) == len(trained.holdout_predicted) == 1000
    assert trained.spec == FeatureSpec(numeric=["area_m2", "banheiros", "idade_anos", "quartos", "vagas"],
                                       categorical=["bairro", "tipo"], target="preco")
    params = trained.params
    assert params["regressor"] == "Ridge" and "alpha" in params["regressor_params"]
    assert (params["test_share"], params["seed"]) == (0.2, 0)
    assert params["features"] == {"numeric": trained.spec.numeric, "categorical": trained.spec.categorical}
    assert params["sklearn"] and len(params["dataset_sha256"]) == 64


def test_training_is_deterministic_for_a_seed(rows: list[dict[str, Any]]) -> None:
    again = train_housing_model(rows[:1000], seed=5)
    assert train_housing_model(rows[:1000], seed=5).metrics == again.metrics
    assert train_housing_model(rows[:1000], seed=6).holdout_actual != again.holdout_actual


def test_predicts_one_row_and_ten_thousand_in_order(trained: TrainedHousingModel) -> None:
    [one] = predict_prices(trained.pipeline, trained.spec, [listing()])
    assert isinstance(one, float) and 300_000 < one < 2_000_000

    many = sorted(synthetic_housing(10_000, seed=1), key=lambda r: r["area_m2"])
    predicted = predict_prices(trained.pipeline, trained.spec, many)
    assert len(predicted) == 10_000 and all(isinstance(p, float) for p in predicted)
    assert np.isfinite(predicted).all()
    assert np.corrcoef([r["area_m2"] for r in many], predicted)[0, 1] > 0.7
    assert np.corrcoef([r["preco"] for r in many], predicted)[0, 1] ** 2 > 0.9
    reversed_rows = predict_prices(trained.pipeline, trained.spec, many[::-1])
    assert reversed_rows == pytest.approx(predicted[::-1])


def test_bigger_and_better_placed_homes_cost_more(trained: TrainedHousingModel) -> None:
    small, big, prime = predict_prices(trained.pipeline, trained.spec, [
        listing(area_m2=50.0), listing(area_m2=150.0), listing(area_m2=50.0, bairro=BAIRROS[0][0]),
    ])
    cheap = predict_prices(trained.pipeline, trained.spec, [listing(area_m2=50.0, bairro=BAIRROS[-1][0])])[0]
    assert big > small + 400_000
    assert prime > cheap + 300_000


def test_prediction_accepts_the_target_column_nones_and_new_categories(trained: TrainedHousingModel) -> None:
    predicted = predict_prices(trained.pipeline, trained.spec, [
        listing(preco=123.0), listing(vagas=None, idade_anos=None), listing(bairro="Bairro Novo"), listing(),
    ])
    assert np.isfinite(predicted).all()
    assert predicted[0] == pytest.approx(predicted[3])  # the target value is ignored


def test_unknown_and_missing_columns_are_named(trained: TrainedHousingModel) -> None:
    no_tipo = {k: v for k, v in listing().items() if k != "tipo"}
    with pytest.raises(HousingDataError) as caught:
        check_prediction_rows([listing(), listing(piscina=True), no_tipo], trained.spec)
    assert caught.value.columns == ["piscina", "tipo"]
    text = " ".join(caught.value.problems)
    assert "unknown column 'piscina' (first in row 1)" in text and "missing column 'tipo' (first in row 2)" in text
    with pytest.raises(HousingDataError):
        predict_prices(trained.pipeline, trained.spec, [no_tipo])


@pytest.mark.parametrize("n_rows", [2, 100])  # a few rows are checked in a loop, more with numpy
@pytest.mark.parametrize("value", ["grande", True, float("inf"), 10**400, [72]])
def test_a_non_number_in_a_numeric_column_is_named(trained: TrainedHousingModel, value: Any, n_rows: int) -> None:
    check_prediction_rows([listing(area_m2=np.float32(70.5), vagas=None, idade_anos=float("nan"))] * n_rows,
                          trained.spec)
    with pytest.raises(HousingDataError) as caught:
        check_prediction_rows([listing(), listing(area_m2=value), *[listing()] * (n_rows - 2)], trained.spec)
    assert caught.value.columns == ["area_m2"]
    assert "'area_m2'" in str(caught.value) and "row 1" in str(caught.value)


def test_no_rows_to_predict_is_an_error(trained: TrainedHousingModel) -> None:
    with pytest.raises(HousingDataError, match="no rows"):
        check_prediction_rows([], trained.spec)


def test_pipeline_round_trips_through_joblib(trained: TrainedHousingModel) -> None:
    buffer = io.BytesIO()
    joblib.dump(trained.pipeline, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    sample = synthetic_housing(300, seed=9)
    assert predict_prices(loaded, trained.spec, sample) == predict_prices(trained.pipeline, trained.spec, sample)


def test_infer_features_classifies_columns() -> None:
    rows = [{"n": float(i), "gaps": None if i % 3 else i, "mixed": i if i else "zero", "flag": i % 2 == 0,
             "text": f"t{i % 4}", "y": 10.0 * i} for i in range(25)]
    assert infer_features(rows, target="y") == FeatureSpec(numeric=["gaps", "n"],
                                                           categorical=["flag", "mixed", "text"], target="y")


def test_infer_features_names_rows_with_a_bad_target() -> None:
    rows = [listing(preco=500_000.0 + i) for i in range(30)]
    rows[3]["preco"], rows[7]["preco"] = "caro", None
    with pytest.raises(HousingDataError) as caught:
        infer_features(rows, target="preco")
    assert caught.value.columns == ["preco"]
    assert "rows 3, 7" in str(caught.value)

    many_bad = [listing(preco="?") for _ in range(30)]
    with pytest.raises(HousingDataError, match=r"rows 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 20 more"):
        infer_features(many_bad, target="preco")


@pytest.mark.parametrize(("rows", "message", "columns"), [
    ([], "no rows", []),
    ([listing(preco=1.0)] * 5, "too few", []),
    ([listing()] * 30, "target column 'preco' is not in the data", ["preco"]),
    ([{"preco": float(i)} for i in range(30)], "no feature columns", []),
    ([listing(preco=1.0, vagas=None)] * 30, "'vagas' has no values", ["vagas"]),
])
def test_infer_features_rejects_unusable_data(rows: list[dict[str, Any]], message: str, columns: list[str]) -> None:
    with pytest.raises(HousingDataError, match=message) as caught:
        infer_features(rows, target="preco")
    assert caught.value.columns == columns


def test_training_rejects_a_bad_test_share(rows: list[dict[str, Any]]) -> None:
    for share in (0.0, 1.0, 0.999):
        with pytest.raises(HousingDataError, match="test_share"):
            train_housing_model(rows[:100], test_share=share)


def test_prediction_plot_is_a_png(trained: TrainedHousingModel) -> None:
    png = prediction_plot_png(trained.holdout_actual, trained.holdout_predicted, title="Preço previsto x real")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    assert prediction_plot_png([], [], title="empty").startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="2 actual and 1 predicted"):
        prediction_plot_png([1.0, 2.0], [1.0], title="mismatch")


def test_rows_hash_ignores_order_and_sees_changes(rows: list[dict[str, Any]]) -> None:
    sample = [dict(r) for r in rows[:300]]
    digest = rows_hash(sample, target="preco")
    shuffled = [dict(reversed(list(r.items()))) for r in sample]
    random.Random(1).shuffle(shuffled)
    assert rows_hash(shuffled, target="preco") == digest
    assert rows_hash([{**r, "quartos": float(r["quartos"])} for r in sample], target="preco") == digest
    changed = [dict(r) for r in sample]
    changed[42]["area_m2"] += 1.0
    assert rows_hash(changed, target="preco") != digest
    assert rows_hash(sample[:-1], target="preco") != digest
    assert rows_hash(sample + sample[:1], target="preco") != digest
    assert rows_hash(sample, target="area_m2") != digest
