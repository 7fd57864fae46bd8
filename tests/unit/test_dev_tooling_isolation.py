"""The runtime (API, workers, beat) never imports the development tooling in `taskplatform/dev/`.

Read from the source with `ast`, nothing imported: an import inside a function counts as much as one at the top.
"""

from __future__ import annotations

from pathlib import Path

from tests.unit.imports import ROOT, imported_modules, module_name

DEV = "taskplatform.dev"
#: What the API, the workers and beat load; `taskplatform/__main__.py` is the tooling's command line.
RUNTIME = ("api", "tasks", "taskplatform", "celeryconfig.py")
NOT_RUNTIME = (ROOT / "taskplatform" / "dev", ROOT / "taskplatform" / "__main__.py")


def runtime_files() -> list[Path]:
    files: list[Path] = []
    for entry in RUNTIME:
        path = ROOT / entry
        files.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return [f for f in files if not any(f == skip or skip in f.parents for skip in NOT_RUNTIME)]


def dev_imports(path: Path) -> list[str]:
    names = imported_modules(path.read_text(encoding="utf-8"), module_name(path), is_package=path.name == "__init__.py")
    return [f"{path.relative_to(ROOT)}:{line} imports {name}" for line, name in names
            if name == DEV or name.startswith(f"{DEV}.")]


def test_the_runtime_never_imports_the_development_tooling() -> None:
    """Breach caught: an API, task or platform module (or celeryconfig) importing `taskplatform.dev`, so the
    supervisor, the embedded servers or demo data would load in production processes."""
    files = runtime_files()
    assert any(f.parts[-2:] == ("api", "main.py") for f in files) and ROOT / "celeryconfig.py" in files
    offenders = sorted({offence for path in files for offence in dev_imports(path)})
    assert not offenders, "\n".join(offenders)


def test_relative_and_dynamic_imports_are_seen() -> None:
    """Breach caught: the check above missing `from . import dev`, a relative `from .dev...` in a subpackage, or
    `importlib.import_module("taskplatform.dev...")`."""
    source = "from . import dev\nimport importlib\nimportlib.import_module('taskplatform.dev.embedded')\n"
    names = {name for _, name in imported_modules(source, "taskplatform.__main__")}
    assert {"taskplatform.dev", "taskplatform.dev.embedded"} <= names
    names = {name for _, name in imported_modules("from ..dev.processes import wait_until\n", "taskplatform.core",
                                                  is_package=True)}
    assert "taskplatform.dev.processes.wait_until" in names
