"""Applying a batch when one bad item must not hold back the others: split it until the bad ones are found."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from taskplatform.core.errors import is_transient

T = TypeVar("T")


@dataclass
class Outcome(Generic[T]):
    """What became of each item: applied (committed), refused for good (with the error), or held
    (not applied, because a server was unavailable: try again later)."""

    applied: list[T] = field(default_factory=list)
    refused: list[tuple[T, BaseException]] = field(default_factory=list)
    held: list[T] = field(default_factory=list)
    #: The transient error that stopped the work, if one did.
    error: BaseException | None = None
    #: How many times `apply` was called.
    attempts: int = 0


def apply_bisecting(items: Sequence[T], apply: Callable[[Sequence[T]], None],
                    transient: Callable[[BaseException], bool] = is_transient) -> Outcome[T]:
    """Apply `items` in one call of `apply` (which commits, or raises and changes nothing).

    When it raises for a permanent reason, the part is split in halves, left half first, so
    items are still applied in their order, until each item that fails alone is found: those
    are `refused`, everything else is `applied`. k bad items among n cost about 2·k·log2(n)
    calls. A transient error stops at once: the part in hand and everything after it is `held`
    (parts already committed stay applied).
    """
    outcome: Outcome[T] = Outcome()
    stack: list[Sequence[T]] = [items] if items else []
    while stack:
        part = stack.pop()
        outcome.attempts += 1
        try:
            apply(part)
        except Exception as exc:
            if transient(exc):
                outcome.error = exc
                outcome.held = [*part, *(item for rest in reversed(stack) for item in rest)]
                return outcome
            if len(part) == 1:
                outcome.refused.append((part[0], exc))
                continue
            middle = len(part) // 2
            stack.extend((part[middle:], part[:middle]))
            continue
        outcome.applied.extend(part)
    return outcome
