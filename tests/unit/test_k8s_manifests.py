"""docker/k8s/, as `kubectl kustomize` renders it: every queue has a worker that consumes it and scales on it, beat
cannot run twice, every container is bounded, probed and unprivileged, and no secret is written in a manifest.

Each check (`k8s_checks.py`) returns the problems it finds; the tests below break a copy of the render in each way
a check must catch, so no check passes by finding nothing to look at. Without kubectl (requirements-dev.txt installs it)
the tests are skipped as a service group, which --require-services (CI) turns into a failure.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.k8s_checks import CHECKS, scaling_problems
from tests.unit.k8s_render import (
    Docs,
    command,
    containers,
    of_kind,
    raw_queue_list,
    render,
    workers,
)


@pytest.mark.parametrize("check", list(CHECKS))
def test_the_render_passes(check: str) -> None:
    assert CHECKS[check](render()) == []


def test_the_redis_broker_variant_scales_on_list_lengths() -> None:
    docs = render("redis-broker")
    assert scaling_problems(docs, trigger="redis", queue_field="listName") == []
    assert not any(t["type"] == "rabbitmq" for so in of_kind(docs, "ScaledObject") for t in so["spec"]["triggers"])
    for check in ("queues", "beat", "containers", "secrets", "grace"):
        assert CHECKS[check](docs) == [], check
    job = next(of_kind(docs, "Job"))
    assert "rabbitmq" not in " ".join(command(containers(job)[0])), "the migration runs RabbitMQ steps on Redis"


def test_the_render_has_what_the_checks_look_at() -> None:
    """The checks above would pass on an empty render: this one would not."""
    docs = render()
    assert set(workers(docs)) >= {f"taskplatform-worker-{g}" for g in
                                   ("ingest", "reports", "training", "predictions", "textgen")}
    assert {doc["kind"] for doc in docs} >= {"Deployment", "StatefulSet", "Job", "Service", "ConfigMap",
                                             "PodDisruptionBudget", "ScaledObject", "TriggerAuthentication"}
    budgets = {doc["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
               for doc in of_kind(docs, "PodDisruptionBudget")}
    assert budgets >= {"taskplatform-api", *workers(docs)}
    assert {raw.name for raw in raw_queue_list()} >= {"rasp_data", "raw_sessions"}


def test_the_api_is_ready_without_its_workers() -> None:
    """Readiness on `/status?workers=false`: an API whose workers are restarting still accepts work (the queues keep
    it) and still answers `/tarefa/{task_id}`; liveness depends on nothing (a database outage restarts no API)."""
    [api] = [w for w in of_kind(render(), "Deployment") if w["metadata"]["name"].endswith("-api")]
    [container] = containers(api)
    assert container["readinessProbe"]["httpGet"]["path"] == "/status?workers=false"
    assert container["livenessProbe"]["httpGet"]["path"] == "/"


def test_predictions_never_share_a_worker_with_training() -> None:
    for name, queues in workers(render()).items():
        assert not {"training", "predictions"} <= queues, name


# The breaches: each check must find a problem in a render broken its way.
def _worker(docs: Docs, group: str) -> dict[str, Any]:
    return next(d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == f"taskplatform-worker-{group}")


def _drop_queue(docs: Docs) -> None:
    argv = _worker(docs, "ingest")["spec"]["template"]["spec"]["containers"][0]["command"]
    argv[argv.index("-Q") + 1] = "checkins,sessions"  # no one consumes devices, nor rasp_data


def _two_beats(docs: Docs) -> None:
    next(of_kind(docs, "StatefulSet"))["spec"]["replicas"] = 2


def _beat_as_rolling_deployment(docs: Docs) -> None:
    beat = next(of_kind(docs, "StatefulSet"))
    beat["kind"] = "Deployment"
    beat["spec"]["strategy"] = {"type": "RollingUpdate"}


def _no_memory_limit(docs: Docs) -> None:
    del _worker(docs, "reports")["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]


def _no_liveness(docs: Docs) -> None:
    del _worker(docs, "textgen")["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]


def _ping_as_liveness(docs: Docs) -> None:
    probe = _worker(docs, "training")["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]
    probe["exec"]["command"] = ["celery", "-A", "taskplatform", "inspect", "ping"]


def _no_readiness_on_the_api(docs: Docs) -> None:
    api = next(d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == "taskplatform-api")
    del api["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]


def _root(docs: Docs) -> None:
    _worker(docs, "ingest")["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsUser"] = 0


def _escalation(docs: Docs) -> None:
    del _worker(docs, "ingest")["spec"]["template"]["spec"]["containers"][0]["securityContext"][
        "allowPrivilegeEscalation"]


def _secret_with_data(docs: Docs) -> None:
    docs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "oops"},
                 "stringData": {"BROKER_URL": "amqp://app:hunter2@rabbitmq:5672//"}})


def _literal_password(docs: Docs) -> None:
    container = _worker(docs, "reports")["spec"]["template"]["spec"]["containers"][0]
    container.setdefault("env", []).append({"name": "S3_SECRET_KEY", "value": "0123456789abcdef"})


def _password_in_a_url(docs: Docs) -> None:
    next(of_kind(docs, "ConfigMap"))["data"]["RESULT_BACKEND"] = "redis://:hunter2hunter2@redis:6379/1"


def _no_scaled_object(docs: Docs) -> None:
    docs.remove(next(d for d in of_kind(docs, "ScaledObject")
                     if d["spec"]["scaleTargetRef"]["name"] == "taskplatform-worker-predictions"))


def _no_trigger_on_a_raw_queue(docs: Docs) -> None:
    scaled = next(d for d in of_kind(docs, "ScaledObject")
                  if d["spec"]["scaleTargetRef"]["name"] == "taskplatform-worker-ingest")
    scaled["spec"]["triggers"] = [t for t in scaled["spec"]["triggers"] if t["metadata"]["queueName"] != "rasp_data"]


def _no_trigger_on_a_task_queue(docs: Docs) -> None:
    scaled = next(d for d in of_kind(docs, "ScaledObject")
                  if d["spec"]["scaleTargetRef"]["name"] == "taskplatform-worker-reports")
    scaled["spec"]["triggers"][0]["metadata"]["queueName"] = "training"


def _short_grace(docs: Docs) -> None:
    _worker(docs, "training")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 60


def _longer_tasks(docs: Docs) -> None:
    next(of_kind(docs, "ConfigMap"))["data"]["TASK_TIME_LIMIT"] = "7200"


@pytest.mark.parametrize(("check", "breach"), [
    ("queues", _drop_queue), ("beat", _two_beats), ("beat", _beat_as_rolling_deployment),
    ("containers", _no_memory_limit), ("containers", _no_liveness), ("containers", _ping_as_liveness),
    ("containers", _no_readiness_on_the_api), ("containers", _root), ("containers", _escalation),
    ("secrets", _secret_with_data), ("secrets", _literal_password), ("secrets", _password_in_a_url),
    ("scaling", _no_scaled_object), ("scaling", _no_trigger_on_a_raw_queue), ("scaling", _no_trigger_on_a_task_queue),
    ("grace", _short_grace), ("grace", _longer_tasks),
], ids=lambda value: value if isinstance(value, str) else value.__name__.strip("_"))
def test_each_check_catches_its_breach(check: str, breach: Callable[[Docs], None]) -> None:
    docs = copy.deepcopy(render())
    breach(docs)
    assert CHECKS[check](docs), f"{check} found nothing wrong after {breach.__name__}"
