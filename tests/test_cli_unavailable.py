"""A database or queue server the command cannot use is one line and exit code 1, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Port 1 on loopback: nothing listens there, so a connection is refused at once.
UNREACHABLE = {
    "postgres": "postgres://postgres@127.0.0.1:1/zwm",
    "mariadb": "mysql://root@127.0.0.1:1/zwm",
}


def zwm(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    scrubbed = {"DATABASE_URL", "QUEUE_CONNECTION", "REDIS_URL"}
    clean = {k: v for k, v in os.environ.items() if k not in scrubbed}
    clean.update(ZWM_DATA_DIR=str(tmp_path / "var"), **env)
    return subprocess.run(
        [sys.executable, "-m", "zwm", *args],
        capture_output=True,
        text=True,
        env=clean,
        cwd=tmp_path,
        timeout=60,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("zwm: error:")]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]


@pytest.mark.parametrize("backend", sorted(UNREACHABLE))
def test_an_unreachable_database(tmp_path: Path, backend: str) -> None:
    result = zwm(tmp_path, "customer:list", DATABASE_URL=UNREACHABLE[backend])
    assert_one_line(result, "zwm: error: database:")


def test_a_database_never_migrated_says_to_migrate(tmp_path: Path) -> None:
    result = zwm(tmp_path, "customer:list")
    assert_one_line(result, "no such table")
    assert "zwm migrate" in result.stderr


def test_an_unreachable_redis(tmp_path: Path) -> None:
    zwm(tmp_path, "migrate")
    result = zwm(tmp_path, "queue:monitor", QUEUE_CONNECTION="redis", REDIS_URL="redis://127.0.0.1:1/0")
    assert_one_line(result, "cannot reach Redis at 127.0.0.1:1/0")
