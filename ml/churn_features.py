"""Per-student churn features and labels from raw check-ins, computed with numpy only and no look-ahead."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

DAY = 86_400
WEEKS4 = 28 * DAY
# Offsets are sampled on this grid and transitions located by bisection, so two DST changes closer than this would be
# merged; no IANA zone has ever had that.
_OFFSET_GRID_S = 6 * 3600

FEATURES: tuple[str, ...] = (
    "days_since_last",    # days from the last visit to as_of
    "visits_last_4w",     # visits in [as_of - 28 d, as_of)
    "visits_prev_4w",     # visits in [as_of - 56 d, as_of - 28 d)
    "visit_trend",        # (last - prev) / (last + prev + 1): -1 collapsing .. +1 growing
    "tenure_days",        # days since the first visit
    "visits_per_week",    # lifetime visits per week of tenure (at least one week)
    "top_weekday_share",  # share of visits on the student's most frequent weekday
    "hour_std",           # std of the local hour of the visits
    "gap_mean_days",      # mean days between consecutive visits (tenure when there is a single visit)
    "gap_std_days",       # std of those gaps
    "overdue_ratio",      # days_since_last / the student's usual gap: how late the next visit already is
)


@dataclass(frozen=True)
class CheckinHistory:
    aluno_ids: np.ndarray
    epoch_s: np.ndarray

    def __post_init__(self) -> None:
        ids = np.asarray(self.aluno_ids, dtype=np.int64).reshape(-1)
        ts = np.asarray(self.epoch_s, dtype=np.int64).reshape(-1)
        if ids.shape != ts.shape:
            raise ValueError(f"aluno_ids ({ids.size}) and epoch_s ({ts.size}) differ in length")
        object.__setattr__(self, "aluno_ids", ids)
        object.__setattr__(self, "epoch_s", ts)

    def __len__(self) -> int:
        return int(self.aluno_ids.size)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[int, datetime]]) -> CheckinHistory:
        ids: list[int] = []
        ts: list[int] = []
        for aluno_id, instant in pairs:
            ids.append(int(aluno_id))
            ts.append(_epoch(instant))
        return cls(np.array(ids, dtype=np.int64), np.array(ts, dtype=np.int64))


def _epoch(instant: datetime) -> int:
    # a naive datetime would silently be read in the server's zone
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"check-in instant {instant.isoformat()} has no time zone")
    return math.floor(instant.timestamp())


def _utc_offset(epoch: int, tz: ZoneInfo) -> int:
    return int(datetime.fromtimestamp(epoch, tz).utcoffset().total_seconds())  # type: ignore[union-attr]


def local_seconds(epoch_s: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """Epoch seconds shifted to wall-clock time in `tz`, DST-aware, with O(span / 6 h) zoneinfo calls, not O(n)."""
    epoch_s = np.asarray(epoch_s, dtype=np.int64)
    if epoch_s.size == 0:
        return epoch_s.copy()
    lo, hi = int(epoch_s.min()), int(epoch_s.max())
    grid = list(range(lo, hi + _OFFSET_GRID_S, _OFFSET_GRID_S))
    offsets = [_utc_offset(t, tz) for t in grid]
    starts, values = [lo], [offsets[0]]
    for i in range(1, len(grid)):
        if offsets[i] == offsets[i - 1]:
            continue
        before, after = grid[i - 1], grid[i]
        while after - before > 1:
            mid = (before + after) // 2
            if _utc_offset(mid, tz) == offsets[i - 1]:
                before = mid
            else:
                after = mid
        starts.append(after)
        values.append(offsets[i])
    index = np.searchsorted(np.array(starts, dtype=np.int64), epoch_s, side="right") - 1
    return epoch_s + np.array(values, dtype=np.int64)[index]


def _per_student(inv: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(inv, weights=weights, minlength=n).astype(np.float64)


def student_features(history: CheckinHistory, *, as_of: datetime, tz: ZoneInfo) -> tuple[np.ndarray, np.ndarray]:
    """(sorted aluno_ids, X) for students with a check-in before `as_of`; check-ins at or after `as_of` are ignored.

    A visit is a local calendar day with at least one check-in, so turnstile double-scans and a second session on
    the same day do not look like extra visits or zero-day gaps.
    """
    cutoff = _epoch(as_of)
    past = history.epoch_s < cutoff
    ids, ts = history.aluno_ids[past], history.epoch_s[past]
    order = np.lexsort((ts, ids))
    ids, ts = ids[order], ts[order]
    local = local_seconds(ts, tz)
    local_day = local // DAY
    new_visit = np.ones(ids.size, dtype=bool)
    new_visit[1:] = (ids[1:] != ids[:-1]) | (local_day[1:] != local_day[:-1])
    ids, ts, local, local_day = ids[new_visit], ts[new_visit], local[new_visit], local_day[new_visit]

    students, first, inv, visits = np.unique(ids, return_index=True, return_inverse=True, return_counts=True)
    n = students.size
    if n == 0:
        return students, np.zeros((0, len(FEATURES)))
    counts = visits.astype(np.float64)
    last = first + visits - 1
    days_since_last = (cutoff - ts[last]) / DAY
    tenure = (cutoff - ts[first]) / DAY
    last4 = _per_student(inv[ts >= cutoff - WEEKS4], n)
    prev4 = _per_student(inv[(ts >= cutoff - 2 * WEEKS4) & (ts < cutoff - WEEKS4)], n)

    weekday = (local_day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    by_weekday = np.bincount(inv * 7 + weekday, minlength=n * 7).reshape(n, 7)
    hour = (local % DAY) / 3600.0
    hour_mean = _per_student(inv, n, hour) / counts
    hour_var = np.maximum(_per_student(inv, n, hour**2) / counts - hour_mean**2, 0.0)

    same = ids[1:] == ids[:-1]
    gaps = np.diff(ts)[same] / DAY
    owner = inv[1:][same]
    n_gaps = counts - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        gap_mean = np.where(n_gaps > 0, _per_student(owner, n, gaps) / n_gaps, tenure)
        gap_var = np.where(n_gaps > 1, _per_student(owner, n, gaps**2) / n_gaps - gap_mean**2, 0.0)

    columns = {
        "days_since_last": days_since_last,
        "visits_last_4w": last4,
        "visits_prev_4w": prev4,
        "visit_trend": (last4 - prev4) / (last4 + prev4 + 1.0),
        "tenure_days": tenure,
        "visits_per_week": counts / np.maximum(tenure / 7.0, 1.0),
        "top_weekday_share": by_weekday.max(axis=1) / counts,
        "hour_std": np.sqrt(hour_var),
        "gap_mean_days": gap_mean,
        "gap_std_days": np.sqrt(np.maximum(gap_var, 0.0)),
        "overdue_ratio": days_since_last / np.maximum(gap_mean, 1.0),
    }
    return students, np.column_stack([columns[name] for name in FEATURES])


def churn_labels(history: CheckinHistory, *, aluno_ids: np.ndarray, as_of: datetime,
                 horizon_days: int = 30) -> np.ndarray:
    """1 where the student has no check-in in [as_of, as_of + horizon_days), else 0."""
    start = _epoch(as_of)
    stop = _epoch(as_of + timedelta(days=horizon_days))
    window = (history.epoch_s >= start) & (history.epoch_s < stop)
    came_back = np.isin(np.asarray(aluno_ids, dtype=np.int64), history.aluno_ids[window])
    return (~came_back).astype(np.int64)


def dataset_hash(history: CheckinHistory) -> str:
    """sha256 hex of the check-ins as a multiset: the same rows in any order give the same hash."""
    order = np.lexsort((history.epoch_s, history.aluno_ids))
    digest = hashlib.sha256(b"checkin-history/v1\0")
    digest.update(np.int64(len(history)).astype("<i8").tobytes())
    digest.update(history.aluno_ids[order].astype("<i8").tobytes())
    digest.update(history.epoch_s[order].astype("<i8").tobytes())
    return digest.hexdigest()
