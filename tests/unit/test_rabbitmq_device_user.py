"""The devices' RabbitMQ user: its password is never a default, and its permissions are anchored and narrow."""

from __future__ import annotations

import re

import pytest

from taskplatform.dev.rabbitmq_device_user import DEVICE_PERMISSIONS, checked_password, management_requests


@pytest.mark.parametrize("password", [None, "", "guest", "CHANGE_ME", "short-password"])
def test_a_missing_default_or_short_password_is_refused(password: str | None) -> None:
    """Breach: the devices' user created with a default or guessable password."""
    with pytest.raises(SystemExit, match="RABBITMQ_DEVICE_PASSWORD"):
        checked_password(password)
    assert checked_password("x" * 24) == "x" * 24


def test_the_permissions_match_rasp_data_and_the_default_exchange_only() -> None:
    """Breach: an unanchored regex (RabbitMQ searches, it does not match whole names) lets `rasp_data_x` or
    `amq.defaultX` through."""
    def allowed(kind: str, name: str) -> bool:
        return re.search(DEVICE_PERMISSIONS[kind], name) is not None

    assert allowed("configure", "rasp_data") and allowed("write", "amq.default")
    for name in ("rasp_data.dlq", "xrasp_data", "checkins", "amq.topic", "amq.defaultx", "amqxdefault", ""):
        assert not allowed("configure", name), name
        assert not allowed("write", name), name
    assert not any(allowed("read", name) for name in ("rasp_data", "checkins", "amq.default"))


def test_the_management_api_gets_a_user_without_tags_and_the_permissions_on_the_platform_vhost() -> None:
    """Breach: a tagged device user (e.g. `management`) could log in to the management API; the default vhost
    `/` must be escaped or the permissions land nowhere."""
    (user_path, user), (permissions_path, permissions) = management_requests("/", "rasp devices", "p" * 20)
    assert user_path == "/api/users/rasp%20devices" and user == {"password": "p" * 20, "tags": ""}
    assert permissions_path == "/api/permissions/%2F/rasp%20devices" and permissions == DEVICE_PERMISSIONS
