"""`breach incident open | show`: the case workspace."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from rich.console import Console

from breach.case import Case
from breach.options import case_option, json_option
from breach.output import report
from manifests.timeutil import parse_rfc3339, rfc3339


def _time(value: str | None, field: str) -> datetime | None:
    return parse_rfc3339(value, field=field) if value else None


@click.group("incident")
def incident() -> None:
    """Open and inspect incident cases."""


@incident.command("open")
@click.option("--id", "incident_id", required=True, help="Incident id, e.g. INC-2026-0042.")
@click.option(
    "--severity", required=True, type=click.Choice(["P1", "P2", "P3", "P4"]), help="P1..P4."
)
@click.option("--title", required=True, help="One line: what happened.")
@click.option("--detected-at", help="When it was detected (RFC 3339). Default: now.")
@click.option(
    "--aware-at", help="When you became aware (starts the regulator clocks). Default: now."
)
@click.option("--case-dir", type=click.Path(path_type=Path), help="Folder (default ./cases/ID).")
@json_option
def open_(
    incident_id: str,
    severity: str,
    title: str,
    detected_at: str | None,
    aware_at: str | None,
    case_dir: Path | None,
    as_json: bool,
) -> None:
    """Create the case folder: case.json, journal, staging, bundles, receipts."""
    case = Case.open(
        incident_id,
        severity,  # type: ignore[arg-type]  # click.Choice guarantees the literal
        title,
        root=case_dir,
        detected_at=_time(detected_at, "--detected-at"),
        aware_at=_time(aware_at, "--aware-at"),
    )
    data = {"case": str(case.root), **case.record.model_dump(mode="json")}
    report(as_json, data, lambda out: out.print(f"opened {case.id} ({severity}) at {case.root}"))


@incident.command("show")
@case_option()
@json_option
def show(case_dir: str, as_json: bool) -> None:
    """Show the case and its timeline."""
    case = Case.load(case_dir)
    timeline = case.timeline()
    data = {
        "case": str(case.root),
        **case.record.model_dump(mode="json"),
        "journal_entries": len(timeline),
        "journal_intact": not case.verify_journal(),
        "timeline": timeline,
    }

    def human(out: Console) -> None:
        rec = case.record
        out.print(f"[bold]{rec.id}[/bold]  {rec.severity}  {rec.status}  {rec.title}")
        out.print(f"  detected {rfc3339(rec.detected_at)}   aware {rfc3339(rec.aware_at)}")
        out.print(f"  folder   {case.root}")
        intact = "intact" if data["journal_intact"] else "[red]BROKEN[/red]"
        out.print(f"  journal  {len(timeline)} entries, chain {intact}")
        for entry in timeline:
            out.print(f"    {entry['at']}  {entry['what']:<22} {entry['result']:<6} {entry['who']}")

    report(as_json, data, human)


def register(cli: click.Group) -> None:
    cli.add_command(incident)
