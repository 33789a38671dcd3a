"""Every shell block marked runnable in the documentation runs, so the docs cannot rot.

A block opened with ```` ```sh runnable ```` is executed, and a block whose opening line names
a file (```` ```python file=report_jobs.py ````) is written to that file at that point; any
other block is only text. The blocks of one document run in order in one shell, as a reader
would type them and save the files, in an empty
directory with a fresh SQLite database (``ZWM_DATA_DIR``), the ``zwm`` of this virtualenv
on ``PATH``, ``set -euo pipefail`` (any failing command fails the test) and a real Zuora
simulator whose address and credentials are in ``ZUORA_BASE_URL``, ``ZUORA_CLIENT_ID`` and
``ZUORA_CLIENT_SECRET`` (with ``ZWM_ZUORA_ALLOW_HTTP``) -- the variables the docs ask a reader
to set for a tenant.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from zwm.zuora.simulator import ZuoraSimulator

ROOT = Path(__file__).resolve().parent.parent
MARKER = "sh runnable"
_FILE = re.compile(r"(?:^|\s)file=(?P<name>[\w.-]+)(?:\s|$)")
_FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_SCRUBBED = ("DATABASE_URL", "QUEUE_CONNECTION", "REDIS_URL", "SECRET_KEY", "DEBUG", "LOG_LEVEL")


@dataclass(frozen=True)
class Block:
    line: int
    body: str
    file: str | None = None
    """Where the block's text is saved; None for a shell block to run."""


def runnable_blocks(text: str) -> list[Block]:
    """The runnable and file blocks of a Markdown text, in order, with the line each starts on."""
    blocks = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        if match["info"].strip() == MARKER:
            blocks.append(Block(line, match["body"]))
        elif named := _FILE.search(match["info"]):
            blocks.append(Block(line, match["body"], named["name"]))
    return blocks


def documents() -> list[Path]:
    paths = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [
        path
        for path in paths
        if path.exists() and any(block.file is None for block in runnable_blocks(path.read_text()))
    ]


def script(blocks: list[Block]) -> str:
    """One shell script of the blocks, each announced on stderr so a failure names its block."""
    parts = ["set -euo pipefail"]
    for block in blocks:
        parts.append(f"echo '--- block at line {block.line}' >&2")
        if block.file is None:
            parts += ["set -x", block.body, "set +x"]
        else:
            parts.append(f"cat > {block.file} <<'ZWM_DOCS_FILE_END'\n{block.body}ZWM_DOCS_FILE_END")
    return "\n".join(parts) + "\n"


@pytest.fixture(scope="module")
def simulator() -> Iterator[ZuoraSimulator]:
    with ZuoraSimulator(seed=3) as sim:
        sim.add_tenant("acme", workflows=30)
        yield sim


def test_runnable_and_file_blocks_are_found_and_others_are_not() -> None:
    text = (
        "intro\n```sh runnable\nzwm migrate\n```\n\n```sh\nzwm up\n```\n"
        "```python file=jobs.py\nX = 1\n```\n```sh runnable \necho b\n```\n"
    )
    assert runnable_blocks(text) == [
        Block(2, "zwm migrate\n"),
        Block(9, "X = 1\n", "jobs.py"),
        Block(12, "echo b\n"),
    ]


def test_a_file_block_is_saved_before_the_next_command_runs(tmp_path: Path) -> None:
    blocks = [Block(1, "print('it ran')\n", "job.py"), Block(5, "python3 job.py\n")]
    result = subprocess.run(["bash", "-c", script(blocks)], capture_output=True, text=True, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "it ran\n")


def test_a_failing_command_fails_the_script(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", "-c", script([Block(1, "true\n"), Block(5, "false\necho never\n")])],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "--- block at line 5" in result.stderr
    assert "never" not in result.stdout


@pytest.mark.parametrize("document", documents(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_runnable_blocks_succeed(document: Path, simulator: ZuoraSimulator, tmp_path: Path) -> None:
    tenant = simulator.tenants()[0]
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED and not k.startswith("ZWM_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        ZWM_DATA_DIR=str(tmp_path / "var"),
        ZUORA_BASE_URL=simulator.base_url,
        ZUORA_CLIENT_ID=tenant.client_id,
        ZUORA_CLIENT_SECRET=tenant.client_secret,
        ZWM_ZUORA_ALLOW_HTTP="true",  # as the page's export block says, for the simulator
    )
    result = subprocess.run(
        ["bash", "-c", script(runnable_blocks(document.read_text()))],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    name = document.relative_to(ROOT)
    assert result.returncode == 0, f"{name}: a runnable block failed\n{result.stdout}\n{result.stderr}"
