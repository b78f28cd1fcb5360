"""examples/ci/drill.yml stays true: valid YAML, scheduled and on demand, and every `breach`
command line it runs uses commands and flags that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import yaml

from breach.cli import cli

WORKFLOW = Path(__file__).parents[2] / "examples" / "ci" / "drill.yml"


def breach_lines() -> list[list[str]]:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    scripts = [step["run"] for job in jobs.values() for step in job["steps"] if "run" in step]
    joined = [s.replace("\\\n", " ") for s in scripts]
    lines = [line.strip() for script in joined for line in script.splitlines()]
    return [
        shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "X", line))
        for line in lines
        if line.startswith("breach ")
    ]


def test_the_workflow_runs_weekly_and_on_demand_and_keeps_both_reports() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    uploads = [
        s
        for job in workflow["jobs"].values()
        for s in job["steps"]
        if "upload-artifact" in s.get("uses", "")
    ]
    assert len(uploads) == 2


def test_every_breach_command_line_uses_real_commands_and_flags() -> None:
    lines = breach_lines()
    assert any("--sandbox" in line for line in lines) and any(
        "--sandbox" not in line for line in lines if line[1] == "drill"
    )
    for words in lines:
        ctx = click.Context(cli)
        command: click.Command = cli
        args = words[1:]
        while isinstance(command, click.Group):
            found = command.get_command(ctx, args[0])
            assert found is not None, f"no command {args[0]!r} in {words}"
            command, args = found, args[1:]
        flags = {opt for param in command.params for opt in getattr(param, "opts", [])}
        used = {arg.split("=")[0] for arg in args if arg.startswith("--")}
        assert used <= flags, f"{' '.join(words[:3])}: unknown {sorted(used - flags)}"
