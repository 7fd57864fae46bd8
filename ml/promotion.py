"""Whether a newly trained model replaces the active one (pure)."""

from __future__ import annotations

from typing import Any


def should_promote(candidate: dict[str, Any], active: dict[str, Any] | None, *, metric: str,
                   higher_is_better: bool = True) -> tuple[bool, str]:
    """Promote when there is no active model or the candidate's `metric` is not worse."""
    new = candidate.get(metric)
    if new is None:
        return False, f"not promoted: the new model has no {metric}"
    if active is None:
        return True, f"promoted: first model ({metric} {new:.4f})"
    old = active.get(metric)
    if old is None:
        return True, f"promoted: the active model has no {metric} to compare ({metric} {new:.4f})"
    better_or_equal = new >= old if higher_is_better else new <= old
    verdict = "promoted" if better_or_equal else "not promoted"
    relation = "not worse than" if better_or_equal else "worse than"
    return better_or_equal, f"{verdict}: {metric} {new:.4f} is {relation} the active model's {old:.4f}"
