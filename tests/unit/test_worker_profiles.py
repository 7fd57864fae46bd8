"""Worker profiles: a worker reserves several messages per process only when every queue it consumes is short."""

from __future__ import annotations

import pytest

from taskplatform.messaging.queues import TASK_QUEUES
from taskplatform.messaging.worker_profiles import SHORT_TASK_QUEUES, prefetch_multiplier


@pytest.mark.parametrize(("queues", "expected"), [
    (["checkins", "devices", "sessions"], 8),
    (["predictions"], 8),
    ([" devices ", ""], 8),
    (["checkins", "reports"], 1),  # one long queue: an hour of report must not hold reserved check-ins
    (["training"], 1),
    ([], 1),  # no -Q: the worker consumes every queue
    (list(TASK_QUEUES), 1),
])
def test_the_prefetch_follows_the_queues(queues: list[str], expected: int) -> None:
    assert prefetch_multiplier(queues, short=8) == expected


def test_every_short_queue_is_a_task_queue() -> None:
    assert set(TASK_QUEUES) > SHORT_TASK_QUEUES
