"""Text generation: the seed's `/api/predict` and `/api/result` shapes through a worker."""

from __future__ import annotations

from taskplatform.dev.processes import wait_until
from tests.integration.stack import Stack


def _result(stack: Stack, job_id: str) -> dict:
    body: dict = {}

    def done() -> bool:
        nonlocal body
        body = stack.api.get(f"/api/result/{job_id}").json()
        return "result" in body or body.get("status") == "FAILURE"

    wait_until(done, timeout=120, interval=0.2, what=f"job {job_id}")
    return body


def test_predict_then_result_has_the_seeds_shape(stack: Stack) -> None:
    accepted = stack.api.post("/api/predict", json={"text": "Olá, você pode me ajudar?"})
    assert accepted.status_code == 200
    job_id = accepted.json()["job_id"]
    pending = stack.api.get(f"/api/result/{job_id}").json()
    assert "result" in pending or pending["status"] in {"QUEUED", "STARTED"}
    body = _result(stack, job_id)
    assert body["result"]["role"] == "assistant" and body["result"]["tool_calls"] is None
    assert isinstance(body["result"]["content"], str) and body["result"]["content"].strip()


def test_greedy_generation_is_repeatable_and_parameters_are_bounded(stack: Stack) -> None:
    params = {"text": "O relatório noturno", "max_new_tokens": 16, "temperature": 0}
    first = _result(stack, stack.api.post("/api/predict", json=params).json()["job_id"])
    second = _result(stack, stack.api.post("/api/predict", json=params).json()["job_id"])
    assert first["result"]["content"] == second["result"]["content"]
    for bad in ({"text": ""}, {"text": "x", "max_new_tokens": 0}, {"text": "x", "max_new_tokens": 257},
                {"text": "x", "temperature": 2.5}, {"text": "x" * 4001}, {}):
        assert stack.api.post("/api/predict", json=bad).status_code == 422, bad
    assert stack.api.get("/api/result/not-a-job").status_code == 404
    assert "/api/predict" in stack.api.get("/demo").text
