"""`breach run`: a playbook as one resumable run over the procedure layer.

    report = run_playbook(RunSettings(playbook=Path("playbooks/data-breach.yaml"),
                                      case="cases/INC-1", values={"since": "-6h"}))

The playbook is checked whole first (nothing runs if it is wrong); inputs come from `values`
(`--set`), then BREACH_INPUT_<NAME>, then their defaults. See breach/playbook/runner.py for how
a run is journaled and resumed.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from breach.playbook.model import Playbook, Step, load
from breach.playbook.runner import Runner, RunProgress, RunReport
from breach.playbook.variables import resolve_inputs
from core.errors import BadInput


class RunSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    playbook: Path
    case: Path = Field(description="the case folder (made by the playbook's open step)")
    values: dict[str, str] = Field(default_factory=dict, description="inputs: NAME -> value")
    dry_run: bool = False
    only: str | None = Field(default=None, description="run this step alone (its needs done)")
    from_step: str | None = Field(default=None, description="run again from this step on")


def run_playbook(settings: RunSettings, *, progress: RunProgress | None = None) -> RunReport:
    """Run (or with dry_run, plan) the playbook's steps on the case; see the module docstring."""
    playbook = load(settings.playbook)
    inputs = resolve_inputs(playbook, settings.values)
    steps, rerun = _selection(playbook, settings)
    runner = Runner(playbook, settings.case, inputs, progress=progress)
    if settings.dry_run:
        return runner.plan(steps)
    return runner.run(steps, rerun=rerun)


def _selection(playbook: Playbook, settings: RunSettings) -> tuple[list[Step], set[str]]:
    order = playbook.ordered()
    ids = [step.id for step in order]
    for flag, value in (("--only", settings.only), ("--from", settings.from_step)):
        if value is not None and value not in ids:
            raise BadInput(f"{flag} {value}: no such step", hint=f"steps: {', '.join(ids)}")
    if settings.only is not None:
        step = playbook.step(settings.only)
        return [step], {step.id}
    if settings.from_step is not None:
        start = ids.index(settings.from_step)
        return order, set(ids[start:])
    return order, set()
