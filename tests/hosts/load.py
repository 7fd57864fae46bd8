"""A steady stream of check-in batches through the API host, as the gym's turnstiles would send them.

Each batch has an `Idempotency-Key` and is sent again until the API answers 202: a request whose answer was lost
(the API or its database cut off) may have been accepted, and only the key's 202 tells. So every batch counted as
sent was accepted exactly once, whatever the fault did to the requests.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

#: Instants of the stream's check-ins: one second apart from here, so every (student, instant) is distinct.
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def register_students(api: httpx.Client, first_id: int, count: int) -> list[int]:
    ids = list(range(first_id, first_id + count))
    for start in range(0, count, 5_000):
        chunk = ids[start:start + 5_000]
        response = api.post("/alunos", json=[{"aluno_id": i, "nome": f"aluno {i}"} for i in chunk])
        response.raise_for_status()
    return ids


@dataclass
class Accepted:
    batch: int
    task_id: str
    rows: int
    #: Wall-clock time of the 202 (the ledger's clocks are this machine's too).
    at: datetime


@dataclass
class CheckinStream:
    """Sends `batch_size` check-ins `rate` times a second from a thread of its own until `stop()`."""

    base_url: str
    students: list[int]
    run: str
    batch_size: int = 250
    rate: float = 4.0
    accepted: list[Accepted] = field(default_factory=list)
    retries: int = 0
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def rows(self, batch: int) -> list[dict[str, Any]]:
        first = batch * self.batch_size
        return [{"aluno_id": self.students[n % len(self.students)],
                 "data_hora": (EPOCH + timedelta(seconds=first + n)).isoformat()}
                for n in range(self.batch_size)]

    def start(self) -> CheckinStream:
        self._thread = threading.Thread(target=self._run, name=f"checkins-{self.run}", daemon=True)
        self._thread.start()
        return self

    def stop(self, *, timeout: float = 300) -> None:
        """Stop sending; the batch in hand is sent until accepted first (so `accepted` is the truth)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"the check-in stream {self.run} could not get its last batch accepted")

    @property
    def sent(self) -> int:
        return sum(a.rows for a in self.accepted)

    def task_ids(self) -> list[str]:
        return [a.task_id for a in self.accepted]

    def _run(self) -> None:
        period = 1.0 / self.rate
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            batch = 0
            due = time.monotonic()
            while not self._stop.is_set():
                self.send_batch(client, batch)
                batch += 1
                due = max(due + period, time.monotonic() - period)  # no burst to catch up after a stall
                self._stop.wait(max(0.0, due - time.monotonic()))

    def send_batch(self, client: httpx.Client, batch: int) -> None:
        """Send batch number `batch` until the API accepts it."""
        body = self.rows(batch)
        key = f"{self.run}-{batch}"
        pause = 0.2
        while True:
            try:
                response = client.post("/checkin/batch", json=body, headers={"Idempotency-Key": key})
                if response.status_code == 202:
                    self.accepted.append(Accepted(batch, response.json()["task_id"], len(body), datetime.now(UTC)))
                    return
                self.errors.append(f"batch {batch}: HTTP {response.status_code} {response.text[:120]}")
            except httpx.HTTPError as exc:
                self.errors.append(f"batch {batch}: {type(exc).__name__}: {exc}")
            self.retries += 1
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
