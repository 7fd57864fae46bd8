"""Session-wide test options and the summary of skipped service groups."""

from __future__ import annotations

import os

import pytest

from tests.services import REGISTRY


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--require-services", action="store_true", default=False,
                     help="fail the run if a service group (RabbitMQ, PostgreSQL) was skipped (CI sets this)")


def _required(config: pytest.Config) -> bool:
    return bool(config.getoption("--require-services")) or os.environ.get("CI", "").lower() == "true"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    if not REGISTRY.skipped:
        probed = ", ".join(sorted(REGISTRY.reasons)) or "none"
        terminalreporter.write_line(f"service groups probed and available: {probed}")
        return
    terminalreporter.section("SKIPPED SERVICE GROUPS", sep="!", red=True, bold=True)
    for group, reason in sorted(REGISTRY.skipped.items()):
        terminalreporter.write_line(f"  {group}: its tests did NOT run. {reason}", red=True, bold=True)
    if _required(config):
        terminalreporter.write_line("  --require-services / CI=true: a skipped service group fails the run.",
                                    red=True, bold=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if REGISTRY.skipped and _required(session.config) and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
