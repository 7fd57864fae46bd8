"""Task results in the API's words: a task returns plain, English-named data; `/tarefa/{id}` and `/tarefas` show
it with the HTTP field names and the URLs of the routes that read what the task made.

A record written before tasks returned plain data already holds the HTTP shape: it is shown as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.schemas.housing import training_out
from taskplatform.messaging.task_names import TaskName


def _housing_training(result: dict[str, Any]) -> dict[str, Any]:
    if "version" not in result:
        return result
    return training_out(result["version"], result["metrics"], result["features"])


def _device(result: dict[str, Any]) -> dict[str, Any]:
    if "raspberry_ids" in result:  # an array of checks
        return {**result, "device_urls": [f"/devices/{rid}" for rid in result["raspberry_ids"]]}
    return {**result, "device_url": f"/devices/{result['raspberry_id']}"}


def _daily_report(result: dict[str, Any]) -> dict[str, Any]:
    return {**result, "report_url": f"/relatorio/diario/{result['data']}"}


def _session(result: dict[str, Any]) -> dict[str, Any]:
    if isinstance(result.get("sessions"), list):  # an array of sessions
        return {**result, "sessions": [_session(item) for item in result["sessions"]]}
    if "user_id" not in result:
        return result
    shown = {k: v for k, v in result.items() if k not in ("user_id", "session_uuid")}
    return {**shown, "session_url": f"/sessions/{result['user_id']}/{result['session_uuid']}"}


_PRESENTERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    TaskName.HOUSING_TRAIN.value: _housing_training,
    TaskName.DEVICES_UPSERT.value: _device,
    TaskName.REPORTS_DAILY.value: _daily_report,
    TaskName.SESSIONS_PERSIST.value: _session,
}


def present_result(name: str, result: Any) -> Any:
    """`result` of a task named `name` as the API shows it."""
    presenter = _PRESENTERS.get(name)
    if presenter is None or not isinstance(result, dict):
        return result
    return presenter(result)
