"""The checks of docker/k8s/ as `kubectl kustomize` renders it (`test_k8s_manifests.py` runs them): every queue has
a worker that consumes it and scales on it, beat cannot run twice, every container is bounded, probed and
unprivileged, no secret is written in a manifest. Each check returns the problems it finds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from taskplatform.core.settings import Settings
from taskplatform.messaging.queues import TASK_QUEUES, queue_for
from tests.unit.k8s_render import (
    WORKLOADS,
    Docs,
    celery_role,
    command,
    containers,
    dockerfile_uid,
    env_value,
    of_kind,
    pod_spec,
    raw_queue_list,
    workers,
)

#: Names of variables that hold credentials: never written as a literal value in a manifest.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|KEY|TOKEN|AUTH|CREDENTIAL", re.IGNORECASE)
#: A URL with a password in it (`scheme://user:password@host`, `redis://:password@host`).
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]*:[^/\s@]+@")
LIVENESS_PROBE = "taskplatform.messaging.liveness_probe"


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
