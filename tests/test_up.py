"""``zwm up`` end to end: one command brings up the demo, syncs it, and stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def zwm(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zwm", *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "QUEUE_CONNECTION"}}
    return {**clean, "ZWM_DATA_DIR": str(tmp_path / "var"), "ZWM_DEMO": "true"}


def test_up_serves_and_syncs_the_demo_tenants_then_stops_on_sigterm(env: dict[str, str]) -> None:
    port, web_port = free_port(), free_port()
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zwm",
            "up",
            "--simulator-port",
            str(port),
            "--processes",
            "1",
            "--bind",
            f"127.0.0.1:{web_port}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        customers: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            listed = zwm(env, "customer:list", "--json")
            if listed.returncode == 0:
                customers = json.loads(listed.stdout)
                if len(customers) == 3 and all(c["last_sync_status"] == "succeeded" for c in customers):
                    break
            time.sleep(0.5)
        assert sorted(c["name"] for c in customers) == ["acme", "globex", "initech"]
        assert all(c["last_sync_status"] == "succeeded" for c in customers), customers
        workflows = json.loads(zwm(env, "workflow:list", "--json").stdout)
        assert len(workflows) == 25 + 60 + 8
        assert up.poll() is None  # still serving
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/login/", timeout=10) as page:
            assert "Create the first admin" in page.read().decode()  # no user yet: the setup page
    finally:
        up.send_signal(signal.SIGTERM)
        output, _ = up.communicate(timeout=60)
    assert up.returncode == 0, output
    assert "Stopping" in output
    assert f"Web app: http://127.0.0.1:{web_port}/" in output
    assert "zwm user:create --username admin --role admin" in output
    for secret_hint in ("client_secret", "Bearer "):
        assert secret_hint not in output


def test_up_refuses_a_busy_simulator_port_with_one_line(env: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = zwm(env, "up", "--simulator-port", str(port), "--bind", f"127.0.0.1:{free_port()}")
        assert result.returncode == 1
        assert f"cannot start the Zuora simulator on 127.0.0.1:{port}" in result.stderr
        web = zwm(env, "up", "--bind", f"127.0.0.1:{port}")
    assert web.returncode == 1
    assert f"cannot serve the web app on 127.0.0.1:{port}" in web.stderr


def test_up_rejects_bad_options_as_usage_errors(env: dict[str, str]) -> None:
    assert zwm(env, "up", "--processes", "0").returncode == 2
    assert zwm(env, "up", "--simulator-port", "70000").returncode == 2
    for bind in ("8000", "host:", "127.0.0.1:0", "127.0.0.1:99999", ":8000"):
        result = zwm(env, "up", "--bind", bind)
        assert result.returncode == 2, bind
        assert "HOST:PORT" in result.stderr
