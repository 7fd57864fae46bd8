"""The compiled linear form of a housing pipeline gives the pipeline's own prices, whatever the row holds."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.pipeline import Pipeline

from ml.housing import MAX_CATEGORIES, _frame, predict_prices, pricer_for, synthetic_housing, train_housing_model
from ml.housing_linear import NotLinear, compile_pricer


def pipeline_prices(model: Any, rows: list[dict[str, Any]]) -> list[float]:
    """What scikit-learn itself predicts: the reference the compiled form must match."""
    return model.pipeline.predict(_frame(model.spec, rows)).tolist()


def assert_same_prices(model: Any, rows: list[dict[str, Any]]) -> None:
    compiled = compile_pricer(model.pipeline, model.spec).predict(rows)
    reference = pipeline_prices(model, rows)
    assert len(compiled) == len(reference)
    for i, (got, want) in enumerate(zip(compiled, reference, strict=True)):
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-6), (i, rows[i], got, want)


@pytest.fixture(scope="module")
def listings_model() -> Any:
    return train_housing_model(synthetic_housing(3000))


def odd_listings(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """Listings with what real requests send: missing values, unknown districts, integer-valued floats."""
    rng = random.Random(seed)
    rows = [{k: v for k, v in row.items() if k != "preco"} for row in synthetic_housing(n, seed=seed)]
    for row in rows:
        match rng.randrange(8):
            case 0:
                row["vagas"] = None
            case 1:
                row["idade_anos"] = None
            case 2:
                row["bairro"] = "Bairro Novo"  # never seen in training: adds nothing, as one-hot ignores it
            case 3:
                row["bairro"] = None  # filled with the most frequent district
            case 4:
                row["area_m2"] = float("nan")  # filled with the median, like None
            case 5:
                row["quartos"] = float(row["quartos"])
            case 6:
                row["tipo"] = None
    return rows


def test_compiled_prices_equal_the_pipelines(listings_model: Any) -> None:
    assert_same_prices(listings_model, odd_listings(2000))


def test_predict_prices_uses_the_compiled_form_and_still_validates(listings_model: Any) -> None:
    assert pricer_for(listings_model.pipeline, listings_model.spec) is not None
    rows = odd_listings(50, seed=3)
    assert predict_prices(listings_model.pipeline, listings_model.spec, rows) == \
        compile_pricer(listings_model.pipeline, listings_model.spec).predict(rows)
    with pytest.raises(ValueError, match="area_m2"):
        predict_prices(listings_model.pipeline, listings_model.spec, [{**rows[0], "area_m2": "big"}])


def test_infrequent_and_number_like_categories_match() -> None:
    """A text column with more than MAX_CATEGORIES values shares one column among the rare ones; a number-like
    category (3, 3.0, "3") and a bool are categories as training saw them."""
    rng = np.random.default_rng(5)
    n = 4000
    codes = rng.zipf(1.3, n) % (MAX_CATEGORIES * 3)
    rows = [{"x": float(rng.normal()), "codigo": f"c{code}", "andar": int(rng.integers(0, 6)) if i % 3 else "térreo",
             "novo": bool(rng.integers(0, 2)), "preco": float(1000 * code % 7 + rng.normal())}
            for i, code in enumerate(codes)]
    model = train_housing_model(rows)
    assert model.spec.categorical == ["andar", "codigo", "novo"]
    pricer = compile_pricer(model.pipeline, model.spec)
    assert any(term.infrequent for term in pricer.categorical), "the test needs infrequent categories"
    probes = [{k: v for k, v in row.items() if k != "preco"} for row in rows[:500]]
    probes += [{"x": 0.5, "codigo": code, "andar": andar, "novo": novo}
               for code in ("c1", "c2", f"c{MAX_CATEGORIES * 3 - 1}", "c-unknown", None)
               for andar in (3, 3.0, "3", "térreo", None, "cobertura") for novo in (True, False, None)]
    assert_same_prices(model, probes)


def test_only_numeric_or_only_text_features() -> None:
    numeric = [{"a": i * 0.5, "b": (i * 7) % 11 or None, "preco": 3.0 * i} for i in range(100)]
    text = [{"cor": ["azul", "verde", "rosa"][i % 3], "preco": float(i % 3)} for i in range(60)]
    for rows in (numeric, text):
        model = train_housing_model(rows)
        assert_same_prices(model, [{k: v for k, v in row.items() if k != "preco"} for row in rows])


def test_another_regressor_is_refused_and_predicted_by_the_pipeline(listings_model: Any) -> None:
    rows = synthetic_housing(300, seed=2)
    forest = Pipeline([("preprocess", clone(listings_model.pipeline.named_steps["preprocess"])),
                       ("regressor", RandomForestRegressor(n_estimators=5, random_state=0))])
    forest.fit(_frame(listings_model.spec, rows), [row["preco"] for row in rows])
    with pytest.raises(NotLinear):
        compile_pricer(forest, listings_model.spec)
    assert pricer_for(forest, listings_model.spec) is None
    probe = [{k: v for k, v in row.items() if k != "preco"} for row in rows[:5]]
    assert predict_prices(forest, listings_model.spec, probe) == forest.predict(_frame(listings_model.spec, probe)
                                                                                ).tolist()
