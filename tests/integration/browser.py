"""Headless Debian Chromium driven by the `playwright` package, for the browser tests (no browser download)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.services import REGISTRY

CHROMIUM = "/usr/bin/chromium"
#: Flags for a closed network: no background traffic, no sandbox (root in containers), no GPU.
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]


def chromium() -> str:
    """Debian's chromium; without it the test is skipped loudly (CI=true fails the run)."""
    path = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    if path is None:
        reason = f"{CHROMIUM} is not installed (run scripts/ensure-test-tools.sh as root, or apt-get install chromium)"
        REGISTRY.skipped["chromium"] = reason
        pytest.skip(f"browser test: {reason}")
    return path


def screenshot_on_failure(page: Page, path: Path, failure: BaseException) -> None:
    """Keep what the page showed when the test failed; never hide the failure itself."""
    try:
        page.screenshot(path=str(path), full_page=True)
    except Exception as exc:
        failure.add_note(f"no screenshot of the page: {exc}")
    else:
        failure.add_note(f"screenshot of the page: {path}")
