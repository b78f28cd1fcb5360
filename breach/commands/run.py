"""`breach run PLAYBOOK --case DIR`: the whole procedure as one resumable run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console

from breach.commands import invoke
from breach.options import PATH, json_option
from breach.output import report, safe

STYLES = {"done": "green", "already done": "dim", "reconciled": "green", "failed": "red",
          "blocked": "red", "skipped": "yellow", "planned": "cyan"}  # fmt: skip


def mark(state: str, width: int = 0) -> str:
    """The state, padded to `width` before it is coloured (markup takes no room)."""
    text = state.upper() if state == "failed" else state
    return f"[{STYLES[state]}]{text:{width}}[/{STYLES[state]}]"


def parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, eq, text = value.partition("=")
        if not eq or not name.strip():
            raise click.BadParameter(f"{value!r} is not NAME=VALUE", param_hint="--set")
        pairs[name.strip()] = text
    return pairs


@click.command("run")
@click.argument("playbook", type=PATH)
@click.option(
    "--case",
    "case",
    type=PATH,
    required=True,
    help="The case folder (made by the playbook's open step).",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="NAME=VALUE",
    help="An input of the playbook (or BREACH_INPUT_NAME).",
)
@click.option(
    "--dry-run", is_flag=True, help="Resolve and check every step; run and journal nothing."
)
@click.option(
    "--only", metavar="STEP", help="Run this step alone (the steps it needs must be done)."
)
@click.option("--from", "from_step", metavar="STEP", help="Run again from this step on.")
@json_option
def run_command(playbook: Path, case: Path, sets: tuple[str, ...], dry_run: bool, only: str | None, from_step: str | None, as_json: bool) -> None:  # fmt: skip
    """Run a playbook's steps in order, each journaled before and after.

    Run again after a failure or a crash, it continues where it stopped: steps done are not
    run again. A failed step blocks the steps that need it; exit 1 if any failed.
    """
    from breach.procedure.run import RunSettings, run_playbook

    err = Console(stderr=True, soft_wrap=True)
    progress = None if as_json else StepLines(err)
    done = invoke(
        lambda s: run_playbook(s, progress=progress),
        RunSettings,
        playbook=playbook,
        case=case,
        values=parse_sets(sets),
        dry_run=dry_run,
        only=only,
        from_step=from_step,
    )
    report(as_json, done.model_dump(mode="json"), lambda out: _summary(out, done))
    if done.failed:
        from core.errors import StepFailed

        names = ", ".join(s.id for s in done.failed)
        raise StepFailed(f"{len(done.failed)} of {len(done.steps)} steps did not finish: {names}")


class StepLines:
    """One line per step as it ends; on a terminal also a live line for the step running, with
    its rows (evidence) or bytes (seal, push), the time it has taken and, where the step knows
    its total (the bytes to seal, an export's estimated rows), a bar and the time left."""

    def __init__(self, err: Console) -> None:
        self.err = err
        self.live: Any = None
        self.task: Any = None

    def start(self, step: Any, n: int, total: int) -> None:
        if not self.err.is_terminal:
            return
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        unit = "bytes" if step.kind in ("seal", "bundle.push") else "rows"
        self.live = Progress(
            SpinnerColumn(),
            TextColumn(f"[{n}/{total}] {safe(step.id)} ({step.kind})"),
            BarColumn(),  # pulses until the step says its total
            TextColumn(f"{{task.completed:,.0f}} {unit}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),  # "-:--:--" until then
            console=self.err,
            transient=True,
        )
        self.live.start()
        self.task = self.live.add_task(step.id, total=None)

    def advance(self, amount: int) -> None:
        if self.live is not None:
            self.live.advance(self.task, amount)

    def expect(self, total: int) -> None:
        if self.live is not None:
            self.live.update(self.task, total=total)

    def end(self, step: Any, n: int, total: int) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
        took = f" {step.seconds:.1f} s" if step.seconds else ""
        self.err.print(f"[{n}/{total}] {safe(step.id):24} {mark(step.state)}{took}")


def _summary(out: Console, done: Any) -> None:
    kind = "dry run" if done.dry_run else "run"
    out.print(f"{kind} of {safe(done.playbook)} on {safe(done.case)}")
    for step in done.steps:
        detail = step.error or step.note or _short(step.outputs)
        out.print(
            f"  {safe(step.id):24} {mark(step.state, 12)} {step.seconds:6.1f} s  {safe(detail)}"
        )


def _short(outputs: dict[str, Any]) -> str:
    parts = []
    for name, value in outputs.items():
        shown = f"{len(value)} items" if isinstance(value, list) and len(value) > 3 else value
        parts.append(f"{name}={shown}")
    return "; ".join(parts)[:120]
