"""Headless Debian Chromium driven by the `playwright` package, for the browser tests (no browser download)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tests.services import REGISTRY

CHROMIUM = "/usr/bin/chromium"
#: Flags for a closed network: no background traffic, no sandbox (root in containers), no GPU.
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]
#: Small enough for the README's screenshots.
VIEWPORT = {"width": 1100, "height": 720}


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


class Operator:
    """A browser page that records every JavaScript error it sees."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} at {message.location.get('url')}")

    def open(self, path: str, status: int = 200) -> None:
        response = self.page.goto(self.base_url + path)
        assert response is not None and response.status == status, (path, response and response.status)


@contextmanager
def operator(base_url: str, tmp_path: Path, name: str) -> Iterator[Operator]:
    """A page of a fresh headless browser on `base_url`; the test fails on any JavaScript error the page saw, and
    keeps a screenshot (`tmp_path/<name>.png`) when it fails."""
    with sync_playwright() as playwright:
        browser: Browser = playwright.chromium.launch(executable_path=chromium(), headless=True, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT, locale="pt-BR")  # type: ignore[arg-type]
            person = Operator(page, base_url)
            try:
                yield person
                assert person.errors == []
            except BaseException as exc:
                screenshot_on_failure(page, tmp_path / f"{name}.png", exc)
                raise
        finally:
            browser.close()
