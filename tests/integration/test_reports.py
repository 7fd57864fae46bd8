"""Daily attendance reports: on demand, read back, charted, and fired twice by the schedule."""

from __future__ import annotations

import io
import json
import re
import socket
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from storage.keys import daily_report_chart_key
from taskplatform.dev.processes import wait_until
from taskplatform.messaging.schedule_runs import ScheduleRun
from tests.integration.helpers import accepted_task, count_rows, new_student_ids, run_task
from tests.integration.stack import ROOT, Stack

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def _local(day: str, hhmm: str) -> str:
    return datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=SAO_PAULO).isoformat()


def test_report_matches_the_checkins_sent_and_its_chart_is_a_png(stack: Stack) -> None:
    a, b, c, regular = new_student_ids(stack.api, 4)
    day, week_before = "2025-03-14", "2025-03-07"
    sent = [(a, "06:05"), (a, "18:30"), (b, "06:40"), (c, "06:59"), (regular, "07:10"), (b, "21:45")]
    body = [{"aluno_id": s, "data_hora": _local(day, t)} for s, t in sent]
    body += [{"aluno_id": regular, "data_hora": _local(week_before, "07:00")},
             {"aluno_id": regular, "data_hora": _local(week_before, "19:00")}]
    # One check-in given in UTC: 2025-03-14 02:30Z is still the 13th in Sao Paulo, so not counted.
    body.append({"aluno_id": c, "data_hora": "2025-03-14T02:30:00Z"})
    assert stack.wait_task(stack.api.post("/checkin/batch", json=body).json()["task_id"])["state"] == "SUCCESS"

    accepted = stack.api.post("/relatorio/diario", params={"data": day})
    assert accepted.status_code == 202
    assert stack.wait_task(accepted.json()["task_id"])["state"] == "SUCCESS"
    report = stack.api.get(f"/relatorio/diario/{day}").json()
    assert report["total_checkins"] == 6
    assert report["distinct_students"] == 4
    hours = {h: n for h, n in report["checkins_per_hour"].items() if n}
    assert hours == {"06": 3, "07": 1, "18": 1, "21": 1}
    assert report["busiest_hour"] == "06:00" and report["busiest_hour_checkins"] == 3
    assert report["first_checkin"] == _local(day, "06:05") and report["last_checkin"] == _local(day, "21:45")
    # `c` checked in on the 13th (local), `regular` a week before: a and b are new that day.
    assert report["new_students"] == 2
    assert report["same_weekday_last_week"] == {"data": week_before, "total_checkins": 2, "change": 4,
                                                "change_percent": 200.0}

    chart = stack.api.get(report["chart_url"])
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(chart.content))
    assert image.format == "PNG" and image.size[0] > 300


def test_report_requests_are_validated_and_missing_reports_are_404(stack: Stack) -> None:
    for bad in ("2025-02-30", "14/03/2025", "2999-01-01"):
        response = stack.api.post("/relatorio/diario", params={"data": bad})
        assert response.status_code == 422, (bad, response.text)
    assert stack.api.get("/relatorio/diario/2001-01-01").status_code == 404
    assert stack.api.get("/relatorio/diario/2001-01-01/grafico.png").status_code == 404


def _seed_day(stack: Stack, day: str) -> int:
    """Check-ins of students of this test on `day`; returns how many."""
    students = new_student_ids(stack.api, 3)
    body = [{"aluno_id": s, "data_hora": _local(day, t)} for s in students for t in ("07:00", "19:30")]
    assert run_task(stack, stack.api.post("/checkin/batch", json=body))["state"] == "SUCCESS"
    return len(body)


def _report_row(stack: Stack, day: str) -> list[tuple[str, str, Any, dict[str, Any]]]:
    """(task_id, chart_key, generated_at, content) of every stored report of `day` (at most one)."""
    key = date.fromisoformat(day) if stack.engine.dialect.name == "postgresql" else day
    with stack.engine.connect() as connection:
        rows = connection.execute(text("SELECT task_id, chart_key, generated_at, content FROM daily_reports "
                                       "WHERE data = :d"), {"d": key}).all()
    # SQLite hands the JSON column back as text to a plain query.
    return [(t, c, g, json.loads(body) if isinstance(body, str) else body) for t, c, g, body in rows]


