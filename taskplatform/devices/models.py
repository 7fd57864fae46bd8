"""The device fleet's tables: each device's last status, and the messages it sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from taskplatform.core.db import Base, BigIntId, JSONType, UTCDateTime, utcnow


class DeviceStatus(Base):
    """The latest health check of each Raspberry Pi (the seed's `DeviceStatus`)."""

    __tablename__ = "device_status"
    __table_args__ = (Index("ix_device_status_last_update", "last_update"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    raspberry_id: Mapped[str] = mapped_column(String(200), unique=True)
    wifi_status: Mapped[str | None] = mapped_column(String(100))
    mem_usage: Mapped[str | None] = mapped_column(String(100))
    cpu_temp: Mapped[str | None] = mapped_column(String(100))
    led_internal_status: Mapped[bool] = mapped_column(Boolean, default=False)
    led_external_status: Mapped[bool] = mapped_column(Boolean, default=False)
    cpu_percent: Mapped[float | None] = mapped_column(Float)
    gpio_used_count: Mapped[int | None] = mapped_column(Integer)
    spi_buses: Mapped[Any | None] = mapped_column(JSONType)
    i2c_buses: Mapped[Any | None] = mapped_column(JSONType)
    usb_devices_count: Mapped[int | None] = mapped_column(Integer)
    net_bytes_sent: Mapped[int | None] = mapped_column(BigInteger)
    net_bytes_recv: Mapped[int | None] = mapped_column(BigInteger)
    net_ifaces: Mapped[Any | None] = mapped_column(JSONType)
    #: Fields the device sent that the table has no column for (kept, not dropped).
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_update: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeviceMessage(Base):
    """The last raw health-check messages received (bounded; for debugging)."""

    __tablename__ = "device_messages"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    raspberry_id: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
