"""The hosts of `make test-hosts`, built once for the session, and the one-line report of each fault."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.hosts.hosts import Hosts, running_hosts
from tests.hosts.prerequisites import missing
from tests.services import REGISTRY

#: The report lines of the faults that ran, printed at the end of the run.
REPORT: list[str] = []


@pytest.fixture(scope="session")
def hosts() -> Iterator[Hosts]:
    reason = missing()
    if reason is not None:
        # The project's convention: a skipped service group is summarised loudly, and fails the run under
        # CI=true or --require-services.
        REGISTRY.skip("hosts", reason)
    logging.getLogger("tests.hosts").setLevel(logging.INFO)
    with running_hosts() as built:
        yield built


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.section("hosts: faults")
        for line in REPORT:
            terminalreporter.write_line(line)
