"""Test data builders shared by the integration tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

_ids = itertools.count(1)


def new_student_ids(api: httpx.Client, count: int) -> list[int]:
    """Register `count` students with ids no other test uses, and return the ids."""
    base = next(_ids) * 1_000_000
    ids = list(range(base, base + count))
    for start in range(0, count, 10_000):
        response = api.post("/alunos", json=[{"aluno_id": i, "nome": f"aluno {i}"} for i in ids[start:start + 10_000]])
        assert response.status_code == 200, response.text
    return ids


def checkin_batch(ids: list[int], per_student: int, day: datetime | None = None) -> list[dict[str, Any]]:
    """Check-ins with explicit instants, distinct per (student, instant)."""
    day = day or datetime(2026, 11, 20, 6, tzinfo=UTC)
    return [{"aluno_id": i, "data_hora": (day + timedelta(minutes=k, seconds=n % 60)).isoformat()}
            for n, i in enumerate(ids) for k in range(per_student)]
