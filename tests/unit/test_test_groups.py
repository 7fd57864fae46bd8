"""The test run's own plumbing: which process group a test runs in, and how a skipped service group is reported
from a parallel run."""

from __future__ import annotations

import pytest

from tests.conftest import RABBITMQ_GROUP, STACK_IDS, group_of
from tests.integration.conftest import STACKS
from tests.services import ServiceRegistry, skipped_group


@pytest.mark.parametrize(("nodeid", "group"), [
    ("tests/integration/test_limits.py::test_offset[redis-sqlite-/tarefas]", "redis-sqlite"),
    ("tests/integration/test_api.py::test_enqueue[rabbitmq-postgres]", "rabbitmq-postgres"),
    ("tests/integration/test_api.py::test_path[/x-redis-postgres]", "redis-postgres"),
    ("tests/integration/test_api.py::test_path[1-redis-postgres-2]", "redis-postgres"),
    ("tests/integration/test_rabbitmq_device_user.py::test_publishes", RABBITMQ_GROUP),
    ("tests/integration/test_nginx.py::test_https[redirect]", "tests/integration/test_nginx.py"),
    ("tests/unit/test_cursor.py::test_round_trip[key0]", "tests/unit/test_cursor.py"),
])
def test_a_stacks_tests_run_in_one_group_and_any_other_test_with_its_module(nodeid: str, group: str) -> None:
    """Breach caught: a stack's tests spread over several processes, each starting the stack (four RabbitMQ stacks
    deleting each other's queues on one vhost), or a RabbitMQ module outside the group that restarts the broker."""
    assert group_of(nodeid) == group


def test_the_groups_know_every_stack() -> None:
    """Breach caught: a stack added to the integration fixtures but not to the groups, whose tests would then be
    spread over every process, each starting that stack."""
    assert tuple(STACKS) == STACK_IDS


def test_a_skipped_service_group_is_read_back_from_its_skip_message() -> None:
    """Breach caught: a parallel run whose workers skipped a service group and whose summary (in the controller,
    which skipped nothing itself) reports every group available, so CI=true passes without RabbitMQ."""
    registry = ServiceRegistry()
    with pytest.raises(pytest.skip.Exception) as skipped:
        registry.skip("rabbitmq", "127.0.0.1:5672: ConnectionRefusedError: [Errno 111] Connection refused")
    assert registry.skipped == {"rabbitmq": "127.0.0.1:5672: ConnectionRefusedError: [Errno 111] Connection refused"}
    assert skipped_group(f"Skipped: {skipped.value}") == ("rabbitmq",
                                                          "127.0.0.1:5672: ConnectionRefusedError: [Errno 111] "
                                                          "Connection refused")
    assert skipped_group("Skipped: the browser tests run on the redis-sqlite stack only") is None
