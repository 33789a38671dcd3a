"""The committed references under docs/reference/ are exactly what the code generates."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from zwm.cli.reference import REFERENCES, cli_reference, write

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("relative", sorted(REFERENCES))
def test_committed_reference_matches_the_code(relative: str) -> None:
    path = DOCS / relative
    expected = REFERENCES[relative]()
    committed = path.read_text() if path.exists() else ""
    assert committed == expected, f"docs/{relative} is out of date: run `make docs` and commit the result"


def test_every_command_and_option_is_in_the_cli_reference() -> None:
    from zwm.cli import cli

    text = cli_reference()
    for name, command in cli.commands.items():
        assert f"## `zwm {name}`" in text
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert all(flag in text for flag in param.opts), f"{name} {param.opts}"


def test_every_command_and_visible_option_explains_itself() -> None:
    """The reference is only as good as the help texts it is generated from."""
    from zwm.cli import cli

    missing = [f"zwm {name}: no docstring" for name, command in cli.commands.items() if not command.help]
    missing += [
        f"zwm {name} {param.opts[0]}: no help="
        for name, command in cli.commands.items()
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden and not param.help
    ]
    assert missing == []


def test_a_new_option_changes_the_generated_reference() -> None:
    @click.group()
    def group() -> None:
        """A group."""

    @group.command("thing:do")
    @click.option("--fast", is_flag=True, help="Go | faster.")
    def thing(fast: bool) -> None:
        """Do the thing."""

    text = cli_reference(group)
    assert "| [`zwm thing:do`](#zwm-thingdo) | Do the thing. |" in text
    assert "| `--fast` | Go \\| faster. |" in text


def test_write_reports_only_the_files_it_changed(tmp_path: Path) -> None:
    assert sorted(p.relative_to(tmp_path).as_posix() for p in write(tmp_path)) == sorted(REFERENCES)
    assert write(tmp_path) == []
