"""Fixtures shared by the unit tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from taskplatform.core.db import Base, make_engine
from tests.unit.settings_env import setting_env_names


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh SQLite file with the platform's tables, made from the models (no server needed)."""
    engine = make_engine(f"sqlite:///{tmp_path}/unit.db")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on `engine` whose objects stay readable after a commit."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting leaks in from the environment of whoever runs the tests (names are case-insensitive)."""
    names = setting_env_names()
    for key in list(os.environ):
        if key.upper() in names:
            monkeypatch.delenv(key)
