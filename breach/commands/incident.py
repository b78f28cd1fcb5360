"""`breach incident open | show | classify | set-aware-at | severity | status | close`
(`list | note | policy` in breach/commands/casework.py).

Each command calls one step of breach.procedure.incident, where the lifecycle rules live.
"""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from breach.commands import LazyGroup, invoke
from breach.options import PATH, POLICY_HELP, case_option, json_option, options, reason_option
from breach.output import report, report_line, safe

SEVERITY = click.Choice(["P1", "P2", "P3", "P4"])


# Commands in breach/commands/casework.py, imported when one runs.
MORE: dict[str, tuple[str, str]] = {
    "list": ("breach.commands.casework:list_", "The cases: severity, status, clocks, last action."),
    "note": ("breach.commands.casework:note", "Add a responder's note to the timeline."),
    "policy": ("breach.commands.casework:policy", "Change the notification policy pinned to the case."),
    "verify": ("breach.commands.journal:verify", "Check the journal against its bundles' signed heads."),
}  # fmt: skip


@click.group("incident", cls=LazyGroup, lazy=MORE)
def incident() -> None:
    """Open and inspect incident cases."""


@incident.command("open")
@click.option("--id", "incident_id", required=True, help="Incident id, e.g. INC-2026-0042.")
@click.option("--severity", required=True, type=SEVERITY, help="P1..P4.")
@click.option("--title", required=True, help="One line: what happened.")
@click.option("--detected-at", help="When it was detected (RFC 3339). Default: now.")
@click.option(
    "--aware-at", help="When you became aware (starts the regulator clocks). Default: now."
)
@click.option("--case-dir", type=PATH, help="Folder (default ./cases/ID).")
@click.option(
    "--policy", envvar="BREACH_POLICY", type=PATH, help=f"{POLICY_HELP} Pinned to the case."
)
@json_option
def open_(as_json: bool, **values: Any) -> None:
    """Create the case folder: case.json, journal, staging, bundles, receipts."""
    from breach.procedure.incident import OpenSettings, open_case

    opened = invoke(open_case, OpenSettings, **values)
    report_line(
        as_json, opened, lambda d: escape(f"opened {d['id']} ({d['severity']}) at {d['case']}")
    )


@incident.command("show")
@case_option()
@json_option
def show(case_dir: str, as_json: bool) -> None:
    """Show the case and its timeline."""
    from breach.procedure.incident import ShowSettings, show_case
    from core.errors import StepFailed

    shown = invoke(show_case, ShowSettings, case=case_dir)
    data = shown.model_dump(mode="json")

    def human(out: Console) -> None:
        out.print(
            f"[bold]{safe(shown.id)}[/bold]  {shown.severity}  {shown.status}  {safe(shown.title)}"
        )
        out.print(f"  detected {data['detected_at']}   aware {data['aware_at']}")
        out.print(f"  folder   {safe(data['case'])}")
        intact = "intact" if shown.journal_intact else "[red]BROKEN[/red]"
        out.print(f"  journal  {shown.journal_entries} entries, chain {intact}")
        if shown.journal_torn is not None:
            out.print(
                f"           last line torn ({shown.journal_torn} bytes): the next command"
                " on the case repairs it"
            )
        for at, what, result, who in shown.rows():
            out.print(safe(f"    {at}  {what:<26} {result:<7} {who}"))

    report(as_json, data, human)
    if shown.journal_breaks:
        raise StepFailed(f"the journal's chain breaks at {shown.journal_breaks}")


