"""Device settings: the fleet's status and `POST /devices/health`'s group commit. Part of the one `Settings`
object (`taskplatform/core/settings.py`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class DeviceSettings(BaseSettings):
    #: A device silent for longer than this many seconds is reported as stale.
    device_stale_after: int = 300
    #: How many raw device messages `GET /devices/messages` keeps.
    device_messages_kept: int = 200
    #: Group commit of single health checks without an Idempotency-Key (api/coalescing.py): a group is recorded
    #: and published as one carrier task once this many are waiting...
    devices_coalesce_max: int = Field(default=100, ge=1, le=10_000)
    #: ...or this many milliseconds after its first check arrived. 0 turns it off: one task per request.
    devices_coalesce_ms: float = Field(default=25.0, ge=0, le=10_000)
