"""``zwm zuora:simulate``: usage errors exit 2, help lists every fault, a real run serves and stops."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from zwm.cli import cli
from zwm.zuora.simulator import FAULT_KINDS


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fault", "demo:explode=1"], "unknown fault kind 'explode'"),
        (["--fault", "demo:error_rate=1.5"], "error_rate must be between 0 and 1"),
        (["--fault", "demo:drop_rate=-0.5"], "drop_rate must be between 0 and 1"),
        (["--fault", "demo:retry_after=soon"], "bad value 'soon' for fault retry_after"),
        (["--fault", "demo-error_rate=1"], "is not TENANT:KIND=VALUE"),
        (["--fault", "globex:error_rate=0.1"], "unknown tenant 'globex'"),
        (["--latency", "-1"], "--latency"),
        (["--port", "70000"], "--port"),
        (["--port", "http"], "--port"),
        (["--token-ttl", "0"], "--token-ttl"),
        (["--concurrency-limit", "0"], "--concurrency-limit"),
        (["--tenant", "acme:many"], "is not NAME or NAME:WORKFLOWS"),
        (["--tenant", ":3"], "is not NAME or NAME:WORKFLOWS"),
        (["--tenant", "acme", "--tenant", "acme:3"], "given twice"),
    ],
)
def test_bad_values_exit_2_with_a_clear_error(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["zuora:simulate", *args])
    assert result.exit_code == 2, result.output
    error_lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1
    assert message in error_lines[0]


def test_help_documents_every_fault_switch() -> None:
    result = CliRunner().invoke(cli, ["zuora:simulate", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for kind, description in FAULT_KINDS.items():
        assert f"{kind} " in result.output
        assert description in result.output
    assert "TENANT:KIND=VALUE" in result.output


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    """Stdout lines as they come, read in a thread so every wait can have a timeout."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    return lines


def test_runs_until_sigterm_and_keeps_secrets_off_the_terminal(tmp_path: Path) -> None:
    credentials = tmp_path / "sim.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zwm",
            "zuora:simulate",
            "--port",
            "0",
            "--seed",
            "3",
            "--tenant",
            "acme:4",
            "--tenant",
            "globex",
            "--fault",
            "globex:empty_listing=true",
            "--credentials-file",
            str(credentials),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = _lines(process)
    try:
        first = lines.get(timeout=30)
        assert first.startswith("Zuora simulator listening on http://127.0.0.1:")
        base_url = first.rsplit(" ", 1)[1].strip()
        output = [lines.get(timeout=5) for _ in range(4)]
        assert credentials.stat().st_mode & 0o777 == 0o600
        document = json.loads(credentials.read_text())
        assert document["base_url"] == base_url
        tenants = {t["name"]: t for t in document["tenants"]}
        assert set(tenants) == {"acme", "globex"}
        assert any(tenants["acme"]["client_id"] in line for line in output)
        with httpx.Client(base_url=base_url, timeout=5) as http:
            counts = {}
            for name, tenant in tenants.items():
                form = {
                    "grant_type": "client_credentials",
                    **{k: tenant[k] for k in ("client_id", "client_secret")},
                }
                token = http.post("/oauth/token", data=form).json()["access_token"]
                listing = http.get("/workflows", headers={"Authorization": f"Bearer {token}"}).json()
                counts[name] = len(listing["data"])
        assert counts == {"acme": 4, "globex": 0}
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)  # not communicate(): the reader thread owns stdout
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
    assert process.returncode == 0
    rest = [lines.get(timeout=5)]
    assert process.stderr is not None
    printed = "".join([first, *output, *rest]) + process.stderr.read()
    assert rest[-1] == "Simulator stopped.\n"
    for tenant in tenants.values():
        assert tenant["client_secret"] not in printed


def test_port_in_use_fails_with_exit_1(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "zwm", "zuora:simulate", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=20,
            env={**os.environ, "ZWM_DATA_DIR": str(tmp_path)},
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
