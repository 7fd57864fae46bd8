"""docker/k8s/, as `kubectl kustomize` renders it: every queue has a worker that consumes it and scales on it, beat
cannot run twice, every container is bounded, probed and unprivileged, and no secret is written in a manifest.

Each check returns the problems it finds; the tests at the end break a copy of the render in each way a check
must catch, so no check passes by finding nothing to look at. Without kubectl (requirements-dev.txt installs it)
the tests are skipped as a service group, which --require-services (CI) turns into a failure.
"""

from __future__ import annotations

import copy
import importlib
import pkgutil
import re
import subprocess
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

import taskplatform
from taskplatform.core.settings import Settings
from taskplatform.messaging import raw_queues
from taskplatform.messaging.queues import TASK_QUEUES, queue_for
from tests.services import REGISTRY, kubectl

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "docker" / "k8s"
WORKLOADS = ("Deployment", "StatefulSet", "Job")
#: Names of variables that hold credentials: never written as a literal value in a manifest.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|KEY|TOKEN|AUTH|CREDENTIAL", re.IGNORECASE)
#: A URL with a password in it (`scheme://user:password@host`, `redis://:password@host`).
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]*:[^/\s@]+@")
LIVENESS_PROBE = "taskplatform.messaging.liveness_probe"

Docs = list[dict[str, Any]]


