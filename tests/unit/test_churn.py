"""Churn model: features without look-ahead, labels, held-out AUC, scores with reasons, hashing and persistence."""

from __future__ import annotations

import io
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import joblib
import numpy as np
import pytest

from ml.churn import (
    FEATURES,
    CheckinHistory,
    TrainedChurnModel,
    churn_labels,
    dataset_hash,
    local_seconds,
    score_students,
    student_features,
    train_churn_model,
)
from ml.synthetic_gym import SyntheticGym, generate_gym

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
START = date(2026, 5, 1)


@pytest.fixture(scope="module")
def gym() -> SyntheticGym:
    return generate_gym(students=1000, start=START, days=182, tz=SAO_PAULO, seed=7)


@pytest.fixture(scope="module")
def history(gym: SyntheticGym) -> CheckinHistory:
    return CheckinHistory.from_pairs(gym.checkins)


@pytest.fixture(scope="module")
def now(gym: SyntheticGym) -> datetime:
    return datetime(gym.end.year, gym.end.month, gym.end.day, tzinfo=SAO_PAULO)


@pytest.fixture(scope="module")
def trained(history: CheckinHistory, now: datetime) -> TrainedChurnModel:
    return train_churn_model(history, now=now, tz=SAO_PAULO)


def column(x: np.ndarray, name: str) -> np.ndarray:
    return x[:, FEATURES.index(name)]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A São Paulo wall-clock instant `day` days after START."""
    return datetime.combine(START + timedelta(days=day), datetime.min.time(), SAO_PAULO).replace(hour=hour,
                                                                                                  minute=minute)


def test_features_of_a_hand_made_student() -> None:
    # student 1: twice a week at 07:00 for 8 weeks, then one evening visit; a double scan on day 0
    visits = [at(week * 7 + offset, 7) for week in range(8) for offset in (0, 2)] + [at(60, 19)]
    history = CheckinHistory.from_pairs([(1, v) for v in visits] + [(1, at(0, 7, 5)), (2, at(10, 12))])
    ids, x = student_features(history, as_of=at(70, 7), tz=SAO_PAULO)
    assert ids.tolist() == [1, 2] and x.shape == (2, len(FEATURES))
    one = dict(zip(FEATURES, x[0].tolist(), strict=True))
    assert one["days_since_last"] == pytest.approx(10 - 12 / 24)
    assert one["tenure_days"] == pytest.approx(70)
    assert one["visits_last_4w"] == 5  # days 42, 44, 49, 51 and 60
    assert one["visits_prev_4w"] == 8  # days 14 to 37
    assert one["visit_trend"] == pytest.approx((5 - 8) / 14)
    assert one["top_weekday_share"] == pytest.approx(8 / 17)
    assert one["gap_mean_days"] == pytest.approx(60 / 16 + 12 / 24 / 16)
    assert one["hour_std"] > 2  # one evening visit among mornings
    assert dict(zip(FEATURES, x[1].tolist(), strict=True))["gap_mean_days"] == pytest.approx(60 - 5 / 24)


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Berlin", "America/Sao_Paulo", "Australia/Lord_Howe"])
def test_local_time_matches_zoneinfo_across_dst_changes(zone: str) -> None:
    tz = ZoneInfo(zone)
    rng = np.random.default_rng(1)
    epochs = rng.integers(int(datetime(2016, 1, 1, tzinfo=UTC).timestamp()),
                          int(datetime(2027, 1, 1, tzinfo=UTC).timestamp()), 4000)
    fast = local_seconds(epochs, tz)
    slow = [int(datetime.fromtimestamp(int(e), tz).replace(tzinfo=UTC).timestamp()) for e in epochs]
    assert fast.tolist() == slow


def test_features_cover_half_a_million_checkins_in_every_zone() -> None:
    rng = np.random.default_rng(0)
    begin = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
    history = CheckinHistory(rng.integers(1, 10_000, 500_000), begin + rng.integers(0, 365 * 86_400, 500_000))
    ids, x = student_features(history, as_of=datetime(2026, 1, 1, tzinfo=UTC), tz=ZoneInfo("Europe/Berlin"))
    assert x.shape == (ids.size, len(FEATURES)) and np.isfinite(x).all()


def test_future_checkins_do_not_change_features(history: CheckinHistory) -> None:
    as_of = at(120, 0)
    ids, x = student_features(history, as_of=as_of, tz=SAO_PAULO)
    future = CheckinHistory.from_pairs([(int(i), as_of + timedelta(days=d)) for i in ids[:300] for d in (0, 3, 40)]
                                       + [(999_999, as_of + timedelta(hours=1))])
    both = CheckinHistory(np.concatenate([history.aluno_ids, future.aluno_ids]),
                          np.concatenate([history.epoch_s, future.epoch_s]))
    ids_after, x_after = student_features(both, as_of=as_of, tz=SAO_PAULO)
    assert np.array_equal(ids, ids_after)
    assert np.array_equal(x, x_after)


def test_labels_look_only_at_the_horizon() -> None:
    as_of = at(100, 0)
    history = CheckinHistory.from_pairs([(1, as_of), (2, as_of + timedelta(days=29, hours=23)),
                                         (3, as_of + timedelta(days=30)), (4, as_of - timedelta(seconds=1))])
    labels = churn_labels(history, aluno_ids=np.array([1, 2, 3, 4, 5]), as_of=as_of, horizon_days=30)
    assert labels.tolist() == [0, 0, 1, 1, 1]


def test_model_predicts_churn_on_held_out_students(trained: TrainedChurnModel, history: CheckinHistory,
                                                   now: datetime) -> None:
    assert trained.metrics["roc_auc"] >= 0.80
    assert 0.5 <= trained.metrics["precision_top10"] <= 1.0
    assert 0.1 < trained.metrics["positive_rate"] < 0.6
    assert trained.as_of == now - timedelta(days=30)
    known = student_features(history, as_of=trained.as_of, tz=SAO_PAULO)[0].size
    assert trained.metrics["n_train"] + trained.metrics["n_test"] == known
    assert trained.metrics["n_test"] == pytest.approx(0.25 * known, abs=1)
    assert trained.params["features"] == list(FEATURES)
    assert trained.params["as_of"] == trained.as_of.isoformat()
    assert trained.params["dataset_sha256"] == dataset_hash(history)
    for key in ("horizon_days", "test_share", "seed", "model_params"):
        assert key in trained.params


def test_training_reports_progress_by_stage(history: CheckinHistory, now: datetime) -> None:
    calls: list[tuple[int, str]] = []
    train_churn_model(history, now=now, tz=SAO_PAULO, progress=lambda percent, stage: calls.append((percent, stage)))
    stages = [stage for _, stage in calls]
    assert stages.index("features") < stages.index("training") < stages.index("evaluating")
    percents = [percent for percent, _ in calls]
    assert percents == sorted(percents) and percents[-1] == 100


def test_students_who_start_after_the_cutoff_are_left_out(history: CheckinHistory, now: datetime,
                                                          trained: TrainedChurnModel) -> None:
    ten_days_ago = int((now - timedelta(days=10)).timestamp())
    newcomers = CheckinHistory(np.arange(50_000, 50_100).repeat(3), ten_days_ago + np.tile([0, 3600, 86_400], 100))
    both = CheckinHistory(np.concatenate([history.aluno_ids, newcomers.aluno_ids]),
                          np.concatenate([history.epoch_s, newcomers.epoch_s]))
    again = train_churn_model(both, now=now, tz=SAO_PAULO)
    assert again.metrics["n_train"] + again.metrics["n_test"] == trained.metrics["n_train"] + trained.metrics["n_test"]


def test_too_little_data_is_refused_with_a_reason(now: datetime) -> None:
    few = CheckinHistory.from_pairs([(i, now - timedelta(days=40 + i)) for i in range(1, 20)])
    with pytest.raises(ValueError, match="too little data.*19 students"):
        train_churn_model(few, now=now, tz=SAO_PAULO)
    everyone_returns = CheckinHistory.from_pairs([(i, now - timedelta(days=d)) for i in range(1, 101) for d in (40, 5)])
    with pytest.raises(ValueError, match="too little data.*0 of 100 students left"):
        train_churn_model(everyone_returns, now=now, tz=SAO_PAULO)


def test_scores_are_sorted_probabilities_with_reasons_in_words(trained: TrainedChurnModel, history: CheckinHistory,
                                                              now: datetime) -> None:
    scores = score_students(trained.pipeline, history, as_of=now, tz=SAO_PAULO)
    assert sorted(s.aluno_id for s in scores) == student_features(history, as_of=now, tz=SAO_PAULO)[0].tolist()
    probabilities = [s.probability for s in scores]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    top = scores[: len(scores) // 10]
    assert all(1 <= len(s.reasons) <= 3 for s in top)
    assert all(any(ch.isdigit() for ch in reason) and " " in reason for s in top for reason in s.reasons)
    assert any("no check-in for" in reason for s in top for reason in s.reasons)
    assert all(len(set(s.reasons)) == len(s.reasons) for s in scores)


def test_long_absent_students_rank_above_regulars(trained: TrainedChurnModel, history: CheckinHistory,
                                                  now: datetime) -> None:
    ids, x = student_features(history, as_of=now, tz=SAO_PAULO)
    scores = score_students(trained.pipeline, history, as_of=now, tz=SAO_PAULO)
    probability = {s.aluno_id: s.probability for s in scores}
    gone = ids[column(x, "days_since_last") > 45]
    regular = ids[(column(x, "days_since_last") < 4) & (column(x, "visits_last_4w") >= 12)]
    assert gone.size and regular.size
    assert min(probability[int(i)] for i in gone) > max(probability[int(i)] for i in regular)


def test_dataset_hash_ignores_order_but_not_content(gym: SyntheticGym) -> None:
    pairs = list(gym.checkins)
    reference = dataset_hash(CheckinHistory.from_pairs(pairs))
    assert len(reference) == 64 and int(reference, 16) >= 0
    random.Random(4).shuffle(pairs)
    assert dataset_hash(CheckinHistory.from_pairs(pairs)) == reference
    moved = [(pairs[0][0], pairs[0][1] + timedelta(seconds=1)), *pairs[1:]]
    assert dataset_hash(CheckinHistory.from_pairs(moved)) != reference
    assert dataset_hash(CheckinHistory.from_pairs(pairs[1:])) != reference


def test_naive_instants_are_rejected() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        CheckinHistory.from_pairs([(1, datetime(2026, 5, 1, 7))])


def test_pipeline_round_trips_through_joblib(trained: TrainedChurnModel, history: CheckinHistory,
                                             now: datetime) -> None:
    buffer = io.BytesIO()
    joblib.dump(trained.pipeline, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    _, x = student_features(history, as_of=now, tz=SAO_PAULO)
    assert np.array_equal(loaded.predict_proba(x), trained.pipeline.predict_proba(x))
    assert score_students(loaded, history, as_of=now, tz=SAO_PAULO) == score_students(trained.pipeline, history,
                                                                                       as_of=now, tz=SAO_PAULO)
