"""Importing a module does nothing but define: the API starts without the heavy ML libraries, and the ORM models
without the Celery app. Each import runs in a fresh interpreter, since this test process may have loaded them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sklearn", "pandas", "matplotlib", "scipy", "joblib", "torch", "transformers")


def loaded_after(module: str, candidates: tuple[str, ...]) -> list[str]:
    """Which of `candidates` (top-level packages) `import module` loads in a fresh interpreter."""
    code = (f"import sys, json; import {module}; "
            f"print(json.dumps(sorted(name for name in {list(candidates)!r} if name in sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["api.main", "taskplatform.housing.service", "taskplatform.registry.artifacts"])
def test_api_imports_no_ml_library(module: str) -> None:
    """Catches the API process loading scikit-learn, pandas, matplotlib (and joblib, scipy), torch or
    transformers at start-up (2.7 s and their memory in every API process): they load on first use."""
    assert loaded_after(module, HEAVY) == []


MODEL_MODULES = ["taskplatform.ledger.models", "taskplatform.dead_letters.models", "taskplatform.registry.models",
                 "taskplatform.gym.models", "taskplatform.devices.models"]


@pytest.mark.parametrize("module", MODEL_MODULES)
def test_models_import_no_celery(module: str) -> None:
    """Catches importing the ORM tables (which migrations and tools import) loading Celery."""
    assert loaded_after(module, ("celery", "kombu")) == []
