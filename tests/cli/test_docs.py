"""Every command and option says what it does, and the docs say it too."""

from __future__ import annotations

import re
from pathlib import Path

import click

from breach.cli import cli
from breach.clidoc import render, walk

ROOT = Path(__file__).resolve().parents[2]


def commands() -> list[tuple[list[str], click.Command]]:
    return [(path, command) for path, command in walk(cli, ["breach"]) if len(path) > 1]


def test_every_command_and_option_has_help_text() -> None:
    missing = []
    for path, command in commands():
        name = " ".join(path)
        if not (command.help or "").strip():
            missing.append(name)
        for param in command.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"{name} {param.opts[0]}")
    assert missing == [], f"no help text: {missing}"


def test_the_command_reference_is_current() -> None:
    generated = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert generated == render(), "docs/cli.md is stale: run `make docs`"


def test_every_command_appears_in_the_written_docs() -> None:
    """The hand-written guides (README, playbooks/README and docs/, not the generated reference)
    name each command."""
    guides = (ROOT / "README.md", ROOT / "playbooks" / "README.md")
    written = "".join(p.read_text(encoding="utf-8") for p in guides) + "".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md") if p.name != "cli.md"
    )
    absent = [
        " ".join(path)
        for path, command in commands()
        if not isinstance(command, click.Group)
        and not re.search(r"\b" + re.escape(" ".join(path)) + r"\b", written)
    ]
    assert absent == [], f"commands no guide mentions: {absent}"
