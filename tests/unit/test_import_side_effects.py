"""No work at import time beyond definitions: importing a module starts no thread and changes no process-wide
state (issue 10)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys, threading, warnings
from pathlib import Path

root = Path.cwd().resolve()
ours = []  # filters installed by the project's code (libraries install their own when imported)


def recording(install):
    def record(*args, **kwargs):
        caller = Path(sys._getframe(1).f_code.co_filename).resolve()
        if caller.is_relative_to(root) and ".venv" not in caller.parts and "site-packages" not in caller.parts:
            ours.append((str(caller), args, kwargs))
        return install(*args, **kwargs)
    return record


warnings.filterwarnings = recording(warnings.filterwarnings)
warnings.simplefilter = recording(warnings.simplefilter)
threads = {thread.ident for thread in threading.enumerate()}
import MODULE
started = [thread.name for thread in threading.enumerate() if thread.ident not in threads]
assert not started, f"threads started by the import: {started}"
assert not ours, f"warning filters installed by the import: {ours}"
"""


@pytest.mark.parametrize("module", ["taskplatform.housing.service", "celeryconfig"])
def test_importing_starts_no_thread_and_changes_no_warnings_filter(module: str) -> None:
    """Breach caught: `housing.service` installing a process-wide warnings filter or starting its flusher thread
    when imported, or `celeryconfig` reading the settings (and refusing a missing broker) at import. A fresh
    interpreter, without a broker configured, so that nothing imported before decides the outcome."""
    env = {"PATH": "/usr/bin:/bin", "TASKPLATFORM_ENV_FILE": "", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PROBE.replace("MODULE", module)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
