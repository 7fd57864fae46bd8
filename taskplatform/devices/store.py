"""Raspberry Pi health checks: the seed's message format, and set-based upserts of `device_status`."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from taskplatform.core.db import dialect_insert
from taskplatform.core.paging import Page, fetch_page
from taskplatform.core.settings import get_settings
from taskplatform.devices.models import DeviceMessage, DeviceStatus
from taskplatform.messaging.raw_messages import InvalidMessage, json_object

# The columns' ranges (taskplatform/*/models.py): a value beyond them fails the INSERT in the worker, after a 202.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

#: A number sent for a text field (`48` for "48"): within what every JSON parser reads exactly.
TEXT_NUMBER_LIMIT = 2**53 - 1


# The one declaration of a device's fields: each field but `id` is a column of `device_status` (`COLUMNS`), and the
# API's `DeviceOut` is built from them (the table, `taskplatform/devices/models.py`, is checked against them).
class DeviceReading(BaseModel):
    """One health check, as the seed's devices publish it (`id` is the Raspberry Pi's id)."""

    # Strict: the seed's format has JSON numbers and booleans; "12" or 0 for a count or a LED is a mistake
    # to report, not to guess at.
    model_config = ConfigDict(extra="allow", strict=True)

    id: str = Field(min_length=1, max_length=200)
    wifi_status: str | None = Field(default=None, max_length=100)
    mem_usage: str | None = Field(default=None, max_length=100)
    cpu_temp: str | None = Field(default=None, max_length=100)
    # Not null: the columns are NOT NULL (a null was accepted, then failed in the worker).
    led_internal_status: bool = False
    led_external_status: bool = False
    cpu_percent: float | None = Field(default=None, allow_inf_nan=False)
    gpio_used_count: int | None = Field(default=None, ge=0, le=INT32_MAX)
    spi_buses: list[Any] | dict[str, Any] | None = None
    i2c_buses: list[Any] | dict[str, Any] | None = None
    usb_devices_count: int | None = Field(default=None, ge=0, le=INT32_MAX)
    net_bytes_sent: int | None = Field(default=None, ge=0, le=INT64_MAX)
    net_bytes_recv: int | None = Field(default=None, ge=0, le=INT64_MAX)
    net_ifaces: list[Any] | dict[str, Any] | None = None

    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("id", "wifi_status", "mem_usage", "cpu_temp")

    @field_validator(*TEXT_FIELDS, mode="before")
    @classmethod
    def _numbers_as_text(cls, value: Any) -> Any:
        # Devices send "48°C" or 48: the seed stores text either way.
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not -TEXT_NUMBER_LIMIT <= value <= TEXT_NUMBER_LIMIT:  # NaN is not within either
                raise ValueError(f"a number here must be finite and within ±{TEXT_NUMBER_LIMIT}")
            return str(value)
        return value

    @model_validator(mode="after")
    def _bounded_extra(self) -> DeviceReading:
        if self.model_extra:
            limit = get_settings().device_extra_max_bytes
            size = len(json.dumps(self.model_extra, ensure_ascii=False).encode())
            if size > limit:
                raise ValueError(f"the fields without a column of their own ({len(self.model_extra)}, kept in "
                                 f"`extra`) take {size} bytes as JSON; at most {limit} (DEVICE_EXTRA_MAX_BYTES)")
        return self


#: Columns a reading may set (every field but `id`, which is `raspberry_id`); anything else the device sends is
#: kept in `extra`.
COLUMNS = tuple(name for name in DeviceReading.model_fields if name != "id")


#: What pydantic's JSON parser reads in a field of any type, and the platform refuses (json_object): NaN and Infinity,
#: an escaped NUL, and a number that overflows to infinity (a 3-digit exponent, or 300 digits before the point).
_REFUSED_LITERALS = (b"NaN", b"Infinity", b"\\u0000")
_OVERFLOW = (re.compile(rb"[eE][+-]?[0-9]{3}"), re.compile(rb"[0-9]{300}"))  # two searches: 2x faster than one


def _fast_path_safe(body: bytes) -> bool:
    return len(body) <= get_settings().max_body_bytes_device_health \
        and not any(literal in body for literal in _REFUSED_LITERALS) \
        and not any(pattern.search(body) for pattern in _OVERFLOW)


def parse_reading(body: bytes | str | dict[str, Any]) -> DeviceReading:
    """Validate a body; InvalidMessage says why it can never be applied.

    A raw body is validated straight from its JSON text by pydantic (the consumer's hot path: no Python dict built
    first) when its text cannot hold what pydantic's parser accepts and the platform refuses; a body that fails
    there, or may hold such a value, goes through `json_object` and `model_validate`, which say why with the same
    reason and field path as always."""
    if isinstance(body, bytes) and _fast_path_safe(body):
        try:
            return DeviceReading.model_validate_json(body)
        except ValidationError:
            pass  # the full path below names the problem
    document = json_object(body, what="a health check", max_bytes=get_settings().max_body_bytes_device_health)
    try:
        return DeviceReading.model_validate(document)
    except ValidationError as exc:
        errors = exc.errors()
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'extra'}: {e['msg']}" for e in errors)
        raise InvalidMessage("invalid_message", problems, tuple(errors[0]["loc"]) or ("extra",)) from None


def _merge(readings: Sequence[tuple[DeviceReading, datetime]]) -> dict[str, dict[str, Any]]:
    """One row per device; later messages (arrival order) win field by field."""
    rows: dict[str, dict[str, Any]] = {}
    for reading, received_at in readings:
        row = rows.setdefault(reading.id, {"raspberry_id": reading.id, "extra": None})
        row["last_update"] = received_at
        # The fields the device sent, as validated (model_dump would copy every nested value: the hot path).
        row.update({k: getattr(reading, k) for k in reading.model_fields_set if k in COLUMNS})
        if reading.model_extra:
            row["extra"] = {**(row["extra"] or {}), **reading.model_extra}
    return rows


def upsert_device_statuses(*, session: Session, readings: Sequence[tuple[DeviceReading, datetime]]) -> int:
    """Apply a batch in one statement per set of fields; returns the number of devices written."""
    table = DeviceStatus.__table__
    merged = _merge(readings)
    # Rows sending the same fields share one multi-row statement (a statement needs uniform columns).
    by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in merged.values():
        by_shape.setdefault(tuple(sorted(row)), []).append(row)
    for shape, rows in by_shape.items():
        # One cached statement, rows as parameters: psycopg sends them pipelined (executemany), without a new
        # statement to compile for every batch size. One multi-row VALUES or unnest() statement was no faster
        # (BENCHMARKS.md): the server's work per row is what costs.
        stmt = dialect_insert(session, table)
        changes: dict[str, Any] = {c: stmt.excluded[c] for c in shape if c in COLUMNS or c == "last_update"}
        if "extra" in shape:
            changes["extra"] = func.coalesce(stmt.excluded.extra, table.c.extra)
        stmt = stmt.on_conflict_do_update(index_elements=[table.c.raspberry_id], set_=changes)
        session.execute(stmt, [{**r, "first_seen": r["last_update"]} for r in rows])
    return len(merged)


def record_device_messages(*, session: Session, messages: Sequence[tuple[str | None, str, datetime]],
                           keep: int) -> None:
    """Append raw messages and drop all but the newest `keep` (the seed's list, bounded)."""
    messages = messages[-keep:]  # older ones would be deleted at once
    if not messages:
        return
    session.execute(insert(DeviceMessage.__table__), [
        {"raspberry_id": rid, "body": body[:20_000], "received_at": at} for rid, body, at in messages])
    # One statement (the newest id read inside it): one round trip a batch instead of two.
    table = DeviceMessage.__table__
    newest = select(func.max(table.c.id)).scalar_subquery()
    session.execute(delete(table).where(table.c.id <= newest - keep))


def list_devices(*, session: Session, limit: int, offset: int, wifi_status: str | None,
                 stale_before: datetime | None, stale: bool | None) -> Page[DeviceStatus]:
    query = select(DeviceStatus)
    if wifi_status:
        query = query.where(DeviceStatus.wifi_status == wifi_status)
    if stale is not None and stale_before is not None:
        query = query.where(DeviceStatus.last_update < stale_before if stale
                            else DeviceStatus.last_update >= stale_before)
    return fetch_page(session, query, DeviceStatus.raspberry_id, limit=limit, offset=offset)


def get_device(*, session: Session, raspberry_id: str) -> DeviceStatus | None:
    return session.scalars(select(DeviceStatus).where(DeviceStatus.raspberry_id == raspberry_id)).first()


def recent_messages(*, session: Session, limit: int) -> list[DeviceMessage]:
    return list(session.scalars(select(DeviceMessage).order_by(DeviceMessage.id.desc()).limit(limit)))


def stale_cutoff(now: datetime, stale_after_s: int) -> datetime:
    return now - timedelta(seconds=stale_after_s)
