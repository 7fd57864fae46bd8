"""The promotion rule of the model registry."""

from __future__ import annotations

from ml.promotion import should_promote


def test_first_model_is_promoted() -> None:
    assert should_promote({"roc_auc": 0.7}, None, metric="roc_auc") == (True, "promoted: first model (roc_auc 0.7000)")


def test_a_worse_model_is_not_promoted_and_says_why() -> None:
    promoted, reason = should_promote({"roc_auc": 0.81}, {"roc_auc": 0.86}, metric="roc_auc")
    assert promoted is False
    assert reason == "not promoted: roc_auc 0.8100 is worse than the active model's 0.8600"


def test_an_equal_or_better_model_is_promoted() -> None:
    assert should_promote({"roc_auc": 0.86}, {"roc_auc": 0.86}, metric="roc_auc")[0] is True
    assert should_promote({"roc_auc": 0.9}, {"roc_auc": 0.86}, metric="roc_auc")[0] is True


def test_lower_is_better_metrics() -> None:
    assert should_promote({"rmse": 10.0}, {"rmse": 12.0}, metric="rmse", higher_is_better=False)[0] is True
    assert should_promote({"rmse": 13.0}, {"rmse": 12.0}, metric="rmse", higher_is_better=False)[0] is False


def test_a_model_without_the_metric_is_not_promoted() -> None:
    assert should_promote({}, {"roc_auc": 0.8}, metric="roc_auc")[0] is False
