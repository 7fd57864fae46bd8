"""docker/k8s/ rendered by `kubectl kustomize`, and the parts of the render the checks (`k8s_checks.py`) read."""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

import taskplatform
from taskplatform.messaging import raw_queues
from tests.services import REGISTRY, kubectl

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "docker" / "k8s"
WORKLOADS = ("Deployment", "StatefulSet", "Job")

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
