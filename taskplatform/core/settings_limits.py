"""Limit settings: what one request may ask of the platform (README, "Limits"). Part of the one `Settings`
object (`taskplatform/core/settings.py`)."""

from __future__ import annotations

from datetime import date

from pydantic import Field
from pydantic_settings import BaseSettings


class LimitSettings(BaseSettings):
    """Bodies are counted as they arrive (api/body_limit.py): a larger one is a 413 before it is read whole,
    with or without Content-Length."""

    #: Largest request body of any route without a limit of its own, in bytes.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: Largest body of `POST /checkin/batch` (10,000 check-ins with their instants, in bytes).
    max_body_bytes_checkins: int = Field(default=4 * 1024 * 1024, ge=1024)
    #: Largest body of `POST /treinar` (JSON rows or a multipart CSV upload), in bytes.
    max_body_bytes_training: int = Field(default=50 * 1024 * 1024, ge=1024)
    #: Largest body of `POST /prever` (up to 10,000 rows), in bytes.
    max_body_bytes_prediction: int = Field(default=8 * 1024 * 1024, ge=1024)
    #: Largest UX session, over HTTP or from `raw_sessions`, in bytes.
    max_body_bytes_sessions: int = Field(default=5 * 1024 * 1024, ge=1024)
    #: Largest device health check, over HTTP or from `rasp_data`, in bytes.
    max_body_bytes_device_health: int = Field(default=64 * 1024, ge=1024)
    #: Most health checks in one array posted to `POST /devices/health` (one task for all of them).
    devices_batch_max: int = Field(default=500, ge=1, le=10_000)
    #: Largest array body of `POST /devices/health`, in bytes (each item still at most
    #: MAX_BODY_BYTES_DEVICE_HEALTH); a single object keeps its own limit.
    max_body_bytes_devices_batch: int = Field(default=8 * 1024 * 1024, ge=1024)
    #: Most sessions in one array posted to `POST /sessions` (one task for all of them).
    sessions_batch_max: int = Field(default=100, ge=1, le=10_000)
    #: Largest array body of `POST /sessions`, in bytes (each item still at most MAX_BODY_BYTES_SESSIONS).
    max_body_bytes_sessions_batch: int = Field(default=32 * 1024 * 1024, ge=1024)
    #: Largest `extra` of a health check (the fields the table has no column for), serialized as JSON, in bytes.
    device_extra_max_bytes: int = Field(default=16 * 1024, ge=0)
    #: Longest `user_id` and `session_uuid` of a session, in characters; both go into the object key, which the
    #: object store limits to 1,024 bytes.
    session_id_max_length: int = Field(default=200, ge=1, le=500)
    #: Most columns of a housing CSV upload or JSON training rows.
    housing_max_columns: int = Field(default=200, ge=2)
    #: Memory the prediction cache may take in each API process, estimated from its keys, in bytes.
    prediction_cache_bytes: int = Field(default=32 * 1024 * 1024, ge=0)
    #: The earliest date a daily report may be requested for (the report compares with a week before it).
    report_earliest_date: date = Field(default=date(2000, 1, 1), ge=date(1, 1, 10))
