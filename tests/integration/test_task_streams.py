"""Live updates over a real API and worker: `/tarefa/{id}/eventos` and `/tarefas/eventos` (Server-Sent Events).

The client reads the streams as `curl -N` would: line by line as the API sends them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ml.housing import synthetic_housing
from taskplatform.dev.processes import wait_until
from tests.integration.helpers import new_student_ids
from tests.integration.stack import Stack

pytestmark = pytest.mark.parametrize("stack", ["redis-sqlite", "rabbitmq-postgres"], indirect=True)

ROWS = synthetic_housing(1000, seed=11)


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    data: dict[str, Any]


class EventReader:
    """The blocks of an open stream, one at a time (comments are skipped)."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.iter_lines()

    def block(self) -> dict[str, str] | None:
        """The next block's fields, or None when the stream ended."""
        fields: dict[str, str] = {}
        for line in self.lines:
            if not line:
                if fields:
                    return fields
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        return fields or None

    def opened(self) -> None:
        """The first block (`retry:`): the API sends it once the stream has subscribed to the feed."""
        assert "retry" in (self.block() or {})

    def events(self, until: Callable[[Event], bool] = lambda _: False) -> list[Event]:
        """Events up to the end of the stream, or up to and including the first `until` accepts."""
        found: list[Event] = []
        while (fields := self.block()) is not None:
            found.append(Event(int(fields["id"]), fields["event"], json.loads(fields["data"])))
            if until(found[-1]):
                break
        return found


@contextmanager
def stream(api: httpx.Client, path: str, **options: Any) -> Iterator[EventReader]:
    with api.stream("GET", path, timeout=httpx.Timeout(30, read=60), **options) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache" and response.headers["x-accel-buffering"] == "no"
        reader = EventReader(response)
        reader.opened()
        yield reader


def open_streams(api: httpx.Client) -> int:
    metrics = api.get("/metrics").text
    return int(next(line.split()[1] for line in metrics.splitlines() if line.startswith("taskplatform_event_streams")))


def train(stack: Stack) -> str:
    accepted = stack.api.post("/treinar", params={"assincrono": "true"}, json={"dados": ROWS, "alvo": "preco"})
    assert accepted.status_code == 202, accepted.text
    return str(accepted.json()["task_id"])


def test_a_task_stream_shows_each_transition_in_order_ends_at_the_final_state_and_resumes(stack: Stack) -> None:
    task_id = train(stack)
    with stream(stack.api, f"/tarefa/{task_id}/eventos") as reader:
        events = reader.events()  # to the end: the API closes the stream after the final state
    states = [e.data["state"] for e in events]
    assert states[:2] == ["QUEUED", "STARTED"] and states[-1] == "SUCCESS", states
    assert [e.data["progress"] for e in events if e.data["state"] == "PROGRESS"] == [10, 30, 70]
    assert events[-1].data["progress"] == 100
    assert [e.kind for e in events] == ["transition"] * len(events)
    assert [e.id for e in events] == sorted(e.id for e in events) and len({e.id for e in events}) == len(events)
    assert all(e.data["task_id"] == task_id for e in events)
    record = stack.api.get(f"/tarefa/{task_id}").json()
    assert [(e.data["state"], e.data["at"]) for e in events] == [
        (e["state"], e["at"].replace("Z", "+00:00")) for e in record["events"]]

    # Resumed after the second event (header or query): exactly the rest.
    for options in ({"headers": {"Last-Event-ID": str(events[1].id)}}, {"params": {"last_event_id": events[1].id}}):
        with stream(stack.api, f"/tarefa/{task_id}/eventos", **options) as reader:
            assert reader.events() == events[2:]
    with stream(stack.api, f"/tarefa/{task_id}/eventos", headers={"Last-Event-ID": str(events[-1].id)}) as reader:
        assert reader.events() == []

    missing = stack.api.get("/tarefa/no-such-task/eventos")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/json"
    assert stack.api.get(f"/tarefa/{task_id}/eventos", headers={"Last-Event-ID": "x"}).status_code == 422


def test_the_list_stream_shows_new_tasks_and_their_transitions_filtered(stack: Stack) -> None:
    (student,) = new_student_ids(stack.api, 1)
    name = "checkins.ingest_batch"
    with stream(stack.api, "/tarefas/eventos", params={"name": name}) as everything, \
            stream(stack.api, "/tarefas/eventos", params={"name": name, "state": "SUCCESS"}) as finished, \
            stream(stack.api, "/tarefas/eventos", params={"queue": "nonexistent"}):
        task_id = stack.api.post("/checkin/batch", json=[{"aluno_id": student}]).json()["task_id"]
        ours = [e for e in everything.events(until=lambda e: (e.data["task_id"], e.data["state"]) == (task_id,
                                                                                                      "SUCCESS"))
                if e.data["task_id"] == task_id]
        done = finished.events(until=lambda e: e.data["task_id"] == task_id)
        assert open_streams(stack.api) == 3
    assert [e.data["state"] for e in ours] == ["QUEUED", "STARTED", "SUCCESS"]
    assert ours[0].data["name"] == name and ours[0].data["queue"] == "checkins"
    assert {(e.data["name"], e.data["state"]) for e in done} == {(name, "SUCCESS")}
    assert done[-1].id == ours[-1].id

    # Resumed with the last id seen before the task's end: the rest, through the same filter.
    with stream(stack.api, "/tarefas/eventos", params={"name": name},
                headers={"Last-Event-ID": str(ours[0].id)}) as resumed:
        rest = resumed.events(until=lambda e: e.id == ours[-1].id)
    assert [e for e in rest if e.data["task_id"] == task_id] == ours[1:]


def test_a_client_that_goes_away_frees_its_subscription(stack: Stack) -> None:
    assert open_streams(stack.api) == 0
    with stream(stack.api, "/tarefas/eventos"):
        assert open_streams(stack.api) == 1
    # The client hung up without a word: the API notices at once (not at the next heartbeat).
    wait_until(lambda: open_streams(stack.api) == 0, timeout=5, interval=0.05, what="the stream to be dropped")
