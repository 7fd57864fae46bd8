"""A device's fields are declared once (`DeviceReading`): the table and the API's output follow them."""

from __future__ import annotations

from api.schemas.ingestion import DeviceOut
from taskplatform.devices.models import DeviceStatus
from taskplatform.devices.store import COLUMNS, DeviceReading

SEED_COLUMNS = ("wifi_status", "mem_usage", "cpu_temp", "led_internal_status", "led_external_status", "cpu_percent",
                "gpio_used_count", "spi_buses", "i2c_buses", "usb_devices_count", "net_bytes_sent", "net_bytes_recv",
                "net_ifaces")


def test_columns_are_the_readings_fields_but_id() -> None:
    assert COLUMNS == SEED_COLUMNS and set(DeviceReading.model_fields) == {"id", *COLUMNS}


def test_the_table_has_a_column_for_each() -> None:
    # A field added to the reading needs its column (and a migration): the upsert writes every one of COLUMNS.
    assert [c.name for c in DeviceStatus.__table__.columns] == [
        "id", "raspberry_id", *COLUMNS, "extra", "first_seen", "last_update"]


def test_the_api_shows_each_in_the_same_order() -> None:
    assert list(DeviceOut.model_fields) == ["raspberry_id", *COLUMNS, "extra", "first_seen", "last_update", "stale"]
    assert [n for n, f in DeviceOut.model_fields.items() if f.is_required()] == [
        "raspberry_id", *COLUMNS, "extra", "first_seen", "last_update"]