@cache
def _render(folder: str) -> tuple[str, ...]:
    tool = kubectl()
    assert tool is not None
    done = subprocess.run([str(tool), "kustomize", str(K8S / folder)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return (done.stdout,)


def render(folder: str = "") -> Docs:
    """The documents of `kubectl kustomize docker/k8s/<folder>` (a fresh copy each time)."""
    REGISTRY.require("kubectl")
    return [doc for doc in yaml.safe_load_all(_render(folder)[0]) if doc]


def raw_queue_list() -> tuple[raw_queues.RawQueue, ...]:
    """Every raw queue a domain registers (each domain's `raw_queue` module, found, not listed by hand)."""
    for module in pkgutil.iter_modules(taskplatform.__path__):
        if module.ispkg and importlib.util.find_spec(f"taskplatform.{module.name}.raw_queue") is not None:
            importlib.import_module(f"taskplatform.{module.name}.raw_queue")
    return raw_queues.registered()


def dockerfile_uid() -> int:
    found = re.search(r"useradd\b.*--uid (\d+)", (ROOT / "docker" / "Dockerfile").read_text())
    assert found, "docker/Dockerfile creates no user with --uid"
    return int(found.group(1))


# ------------------------------------------------------------------------------------------------- reading a render
def of_kind(docs: Docs, *kinds: str) -> Iterator[dict[str, Any]]:
    return (doc for doc in docs if doc.get("kind") in kinds)


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return dict(workload["spec"]["template"]["spec"])


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def command(container: dict[str, Any]) -> list[str]:
    return [str(part) for part in [*container.get("command", []), *container.get("args", [])]]


def celery_role(container: dict[str, Any]) -> str | None:
    """`worker`, `beat`, `flower`... for `celery -A taskplatform <role>`, else None."""
    argv = command(container)
    if argv[:1] == ["celery"] and "-A" in argv:
        rest = argv[argv.index("-A") + 2:]
        return rest[0] if rest else None
    return None


def workers(docs: Docs) -> dict[str, set[str]]:
    """Worker Deployment -> the queues its `-Q` consumes."""
    found: dict[str, set[str]] = {}
    for deployment in of_kind(docs, "Deployment"):
        for container in containers(deployment):
            if celery_role(container) == "worker":
                argv = command(container)
                assert "-Q" in argv, f"{deployment['metadata']['name']}: a worker without -Q consumes every queue"
                found[deployment["metadata"]["name"]] = set(argv[argv.index("-Q") + 1].split(","))
    return found


def env_value(docs: Docs, workload: dict[str, Any], container: dict[str, Any], name: str) -> str | None:
    """A variable's literal value in a container: its own `env`, else a ConfigMap of its `envFrom`."""
    for entry in container.get("env", []):
        if entry["name"] == name and "value" in entry:
            return str(entry["value"])
    maps = {doc["metadata"]["name"]: doc.get("data", {}) for doc in of_kind(docs, "ConfigMap")}
    for source in reversed(container.get("envFrom", [])):  # the last source wins
        data = maps.get(source.get("configMapRef", {}).get("name"), {})
        if name in data:
            return str(data[name])
    return None


# ------------------------------------------------------------------------------------------------------ the checks
def queues_without_a_worker(docs: Docs) -> list[str]:
    consumed = set().union(*workers(docs).values())
    problems = [f"task queue {q} has no worker Deployment" for q in TASK_QUEUES if q not in consumed]
    # A raw queue is consumed by the workers that serve its task's queue (raw_consumer.py, on RabbitMQ).
    problems += [f"raw queue {raw.name} has no worker on {queue_for(raw.task_name)}"
                 for raw in raw_queue_list() if queue_for(raw.task_name) not in consumed]
    return problems


def beat_problems(docs: Docs) -> list[str]:
    beats = [w for w in of_kind(docs, *WORKLOADS) if any(celery_role(c) == "beat" for c in containers(w))]
    if len(beats) != 1:
        return [f"{len(beats)} beat workloads, not one"]
    beat = beats[0]
    problems = [] if beat["spec"].get("replicas") == 1 else ["beat's replicas is not 1"]
    if beat["kind"] == "Deployment" and beat["spec"].get("strategy", {}).get("type") != "Recreate":
        problems.append("beat is a Deployment without strategy Recreate: a rolling update runs two beats")
    if beat["kind"] == "Job":
        problems.append("beat is a Job")
    return problems


def _served(docs: Docs, workload: dict[str, Any]) -> bool:
    """Whether a Service with ports selects this workload's pods (then it must say when it is ready)."""
    labels = workload["spec"]["template"]["metadata"].get("labels", {})
    return any(svc["spec"].get("ports") and svc["spec"].get("selector")
               and svc["spec"]["selector"].items() <= labels.items() for svc in of_kind(docs, "Service"))


def container_problems(docs: Docs) -> list[str]:
    """Resources, probes and the security context of every container."""
    uid = dockerfile_uid()
    problems = []
    for workload in of_kind(docs, *WORKLOADS):
        pod = pod_spec(workload).get("securityContext", {})
        init = {c["name"] for c in pod_spec(workload).get("initContainers", [])}
        for container in containers(workload):
            where = f"{workload['kind']} {workload['metadata']['name']}/{container['name']}"
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(bound, {}):
                        problems.append(f"{where}: no {bound}.{resource}")
            security = {**pod, **container.get("securityContext", {})}  # the container's own settings win
            if security.get("runAsNonRoot") is not True:
                problems.append(f"{where}: runAsNonRoot is not true")
            if security.get("runAsUser") != uid:
                problems.append(f"{where}: runAsUser {security.get('runAsUser')} is not the image's user {uid}")
            if container.get("securityContext", {}).get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            # A Job ends (activeDeadlineSeconds bounds it) and an init container runs once: no probes for them.
            if workload["kind"] == "Job" or container["name"] in init:
                continue
            if "livenessProbe" not in container:
                problems.append(f"{where}: no livenessProbe")
            if _served(docs, workload) and "readinessProbe" not in container:
                problems.append(f"{where}: serves a Service without a readinessProbe")
            if celery_role(container) == "worker":
                probe = command(container.get("livenessProbe", {}).get("exec", {}))
                if LIVENESS_PROBE not in probe:
                    problems.append(f"{where}: the liveness probe is not the consumption-progress probe")
    return problems


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def secret_problems(docs: Docs) -> list[str]:
    """No Secret with values, no credential as a literal variable or ConfigMap entry, no password in a URL."""
    problems = [f"Secret {doc['metadata']['name']} carries values" for doc in of_kind(docs, "Secret")
                if doc.get("data") or doc.get("stringData")]
    for workload in of_kind(docs, *WORKLOADS):
        for container in containers(workload):
            problems += [f"{workload['metadata']['name']}/{container['name']}: {entry['name']} is a literal"
                         for entry in container.get("env", [])
                         if "value" in entry and SECRET_NAME.search(entry["name"])]
    for config in of_kind(docs, "ConfigMap"):
        problems += [f"ConfigMap {config['metadata']['name']}: {key} looks like a credential"
                     for key in config.get("data", {}) if SECRET_NAME.search(key)]
    # Named by where it is, not shown: the test's output must not print it either.
    problems += [f"{doc['kind']} {doc['metadata']['name']}: a URL with a password"
                 for doc in docs if any(URL_WITH_PASSWORD.search(text) for text in _strings(doc))]
    return problems


def scaling_problems(docs: Docs, *, trigger: str, queue_field: str) -> list[str]:
    """Every worker Deployment has a ScaledObject with a `trigger` on each queue it consumes (raw queues too, on
    RabbitMQ), authenticated through a TriggerAuthentication."""
    scaled = {doc["spec"]["scaleTargetRef"]["name"]: doc for doc in of_kind(docs, "ScaledObject")}
    auths = {doc["metadata"]["name"] for doc in of_kind(docs, "TriggerAuthentication")}
    raw_by_queue: dict[str, set[str]] = {}
    if trigger == "rabbitmq":
        for raw in raw_queue_list():
            raw_by_queue.setdefault(queue_for(raw.task_name), set()).add(raw.name)
    problems = []
    for name, queues in workers(docs).items():
        if name not in scaled:
            problems.append(f"{name} has no ScaledObject")
            continue
        triggers = scaled[name]["spec"].get("triggers", [])
        watched = {t["metadata"].get(queue_field) for t in triggers if t.get("type") == trigger}
        wanted = queues.union(*(raw_by_queue.get(q, set()) for q in queues))
        problems += [f"{name}: no {trigger} trigger on {q}" for q in sorted(wanted - watched)]
        problems += [f"{name}: trigger without a TriggerAuthentication of the render" for t in triggers
                     if t.get("authenticationRef", {}).get("name") not in auths]
    return problems


def grace_problems(docs: Docs) -> list[str]:
    """Each worker's terminationGracePeriodSeconds exceeds the hard time limit of its tasks (TASK_TIME_LIMIT as
    the container sees it, else the setting's default; no task sets a limit of its own)."""
    default = Settings.model_fields["task_time_limit"].default
    problems = []
    for deployment in of_kind(docs, "Deployment"):
        for container in containers(deployment):
            if celery_role(container) != "worker":
                continue
            limit = int(env_value(docs, deployment, container, "TASK_TIME_LIMIT") or default)
            grace = pod_spec(deployment).get("terminationGracePeriodSeconds", 30)
            if grace <= limit:
                problems.append(f"{deployment['metadata']['name']}: grace {grace} s <= task time limit {limit} s")
    return problems


CHECKS: dict[str, Callable[[Docs], list[str]]] = {
    "queues": queues_without_a_worker,
    "beat": beat_problems,
    "containers": container_problems,
    "secrets": secret_problems,
    "scaling": lambda docs: scaling_problems(docs, trigger="rabbitmq", queue_field="queueName"),
    "grace": grace_problems,
}


# ------------------------------------------------------------------------------------------------------- the tests
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
