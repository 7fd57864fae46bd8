"""CPU used per task, by process group: a figure that holds up better than tasks/s on a shared machine.

A worker's CPU is its main process, its live pool processes and the pool processes it has reaped (a pool process
is replaced every 1,000 tasks; its time is added to the parent's `cutime`/`cstime` once reaped). The database's
is the CPU of the PostgreSQL backends connected to the benchmark's database, read at both ends of a round (a
backend that ends within a round is missed, which undercounts; the pools keep theirs open). The producer's is
this process's. RabbitMQ is left out: the broker is shared with other vhosts, and both kinds publish the same
messages.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text

TICK = os.sysconf("SC_CLK_TCK")


def _fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _own(pid: int) -> float:
    fields = _fields(pid)
    return (int(fields[11]) + int(fields[12])) / TICK


def process_tree(pid: int) -> float:
    """CPU seconds of a process, its reaped children and its live children."""
    fields = _fields(pid)
    total = sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for child in children:
        try:
            total += _own(int(child))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


@dataclass
class CpuMeter:
    worker_pid: int
    engine: Engine

    def _backends(self) -> dict[int, float]:
        with self.engine.connect() as connection:
            pids = connection.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"))
            found: dict[int, float] = {}
            for (pid,) in pids:
                try:
                    found[int(pid)] = _own(int(pid))
                except (FileNotFoundError, ProcessLookupError, PermissionError):
                    continue
            return found

    def sample(self) -> tuple[float, float, dict[int, float]]:
        return process_tree(self.worker_pid), time.process_time(), self._backends()

    def since(self, before: tuple[float, float, dict[int, float]]) -> dict[str, float]:
        worker, producer, backends = self.sample()
        database = sum(cpu - before[2].get(pid, 0.0) for pid, cpu in backends.items())
        return {"worker": worker - before[0], "producer": producer - before[1], "database": database}
