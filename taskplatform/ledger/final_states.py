"""Short tasks' ledger reads and writes done by the worker's main process, many tasks in one statement: the state
read before a task starts, and its SUCCESS, each message acknowledged only once its row is committed.

Why: a short task (`ledger_started = False`) that writes its own SUCCESS pays a statement, a round trip and a
commit per task, as much CPU as a whole no-op task (BENCHMARKS.md). Here a pool process that finished such a task
sends the row to its main process over a pipe (one `write` of at most PIPE_BUF bytes, atomic among the pool's
processes) before it returns; the main process hands the rows to one thread that writes whatever has arrived in
one statement (`one_statement.FINISH_MANY`), a group commit: no timer, the rows that arrive during a write go in
the next one. The main process acknowledges a message when both have happened: its task returned and its row was
committed. The same thread reads the records' states of the short tasks the worker received, before they go to the
pool (`check`): a cancelled task is acknowledged without running, the others run without a read of their own.

Crash story: a pool process killed before its row was sent is a lost worker (the message is redelivered, as
before); killed after it, the row is written (the effect happened: the body had returned) and the redelivered run
finds its SUCCESS standing. The main process killed: every message whose row was not committed is still
unacknowledged and is redelivered. The database unreachable: the thread retries the batch with backoff, the
acknowledgements wait, and the worker takes no more than its prefetch meanwhile. A row too large for one atomic
write (a big result) or not JSON is written by the pool process itself, as before.
"""

from __future__ import annotations

import json
import os
import select
from typing import Any

from taskplatform.ledger.final_state_writer import FinalStateWriter

#: The main process's writer, set before the pool forks, so pool processes inherit its pipe.
_writer: FinalStateWriter | None = None


def install(writer: FinalStateWriter | None) -> None:
    global _writer
    _writer = writer


def installed() -> FinalStateWriter | None:
    return _writer


def send(task_id: str, row: dict[str, Any]) -> bool:
    """In a pool process: hand a finished short task's row to the main process. False when it must be written
    here: no writer, or a row that is not JSON, too large for one atomic write, or has a NUL (jsonb refuses it)."""
    writer = _writer
    if writer is None or "\t" in task_id or "\n" in task_id:
        return False
    try:
        text = json.dumps(row, separators=(",", ":"))
    except (TypeError, ValueError):
        return False
    line = f"{task_id}\t{text}\n".encode()
    if len(line) > select.PIPE_BUF or b"\\u0000" in line:
        return False
    os.write(writer.row_w, line)
    return True
