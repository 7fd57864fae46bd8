"""docker/nginx.conf run for real on loopback: HTTP only redirects, HTTPS proxies to the API, Flower only when asked.

The production file is used as is, but for paths and addresses: listen ports on 127.0.0.1, upstreams on local
stand-ins, logs and the certificate (self-signed, made here with openssl) in a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from taskplatform.dev.embedded import free_port, port_open
from taskplatform.dev.processes import wait_until
from tests.services import REGISTRY

DOCKER = Path(__file__).resolve().parents[2] / "docker"
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")


@dataclass
class Upstream:
    """A stand-in for the api or flower container: answers 200 with its name and records each request."""

    name: str
    seen: list[tuple[str, str]] = field(default_factory=list)  # (path, X-Forwarded-Proto)
    #: An event stream's second event waits for this (the client has read the first one through nginx).
    first_event_read: threading.Event = field(default_factory=threading.Event)

    def start(self) -> int:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                upstream.seen.append((self.path, self.headers.get("X-Forwarded-Proto", "")))
                if self.path.partition("?")[0].endswith("/eventos"):
                    self.stream_events()
                    return
                body = upstream.name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def stream_events(self) -> None:
                """Like the API's streams, but without X-Accel-Buffering: nginx's own configuration must do."""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.wfile.write(b"id: 1\nevent: transition\ndata: {}\n\n")
                self.wfile.flush()
                upstream.first_event_read.wait(timeout=30)  # beyond the client's read timeout
                self.wfile.write(b"id: 2\nevent: transition\ndata: {}\n\n")

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return int(self.server.server_address[1])


@dataclass
class RunningNginx:
    http: int
    https: int
    ca: Path
    api: Upstream
    flower: Upstream

    def client(self) -> httpx.Client:
        return httpx.Client(verify=ssl.create_default_context(cafile=str(self.ca)), follow_redirects=False,
                            timeout=10)


def self_signed(folder: Path) -> None:
    folder.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(folder / "privkey.pem"), "-out", str(folder / "fullchain.pem")],
                   check=True, capture_output=True)


def local_config(root: Path, *, http: int, https: int, api: int, flower: int) -> Path:
    conf = (DOCKER / "nginx.conf").read_text()
    for old, new in (("user nginx;\n", ""), ("/var/log/nginx/", f"{root}/"), ("/var/run/nginx.pid", f"{root}/pid"),
                     ("/etc/nginx/tls/", f"{root}/tls/"), ("/etc/nginx/locations.d/", f"{root}/locations.d/"),
                     ("/var/www/acme", f"{root}/acme"), ("listen 80 ", f"listen 127.0.0.1:{http} "),
                     ("listen 443 ssl ", f"listen 127.0.0.1:{https} ssl "), ("http://api:8000", f"http://127.0.0.1:{api}")):
        assert old in conf, f"{old!r} is no longer in docker/nginx.conf: update this test"
        conf = conf.replace(old, new)
    (root / "nginx.conf").write_text(conf)
    snippet = (DOCKER / "nginx-flower.conf").read_text().replace("http://flower:5555", f"http://127.0.0.1:{flower}")
    (root / "flower.conf").write_text(snippet)
    return root / "nginx.conf"


def flower_switch(root: Path, flag: str) -> None:
    env = {**os.environ, "FLOWER_PUBLIC": flag, "NGINX_LOCATIONS_DIR": str(root / "locations.d"),
           "NGINX_FLOWER_SNIPPET": str(root / "flower.conf")}
    subprocess.run(["sh", str(DOCKER / "nginx-flower.sh")], env=env, check=True, capture_output=True)


@pytest.fixture(params=["false", "true"], ids=["flower-private", "flower-public"])
def nginx(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningNginx]:
    if NGINX is None:
        reason = "nginx is not installed (run scripts/ensure-test-tools.sh as root, or apt-get install nginx-light)"
        REGISTRY.skipped["nginx"] = reason  # a loud skip: CI=true fails the run
        pytest.skip(reason)
    api, flower = Upstream("api"), Upstream("flower")
    running = RunningNginx(free_port(), free_port(), tmp_path / "tls" / "fullchain.pem", api, flower)
    self_signed(tmp_path / "tls")
    (tmp_path / "acme").mkdir()
    conf = local_config(tmp_path, http=running.http, https=running.https, api=api.start(), flower=flower.start())
    flower_switch(tmp_path, request.param)
    checked = subprocess.run([NGINX, "-t", "-c", str(conf), "-e", str(tmp_path / "error.log")], capture_output=True,
                             text=True)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen([NGINX, "-c", str(conf), "-e", str(tmp_path / "error.log"), "-g", "daemon off;"])
    try:
        wait_until(lambda: port_open(running.https) and port_open(running.http), timeout=10, what="nginx")
        yield running
    finally:
        process.terminate()
        process.wait(timeout=10)
        api.server.shutdown()
        flower.server.shutdown()


def test_plain_http_only_redirects_to_https(nginx: RunningNginx) -> None:
    """Breach: nginx served the API in plain HTTP."""
    with nginx.client() as client:
        answer = client.get(f"http://127.0.0.1:{nginx.http}/tarefas?limit=1")
        assert answer.status_code == 301 and answer.headers["location"] == "https://127.0.0.1/tarefas?limit=1"
        assert client.get(f"http://127.0.0.1:{nginx.http}/nginx-health").text == "ok\n"
    assert nginx.api.seen == [], "a plain-HTTP request reached the API"


def test_https_reaches_the_api_with_hsts(nginx: RunningNginx) -> None:
    with nginx.client() as client:
        answer = client.get(f"https://127.0.0.1:{nginx.https}/status")
    assert answer.status_code == 200 and answer.text == "api"
    assert answer.headers["strict-transport-security"].startswith("max-age=")
    assert nginx.api.seen == [("/status", "https")]
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        context = ssl.create_default_context(cafile=str(nginx.ca))
        context.minimum_version = context.maximum_version = version
        with httpx.Client(verify=context) as client:
            assert client.get(f"https://127.0.0.1:{nginx.https}/").status_code == 200


def test_flower_is_routed_only_with_flower_public(nginx: RunningNginx, request: pytest.FixtureRequest) -> None:
    """Breach: /flower/ was public, and Flower's /metrics answers without a login."""
    public = request.node.callspec.params["nginx"] == "true"
    with nginx.client() as client:
        page = client.get(f"https://127.0.0.1:{nginx.https}/flower/")
        metrics = client.get(f"https://127.0.0.1:{nginx.https}/flower/metrics")
    if public:
        assert page.text == "flower" and metrics.status_code == 404
        assert [path for path, _ in nginx.flower.seen] == ["/flower/"]
    else:
        assert page.text == "api" and metrics.text == "api", "without FLOWER_PUBLIC, /flower/ is the API's path"
    assert all(path != "/flower/metrics" for path, _ in nginx.flower.seen)


@pytest.mark.parametrize("path", ["/tarefa/abc/eventos", "/tarefas/eventos?name=x", "/painel/api/tarefa/abc/eventos",
                                  "/painel/api/tarefas/eventos"])
def test_event_streams_pass_each_event_at_once(nginx: RunningNginx, path: str) -> None:
    """Breach: nginx held a stream's events in its buffers (the client saw nothing until the stream ended)."""
    with nginx.client() as client, client.stream("GET", f"https://127.0.0.1:{nginx.https}{path}",
                                                 timeout=httpx.Timeout(10, read=5)) as answer:
        lines = answer.iter_lines()
        assert next(lines) == "id: 1", "the first event did not come through before the stream ended"
        nginx.api.first_event_read.set()
        assert [line for line in lines if line.startswith("id:")] == ["id: 2"]
    assert answer.headers["content-type"] == "text/event-stream"