def _writers_waiting(stack: Stack) -> int:
    return count_rows(stack, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                             "AND wait_event_type = 'Lock' AND query ILIKE '%daily_reports%'")


def test_two_report_runs_held_at_a_barrier_leave_one_consistent_report(stack: Stack) -> None:
    """Breach caught: a report write that is not one atomic upsert (read-then-insert, or a plain insert): two
    runs for one date are held at a barrier, both computed and waiting to write, and released together; both
    must succeed and leave one row, written by one of them, with the chart at the date's key.

    The barrier is a table lock the test holds (PostgreSQL): reads go on, writes to daily_reports wait."""
    if stack.engine.dialect.name != "postgresql":
        pytest.skip("the barrier is a PostgreSQL table lock; the SQLite stack has one writer at a time anyway")
    day = "2024-05-15"
    expected = _seed_day(stack, day)
    with stack.engine.connect() as barrier:
        holding = barrier.begin()
        barrier.execute(text("LOCK TABLE daily_reports IN EXCLUSIVE MODE"))
        task_ids = [accepted_task(stack.api.post("/relatorio/diario", params={"data": day})) for _ in range(2)]
        wait_until(lambda: _writers_waiting(stack) == 2, timeout=60, interval=0.1,
                   what="both report runs to wait at the barrier")
        holding.rollback()
    records = [stack.wait_task(t) for t in task_ids]
    assert [r["state"] for r in records] == ["SUCCESS", "SUCCESS"], records
    [(task_id, chart_key, generated_at, content)] = _report_row(stack, day)
    assert task_id in task_ids and chart_key == daily_report_chart_key(date.fromisoformat(day))
    assert generated_at is not None and content["total_checkins"] == expected
    assert {r["result"]["total_checkins"] for r in records} == {expected}
    chart = stack.api.get(f"/relatorio/diario/{day}/grafico.png")
    assert chart.status_code == 200 and chart.content[:8] == b"\x89PNG\r\n\x1a\n"


# Beat logs "<task> sent. id-><id>" (debug) once the broker took the message, and "<entry> (<task>) for <fire time>
# skipped: already fired by <beat>" when another beat had claimed that fire (taskplatform/messaging/beat_once.py).
_SENT = re.compile(r"reports\.daily sent\. id->([0-9a-f-]{36})")
_SKIPPED = re.compile(r"daily-report \(reports\.daily\) for (\S+) skipped: already fired by (\S+) ")


