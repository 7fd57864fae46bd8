"""`make up` (`python -m taskplatform up`): the whole platform on embedded defaults."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import redis

from taskplatform.dev.embedded import free_port
from taskplatform.dev.processes import wait_until
from tests.integration.stack import ROOT, platform_env

pytestmark = pytest.mark.slow


def _processes_with_var_dir(var_dir: Path) -> list[int]:
    """Processes still running with this launcher's VAR_DIR in their environment."""
    marker = f"VAR_DIR={var_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def _command_lines(pids: list[int]) -> dict[int, str]:
    lines = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            lines[pid] = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    return lines


def test_make_up_serves_a_batch_lists_the_worker_in_flower_and_stops_cleanly(tmp_path: Path) -> None:
    """Also catches: a secret of `make up` (Flower's or Valkey's password) on a command line, where `ps` shows it
    to every user; an embedded Valkey that answers without a password; a dev-secrets.json from before the
    Valkey password that stops `make up` from starting."""
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    old_secrets = {"s3_access_key": "dev0123456789ab", "s3_secret_key": "old-secret-" + "s" * 21,
                   "flower_user": "admin", "flower_password": "old-flower-pass1"}
    (var_dir / "dev-secrets.json").write_text(json.dumps(old_secrets))  # written by an older `make up`
    api_port, flower_port = free_port(), free_port()
    env = platform_env(VAR_DIR=str(var_dir), API_PORT=str(api_port), FLOWER_PORT=str(flower_port),
                       EMBEDDED_VALKEY_PORT=str(free_port()), EMBEDDED_S3_PORT=str(free_port()))
    launcher = subprocess.Popen([sys.executable, "-m", "taskplatform", "up"], env=env, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = []
        for line in launcher.stdout or []:
            banner.append(line)
            if "Ctrl-C stops everything" in line:
                break
        output = "".join(banner)
        assert "taskplatform is up" in output, output
        secrets = json.loads((var_dir / "dev-secrets.json").read_text())
        assert secrets == {**old_secrets, "valkey_password": secrets["valkey_password"]}
        assert len(secrets["valkey_password"]) >= 32
        assert (var_dir / "dev-secrets.json").stat().st_mode & 0o777 == 0o600
        assert secrets["flower_password"] in output
        assert secrets["valkey_password"] not in output

        api = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=30)
        assert api.get("/status").json()["ok"] is True
        assert api.post("/alunos", json=[{"aluno_id": 1}]).status_code == 200
        task = api.post("/checkin/batch", json=[{"aluno_id": 1, "data_hora": "2026-11-20T10:00:00Z"}]).json()
        wait_until(lambda: api.get(task["status_url"]).json()["state"] == "SUCCESS", timeout=60,
                   what="the batch to succeed")
        # The console (open without API_KEYS) shows live data, and the task's stream ends at its final state.
        views = ["/painel", "/painel/tarefas", f"/painel/tarefas/{task['task_id']}", "/painel/dead-letters",
                 "/painel/agendamentos", "/painel/academia", "/painel/modelos", "/painel/dispositivos"]
        for view in views:
            page = api.get(view)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), view
        assert task["task_id"] in api.get("/painel/tarefas").text
        with api.stream("GET", f"/tarefa/{task['task_id']}/eventos") as stream:
            states = [json.loads(line[len("data:"):])["state"] for line in stream.iter_lines()
                      if line.startswith("data:")]
        assert states[0] == "QUEUED" and states[-1] == "SUCCESS" and "STARTED" in states, states

        flower = httpx.Client(base_url=f"http://127.0.0.1:{flower_port}", timeout=10,
                              auth=(secrets["flower_user"], secrets["flower_password"]))
        assert httpx.get(f"http://127.0.0.1:{flower_port}/api/workers", timeout=10).status_code == 401
        wait_until(lambda: any(name.startswith("worker@") for name in flower.get("/api/workers").json()),
                   timeout=60, interval=0.5, what="Flower to list the worker")
        children = _processes_with_var_dir(var_dir)
        assert children, "the launcher's children should be found while it runs"
        command_lines = _command_lines([launcher.pid, *children])
        assert any("flower" in line for line in command_lines.values()), command_lines
        for pid, line in command_lines.items():
            for name in ("flower_password", "valkey_password", "s3_secret_key"):
                assert secrets[name] not in line, f"{name} on the command line of pid {pid}: {line}"
        valkey_port = int(env["EMBEDDED_VALKEY_PORT"])
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=valkey_port, socket_timeout=5).ping()
        assert redis.Redis(host="127.0.0.1", port=valkey_port, password=secrets["valkey_password"],
                           socket_timeout=5).ping()
    finally:
        launcher.send_signal(signal.SIGINT)
        launcher.wait(timeout=120)
    assert launcher.returncode == 0
    wait_until(lambda: not _processes_with_var_dir(var_dir), timeout=30, what="every process to stop")
    assert (var_dir / "taskplatform.sqlite3").exists() and (var_dir / "valkey").is_dir()
