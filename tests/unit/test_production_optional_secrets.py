"""The production guard on credentials production does not require: read keys, JWT secret, model-store keys."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.unit.settings_env import PRODUCTION, settings

pytestmark = pytest.mark.usefixtures("clean_env")

LONG = "r" * 40


@pytest.mark.parametrize(("override", "problem"), [
    ({"API_READ_KEYS": "changeme"}, "API_READ_KEYS contains a placeholder key"),
    ({"API_READ_KEYS": f"{LONG},short-reader"}, "API_READ_KEYS has 1 key(s) shorter than 32 characters"),
    ({"API_READ_KEYS": PRODUCTION["API_KEYS"].split(",")[0]},
     "API_READ_KEYS and API_KEYS share a key (it would have the full scope)"),
    ({"MODELS_S3_ACCESS_KEY": "AKIA-short", "MODELS_S3_SECRET_KEY": LONG},
     "MODELS_S3_ACCESS_KEY is a default value or shorter than 16 characters"),
    ({"MODELS_S3_ACCESS_KEY": LONG, "MODELS_S3_SECRET_KEY": "devsecret"},
     "MODELS_S3_SECRET_KEY is a default value or shorter than 32 characters"),
])
def test_production_refuses_weak_optional_credentials(monkeypatch: pytest.MonkeyPatch, override: dict[str, str],
                                                      problem: str) -> None:
    """Breach caught: a read key, or the model store's own keys, guessable in production while every required
    credential is strong (the optional ones were never checked)."""
    with pytest.raises(ValidationError) as excinfo:
        settings(monkeypatch, **{**PRODUCTION, **override})
    assert problem in str(excinfo.value)


def test_production_accepts_strong_optional_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = settings(monkeypatch, **{**PRODUCTION, "API_READ_KEYS": LONG, "JWT_SECRET": "j" * 40,
                                      "MODELS_S3_ACCESS_KEY": LONG, "MODELS_S3_SECRET_KEY": LONG})
    assert loaded.api_read_key_set() == {LONG}
