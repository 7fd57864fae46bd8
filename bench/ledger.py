"""What the ledger costs per task: no-op tasks end to end, tracked against untracked, on two stacks.

Needs BROKER_URL (RabbitMQ) and DATABASE_URL (PostgreSQL); the Redis stack runs on an embedded Valkey. Each
stack gets a scratch database (dropped at the end), one worker on `checkins` and `devices` (as many processes as
its profile chooses, as in production: `--concurrency` sets them) that also loads `bench/noop_tasks.py` (never
loaded by production workers), and one API process. Then, in one run:

  tasks     rounds of N no-op tasks, tracked and plain alternating (the order swaps every round):
            tracked  `enqueue_tracked` as the API publishes (record, commit, publish), ledger on in the worker
            plain    the same TrackedTask with `tracked = False`, published by `publish` (apply_async on a pooled
                     connection), queue `checkins`, no record
            Timed from the first publish until the worker's `task_success` counter (the same for both) has all
            N; the producer's own publishes/s is printed beside it (one producer thread by default).
  http      `POST /devices/health`, single readings, from 16 and 32 keep-alive clients: accepted/s at the API
            and served tasks/s (first request until the same counter has every task).
  scale     with --records (default 0: skipped), bench/ledger_scale.py: /tarefas, paging, /metrics and the purge
            over that many task records (RabbitMQ stack only).

Last line, for RabbitMQ + PostgreSQL: `ledger: tracked=<tasks/s> plain=<tasks/s> ratio=<tracked/plain>`.

    BROKER_URL=amqp://guest:guest@127.0.0.1:5672/h1 \\
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres  python bench/ledger.py
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cpu import CpuMeter  # noqa: E402
from bench.environment import bench_environment  # noqa: E402
from bench.latency import answers, concurrent_clients, percentiles  # noqa: E402
from taskplatform.dev.embedded import free_port, start_valkey  # noqa: E402
from taskplatform.dev.processes import Supervisor, api_command, wait_until, worker_command  # noqa: E402

STACKS = {"amqp": "RabbitMQ + PostgreSQL", "redis": "Redis + PostgreSQL"}


class Counter:
    """The worker's completed tasks: bytes appended to a file by bench/noop_tasks.py's `task_success` handler."""

    def __init__(self, path: Path, supervisor: Supervisor) -> None:
        self.path, self.supervisor = path, supervisor
        path.touch()

    def value(self) -> int:
        return self.path.stat().st_size

    def wait_for(self, target: int, timeout: float = 600) -> None:
        def reached() -> bool:
            if self.supervisor.exited():
                raise SystemExit(f"a benchmark process exited: {self.supervisor.exited()}")
            return self.value() >= target

        wait_until(reached, timeout=timeout, interval=0.01, what=f"{target} completed tasks")


def publish_round(publish_one: Callable[[], None], n: int, producers: int, counter: Counter,
                  meter: CpuMeter | None = None) -> tuple[float, float, dict[str, float]]:
    """(publishes/s, end-to-end tasks/s, CPU ms per task by process group) of n tasks from `producers` threads."""
    start = counter.value()
    cpu_before = meter.sample() if meter else None
    shares = [n // producers + (i < n % producers) for i in range(producers)]

    def produce(share: int) -> None:
        for _ in range(share):
            publish_one()

    began = time.perf_counter()
    threads = [threading.Thread(target=produce, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    published = time.perf_counter() - began
    counter.wait_for(start + n)
    elapsed = time.perf_counter() - began
    cpu = {k: v * 1000 / n for k, v in meter.since(cpu_before).items()} if meter and cpu_before else {}
    return n / published, n / elapsed, cpu


def reading(n: int) -> bytes:
    return json.dumps({"id": f"pi-{n % 2000}", "wifi_status": "connected", "mem_usage": "512 MB",
                       "cpu_temp": "48°C", "cpu_percent": float(n % 100), "spi_buses": ["spi0.0"],
                       "net_ifaces": [{"name": "wlan0", "ip": "192.168.0.10"}]}).encode()


def run_stack(args: argparse.Namespace) -> dict[str, Any]:
    """One stack (BROKER_URL's broker): every figure of it, printed as it comes and returned."""
    label = STACKS[args.stack]
    with bench_environment(f"ledger-{args.stack}", object_store=False) as bench:
        os.environ.update(bench.env)  # this process publishes into the scratch database too
        scratch = Path(tempfile.mkdtemp(prefix="bench-ledger-"))
        atexit.register(shutil.rmtree, scratch, True)
        counter = Counter(scratch / "succeeded", bench.supervisor)
        env = {**bench.env, "BENCH_COUNTER_FILE": str(counter.path)}

        from bench.noop_tasks import QUEUE, noop, noop_plain
        from taskplatform.core.db import session_scope
        from taskplatform.ledger.enqueue import enqueue_tracked
        from taskplatform.messaging.celery_app import app
        from taskplatform.messaging.publish import publish

        app.control.purge()  # the vhost's task queues start empty: only this run's tasks are counted
        command = worker_command(queues=(QUEUE, "devices"), concurrency=args.concurrency, name="ledgerbench@%h",
                                 extra=("-I", "bench.noop_tasks", *args.worker_args.split()))
        worker = bench.supervisor.start("worker", command, env=env, cwd=ROOT, stop_timeout=60)
        port = free_port()
        api = bench.supervisor.start("api", api_command(host="127.0.0.1", port=port), env=env, cwd=ROOT)

        def tracked() -> None:
            with session_scope() as session:
                enqueue_tracked(session=session, signature=noop.s())

        def plain() -> None:
            publish(noop_plain.s(), task_id=str(uuid.uuid4()), queue=QUEUE)

        from taskplatform.core.db import get_engine

        meter = CpuMeter(worker.pid, get_engine())
        kinds = {"tracked": tracked, "plain": plain}
        for publish_one in kinds.values():  # warm-up: the worker is up, connections and code paths are warm
            publish_round(publish_one, args.warmup, 1, counter)
        print(f"{label}: {args.rounds} rounds of {args.tasks} no-op tasks each kind, worker -c "
              f"{args.concurrency or 'auto'}, {args.producers} producer thread(s)", flush=True)
        rates: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
        cpus: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
        for r in range(args.rounds):
            for kind in (("tracked", "plain") if r % 2 == 0 else ("plain", "tracked")):
                publishes, tasks, cpu = publish_round(kinds[kind], args.tasks, args.producers, counter, meter)
                rates[kind].append((publishes, tasks))
                cpus[kind].append(cpu)
                print(f"  round {r + 1} {kind:<8} {tasks:>8,.0f} tasks/s end to end   "
                      f"producer {publishes:>8,.0f} publishes/s   CPU ms/task " +
                      " ".join(f"{k} {v:.2f}" for k, v in cpu.items()), flush=True)
        result: dict[str, Any] = {kind: {"tasks": statistics.median(t for _, t in v),
                                         "publishes": statistics.median(p for p, _ in v),
                                         "range": (min(t for _, t in v), max(t for _, t in v))}
                                  for kind, v in rates.items()}
        for kind, samples in cpus.items():
            result[kind]["cpu"] = {k: statistics.median(c[k] for c in samples) for k in samples[0]}

        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: answers(url), timeout=60, what="the API")
        result["http"] = {}
        for clients in args.clients:
            start = counter.value()
            began = time.perf_counter()
            latency, wall, _, _ = concurrent_clients(url, {}, clients, [reading(n) for n in range(args.requests)],
                                                     api.pid, path="/devices/health")
            counter.wait_for(start + args.requests)
            served = args.requests / (time.perf_counter() - began)
            p50, p99 = percentiles(latency)
            result["http"][clients] = {"accepted": args.requests / wall, "served": served, "p50": p50, "p99": p99}
            print(f"  POST /devices/health, {clients} clients: {args.requests / wall:,.0f} accepted/s "
                  f"(p50 {p50:.1f} ms, p99 {p99:.1f} ms), {served:,.0f} tasks/s served", flush=True)

        if args.records and args.stack == "amqp":
            from bench.ledger_scale import ledger_at_scale

            result["scale"] = ledger_at_scale(url, bench.database_url, args.records, args.scale_repeats)
        return result


