"""Daily attendance reports: on demand, read back, charted, and fired twice by the schedule."""

from __future__ import annotations

import io
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from zoneinfo import ZoneInfo

from PIL import Image
from sqlalchemy import text

from taskplatform.schedule import BEAT_SCHEDULE
from tests.integration.helpers import new_student_ids
from tests.integration.stack import Stack

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


def test_the_nightly_schedule_fired_twice_leaves_one_report(stack: Stack) -> None:
    entry = BEAT_SCHEDULE["daily-report"]
    today = datetime.now(SAO_PAULO).date()
    task_ids = [f"beat-{uuid.uuid4()}" for _ in range(2)]
    queue = "reports"
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda task_id: stack.send_raw(entry["task"], entry.get("kwargs", {}), task_id, queue),
                      task_ids))
    records = [stack.wait_task(task_id) for task_id in task_ids]
    assert [r["state"] for r in records] == ["SUCCESS", "SUCCESS"]
    assert {r["result"]["data"] for r in records} == {today.isoformat()}
    with stack.engine.connect() as connection:
        count = connection.execute(text("SELECT count(*) FROM daily_reports WHERE data = :d"),
                                   {"d": today if stack.engine.dialect.name == "postgresql" else str(today)})
        assert count.scalar_one() == 1
    assert stack.api.get(f"/relatorio/diario/{today.isoformat()}").json()["data"] == today.isoformat()


def test_a_day_without_checkins_gives_a_report_of_zeros(stack: Stack) -> None:
    response = stack.api.post("/relatorio/diario", params={"data": "2001-01-02"})
    assert response.status_code == 202
    assert stack.wait_task(response.json()["task_id"])["state"] == "SUCCESS"
    report = stack.api.get("/relatorio/diario/2001-01-02").json()
    assert report["total_checkins"] == 0 and report["distinct_students"] == 0
    assert report["busiest_hour"] is None and report["first_checkin"] is None
    assert report["same_weekday_last_week"]["change_percent"] is None
