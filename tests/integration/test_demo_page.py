"""The demo page (`GET /demo`) in headless Chromium: a prompt goes in, the generated answer appears.

The browser is Debian's `chromium` (`scripts/ensure-test-tools.sh`, run by `make test`), driven by the
`playwright` package; no browser is ever downloaded (`playwright install` is not used).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Request, expect, sync_playwright

from tests.integration.browser import LAUNCH_ARGS, chromium, screenshot_on_failure
from tests.integration.stack import Stack

#: The page polls every 2 s; generation on the tiny model takes a few seconds.
ANSWER_TIMEOUT_MS = 90_000
PROMPT = "Escreva uma frase curta sobre o mar."
#: True once the page has reached a final state: the answer, or one of its error messages.
FINISHED_JS = """() => {
  const status = document.querySelector('#status').textContent;
  return status === 'Concluído' || status.startsWith('Falhou') || status.startsWith('Erro');
}"""


def test_demo_page_shows_the_generated_answer(stack: Stack, tmp_path: Path) -> None:
    if stack.name != "redis-sqlite":
        pytest.skip("the browser test runs on the redis-sqlite stack only")
    executable = chromium()
    requests: list[tuple[str, str]] = []
    page_errors: list[str] = []

    def on_request(request: Request) -> None:
        requests.append((request.method, urlsplit(request.url).path))

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=LAUNCH_ARGS)
        try:
            page = browser.new_page()
            page.on("request", on_request)
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            try:
                response = page.goto(f"{stack.api_url}/demo")
                assert response is not None and response.status == 200
                page.fill("#text", PROMPT)
                page.click("#send")
                page.wait_for_function(FINISHED_JS, timeout=ANSWER_TIMEOUT_MS)

                status = page.locator("#status")
                answer = page.locator("#answer")
                expect(status).to_have_text("Concluído")
                expect(answer).to_be_visible()  # `#answer:empty` is hidden
                assert answer.inner_text().strip(), "the page finished without an answer"
                assert page_errors == []
            except BaseException as exc:
                screenshot_on_failure(page, tmp_path / "demo-page.png", exc)
                raise
        finally:
            browser.close()

    assert ("POST", "/api/predict") in requests, requests
    assert any(method == "GET" and path.startswith("/api/result/") for method, path in requests), requests
