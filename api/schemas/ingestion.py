"""HTTP models of devices, sessions and dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from taskplatform.devices import TEXT_NUMBER_LIMIT, DeviceReading


class DeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    raspberry_id: str
    wifi_status: str | None
    mem_usage: str | None
    cpu_temp: str | None
    led_internal_status: bool
    led_external_status: bool
    cpu_percent: float | None
    gpio_used_count: int | None
    spi_buses: Any | None
    i2c_buses: Any | None
    usb_devices_count: int | None
    net_bytes_sent: int | None
    net_bytes_recv: int | None
    net_ifaces: Any | None
    extra: dict[str, Any] | None
    first_seen: datetime
    last_update: datetime
    stale: bool = False


class DeviceList(BaseModel):
    total: int
    limit: int
    offset: int
    stale_after_s: int
    items: list[DeviceOut]


class DeviceMessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    raspberry_id: str | None
    received_at: datetime
    body: str


class DeadLetterOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    queue: str
    task_name: str | None
    reason: str
    error: str | None
    attempts: int
    body: str
    created_at: datetime
    replayed_at: datetime | None
    replay_task_id: str | None


class DeadLetterList(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[DeadLetterOut]


class ReplayIn(BaseModel):
    """Optional corrected body to apply instead of the stored one."""

    model_config = ConfigDict(extra="forbid")

    body: Any | None = Field(default=None, description="A corrected message (JSON value or text)")


class BulkReplayOut(BaseModel):
    dry_run: bool
    matched: int
    replayed: list[dict[str, Any]]
    failed: list[dict[str, Any]]


#: Fields a device may send as a number too: they are stored as text ("48°C" or 48).
_TEXT_OR_NUMBER = ("id", "wifi_status", "mem_usage", "cpu_temp")
_TEXT_KEYWORDS = ("type", "minLength", "maxLength", "pattern")
#: An object-key segment (`storage/keys.py`): letters, digits, '.', '_', '-', but not "." or "..".
KEY_SEGMENT_PATTERN = r"^(?:[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*|\.{3,})$"


def device_reading_schema() -> dict[str, Any]:
    """The body of `POST /devices/health`, as `parse_reading` validates it."""
    schema = DeviceReading.model_json_schema()
    for name in _TEXT_OR_NUMBER:
        field = schema["properties"][name]
        options = field.pop("anyOf", None) or [{k: field.pop(k) for k in _TEXT_KEYWORDS if k in field}]
        field["anyOf"] = [*options, {"type": "number", "minimum": -TEXT_NUMBER_LIMIT, "maximum": TEXT_NUMBER_LIMIT}]
    return schema


def session_schema() -> dict[str, Any]:
    """The body of `POST /sessions` (the seed's format): any object naming its user and session."""
    segment = {"anyOf": [{"type": "string", "pattern": KEY_SEGMENT_PATTERN}, {"type": "integer"}],
               "description": "part of the stored object's key"}
    return {"type": "object", "required": ["user_id", "session_uuid"],
            "properties": {"user_id": segment, "session_uuid": segment}, "additionalProperties": True}
