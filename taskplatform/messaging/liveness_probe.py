"""The worker liveness probe: `python -m taskplatform.messaging.liveness_probe [--node NAME]`.

Exit status 0 when the worker is alive, 1 when it must be restarted, with the reason on one line (Kubernetes
shows it in the pod's events). Reads the worker's liveness file (`liveness.py`), and asks the broker how many
messages are ready only when a consumer's progress is stale: a passive `queue_declare` per queue on RabbitMQ,
`LLEN` on Redis. Imports neither the Celery app nor any task, so it stays cheap enough to run every few seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kombu import Connection

from taskplatform.core.settings import Settings, get_settings
from taskplatform.messaging.liveness import FILE_PREFIX, FILE_SUFFIX, Verdict, WorkerState, judge, state_path


def find_state_file(folder: Path, node: str | None) -> Path | None:
    """The named node's file, or the only worker file in `folder` (a container runs one worker); None if none.
    ValueError when several are there and no node is named."""
    if node:
        return state_path(folder, node)
    found = sorted(folder.glob(f"{FILE_PREFIX}*{FILE_SUFFIX}"))
    if len(found) > 1:
        raise ValueError(f"{len(found)} worker liveness files in {folder}: name the worker with --node")
    return found[0] if found else None


def read_state(path: Path | None) -> WorkerState | None:
    if path is None:
        return None
    try:
        return WorkerState.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def process_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("State:"):
                return "Z" not in line.split()[1]
    return True


def _redis_ready(channel: Any, queue: str) -> int:
    # kombu's Redis transport keeps a queue as one list per priority step (`queue`, `queue\x06\x163`, ...).
    names = {channel._q_for_pri(queue, step) for step in channel.priority_steps}
    return sum(int(channel.client.llen(name)) for name in names)


def ready_messages(settings: Settings, queues: Sequence[str], *, timeout: float) -> dict[str, int] | None:
    """Messages ready (not yet delivered) in each queue; a queue that does not exist has none. None when the
    broker cannot be asked."""
    if not settings.broker_url or settings.broker_kind not in ("amqp", "redis"):
        return None
    counts: dict[str, int] = {}
    try:
        with Connection(settings.broker_url, connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
            for queue in queues:
                channel = connection.channel()
                try:
                    if settings.broker_kind == "redis":
                        counts[queue] = _redis_ready(channel, queue)
                    else:
                        counts[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
                except connection.channel_errors:  # 404 NOT_FOUND: nothing was ever published there
                    counts[queue] = 0
                finally:
                    with contextlib.suppress(Exception):
                        channel.close()
    except Exception:  # unreachable, refused, timed out: the verdict says it could not ask
        return None
    return counts


def probe(settings: Settings, *, node: str | None, timeout: float) -> Verdict:
    try:
        path = find_state_file(settings.worker_liveness_dir, node)
        state = read_state(path)
    except (ValueError, KeyError, TypeError) as exc:
        return Verdict(False, f"unreadable liveness file: {exc}")
    return judge(state, now=time.monotonic(), stale_after=settings.worker_liveness_stale_after_s,
                 process_alive=state is not None and process_alive(state.pid),
                 ready=lambda queues: ready_messages(settings, queues, timeout=timeout))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m taskplatform.messaging.liveness_probe",
                                     description="Exit 1 when this worker takes no message while its queues "
                                                 "have some ready.")
    parser.add_argument("--node", help="the worker's node name (celery -n); default: the only worker file")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to reach the broker (default 5)")
    args = parser.parse_args(argv)
    verdict = probe(get_settings(), node=args.node, timeout=args.timeout)
    stream = sys.stdout if verdict.healthy else sys.stderr
    stream.write(("ok: " if verdict.healthy else "stuck: ") + verdict.reason + "\n")
    return 0 if verdict.healthy else 1


if __name__ == "__main__":
    sys.exit(main())