@incident.command("classify")
@case_option()
@options(
    *(
        ((f"--{fact}/--no-{fact}",), dict(default=None, help=help))
        for fact, help in (
            ("data-breach", "Personal or confidential data breached."),
            ("security-compromise", "Security compromised."),
            ("service-down", "Service fully unavailable."),
            ("major-feature-degraded", "A major feature is degraded."),
            ("minor-feature-degraded", "A minor feature is degraded."),
            ("workaround", "A workaround is available."),
            ("cosmetic", "The issue is cosmetic only."),
        )
    ),
    (("--error-rate",), dict(help="Observed error rate, 0.07 or 7%.")),
    (("--apply",), dict(is_flag=True, help="Set the proposed severity and record the facts.")),
    (("--policy", "policy_file"), dict(envvar="BREACH_POLICY", type=PATH, help=POLICY_HELP)),
)
@json_option
def classify_(case_dir: str, as_json: bool, **values: Any) -> None:
    """Propose a severity (P1-P4) from facts and say why; --apply sets it (journaled)."""
    from breach.procedure.incident import ClassifySettings, classify_case

    result = invoke(classify_case, ClassifySettings, case=case_dir, **values)

    def human(out: Console) -> None:
        verb = "set to" if result.applied else "proposed"
        out.print(f"{result.case}: {verb} {result.severity} (was {result.current})")
        for reason in result.reasons:
            out.print(f"  - {escape(reason)}")

    report(as_json, result.model_dump(mode="json"), human)


@incident.command("set-aware-at")
@case_option()
@click.option("--at", "at", required=True, help="When the organisation became aware (RFC 3339).")
@reason_option("Why it changes (journaled).")
@json_option
def set_aware_at(case_dir: str, at: str, reason: str, as_json: bool) -> None:
    """Change the aware-at time that starts the regulatory clocks."""
    from breach.procedure.incident import SetAwareAtSettings, set_aware_at

    moved = invoke(set_aware_at, SetAwareAtSettings, case=case_dir, at=at, reason=reason)
    report_line(as_json, moved, lambda d: f"{d['case']}: aware-at {d['before']} -> {d['aware_at']}")


@incident.command("severity")
@case_option()
@click.option("--to", "to", required=True, type=SEVERITY, help="The new severity.")
@reason_option()
@json_option
def severity_(case_dir: str, to: str, reason: str, as_json: bool) -> None:
    """Change the severity (journaled with the reason)."""
    from breach.procedure.incident import SetSeveritySettings, set_severity

    changed = invoke(set_severity, SetSeveritySettings, case=case_dir, to=to, reason=reason)
    report_line(
        as_json, changed, lambda d: f"{d['case']}: severity {d['before']} -> {d['severity']}"
    )


@incident.command("status")
@case_option()
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Choice(["open", "contained", "resolved"]),
    help="The new status.",
)
@reason_option()
@json_option
def status_(case_dir: str, to: str, reason: str, as_json: bool) -> None:
    """Move the case to open, contained or resolved (closing is `incident close`)."""
    from breach.procedure.incident import SetStatusSettings, set_status

    changed = invoke(set_status, SetStatusSettings, case=case_dir, to=to, reason=reason)
    report_line(as_json, changed, lambda d: f"{d['case']}: status {d['before']} -> {d['status']}")


@incident.command("close")
@case_option()
@reason_option("Journaled.", default="incident closed", show_default=True)
@options(
    (("--recipient", "-r", "recipients"), dict(multiple=True, envvar="BREACH_RECIPIENTS", help="With --signing-key: seal the last bundle, post-mortem included.")),
    (("--signing-key",), dict(envvar="BREACH_SIGNING_KEY", type=PATH, help="Ed25519 signing key (PEM) for the last bundle. [BREACH_SIGNING_KEY]")),
)  # fmt: skip
@json_option
def close(case_dir: str, as_json: bool, **opts: Any) -> None:
    """Close the case. A P1 or P2 case needs a finished post-mortem first (refreshed: duration
    and final timeline); with recipients and a signing key, the last bundle is sealed with it."""
    from breach.procedure.incident import CloseSettings, close_case

    closed = invoke(close_case, CloseSettings, case=case_dir, **opts)
    sealed = f"; sealed bundle {closed.bundle}" if closed.bundle else ""
    report_line(as_json, closed, lambda d: f"{d['case']}: closed{sealed}")
    if closed.unsealed and not as_json:
        from breach.output import stderr

        stderr.print(f"[yellow]note:[/yellow] {escape(closed.unsealed)}")
