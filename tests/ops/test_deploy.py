"""The files in deploy/ parse, and every command they run exists with the options given."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from zwm.cli import cli

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
INSTALLED_ZWM = "/opt/zwm/venv/bin/zwm"
"""Where the files expect the console script (docs/deployment.md installs it there)."""
SUPERVISOR = DEPLOY / "supervisor" / "zuora-workflows.conf"
UNITS = sorted((DEPLOY / "systemd").iterdir())


def check_zwm_command(argv: list[str]) -> None:
    """``argv`` runs an existing zwm command whose options all parse (nothing is run)."""
    assert argv[0] == INSTALLED_ZWM, argv
    name, *args = argv[1:]
    command = cli.commands.get(name)
    assert command is not None, f"no zwm command {name!r}"
    try:
        with command.make_context(name, args):
            pass
    except click.UsageError as exc:
        pytest.fail(f"{shlex.join(argv)}: {exc}")


def supervisor_programs() -> dict[str, configparser.SectionProxy]:
    parser = configparser.RawConfigParser(strict=True)
    parser.read_string(SUPERVISOR.read_text())
    return {s.split(":", 1)[1]: parser[s] for s in parser.sections() if s.startswith("program:")}


def test_supervisor_programs_have_the_seeds_shape_and_run_real_commands() -> None:
    programs = supervisor_programs()
    assert set(programs) == {"zuora-workflows-worker", "zuora-workflows-scheduler", "zuora-workflows-web"}
    for name, program in programs.items():
        for key in (
            "command",
            "autostart",
            "autorestart",
            "stopasgroup",
            "killasgroup",
            "user",
            "numprocs",
            "redirect_stderr",
            "stdout_logfile",
            "stopwaitsecs",
        ):
            assert key in program, f"{name} lacks {key}"
        assert program["stopasgroup"] == program["killasgroup"] == "true"
        assert int(program["numprocs"]) >= 1
        expanded = program["command"] % {
            "program_name": name,
            "process_num": 0,
            "host_node_name": "host",
        }
        check_zwm_command(shlex.split(expanded))
    worker = programs["zuora-workflows-worker"]
    assert int(worker["numprocs"]) > 1
    assert "%(process_num)02d" in worker["process_name"]  # one name per process
    assert int(worker["stopwaitsecs"]) >= 1800  # the longest job (a sync) may finish


def test_supervisor_group_lists_every_program() -> None:
    parser = configparser.RawConfigParser()
    parser.read_string(SUPERVISOR.read_text())
    assert set(parser["group:zuora-workflows"]["programs"].split(",")) == set(supervisor_programs())


def test_systemd_units_run_real_commands() -> None:
    assert {u.name for u in UNITS} >= {"zwm-web.service", "zwm-worker@.service", "zwm-scheduler.service"}
    for unit in UNITS:
        parser = configparser.RawConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # keep the case of systemd keys
        parser.read_string(unit.read_text())
        if unit.suffix == ".timer":
            assert "OnUnitActiveSec" in parser["Timer"]
            assert (DEPLOY / "systemd" / unit.name.replace(".timer", ".service")).exists()
            continue
        service = parser["Service"]
        check_zwm_command(shlex.split(service["ExecStart"].replace("%H", "host").replace("%i", "1")))
        assert service["User"] == "zwm"


def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd's own checker, with the console script pointed at this checkout's."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    zwm = str(Path(sys.executable).with_name("zwm"))
    for unit in UNITS:
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED_ZWM, zwm))
    names = [u.name.replace("@.", "@1.") for u in UNITS]
    done = subprocess.run(
        [analyze, "verify", *(str(tmp_path / n) for n in names)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    complaints = [line for line in done.stderr.splitlines() if str(tmp_path) in line or "zwm" in line]
    assert complaints == []


def test_deployment_guide_names_every_file_in_deploy() -> None:
    guide = (ROOT / "docs" / "deployment.md").read_text()
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file():
            assert str(path.relative_to(ROOT)) in guide, f"docs/deployment.md does not mention {path.name}"
