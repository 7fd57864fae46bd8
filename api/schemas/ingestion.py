"""HTTP models of devices, sessions and dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from api.schemas.paging import PageOut
from taskplatform.devices.store import COLUMNS, DeviceReading

#: A `device_status` row's id and columns, typed as a reading declares them (every field required: a row has them
#: all), so a field added to `DeviceReading` shows here without being listed again.
_ROW_FIELDS: dict[str, Any] = {"raspberry_id": (str, ...),
                               **{name: (DeviceReading.model_fields[name].annotation, ...) for name in COLUMNS}}
_DeviceRow = create_model("_DeviceRow", __config__=ConfigDict(from_attributes=True), **_ROW_FIELDS)


class DeviceOut(_DeviceRow):
    extra: dict[str, Any] | None
    first_seen: datetime
    last_update: datetime
    stale: bool = False


class DeviceList(PageOut):
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


class DeadLetterList(PageOut):
    items: list[DeadLetterOut]


class ReplayIn(BaseModel):
    """Optional corrected body to apply instead of the stored one."""

    model_config = ConfigDict(extra="forbid")

    body: Any | None = Field(default=None, description="A corrected message (JSON value or text)")


class ReplayedLetter(BaseModel):
    id: int
    task_id: str


class FailedReplay(BaseModel):
    id: int
    reason: str = Field(description="invalid_json, invalid_message, invalid_key, not_replayable, already_replayed "
                                    "or broker_unavailable")
    error: str


class BulkReplayOut(BaseModel):
    dry_run: bool
    matched: int = Field(description="letters that matched the filters (at most `limit`)")
    replayed: list[ReplayedLetter]
    failed: list[FailedReplay] = Field(description="letters left as they were, each with why")
    stopped: str | None = Field(default=None, description="why the replay stopped before the last matching "
                                                          "letter (the broker refused a message); call again "
                                                          "to continue")
