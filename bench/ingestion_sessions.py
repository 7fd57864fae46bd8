"""`bench/ingestion.py`'s sessions: the bodies, the `raw_sessions` workers, and when a run's sessions are stored."""

from __future__ import annotations

import argparse
import json
import uuid
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from bench.ingestion_timing import drained
from storage.s3 import S3Location
from storage.s3_sync import sync_client
from taskplatform.dev.processes import worker_command

ROOT = Path(__file__).resolve().parents[1]
#: The last message of a run: its arrival means the consumer got through the run.
END = "bench-end"


def session_bodies(count: int, run: str = "user") -> list[bytes]:
    """`count` sessions, the last one the END marker; the others' users are `{run}_{n}`, so the keys of one run
    share the prefix `sessions/{run}_` (`sessions_stored` counts them)."""
    events = [{"type": "click", "x": n, "y": n * 2, "t": n * 137} for n in range(40)]
    bodies = [json.dumps({"user_id": f"{run}_{n % 200}", "session_uuid": str(uuid.uuid4()),
                          "timestamp": "2024-01-01T12:00:00Z", "events": events, "metadata": {"ua": "bench"}}).encode()
              for n in range(count - 1)]
    return [*bodies, json.dumps({"user_id": "bench", "session_uuid": END, "events": []}).encode()]


def sessions_stored(location: S3Location, run: str, expected: int) -> bool:
    """Every session of the run is in the store (its END marker first: cheap; then the run's keys counted). With
    several consumers the END marker can be stored while another consumer still uploads its share."""
    if not session_stored(location):
        return False
    pages = sync_client(location).get_paginator("list_objects_v2").paginate(
        Bucket=location.bucket, Prefix=f"sessions/{run}_")
    return sum(len(page.get("Contents", [])) for page in pages) >= expected


def start_session_workers(bench: Any, count: int, in_flight: int) -> list[str]:
    """`count` workers on `sessions`, `in_flight` uploads in flight between them (each its share)."""
    names = [f"worker-sessions-{n}" for n in range(count)]
    env = {**bench.env, "SESSIONS_IN_FLIGHT": str(max(1, in_flight // count))}
    for n, name in enumerate(names):
        bench.supervisor.start(name, worker_command(queues=("sessions",), concurrency=1,
                                                    name=f"bench-sessions-{n}@%h"), env=env, cwd=ROOT,
                               stop_timeout=60)
    return names


def session_stored(location: S3Location) -> bool:
    """Whether the END marker is stored. Polled every few milliseconds while a consumer is timed, so with this
    process's one client: a client made per poll cost the benchmark ~40 % of a core, taken from the platform."""
    try:
        sync_client(location).head_object(Bucket=location.bucket, Key=f"sessions/bench/{END}.json")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise
    return True


def sessions_full_queue(bench: Any, args: argparse.Namespace, in_flight: int) -> float:
    """The platform's sessions consumers out of a full queue: like the store's ceiling, without a publisher."""
    location = bench.location
    delete_end(location)
    run = f"full{uuid.uuid4().hex[:8]}"
    names: list[str] = []
    rate, _ = drained(
        lambda: names.extend(start_session_workers(bench, args.sessions_workers, in_flight)),
        lambda: not bench.supervisor.exited(), session_bodies(args.sessions, run), "raw_sessions", bench.broker_url,
        lambda: sessions_stored(location, run, args.sessions - 1))
    for name in names:
        bench.supervisor.stop(name)
    return rate


def delete_end(location: S3Location) -> None:
    sync_client(location).delete_object(Bucket=location.bucket, Key=f"sessions/bench/{END}.json")
