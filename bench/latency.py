"""Latency and throughput measurement for the HTTP benchmarks (threads, keep-alive clients, CPU time)."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

JSON = {"content-type": "application/json"}


def percentiles(seconds: Sequence[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds."""
    p50, p99 = np.percentile(np.asarray(seconds) * 1000, [50, 99])
    return float(p50), float(p99)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def concurrent_clients(url: str, headers: dict[str, str], clients: int, payloads: Sequence[bytes],
                       api_pid: int) -> tuple[list[float], float, float, float]:
    """Per-request latencies (s) of POST /prever of `payloads` from `clients` threads, each with its own
    keep-alive connection; with the wall time, this process's CPU time and the API process's CPU time."""
    latency = [0.0] * len(payloads)
    tickets = itertools.count()
    start = threading.Barrier(clients + 1)

    def client() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=300) as http:
            http.get("/").raise_for_status()  # connected before the clock starts
            start.wait()
            while (i := next(tickets)) < len(payloads):
                began = time.perf_counter()
                http.post("/prever", content=payloads[i], headers=JSON).raise_for_status()
                latency[i] = time.perf_counter() - began

    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(client) for _ in range(clients)]
        start.wait(timeout=60)
        cpu, api_cpu, began = time.process_time(), cpu_seconds(api_pid), time.perf_counter()
        for future in futures:
            future.result()
        wall = time.perf_counter() - began
        cpu, api_cpu = time.process_time() - cpu, cpu_seconds(api_pid) - api_cpu
    return latency, wall, cpu, api_cpu


def rows_per_second(predict: Callable[[int], None], n: int, repeat: int) -> list[float]:
    rates = []
    for r in range(repeat):
        began = time.perf_counter()
        predict(r)
        rates.append(n / (time.perf_counter() - began))
    return rates
