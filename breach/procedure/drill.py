"""`breach drill`: a playbook run as proof that it works today, timed against the seed.

    report = drill(DrillSettings(playbook=Path("playbooks/data-breach.yaml"), sandbox=True,
                                 junit=Path("drill.xml"), markdown=Path("drill.md")))

With `sandbox`, a sandbox (breach.procedure.sandbox) is brought up in a temporary folder, the
playbook runs for real against it, the auditor's checks (breach.drill.checks) read back what
it left, and everything is torn down. Without, the playbook is planned (a dry run) in a
throwaway case that never touches a real one. The reports are JUnit XML and Markdown.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from breach.drill.checks import Check, PhaseTimes, audit, phase_times, story, timing_checks
from breach.playbook.runner import RunProgress, RunReport
from core.fsio import write_bytes, write_text
from core.timeutil import rfc3339, utcnow


class DrillSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    playbook: Path
    sandbox: bool = Field(default=False, description="run for real against a sandbox")
    values: dict[str, str] = Field(default_factory=dict, description="the playbook's inputs")
    junit: Path | None = None
    markdown: Path | None = None


class DrillReport(BaseModel):
    playbook: str
    mode: Literal["sandbox", "dry-run"]
    started_at: str
    run: RunReport
    checks: list[Check]
    times: PhaseTimes
    passed: bool
    story: dict[str, list[str]] = Field(
        default_factory=dict, description="what the run left, told before the sandbox goes"
    )


def drill(settings: DrillSettings, *, progress: RunProgress | None = None) -> DrillReport:
    """Run the drill; write the reports asked for; `passed` is False when any step or check
    failed or a phase took longer than the severity's response time."""
    started = rfc3339(utcnow())
    with tempfile.TemporaryDirectory(prefix="breach-drill-") as scratch:
        if settings.sandbox:
            report = _sandbox_drill(settings, Path(scratch), started, progress)
        else:
            report = _dry_drill(settings, Path(scratch), started, progress)
    if settings.junit:
        from breach.drill.reports import junit

        write_bytes(settings.junit, junit(report))
    if settings.markdown:
        from breach.drill.reports import markdown

        write_text(settings.markdown, markdown(report))
    return report


def _sandbox_drill(
    settings: DrillSettings, scratch: Path, started: str, progress: RunProgress | None
) -> DrillReport:
    from breach.procedure.run import RunSettings, run_playbook
    from breach.procedure.sandbox import DownSettings, UpSettings, sandbox_down, sandbox_up

    folder = scratch / "sandbox"
    up = sandbox_up(UpSettings(dir=folder))
    try:
        with _environment(up.env):
            run = run_playbook(
                RunSettings(
                    playbook=settings.playbook,
                    case=folder / "cases" / "drill",
                    values=settings.values,
                ),
                progress=progress,
            )
            checks = audit(run, up.env)
            times = phase_times(run)
            told = story(run)
    finally:
        sandbox_down(DownSettings(dir=folder))
    checks += timing_checks(times)
    return _report(run, "sandbox", started, checks, times).model_copy(update={"story": told})


def _dry_drill(
    settings: DrillSettings, scratch: Path, started: str, progress: RunProgress | None
) -> DrillReport:
    from breach.procedure.run import RunSettings, run_playbook

    run = run_playbook(
        RunSettings(
            playbook=settings.playbook,
            case=scratch / "drill-case",
            values=settings.values,
            dry_run=True,
        ),
        progress=progress,
    )
    times = PhaseTimes(preserve=None, contain=None, notify=None, limit=None, severity="-")
    return _report(run, "dry-run", started, [], times)


def _report(
    run: RunReport,
    mode: Literal["sandbox", "dry-run"],
    started: str,
    checks: list[Check],
    times: PhaseTimes,
) -> DrillReport:
    passed = not run.failed and all(check.ok for check in checks)
    return DrillReport(
        playbook=run.playbook,
        mode=mode,
        started_at=started,
        run=run,
        checks=checks,
        times=times,
        passed=passed,
    )


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """The sandbox's settings in the environment for the run (the playbook reads ${env.X} and
    BREACH_INPUT_*; boto3 AWS_*), restored after."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