def run_child(stack: str, argv: list[str], broker_url: str) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, __file__, *argv, "--stack", stack, "--result", out.name],
                       env={**os.environ, "BROKER_URL": broker_url}, cwd=ROOT, check=True)
        return dict(json.loads(Path(out.name).read_text()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000, help="no-op tasks per round and kind")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=100, help="tasks of each kind before the clock starts")
    parser.add_argument("--producers", type=int, default=1, help="publishing threads")
    parser.add_argument("--concurrency", type=int, help="worker processes (default: the worker profile's, as in "
                        "production: twice the CPUs for these short-task queues)")
    parser.add_argument("--requests", type=int, default=1000, help="POST /devices/health per client count")
    parser.add_argument("--clients", type=int, nargs="*", default=[16, 32], help="client counts (none: skip)")
    parser.add_argument("--worker-args", default="", help="extra `celery worker` arguments (a profile: -P threads)")
    parser.add_argument("--records", type=int, default=0, help="task records for the at-scale part (0: skip)")
    parser.add_argument("--scale-repeats", type=int, default=5, help="calls per at-scale p50")
    parser.add_argument("--stacks", default="amqp,redis", help="comma-separated: amqp, redis")
    parser.add_argument("--stack", choices=STACKS, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stack:  # one stack, in a process of its own: the Celery app and settings are per process
        Path(args.result).write_text(json.dumps(run_stack(args)))
        return 0

    broker_url = os.environ.get("BROKER_URL", "")
    if not broker_url.startswith("amqp") or not os.environ.get("DATABASE_URL", "").startswith("postgresql"):
        sys.exit("set BROKER_URL (RabbitMQ) and DATABASE_URL (PostgreSQL)")
    argv = sys.argv[1:]
    stacks = args.stacks.split(",")
    results: dict[str, dict[str, Any]] = {}
    supervisor = Supervisor(log_dir=ROOT / "var" / "bench-logs" / "ledger-valkey")
    try:
        for stack in stacks:
            url = broker_url
            if stack == "redis":
                data_dir = Path(tempfile.mkdtemp(prefix="bench-valkey-"))
                atexit.register(shutil.rmtree, data_dir, True)
                url = start_valkey(supervisor, data_dir=data_dir)
            results[stack] = run_child(stack, argv, url)
    finally:
        supervisor.stop_all()

    print(f"\n{'stack':<24} {'kind':<8} {'tasks/s (median)':>17} {'range':>15} {'publishes/s':>12}")
    for stack, result in results.items():
        for kind in ("tracked", "plain"):
            low, high = result[kind]["range"]
            print(f"{STACKS[stack]:<24} {kind:<8} {result[kind]['tasks']:>17,.0f} {f'{low:,.0f}-{high:,.0f}':>15} "
                  f"{result[kind]['publishes']:>12,.0f}")
        print(f"{'':<24} tracked/plain = {result['tracked']['tasks'] / result['plain']['tasks']:.2f}")
        for kind in ("tracked", "plain"):
            cpu = result[kind]["cpu"]
            print(f"{'':<24} {kind:<8} CPU ms per task (median round): " +
                  ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()) + f", total {sum(cpu.values()):.2f}")
    if "amqp" in results:
        tracked, plain = results["amqp"]["tracked"]["tasks"], results["amqp"]["plain"]["tasks"]
        print(f"ledger: tracked={tracked:.0f} plain={plain:.0f} ratio={tracked / plain:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
