"""Task results as `/tarefa/{id}` shows them: the API's field names and the URLs of what the task made."""

from __future__ import annotations

from api.task_results import present_result


def test_a_housing_training_is_shown_with_the_http_keys_and_its_plot_url() -> None:
    result = {"version": "housing-abc", "metrics": {"r2": 0.9}, "features": {"numeric": ["area_m2"]}}
    assert present_result("housing.train", result) == {
        "versao": "housing-abc", "metricas": {"r2": 0.9}, "features": {"numeric": ["area_m2"]},
        "grafico_url": "/modelos/imoveis/housing-abc/grafico.png"}


def test_results_get_the_url_of_what_the_task_wrote() -> None:
    assert present_result("devices.upsert", {"raspberry_id": "pi-1"}) == {"raspberry_id": "pi-1",
                                                                           "device_url": "/devices/pi-1"}
    assert present_result("reports.daily", {"data": "2026-11-20", "total_checkins": 3, "distinct_students": 2}) == {
        "data": "2026-11-20", "total_checkins": 3, "distinct_students": 2, "report_url": "/relatorio/diario/2026-11-20"}
    assert present_result("sessions.persist", {"key": "sessions/u/s.json", "bytes": 9, "user_id": "u",
                                               "session_uuid": "s"}) == {
        "key": "sessions/u/s.json", "bytes": 9, "session_url": "/sessions/u/s"}


def test_records_written_in_the_http_shape_and_other_tasks_are_shown_as_stored() -> None:
    old = {"versao": "housing-abc", "metricas": {}, "features": {}, "grafico_url": "/modelos/imoveis/housing-abc/g"}
    assert present_result("housing.train", old) == old
    old_session = {"key": "k", "bytes": 1, "session_url": "/sessions/u/s"}
    assert present_result("sessions.persist", old_session) == old_session
    assert present_result("churn.retrain", {"version": "churn-1"}) == {"version": "churn-1"}
    assert present_result("housing.train", None) is None
