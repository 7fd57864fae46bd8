"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from taskplatform.db import Base, make_engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh SQLite file with the platform's tables, made from the models (no server needed)."""
    engine = make_engine(f"sqlite:///{tmp_path}/unit.db")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()
