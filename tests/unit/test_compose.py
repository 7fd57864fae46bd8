"""docker/: every task queue has a worker, priorities hold, and nothing is exposed that should not be."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from taskplatform.messaging.queues import TASK_QUEUES

DOCKER = Path(__file__).resolve().parents[2] / "docker"
COMPOSE = DOCKER / "compose.yaml"
NGINX = DOCKER / "nginx.conf"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def worker_queues(services: dict[str, Any]) -> dict[str, set[str]]:
    """service -> the queues its `celery worker -Q` consumes."""
    consumed = {}
    for name, service in services.items():
        command = service.get("command") or []
        if command[:4] == ["celery", "-A", "taskplatform", "worker"]:
            consumed[name] = set(command[command.index("-Q") + 1].split(","))
    return consumed


def test_every_task_queue_has_a_worker(services: dict[str, Any]) -> None:
    consumed = set().union(*worker_queues(services).values())
    assert set(TASK_QUEUES) <= consumed, f"no worker consumes {sorted(set(TASK_QUEUES) - consumed)}"


def test_predictions_never_share_a_worker_with_training(services: dict[str, Any]) -> None:
    for name, queues in worker_queues(services).items():
        assert not {"training", "predictions"} <= queues, f"{name} consumes both training and predictions"


def test_the_api_runs_several_processes(services: dict[str, Any]) -> None:
    assert "WEB_CONCURRENCY" in services["api"]["environment"]


def published(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host address or "", container port) of each published port."""
    found = []
    for port in service.get("ports") or []:
        parts = str(port).rsplit(":", 2) if ":" in str(port) else ["", str(port)]
        found.append((parts[0] if len(parts) == 3 else "", parts[-1]))
    return found


def test_the_rabbitmq_management_port_is_never_published(services: dict[str, Any]) -> None:
    """Breach: PUBLISH_ADDR=0.0.0.0 (needed for the devices' AMQP) also opened the management API to the world."""
    for name, service in services.items():
        assert all(port != "15672" for _, port in published(service)), f"{name} publishes 15672"


def test_flower_is_published_on_loopback_only(services: dict[str, Any]) -> None:
    """Breach: Flower (whose /metrics needs no login) followed PUBLISH_ADDR onto every interface."""
    assert published(services["flower"]) == [("127.0.0.1", "5555")]


def test_the_devices_get_their_own_rabbitmq_user_with_a_required_password(services: dict[str, Any]) -> None:
    """Breach: the Raspberry Pis log in as RabbitMQ's administrator."""
    migrate = services["migrate"]
    assert "rabbitmq-device-user" in " ".join(migrate["command"])
    assert migrate["environment"]["RABBITMQ_DEVICE_PASSWORD"].startswith("${RABBITMQ_DEVICE_PASSWORD:?")
    assert "RABBITMQ_DEFAULT_PASS" not in " ".join(migrate["command"]), "the admin password is on a command line"


def test_only_the_training_worker_gets_the_models_write_keys(services: dict[str, Any]) -> None:
    """Breach: every process holds the credentials that can replace a model (pickle) artifact."""
    holders = [name for name, service in services.items()
               if "MODELS_S3_WRITE_ACCESS_KEY" in str(service.get("environment", {}))]
    assert holders == ["worker-training"]
    assert "MODELS_S3_READ_ACCESS_KEY" in services["api"]["environment"]["MODELS_S3_ACCESS_KEY"]


def test_the_api_and_the_prediction_workers_never_unpickle_a_model(services: dict[str, Any]) -> None:
    """Breach: a process that only predicts housing prices still opens pickles (code) from the object store."""
    for name in ("api", "worker-predictions"):
        assert services[name]["environment"]["MODELS_UNPICKLE"] == "false", name


def test_nginx_serves_https_and_plain_http_only_redirects(services: dict[str, Any]) -> None:
    """Breach: nginx served the API in plain HTTP on every interface."""
    conf = re.sub(r"#.*", "", NGINX.read_text())
    assert "ssl_certificate /etc/nginx/tls/fullchain.pem;" in conf
    assert "ssl_certificate_key /etc/nginx/tls/privkey.pem;" in conf
    assert re.search(r"ssl_protocols\s+TLSv1\.2 TLSv1\.3;", conf)
    assert "Strict-Transport-Security" in conf
    plain = conf[conf.index("listen 80"):conf.index("listen 443")]
    assert "proxy_pass" not in plain and "return 301 https://$host$request_uri;" in plain
    assert [port for _, port in published(services["nginx"])] == ["80", "443"]
    assert any(v.endswith(":/etc/nginx/tls:ro") for v in services["nginx"]["volumes"])


def test_flower_is_not_routed_by_nginx_unless_asked(services: dict[str, Any]) -> None:
    """Breach: /flower/ was routed publicly, and Flower's /metrics answers without a login."""
    directives = re.sub(r"#.*", "", NGINX.read_text())
    assert "location /flower" not in directives and "flower:5555" not in directives
    assert services["nginx"]["environment"]["FLOWER_PUBLIC"] == "${FLOWER_PUBLIC:-false}"
    assert "location ^~ /flower/metrics" in (DOCKER / "nginx-flower.conf").read_text()


@pytest.mark.parametrize(("flag", "routed"), [(None, False), ("false", False), ("true", True)])
def test_the_flower_switch_copies_the_route_only_when_true(tmp_path: Path, flag: str | None, routed: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FLOWER_PUBLIC"}
    env.update(NGINX_LOCATIONS_DIR=str(tmp_path / "locations.d"),
               NGINX_FLOWER_SNIPPET=str(DOCKER / "nginx-flower.conf"))
    (tmp_path / "locations.d").mkdir()
    (tmp_path / "locations.d" / "flower.conf").write_text("left from a run with FLOWER_PUBLIC=true")
    if flag is not None:
        env["FLOWER_PUBLIC"] = flag
    subprocess.run(["sh", str(DOCKER / "nginx-flower.sh")], env=env, check=True, capture_output=True)
    assert (tmp_path / "locations.d" / "flower.conf").exists() == routed
    env["FLOWER_PUBLIC"] = "yes please"
    assert subprocess.run(["sh", str(DOCKER / "nginx-flower.sh")], env=env, capture_output=True).returncode != 0
