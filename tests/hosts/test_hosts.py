"""Faults across hosts (issue 13): each with a stream of check-in batches running, then every check-in stored
exactly once, every task final in the ledger, and the report line with its figures."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import text

from taskplatform.dev.processes import wait_until
from taskplatform.messaging.task_names import TaskName
from tests.hosts.conftest import REPORT
from tests.hosts.faults import Fault, run_fault, when_work_in_progress
from tests.hosts.hosts import RABBIT_HOSTS, Hosts
from tests.hosts.load import CheckinStream, register_students
from tests.hosts.verdict import judge, wait_all_final


def test_hosts_are_built_and_one_batch_is_stored_once(hosts: Hosts) -> None:
    """The smoke test: the cluster has its three nodes and replicates the task queues on all three, and one batch
    sent through the API host is stored once by a worker host."""
    assert sorted(hosts.rabbit.running_nodes()) == sorted(f"rabbit@{a}" for a in RABBIT_HOSTS.values())
    assert len(hosts.rabbit.queue_members("checkins")) == 3
    stream = CheckinStream(str(hosts.api.base_url), register_students(hosts.api, 100_000, 100), "smoke",
                           batch_size=1_000)
    with httpx.Client(base_url=str(hosts.api.base_url), timeout=10) as client:
        stream.send_batch(client, 0)
    wait_all_final(hosts.db, stream.task_ids(), timeout=60)
    verdict = judge(hosts.db, stream)
    assert (verdict.sent, verdict.stored, verdict.lost, verdict.duplicated) == (1_000, 1_000, 0, 0), verdict
    assert not verdict.problems()


def _report(figures_line: str, problems: list[str]) -> None:
    REPORT.append(figures_line)
    assert not problems, f"{figures_line}: {'; '.join(problems)}"


def test_one_rabbitmq_node_of_three_killed_then_restarted(hosts: Hosts) -> None:
    """Breach caught: a confirmed publish or a delivered message lost with the node that held it, or a client
    that does not move to another node (the stream would stall and its batches never finish)."""
    # Every client lists rmq1 first, so it is the node everyone is connected to: the one worth killing.
    victim = "rmq1"

    def hit(hosts: Hosts, stream: CheckinStream, _at: object) -> None:
        running = hosts.rabbit.running_nodes(hosts.rabbit.nodes[1])
        assert f"rabbit@{RABBIT_HOSTS[victim]}" not in running, running

    def kill(hosts: Hosts, stream: CheckinStream) -> datetime:
        when_work_in_progress(hosts, stream)
        at = datetime.now(UTC)
        hosts.rabbit.kill(victim)
        return at

    fault = Fault("rabbitmq-node-killed", inject=kill,
                  lift=lambda h: h.rabbit.restart(victim), hold_s=20, hit_check=hit)
    result = run_fault(hosts, fault, first_student=2_000_000)
    _report(result.line(), result.problems())


def _redelivered_from(hosts: Hosts, task_ids: list[str], host: str) -> int:
    """Tasks a worker on `host` started that a worker elsewhere started again: its messages, redelivered."""
    with hosts.db.connect() as connection:
        return int(connection.execute(text(
            "SELECT count(DISTINCT a.task_id) FROM task_events a JOIN task_events b ON b.task_id = a.task_id "
            "WHERE a.task_id = ANY(:ids) AND a.state = 'STARTED' AND b.state = 'STARTED' AND b.id > a.id "
            "AND a.detail->>'hostname' = :node AND b.detail->>'hostname' <> :node"),
            {"ids": task_ids, "node": hosts.worker_node(host)}).scalar_one())


def test_a_worker_hosts_link_cut_mid_batch_then_restored_60_s_later(hosts: Hosts) -> None:
    """Breach caught: the cut host's unacknowledged messages kept from the other workers until it comes back (the
    broker must notice within a few heartbeats), or its late results, when its link is back, writing a check-in
    or a task's result a second time, or moving a finished task's state back."""
    victim = "w1"

    def cut(hosts: Hosts, stream: CheckinStream) -> datetime:
        when_work_in_progress(hosts, stream, on=victim)
        at = datetime.now(UTC)
        hosts.cut(victim)
        return at

    fault = Fault("worker-link-cut", inject=cut, lift=lambda h: h.restore(victim), hold_s=60)
    result = run_fault(hosts, fault, first_student=3_000_000)
    redelivered = _redelivered_from(hosts, result.task_ids, victim)
    wait_until(lambda: hosts.worker_answers(victim), timeout=120, interval=1, what=f"{victim} back after its cut")
    problems = result.problems()
    if not redelivered:
        problems.append(f"no message {victim} had started was redelivered to another host")
    _report(result.line() + f" redelivered={redelivered}", problems)


def test_the_postgresql_host_unreachable_for_30_s(hosts: Hosts) -> None:
    """Breach caught: a task that meets the unreachable database failing for good or left unfinished instead of
    retrying, or an accepted check-in never stored once the database is back."""
    def cut(hosts: Hosts, stream: CheckinStream) -> datetime:
        when_work_in_progress(hosts, stream)
        at = datetime.now(UTC)
        hosts.cut("pg")
        return at

    fault = Fault("postgres-unreachable", inject=cut, lift=lambda h: h.restore("pg"), hold_s=30)
    result = run_fault(hosts, fault, first_student=4_000_000)
    problems = result.problems()
    # The batch the cut struck fails within DATABASE_DEAD_PEER_S (15 s), before the link is back: it must have
    # been retried (a second STARTED), not have waited out the cut on its socket.
    if not result.retried:
        problems.append("no task was retried: the batch the cut struck waited for the link instead")
    _report(result.line(), problems)


def test_two_beats_on_two_hosts_fire_each_scheduled_job_once(hosts: Hosts) -> None:
    """Breach caught: two beat processes, on two hosts, both sending a fire of the same entry (a report built twice
    per period), or a fire lost. The nightly report's entry fires every 2 s here (tests/integration/beat_app.py);
    both beats attempt every fire, and the claim in schedule_runs, on the PostgreSQL host, lets one send it."""
    beats = ("w1", "w2")
    hosts.start_worker("w3", queues=("reports",), concurrency=1)
    since = datetime.now(UTC)
    env = {"TEST_BEAT_EVERY": "2", "TEST_BEAT_DATE": "2026-11-20"}

    def start(hosts: Hosts, stream: CheckinStream) -> datetime:
        at = datetime.now(UTC)
        for host in beats:
            hosts.start_beat(host, app="tests.integration.beat_app", **env)
        return at

    def stop(hosts: Hosts) -> None:
        for host in beats:
            hosts.supervisor.stop(f"beat-{host}")

    fault = Fault("two-beats", inject=start, lift=stop, hold_s=30)
    result = run_fault(hosts, fault, first_student=5_000_000)
    with hosts.db.connect() as connection:
        fires = connection.execute(text(
            "SELECT task_id, skipped FROM schedule_runs WHERE schedule = 'daily-report' AND claimed_at >= :since "
            "AND sent_at IS NOT NULL"), {"since": since}).all()
        fire_ids = [str(task_id) for task_id, _ in fires]
        wait_all_final(hosts.db, fire_ids, timeout=120)
        sent = connection.execute(text(
            "SELECT count(*) FROM task_records WHERE name = :name AND created_at >= :since"),
            {"name": TaskName.REPORTS_DAILY.value, "since": since}).scalar_one()
        not_success = connection.execute(text(
            "SELECT count(*) FROM task_records WHERE id = ANY(:ids) AND state <> 'SUCCESS'"),
            {"ids": fire_ids}).scalar_one()
    contested = sum(1 for _, skipped in fires if skipped >= 1)
    # The work this fault hits is the fires both beats attempt (`contested`), not a batch in progress.
    problems = result.verdict.problems()
    fire_lost, fire_duplicated = int(not_success), max(0, int(sent) - len(fires))
    if contested < 5:
        problems.append(f"only {contested} of {len(fires)} fires were attempted by both beats")
    line = result.line().replace(f"lost={result.verdict.lost} duplicated={result.verdict.duplicated}",
                                 f"lost={result.verdict.lost + fire_lost} "
                                 f"duplicated={result.verdict.duplicated + fire_duplicated}")
    if fire_lost or fire_duplicated:
        problems.append(f"fires: {len(fires)} claimed, {sent} report tasks sent, {fire_lost} not SUCCESS")
    _report(f"{line} fires={len(fires)} contested={contested}", problems)
    hosts.stop_worker("w3")


def test_checkin_throughput_with_one_two_and_three_worker_hosts(hosts: Hosts) -> None:
    """Not a fault: the check-in queue's throughput with 1, 2 and 3 worker hosts (2 processes each), draining a
    backlog queued while the workers consumed nothing (Celery's cancel_consumer; add_consumer then starts them
    together), so neither the API's pace nor a worker's start-up is measured: from the first task started to the
    last one finished. Every host shares this machine's cores with the three RabbitMQ nodes, PostgreSQL and the
    API, so the figure is the machine's, not a host's (BENCHMARKS.md)."""
    for count in (1, 2, 3):
        wanted = [f"w{n}" for n in range(1, count + 1)]
        for host in [h for h in hosts.workers if h not in wanted]:
            hosts.stop_worker(host)
        for host in [h for h in wanted if h not in hosts.workers]:
            hosts.start_worker(host)
        nodes = [hosts.worker_node(host) for host in wanted]
        paused = hosts.producer.control.cancel_consumer("checkins", destination=nodes, reply=True, timeout=10)
        assert len(paused) == count, paused
        ids = register_students(hosts.api, 6_000_000 + count * 100_000, 1_000)
        stream = CheckinStream(str(hosts.api.base_url), ids, f"throughput-{count}", batch_size=4_000)
        with httpx.Client(base_url=str(hosts.api.base_url), timeout=30) as client:
            for batch in range(60):
                stream.send_batch(client, batch)
        resumed = hosts.producer.control.add_consumer("checkins", destination=nodes, reply=True, timeout=10)
        assert len(resumed) == count, resumed
        wait_all_final(hosts.db, stream.task_ids(), timeout=300)
        verdict = judge(hosts.db, stream)
        assert not verdict.problems(), verdict
        with hosts.db.connect() as connection:
            first, last = connection.execute(text(
                "SELECT min(started_at), max(finished_at) FROM task_records WHERE id = ANY(:ids)"),
                {"ids": stream.task_ids()}).one()
        rate = verdict.distinct / (last - first).total_seconds()
        REPORT.append(f"throughput worker_hosts={count}: {rate:.0f} check-ins/s ({verdict.distinct} in "
                      f"{(last - first).total_seconds():.1f} s)")
