"""A raw device body is validated straight from its JSON bytes (pydantic's parser): it must accept and refuse exactly
what the decoded path does, with the same reason and field path."""

from __future__ import annotations

import json

import pytest

from taskplatform.devices.store import DeviceReading, parse_reading
from taskplatform.messaging.raw_messages import InvalidMessage

REFUSED = [
    b'{"id": "pi-1", "net_ifaces": {"eth0": {"rx": NaN}}}',
    b'{"id": "pi-1", "extra_field": Infinity}',
    b'{"id": "pi-1", "extra_field": -Infinity}',
    b'{"id": "pi-1", "spi_buses": [1e999]}',
    b'{"id": "pi-1", "notes": {"deep": [-1E+400]}}',
    b'{"id": "pi-1", "big": 1' + b"0" * 400 + b'.5}',
    b'{"id": "pi\\u0000-1"}',
    b'{"id": "pi-1", "wifi_status": "ok\\u0000"}',
    b'{"id": "pi-1", "i2c_buses": {"k": "\\u0000"}}',
    b'{"id": "pi-1", "gpio_used_count": 1.0}',
    b'{"id": "pi-1", "gpio_used_count": 2147483648}',
    b'{"id": "pi-1", "led_internal_status": 1}',
    b'{"id": "pi-1", "cpu_percent": "12"}',
    b'{"id": "pi-1", "cpu_temp": 1e20}',
    b'{"id": ""}',
    b'{"wifi_status": "ok"}',
    b'[{"id": "pi-1"}]',
    b'{"id": "pi-1",}',
    b'{"id": "pi-1", "notes": "' + b"n" * 20_000 + b'"}',
]


def _decoded_path(body: bytes) -> DeviceReading:
    # The same body handed over as text skips the bytes fast path: the reference behaviour.
    return parse_reading(body.decode("utf-8", errors="surrogateescape"))


@pytest.mark.parametrize("body", REFUSED, ids=range(len(REFUSED)))
def test_a_refused_body_is_refused_with_the_same_reason_and_path_from_bytes(body: bytes) -> None:
    with pytest.raises(InvalidMessage) as from_bytes:
        parse_reading(body)
    with pytest.raises(InvalidMessage) as expected:
        _decoded_path(body)
    assert (from_bytes.value.reason, from_bytes.value.loc, str(from_bytes.value)) == \
        (expected.value.reason, expected.value.loc, str(expected.value))


@pytest.mark.parametrize("document", [
    {"id": "pi-1", "wifi_status": "connected", "mem_usage": "512 MB", "cpu_temp": 48, "cpu_percent": 1.5,
     "spi_buses": ["spi0.0"], "net_ifaces": [{"name": "wlan0", "ip": "192.168.0.10"}], "note": "e-123 déjà"},
    {"id": 7, "cpu_percent": 3, "net_bytes_sent": 2**63 - 1, "led_external_status": True, "x": [1.5e10, None]},
    {"id": "pi-2", "extra": {"nested": {"list": [1, 2.25, "3"]}}, "id_dup": "a"},
])
def test_a_valid_body_reads_the_same_from_bytes(document: dict[str, object]) -> None:
    body = json.dumps(document, ensure_ascii=False).encode()
    reading, expected = parse_reading(body), parse_reading(document)
    assert reading.model_dump() == expected.model_dump()
    assert reading.model_fields_set == expected.model_fields_set and reading.model_extra == expected.model_extra
