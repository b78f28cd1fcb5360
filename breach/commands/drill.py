"""`breach drill PLAYBOOK [--sandbox]`: a scheduled proof that the playbook works today."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console

from breach.commands import invoke
from breach.commands.run import StepLines, parse_sets
from breach.options import PATH, json_option
from breach.output import report, safe


@click.command("drill")
@click.argument("playbook", type=PATH)
@click.option(
    "--sandbox", is_flag=True, help="Run it for real against a sandbox brought up and torn down."
)
@click.option("--junit", type=PATH, help="Write the results as JUnit XML here.")
@click.option("--markdown", type=PATH, help="Write the results as Markdown here.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="NAME=VALUE",
    help="An input of the playbook (or BREACH_INPUT_NAME).",
)
@json_option
def drill_command(playbook: Path, sandbox: bool, junit: Path | None, markdown: Path | None, sets: tuple[str, ...], as_json: bool) -> None:  # fmt: skip
    """Run a playbook as a drill, check what it left, and time it against the seed.

    With --sandbox the whole playbook runs against a sandbox (started and stopped here), then
    the evidence, the containment, the notices and the clocks are checked as legal and an
    auditor would. Without, it is a dry run in a throwaway case. Exit 1 when a step or a
    check fails or a phase takes longer than the severity's response time.
    """
    from breach.procedure.drill import DrillSettings, drill

    err = Console(stderr=True, soft_wrap=True)
    progress = None if as_json else StepLines(err)
    done = invoke(
        lambda s: drill(s, progress=progress),
        DrillSettings,
        playbook=playbook,
        sandbox=sandbox,
        values=parse_sets(sets),
        junit=junit,
        markdown=markdown,
    )
    report(as_json, done.model_dump(mode="json"), lambda out: _human(out, done))
    if not done.passed:
        from core.errors import StepFailed

        failed = [s.id for s in done.run.failed] + [c.name for c in done.checks if not c.ok]
        raise StepFailed(f"the drill failed: {', '.join(failed)}")


def _human(out: Console, done: Any) -> None:
    for title, lines in done.story.items():
        out.print(f"\n[bold]{safe(title)}[/bold]")
        for line in lines:
            out.print(f"  {safe(line)}")
    out.print("\n[bold]checks[/bold]")
    for check in done.checks:
        mark = "[green]pass[/green]" if check.ok else "[red]FAIL[/red]"
        out.print(f"  {mark}  {safe(check.name)}: {safe(check.detail)}")
    verdict = "[green]PASSED[/green]" if done.passed else "[red]FAILED[/red]"
    out.print(f"\ndrill of {safe(done.playbook)} ({done.mode}): {verdict}")
