"""The layers point one way: `api/` and `tasks/` -> the domains -> the platform -> `ml/` and `storage/`.

Read from the source (tests/unit/imports.py), so an import inside a function is caught as well as one at the top.
The README's "Layout" section shows the same rule.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.imports import ROOT, imported_modules, module_name

#: One package per domain under taskplatform/; everything else there is the platform, except the entry points.
DOMAINS = ("gym", "housing", "textgen", "devices", "sessions")
#: Entry points that assemble the platform and every domain: the tooling's command line and dev stack, and
#: Alembic's environment (it must see every table). They are outside the runtime's layers.
ENTRY_POINTS = ("dev", "__main__", "migrations")
SOURCES = ("api", "tasks", "taskplatform", "ml", "storage", "celeryconfig.py")

#: layer -> the layers it may import (besides itself; a domain only its own package).
ALLOWED: dict[str, set[str]] = {
    "library:ml": set(),
    "library:storage": set(),
    "platform": {"library:ml", "library:storage"},
    "domain": {"platform", "library:ml", "library:storage"},
    "tasks": {"domain", "platform", "library:ml", "library:storage"},
    "api": {"domain", "platform", "library:ml", "library:storage"},
    "config": {"domain", "platform", "library:ml", "library:storage"},
    "entry": {"domain", "platform", "library:ml", "library:storage", "config"},
}


def layer(module: str) -> str | None:
    """The layer of a project module, None for anything outside the project."""
    parts = module.split(".")
    if parts[0] in ("ml", "storage"):
        return f"library:{parts[0]}"
    if parts[0] in ("api", "tasks"):
        return parts[0]
    if parts[0] == "celeryconfig":
        return "config"
    if parts[0] != "taskplatform":
        return None
    if len(parts) > 1 and parts[1] in ENTRY_POINTS:
        return "entry"
    return "domain" if len(parts) > 1 and parts[1] in DOMAINS else "platform"


def domain_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if layer(module) == "domain" else None


def violations(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """Each import in `source` (the text of `module`) that goes against the layers."""
    importer = layer(module)
    assert importer is not None, module
    found = []
    for line, name in imported_modules(source, module, is_package=is_package):
        target = layer(name)
        if target is None or target == importer and (target != "domain" or domain_of(name) == domain_of(module)):
            continue
        if target not in ALLOWED[importer]:
            found.append(f"{module}:{line} ({importer}) imports {name} ({target})")
    return found


def project_files() -> list[Path]:
    files: list[Path] = []
    for entry in SOURCES:
        path = ROOT / entry
        files.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return files


def test_every_import_points_down_the_layers() -> None:
    """Breach caught: the platform importing a domain, `tasks/` or `api/`; a domain importing another domain;
    `tasks/` importing `api/` or the reverse; `ml/` or `storage/` importing anything of the project."""
    files = project_files()
    assert len(files) > 100 and any(f.parts[-2:] == ("ledger", "records.py") for f in files)
    offenders = [v for path in files
                 for v in violations(path.read_text(encoding="utf-8"), module_name(path),
                                     is_package=path.name == "__init__.py")]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize(("module", "source"), [
    ("taskplatform.dead_letters.replay", "from taskplatform.devices.readings import parse_reading\n"),
    ("taskplatform.ledger.records", "def f():\n    import tasks.devices\n"),
    ("taskplatform.messaging.queues", "from api.main import create_app\n"),
    ("taskplatform.gym.reports", "from taskplatform.housing.service import PREDICTOR\n"),
    ("tasks.checkins", "from api.routers.checkins import router\n"),
    ("storage.s3", "from taskplatform.core.settings import get_settings\n"),
    ("ml.housing", "import importlib\nimportlib.import_module('taskplatform.core.db')\n"),
])
def test_the_rule_catches_an_import_against_the_layers(module: str, source: str) -> None:
    """The check above would see each of these breaches."""
    assert violations(source, module)


@pytest.mark.parametrize(("module", "source"), [
    ("taskplatform.devices.store", "from taskplatform.core.db import Base\nimport taskplatform.devices.models\n"),
    ("tasks.devices", "from taskplatform.devices.store import upsert_device_statuses\n"),
    ("api.routers.housing", "from ml.housing_csv import read_csv\nfrom storage.keys import model_key\n"),
    ("taskplatform.migrations.env", "import taskplatform.gym.models\n"),
])
def test_the_rule_allows_imports_down_the_layers(module: str, source: str) -> None:
    assert violations(source, module) == []
