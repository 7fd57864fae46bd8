"""Session-wide test options, the test groups `make test` runs in parallel, and the summary of skipped service
groups."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.services import REGISTRY, skipped_group

#: Modules that use the machine's RabbitMQ outside a stack: they run in the RabbitMQ stack's group, because that
#: group's broker-restart test stops the broker application for every vhost.
RABBITMQ_GROUP = "rabbitmq-postgres"
RABBITMQ_MODULES = {"tests/integration/test_rabbitmq_device_user.py", "tests/integration/test_worker_liveness.py"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--require-services", action="store_true", default=False,
                     help="fail the run if a service group (RabbitMQ, PostgreSQL) was skipped (CI sets this)")
    parser.addoption("--hosts", action="store_true", default=False,
                     help="run tests/hosts/, the faults across hosts in network namespaces (make test-hosts; root)")


def pytest_ignore_collect(collection_path: Any, config: pytest.Config) -> bool | None:
    """tests/hosts/ builds a dozen hosts as root and runs for minutes: only `make test-hosts` (--hosts) runs it."""
    if "hosts" in collection_path.parts and collection_path.is_relative_to(config.rootpath / "tests" / "hosts"):
        return not config.getoption("--hosts")
    return None


#: The stacks' parameter ids, as they appear in a test's id (`tests/integration/conftest.py` declares them).
STACK_IDS = ("redis-sqlite", "redis-postgres", "rabbitmq-postgres")


def group_of(nodeid: str) -> str:
    """The group a test runs in under xdist: its stack's, else its module's."""
    module, _, rest = nodeid.partition("::")
    params = rest[rest.find("[") + 1:-1] if rest.endswith("]") else ""
    for stack in STACK_IDS:
        if f"-{stack}-" in f"-{params}-":  # one of the id's dash-joined parts
            return stack
    return RABBITMQ_GROUP if module in RABBITMQ_MODULES else module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`make test` runs `-n 4`: one group per stack, so each stack's servers and workers are started once, by
    one test process, which runs its tests in order; any other test is grouped by its module. Largest groups
    first, each to the next free process."""
    from xdist.scheduler import LoadScopeScheduling

    class StackGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return StackGroups(config, log)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Under xdist a skip is recorded in a worker; the run's summary (in the controller) reads it from the report."""
    if report.skipped and isinstance(report.longrepr, tuple):
        found = skipped_group(str(report.longrepr[2]))
        if found is not None:
            REGISTRY.skipped.setdefault(*found)


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _required(config: pytest.Config) -> bool:
    return bool(config.getoption("--require-services")) or os.environ.get("CI", "").lower() == "true"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    if not REGISTRY.skipped:
        REGISTRY.probe_all()  # the controller of an xdist run probed nothing itself
        available = ", ".join(sorted(g for g, reason in REGISTRY.reasons.items() if reason is None)) or "none"
        terminalreporter.write_line(f"service groups available: {available}")
        for group, reason in sorted(REGISTRY.reasons.items()):
            if reason is not None:
                terminalreporter.write_line(f"service group {group} unreachable (no test that ran needed it): "
                                            f"{reason}")
        return
    terminalreporter.section("SKIPPED SERVICE GROUPS", sep="!", red=True, bold=True)
    for group, reason in sorted(REGISTRY.skipped.items()):
        terminalreporter.write_line(f"  {group}: its tests did NOT run. {reason}", red=True, bold=True)
    if _required(config):
        terminalreporter.write_line("  --require-services / CI=true: a skipped service group fails the run.",
                                    red=True, bold=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if REGISTRY.skipped and _required(session.config) and exitstatus == 0 and not _is_xdist_worker(session.config):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