def _beat_log(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


def _sent_ids(log: Path) -> set[str]:
    return set(_SENT.findall(_beat_log(log)))


def _skips(log: Path) -> list[tuple[datetime, str]]:
    """(fire time, winning beat) of each fire this beat skipped."""
    return [(datetime.fromisoformat(when), winner) for when, winner in _SKIPPED.findall(_beat_log(log))]


def _schedule_runs(stack: Stack, since: datetime) -> list[ScheduleRun]:
    with Session(stack.engine) as session:
        return list(session.scalars(select(ScheduleRun).where(ScheduleRun.schedule == "daily-report",
                                                              ScheduleRun.claimed_at >= since)))


@pytest.mark.slow
def test_two_beats_firing_the_nightly_report_send_each_fire_once(stack: Stack, tmp_path: Path) -> None:
    """Breach caught: two beats both sending one fire (a fire time with two tasks), a fire sent without its row in
    schedule_runs, a losing beat's attempt not recorded as skipped, a fire lost or run twice, or a second report
    for the date. Two real beat processes (the platform's scheduler, `celeryconfig.beat_scheduler`) fire the
    daily-report entry every 2 s (for a fixed past date instead of today at 23:55) until several fires were
    attempted by both; then every task their logs show as sent is the task of one schedule_runs row (one per fire
    time), succeeded on its first attempt, and is the only task of its fire in the ledger; each fire both beats
    attempted has one winner and the other beat counted as skipped; the date has one report."""
    day = "2024-05-16"
    expected = _seed_day(stack, day)
    since = datetime.now(UTC)
    env = {**stack.env, "TEST_BEAT_EVERY": "2", "TEST_BEAT_DATE": day}
    logs = [stack.supervisor.log_dir / f"beat-{n}.log" for n in (1, 2)]  # type: ignore[operator]
    for log in logs:
        log.unlink(missing_ok=True)
    beats: set[str] = set()
    try:
        for n in (1, 2):
            stack.supervisor.start(f"beat-{n}", [sys.executable, "-m", "celery", "-A", "tests.integration.beat_app",
                                                 "beat", "-l", "debug", "-s", str(tmp_path / f"schedule-{n}")],
                                   env=env, cwd=ROOT)
            beats.add(f"{socket.gethostname()}:{stack.supervisor.get(f'beat-{n}').popen.pid}")
        wait_until(lambda: sum(run.skipped for run in _schedule_runs(stack, since)) >= 4, timeout=90, interval=0.5,
                   what="four fires attempted by both beats")
    finally:
        for n in (1, 2):
            stack.supervisor.stop(f"beat-{n}")
    sent = set().union(*(_sent_ids(log) for log in logs))
    runs = {run.task_id: run for run in _schedule_runs(stack, since)}
    assert sent and sent <= runs.keys(), (sent, runs.keys())
    # Sent and marked so (a beat stopped between its send and sent_at, or its claim and its send, is not).
    assert {t for t, run in runs.items() if run.sent_at is not None} <= sent
    assert {run.fired_by for run in runs.values()} <= beats, (runs, beats)
    contested = [run for run in runs.values() if run.skipped]
    assert len(contested) >= 4 and all(run.skipped == 1 and run.skipped_by in beats - {run.fired_by}
                                       for run in contested), contested
    by_fire = {(run.fire_time, run.fired_by) for run in contested}
    skips = [skip for log in logs for skip in _skips(log)]
    assert skips and all(skip in by_fire for skip in skips), (skips, by_fire)
    seen: dict[str, str] = {}

    def every_sent_fire_succeeded() -> bool:
        listed = stack.api.get("/tarefas", params={"name": "reports.daily", "since": since.isoformat(),
                                                   "limit": 500}).json()
        seen.clear()
        seen.update({t["task_id"]: t["state"] for t in listed["items"] if t["params"] is None})
        return sent <= seen.keys() and all(state == "SUCCESS" for state in seen.values())

    try:
        wait_until(every_sent_fire_succeeded, timeout=120, interval=0.5, what="every sent fire to succeed")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: sent {sorted(sent)}, in the ledger {seen}") from exc
    # No task in the ledger but the claimed ones: at most one per fire time.
    assert seen.keys() <= runs.keys(), sorted(seen.keys() - runs.keys())
    records = [stack.api.get(f"/tarefa/{task_id}").json() for task_id in seen]
    assert {r["result"]["data"] for r in records} == {day} and all(r["attempts"] == 1 for r in records)
    [(task_id, _, _, content)] = _report_row(stack, day)
    assert task_id in seen and content["total_checkins"] == expected


def test_a_day_without_checkins_gives_a_report_of_zeros(stack: Stack) -> None:
    response = stack.api.post("/relatorio/diario", params={"data": "2001-01-02"})
    assert response.status_code == 202
    assert stack.wait_task(response.json()["task_id"])["state"] == "SUCCESS"
    report = stack.api.get("/relatorio/diario/2001-01-02").json()
    assert report["total_checkins"] == 0 and report["distinct_students"] == 0
    assert report["busiest_hour"] is None and report["first_checkin"] is None
    assert report["same_weekday_last_week"]["change_percent"] is None
