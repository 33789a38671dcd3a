"""Checks that keep the prose documentation true to the code.

The references are generated (``test_reference_docs``) and the runnable blocks executed
(``test_runnable_docs``); what is left is prose, and two kinds of drift are cheap to catch:
a link to a file or heading that moved, and an exception named in the troubleshooting error
table that the code no longer raises (or one it raises that the table leaves out).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "zwm"
DOCUMENTS = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").rglob("*.md")])
_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
_FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_HEADING = re.compile(r"^#{1,6} (?P<title>.+?)\s*$", re.MULTILINE)
_EXPLICIT_ANCHOR = re.compile(r'<a id="(?P<id>[^"]+)"')


def anchors(text: str) -> set[str]:
    """The anchors of a Markdown text: its headings (GitHub's rule) and explicit ``<a id>``."""
    prose = _FENCED.sub("", text)
    found = {re.sub(r"[^\w\- ]", "", m["title"].lower()).replace(" ", "-") for m in _HEADING.finditer(prose)}
    return found | {m["id"] for m in _EXPLICIT_ANCHOR.finditer(text)}


def broken_links(document: Path) -> list[str]:
    text = _FENCED.sub("", document.read_text())
    problems = []
    for match in _LINK.finditer(text):
        target = match["target"]
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto: -- not checked offline
            continue
        path_part, _, anchor = target.partition("#")
        path = (document.parent / path_part).resolve() if path_part else document
        if not path.exists():
            problems.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path.read_text()):
            problems.append(f"{target}: no such heading")
    return problems


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(document: Path) -> None:
    assert broken_links(document) == []


def test_a_moved_heading_is_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Title\n\n## Getting on: the rest\n\n```sh\n# not a heading\n```\n")
    page = tmp_path / "b.md"
    page.write_text(
        "[ok](a.md#getting-on-the-rest) [gone](a.md#not-a-heading) [file](c.md) [web](https://x.org)"
    )
    assert broken_links(page) == ["a.md#not-a-heading: no such heading", "c.md: no such file"]


def error_table_names() -> set[str]:
    text = (ROOT / "docs" / "troubleshooting.md").read_text()
    table = text[text.index("## Errors, and whether they are retried") :]
    table = table[: table.index("\n## ")]
    return {m[1] for m in re.finditer(r"^\| `(\w+)`", table, re.MULTILINE)}


def test_the_error_table_names_exceptions_the_code_defines() -> None:
    sources = "\n".join(path.read_text() for path in SRC.rglob("*.py"))
    missing = {name for name in error_table_names() if not re.search(rf"^class {name}\(", sources, re.M)}
    assert missing == set(), f"docs/troubleshooting.md names exceptions that no longer exist: {missing}"


def test_the_error_table_covers_every_zuora_and_job_failure() -> None:
    """Every error of the Zuora client and every way the queue fails a job has a row."""
    raised = {
        name
        for name in re.findall(r"^class (\w+)\(", (SRC / "zuora" / "errors.py").read_text(), re.M)
        if name != "ZuoraError"
    }
    raised |= set(re.findall(r"^class (\w+)\(Exception\)", (SRC / "queue" / "executor.py").read_text(), re.M))
    assert raised - error_table_names() == set()


_CODE = re.compile(r"^```[^\n]*\n(?P<block>.*?)^```|`(?P<span>[^`\n]+)`", re.MULTILINE | re.DOTALL)
_COMMAND = re.compile(
    r"(?:^[ \t]*(?:\$ )?|[;&|(][ \t]*|/)zwm[ \t]+(?P<name>[a-z][\w-]*(?::[\w-]+)*)(?P<rest>[^\n;&|#`]*)",
    re.MULTILINE,
)


def command_mentions(text: str) -> list[tuple[str, list[str]]]:
    """Each ``zwm COMMAND --option...`` written in the code of a Markdown text."""
    mentions = []
    for code in _CODE.finditer(text):
        for match in _COMMAND.finditer(code["block"] or code["span"]):
            mentions.append((match["name"], re.findall(r"(?<![\w-])--[a-z][\w-]*", match["rest"])))
    return mentions


def unknown_commands(text: str) -> list[str]:
    from zwm.cli import cli

    problems = []
    for name, options in command_mentions(text):
        command = cli.commands.get(name)
        if command is None:
            problems.append(f"zwm {name}: no such command")
            continue
        known = {"--help"} | {
            opt for param in command.params for opt in (*param.opts, *getattr(param, "secondary_opts", []))
        }
        problems += [f"zwm {name} {option}: no such option" for option in options if option not in known]
    return problems


@pytest.mark.parametrize(
    "document",
    [d for d in DOCUMENTS if "reference" not in d.parts],
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_every_command_and_option_the_docs_show_exists(document: Path) -> None:
    assert unknown_commands(document.read_text()) == []


def test_a_renamed_command_or_option_is_caught() -> None:
    text = (
        "Run `zwm queue:work --queue high --fast`, then\n```sh\nzwm sync-all\n/opt/bin/zwm up --bind x\n```\n"
    )
    assert command_mentions(text) == [
        ("queue:work", ["--queue", "--fast"]),
        ("sync-all", []),
        ("up", ["--bind"]),
    ]
    assert unknown_commands(text) == [
        "zwm queue:work --fast: no such option",
        "zwm sync-all: no such command",
    ]
