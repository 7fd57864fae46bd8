"""Latency and throughput measurement for the HTTP benchmarks: lean keep-alive clients and CPU time.

The clients are deliberately cheap (the standard library's http.client one request at a time, raw
asyncio streams for many connections): on a 2-core machine a heavy client such as httpx spends as
much CPU per request as the server and steals it from the server, so its figures would describe the
client. This is what wrk or oha do, without a tool to install.
"""

from __future__ import annotations

import asyncio
import http.client
import itertools
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

JSON = {"content-type": "application/json"}


def answers(url: str) -> bool:
    """True when `GET <url>/` answers 200 (an API that is up)."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def percentiles(seconds: Sequence[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds."""
    p50, p99 = np.percentile(np.asarray(seconds) * 1000, [50, 99])
    return float(p50), float(p99)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class KeepAlive:
    """One keep-alive HTTP/1.1 connection; every call returns the body and raises on a status other than 2xx."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self._connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=300)
        self._headers = headers

    def call(self, method: str, path: str, body: bytes | None = None) -> bytes:
        headers = {**self._headers, **JSON} if body is not None else self._headers
        for attempt in (1, 2):
            try:
                self._connection.request(method, path, body=body, headers=headers)
                response = self._connection.getresponse()
                content = response.read()
                break
            except (OSError, http.client.HTTPException) as exc:
                self._connection.close()  # the next request reconnects
                # The server closes a connection left idle past its keep-alive timeout: reconnect once.
                stale = isinstance(exc, BrokenPipeError | ConnectionResetError | http.client.RemoteDisconnected)
                if attempt == 2 or not stale:
                    raise
        if not 200 <= response.status < 300:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}: {content[:500]!r}")
        return content

    def close(self) -> None:
        self._connection.close()


def _request(method: str, path: str, host: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in {**headers, **(JSON if body else {})}.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> None:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), None)
    if length is None:
        raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
    content = await reader.readexactly(length)
    if not 200 <= status < 300:
        raise RuntimeError(f"HTTP {status}: {content[:500]!r}")


async def _clients(url: str, headers: dict[str, str], clients: int, path: str, payloads: Sequence[bytes],
                   api_pid: int) -> tuple[list[float], float, float, float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = [_request("POST", path, f"{host}:{port}", headers, payload) for payload in payloads]
    latency = [0.0] * len(requests)
    tickets = itertools.count()
    connections = [await asyncio.open_connection(host, port) for _ in range(clients)]
    for reader, writer in connections:  # connected and served once before the clock starts
        await _exchange(reader, writer, _request("GET", "/", f"{host}:{port}", headers))

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (i := next(tickets)) < len(requests):
            began = time.perf_counter()
            await _exchange(reader, writer, requests[i])
            latency[i] = time.perf_counter() - began

    cpu, api_cpu, began = time.process_time(), cpu_seconds(api_pid), time.perf_counter()
    await asyncio.gather(*(client(reader, writer) for reader, writer in connections))
    wall = time.perf_counter() - began
    cpu, api_cpu = time.process_time() - cpu, cpu_seconds(api_pid) - api_cpu
    for _, writer in connections:
        writer.close()
    return latency, wall, cpu, api_cpu


def concurrent_clients(url: str, headers: dict[str, str], clients: int, payloads: Sequence[bytes],
                       api_pid: int, path: str = "/prever") -> tuple[list[float], float, float, float]:
    """Per-request latencies (s) of POSTs of `payloads` to `path` from `clients` keep-alive connections at once,
    each sending its next request when the last is answered; with the wall time, this process's CPU time and the
    API process's CPU time. The connections share one event loop, so the load costs this process little CPU."""
    return asyncio.run(_clients(url, headers, clients, path, payloads, api_pid))


def rows_per_second(predict: Callable[[int], None], n: int, repeat: int) -> list[float]:
    rates = []
    for r in range(repeat):
        began = time.perf_counter()
        predict(r)
        rates.append(n / (time.perf_counter() - began))
    return rates
