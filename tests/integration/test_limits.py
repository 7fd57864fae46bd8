"""Limits at the API: bodies too large are 413s before they are read, bad values are 422s naming the field, and
nothing refused is enqueued."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import text

from ml.housing import synthetic_housing
from taskplatform.dev.processes import wait_until
from tests.integration.producers import publish_rasp_data, publish_raw_sessions, require_amqp
from tests.integration.stack import Stack

HUGE = 11110898590817237753397248  # past BIGINT: an OverflowError in the driver, then a 500
ROWS = synthetic_housing(300)


def _queued(stack: Stack, name: str) -> int:
    with stack.engine.connect() as connection:
        return int(connection.scalar(text("SELECT count(*) FROM task_records WHERE name = :n"), {"n": name}) or 0)


def _locs(response: httpx.Response) -> list[list[str | int]]:
    assert response.status_code == 422, response.text[:500]
    return [error["loc"] for error in response.json()["detail"]]


@pytest.mark.parametrize("path", ["/tarefas", "/dead-letters", "/devices"])
def test_an_offset_past_the_databases_range_is_a_422(stack: Stack, path: str) -> None:
    """Breach: offset=11110898590817237753397248 was a 500 (OverflowError in the database driver)."""
    assert _locs(stack.api.get(path, params={"offset": HUGE})) == [["query", "offset"]]
    assert stack.api.get(path, params={"offset": 2**63 - 1}).status_code == 200


@pytest.mark.parametrize(("path", "since"), [("/tarefas", "0001-01-01T00:00:00+05:00"),
                                             ("/dead-letters", "9999-12-31T23:00:00")])
def test_a_since_outside_utcs_years_is_a_422(stack: Stack, path: str, since: str) -> None:
    """Breach: a `since` that leaves years 1-9999 once in UTC (naive ones are local, UTC-3) overflowed in the
    driver: a 500."""
    assert _locs(stack.api.get(path, params={"since": since})) == [["query", "since"]]
    assert stack.api.get(path, params={"since": "0001-01-02T00:00:00"}).status_code == 200


def test_a_dead_letter_id_past_the_databases_range_is_a_422(stack: Stack) -> None:
    """Breach: /dead-letters/{id} passed any integer to the database."""
    assert _locs(stack.api.get(f"/dead-letters/{HUGE}")) == [["path", "letter_id"]]
    assert _locs(stack.api.post(f"/dead-letters/{HUGE}/replay")) == [["path", "letter_id"]]
    assert stack.api.get(f"/dead-letters/{2**63 - 1}").status_code == 404


def test_what_the_worker_would_fail_on_is_a_422_and_nothing_is_enqueued(stack: Stack) -> None:
    """Breach: a 2,000-character user_id, data=0001-01-02 and gpio_used_count = 2**70 were accepted with 202
    and then failed in the worker."""
    before = {name: _queued(stack, name) for name in ("sessions.persist", "reports.daily", "devices.upsert")}
    long_id = {"user_id": "u" * 2000, "session_uuid": "s1", "events": []}
    assert _locs(stack.api.post("/sessions", json=long_id)) == [["body", "user_id"]]
    assert _locs(stack.api.post("/relatorio/diario", params={"data": "0001-01-02"})) == [["query", "data"]]
    assert _locs(stack.api.post("/devices/health", json={"id": "pi-1", "gpio_used_count": 2**70})) == [
        ["body", "gpio_used_count"]]
    assert _locs(stack.api.post("/devices/health", json={"id": "pi-1", "notes": "n" * 20_000})) == [["body", "extra"]]
    assert {name: _queued(stack, name) for name in before} == before


@pytest.mark.parametrize(("path", "body", "loc"), [
    ("/sessions", b'{"user_id": "u1", "session_uuid": "s1", "events": [{"x": NaN}]}', ["body"]),
    ("/sessions", b'{"user_id": "u1", "session_uuid": "s1", "metadata": {"z": 1e999}}', ["body", "metadata", "z"]),
    ("/devices/health", b'{"id": "pi-1", "cpu_percent": Infinity}', ["body"]),
    ("/devices/health", b'{"id": "pi-1", "net_ifaces": {"eth0": -1e400}}', ["body", "net_ifaces", "eth0"]),
])
def test_nan_and_infinity_are_not_json(stack: Stack, path: str, body: bytes, loc: list[str]) -> None:
    """Breach: NaN and Infinity were accepted in /sessions and /devices/health (stored sessions were not JSON)."""
    before = _queued(stack, "sessions.persist") + _queued(stack, "devices.upsert")
    response = stack.api.post(path, content=body, headers={"content-type": "application/json"})
    assert _locs(response) == [loc] and response.json()["detail"][0]["type"] == "invalid_json"
    assert _queued(stack, "sessions.persist") + _queued(stack, "devices.upsert") == before


def test_housing_numbers_out_of_range_are_422s_naming_them(stack: Stack) -> None:
    """Breach: /treinar took preco = 1e308; /prever answered area_m2 = 1e308 with a null price."""
    rows = [dict(row) for row in ROWS]
    rows[5]["preco"] = 1e308
    refused = stack.api.post("/treinar", json={"dados": rows, "alvo": "preco"})
    assert refused.status_code == 422 and refused.json()["detail"]["columns"] == ["preco"]
    assert stack.api.post("/treinar", json={"dados": ROWS, "alvo": "preco"}).status_code == 200
    row = {k: v for k, v in ROWS[0].items() if k != "preco"}
    prediction = stack.api.post("/prever", json={"dados": [row, {**row, "area_m2": 1e308}]})
    assert prediction.status_code == 422, prediction.text
    detail = prediction.json()["detail"]
    assert detail["columns"] == ["area_m2"] and "row 1" in detail["problems"][0]
    assert stack.api.post("/prever", json={"dados": [row]}).json()["previsoes"][0] > 0


def test_a_422_does_not_echo_a_large_input(stack: Stack) -> None:
    """Breach: a 422 from /treinar echoed the whole input back (a 20 MB body, a 20 MB answer)."""
    for path in ("/treinar", "/prever"):
        response = stack.api.post(path, json={"dados": "x" * 2_000_000})
        assert response.status_code == 422 and len(response.content) < 5_000, (path, len(response.content))
        assert response.json()["detail"][0]["loc"] == ["body", "dados"]


def test_a_csv_with_too_many_columns_is_a_422_naming_the_limit(stack: Stack) -> None:
    """Breach: a 349 KB CSV of 40,000 columns froze the API for 15 s (and was then accepted)."""
    header = ",".join(f"c{i}" for i in range(40_000))
    csv = f"{header},preco\n" + ",".join(["1"] * 40_001) + "\n"
    response = stack.api.post("/treinar", files={"arquivo": ("wide.csv", csv.encode(), "text/csv")})
    assert response.status_code == 422 and "at most 200" in response.json()["detail"]["problems"][0]


def _headers_only(stack: Stack, path: str, length: int) -> bytes:
    """Send a request's headers announcing `length` bytes, and one byte of body: the answer, read raw."""
    url = urlsplit(stack.api_url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as raw:
        raw.sendall(f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {length}\r\n\r\n[".encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = raw.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer


def test_a_38_mb_checkin_batch_is_a_413_before_its_body_is_sent(stack: Stack) -> None:
    """Breach: a 38 MB /checkin/batch was read and parsed whole before its 10,000-item limit was checked. The client
    here sends the headers and one byte: only an answer that does not wait for the body arrives."""
    before = _queued(stack, "checkins.ingest_batch")
    assert _headers_only(stack, "/checkin/batch", 38_000_000).startswith(b"HTTP/1.1 413 ")
    big = stack.api.post("/checkin/batch", content=b"[" + b'{"aluno_id": 1},' * 2_400_000 + b'{"aluno_id": 1}]')
    assert big.status_code == 413
    assert _queued(stack, "checkins.ingest_batch") == before


def _chunks(total: int, size: int = 4096) -> Iterator[bytes]:
    yield b'{"id": "pi-1", "notes": "'
    for _ in range(total // size):
        yield b"n" * size
    yield b'"}'


@pytest.mark.parametrize(("path", "total"), [("/devices/health", 200_000), ("/sessions", 6 * 1024 * 1024)])
def test_a_chunked_body_is_cut_off_at_the_routes_limit(stack: Stack, path: str, total: int) -> None:
    """Breach: without Content-Length (chunked), /sessions and /devices/health took a body of any size and copied
    it into the message and the ledger."""
    before = _queued(stack, "devices.upsert") + _queued(stack, "sessions.persist")
    response = stack.api.post(path, content=_chunks(total), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "limit" in response.json()["detail"]
    assert _queued(stack, "devices.upsert") + _queued(stack, "sessions.persist") == before
    fits = stack.api.post("/devices/health", content=_chunks(8_000), headers={"content-type": "application/json"})
    assert fits.status_code == 202


def test_body_limits_are_settings_and_bound_multipart_uploads(stack: Stack) -> None:
    """Breach: multipart uploads and every other route were unbounded. A second API with small limits (the settings
    MAX_BODY_BYTES and MAX_BODY_BYTES_TRAINING) refuses what the first accepts."""
    small = stack.start_api(name="api-small-limits", MAX_BODY_BYTES="2048", MAX_BODY_BYTES_TRAINING="65536",
                            MAX_BODY_BYTES_CHECKINS="4096")
    try:
        csv = "area_m2,bairro,preco\n" + "".join(f"{50 + i % 90},Moema,{300000 + i * 7}\n" for i in range(4000))
        upload = {"arquivo": ("casas.csv", csv.encode(), "text/csv")}
        assert small.post("/treinar", files=upload).status_code == 413
        students = [{"aluno_id": i, "nome": f"aluno {i}"} for i in range(1, 200)]
        assert small.post("/alunos", json=students).status_code == 413
        assert small.post("/alunos", json=students[:3]).status_code == 200
        assert small.post("/api/predict", json={"text": "olá " * 1000}).status_code == 413  # MAX_BODY_BYTES
        assert json.loads(small.get("/").content)  # still answering
    finally:
        small.close()
        stack.supervisor.stop("api-small-limits")


def test_the_raw_queue_consumers_dead_letter_what_the_api_refuses(stack: Stack) -> None:
    """Breach: the raw-queue parsers read NaN as a number and took any id length: a stored session was not JSON, a
    2,000-character user_id failed in the upload, gpio_used_count = 2**70 failed in the INSERT."""
    require_amqp(stack)
    marker = uuid.uuid4().hex[:8]
    publish_raw_sessions(stack, [f'{{"user_id": "u{marker}", "session_uuid": "nan", "x": NaN}}'.encode(),
                                 {"user_id": marker + "u" * 2000, "session_uuid": "long"}])
    publish_rasp_data(stack, [f'{{"id": "pi-{marker}", "cpu_percent": Infinity}}'.encode(),
                              {"id": f"pi-{marker}", "gpio_used_count": 2**70}])

    def letters() -> dict[str, str]:
        items = stack.api.get("/dead-letters", params={"limit": 1000}).json()["items"]
        return {f"{i['queue']}:{i['reason']}": i["error"] for i in items if marker in i["body"]}

    expected = {"raw_sessions:invalid_json", "raw_sessions:invalid_key", "rasp_data:invalid_json",
                "rasp_data:invalid_message"}
    wait_until(lambda: set(letters()) == expected, timeout=30, what="four dead letters")
    assert "gpio_used_count" in letters()["rasp_data:invalid_message"]


def test_nul_characters_are_422s_not_500s(stack: Stack) -> None:
    """Breach (PostgreSQL): text and JSON columns refuse NUL, so a NUL in a filter, a path or a body was a 500, or a
    202 whose task then failed."""
    before = {name: _queued(stack, name) for name in ("sessions.persist", "devices.upsert", "textgen.generate")}
    assert _locs(stack.api.get("/tarefas", params={"name": "a\x00"})) == [["query", "name"]]
    assert _locs(stack.api.post("/api/predict", json={"text": "ol\x00a"})) == [["body", "text"]]
    assert _locs(stack.api.get("/devices", params={"wifi_status": "\x00"})) == [["query", "wifi_status"]]
    assert _locs(stack.api.get("/dead-letters", params={"reason": "\x00"})) == [["query", "reason"]]
    assert _locs(stack.api.get("/tarefa/a%00b")) == [["path", "task_id"]]
    assert _locs(stack.api.get("/devices/pi%00")) == [["path", "raspberry_id"]]
    assert _locs(stack.api.post("/alunos", json=[{"aluno_id": 1, "nome": "a\x00"}])) == [["body", 0, "nome"]]
    assert _locs(stack.api.post("/devices/health", json={"id": "pi\x00"})) == [["body", "id"]]
    assert _locs(stack.api.post("/sessions", json={"user_id": "u", "session_uuid": "s", "e": ["\x00"]})) == [
        ["body", "e", 0]]
    assert {name: _queued(stack, name) for name in before} == before
