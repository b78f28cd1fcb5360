"""`breach incident open | show | classify | set-aware-at | severity | status | close`."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from breach import __version__
from breach.case import Case
from breach.commands.notify import POSTMORTEM, postmortem_path
from breach.options import case_option, json_option
from breach.output import report
from core.artifacts import describe
from core.errors import BadInput
from core.fsio import write_text
from core.timeutil import parse_rfc3339, rfc3339, to_utc, utcnow
from notify.classify import Facts, classify
from notify.policy import load_policy
from notify.postmortem import REQUIRED_FOR, unfinished_sections


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
    aware = _time(aware_at, "--aware-at")
    if aware is not None and aware > utcnow() + timedelta(minutes=5):
        raise BadInput(f"--aware-at {aware_at} is in the future", hint="awareness is a past time")
    case = Case.open(
        incident_id,
        severity,  # type: ignore[arg-type]  # click.Choice guarantees the literal
        title,
        root=case_dir,
        # Detection comes no later than awareness: without --detected-at, the same moment.
        detected_at=_time(detected_at, "--detected-at") or aware,
        aware_at=aware,
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
            out.print(f"    {entry['at']}  {entry['what']:<26} {entry['result']:<7} {entry['who']}")

    report(as_json, data, human)


# -- classify, clocks, severity, status, close ------------------------------------------------
def _facts_from_case(case: Case, given: dict[str, Any]) -> Facts:
    """Facts given on the command line, over those already recorded and the scope's counts."""
    recorded: dict[str, Any] = dict(case.record.facts)
    scope = case.record.scope
    for key in ("affected_users", "records_touched"):
        count = getattr(scope, key, None)
        if isinstance(count, int):
            recorded.setdefault(key, count)
    try:
        return Facts.model_validate(recorded | {k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise BadInput(f"fact {first['loc'][0]}: {first['msg']}") from None


def _error_rate(value: str | None) -> float | None:
    if value is None:
        return None
    text = value.strip()
    try:
        rate = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise BadInput(f"--error-rate {value!r} is not a number", hint="e.g. 0.07 or 7%") from None
    if not 0 <= rate <= 1:
        raise BadInput(f"--error-rate {value!r} is outside 0..1 (or 0%..100%)")
    return rate


@incident.command("classify")
@case_option()
@click.option(
    "--data-breach/--no-data-breach", default=None, help="Personal or confidential data breached."
)
@click.option("--security-compromise/--no-security-compromise", default=None)
@click.option("--service-down/--no-service-down", default=None, help="Service fully unavailable.")
@click.option("--major-feature-degraded/--no-major-feature-degraded", default=None)
@click.option("--minor-feature-degraded/--no-minor-feature-degraded", default=None)
@click.option("--error-rate", help="Observed error rate, 0.07 or 7%.")
@click.option("--workaround/--no-workaround", default=None, help="A workaround is available.")
@click.option("--cosmetic/--no-cosmetic", default=None)
@click.option("--apply", is_flag=True, help="Set the proposed severity and record the facts.")
@click.option("--policy", "policy_file", envvar="BREACH_POLICY", type=click.Path(path_type=Path))
@json_option
def classify_(
    case_dir: str,
    error_rate: str | None,
    apply: bool,
    policy_file: Path | None,
    as_json: bool,
    **flags: bool | None,
) -> None:
    """Propose a severity (P1-P4) from facts and say why; --apply sets it (journaled)."""
    case = Case.load(case_dir)
    facts = _facts_from_case(case, {**flags, "error_rate": _error_rate(error_rate)})
    result = classify(facts, load_policy(policy_file))
    current = case.record.severity
    if apply:
        _not_closed(case)
        changes: dict[str, Any] = {"facts": facts.model_dump(exclude_defaults=True)}
        if result.severity != current:
            changes["severity"] = result.severity
        case.update("; ".join(result.reasons[:-1]), **changes)
    else:
        case.journal("incident.classify", why="; ".join(result.reasons), details=result.as_dict())
    data = {"case": case.id, "current": current, "applied": apply, **result.as_dict()}

    def human(out: Console) -> None:
        verb = "set to" if apply else "proposed"
        out.print(f"{case.id}: {verb} {result.severity} (was {current})")
        for reason in result.reasons:
            out.print(f"  - {escape(reason)}")

    report(as_json, data, human)


@incident.command("set-aware-at")
@case_option()
@click.option("--at", "at", required=True, help="When the organisation became aware (RFC 3339).")
@click.option("--reason", required=True, help="Why it changes (journaled).")
@json_option
def set_aware_at(case_dir: str, at: str, reason: str, as_json: bool) -> None:
    """Change the aware-at time that starts the regulatory clocks."""
    case = Case.load(case_dir)
    moment = parse_rfc3339(at, field="--at")
    if moment > utcnow() + timedelta(minutes=5):
        raise BadInput(f"--at {at} is in the future", hint="awareness is a past or present time")
    _need_reason(reason)
    before = rfc3339(case.record.aware_at)
    case.update(reason, aware_at=to_utc(moment))
    after = rfc3339(case.record.aware_at)
    report(
        as_json,
        {"case": case.id, "before": before, "aware_at": after, "reason": reason},
        lambda out: out.print(f"{case.id}: aware-at {before} -> {after}"),
    )


def _need_reason(reason: str) -> None:
    if len(reason.strip()) < 3:
        raise BadInput("--reason must say why, in words")


@incident.command("severity")
@case_option()
@click.option("--to", "to", required=True, type=click.Choice(["P1", "P2", "P3", "P4"]))
@click.option("--reason", required=True, help="Why (journaled).")
@json_option
def severity_(case_dir: str, to: str, reason: str, as_json: bool) -> None:
    """Change the severity (journaled with the reason)."""
    _change(Case.load(case_dir), "severity", to, reason, as_json)


@incident.command("status")
@case_option()
@click.option("--to", "to", required=True, type=click.Choice(["open", "contained", "resolved"]))
@click.option("--reason", required=True, help="Why (journaled).")
@json_option
def status_(case_dir: str, to: str, reason: str, as_json: bool) -> None:
    """Move the case to open, contained or resolved (closing is `incident close`)."""
    _change(Case.load(case_dir), "status", to, reason, as_json)


def _not_closed(case: Case) -> None:
    """A closed case stays as closed (a P3 raised to P1 afterwards would skip the post-mortem)."""
    if case.record.status == "closed":
        raise BadInput(f"{case.id} is closed", hint="a closed case is not changed or reopened")


def _change(case: Case, field: str, to: str, reason: str, as_json: bool) -> None:
    """Set one case field, journaled with the reason, and report before -> after."""
    _not_closed(case)
    _need_reason(reason)
    before = getattr(case.record, field)
    case.update(reason, **{field: to})
    report(
        as_json,
        {"case": case.id, "before": before, field: to, "reason": reason},
        lambda out: out.print(f"{case.id}: {field} {before} -> {to}"),
    )


@incident.command("close")
@case_option()
@click.option("--reason", default="incident closed", show_default=True, help="Journaled.")
@json_option
def close(case_dir: str, reason: str, as_json: bool) -> None:
    """Close the case. A P1 or P2 case needs a finished post-mortem first."""
    case = Case.load(case_dir)
    if case.record.status == "closed":
        raise BadInput(f"{case.id} is already closed")
    path = postmortem_path(case)
    staged = None
    if case.record.severity in REQUIRED_FOR:
        text = _finished_postmortem(case, path)
        staged = case.stage_path(POSTMORTEM)
        write_text(staged, text)
        describe(
            staged,
            {
                "media_type": "text/markdown",
                "source": {"system": "breach.postmortem", "case": case.id},
                "collector": {"name": "incident.close", "version": __version__},
            },
        )
    closed_at = utcnow()
    case.update(reason, status="closed", closed_at=rfc3339(closed_at))
    data = {
        "case": case.id,
        "status": "closed",
        "closed_at": rfc3339(closed_at),
        "postmortem": str(staged) if staged else None,
    }
    report(as_json, data, lambda out: out.print(f"{case.id}: closed"))


def _finished_postmortem(case: Case, path: Path) -> str:
    severity = case.record.severity
    if not path.exists():
        raise BadInput(
            f"{case.id} is {severity}: a post-mortem is required before closing",
            hint=f"run `breach postmortem --case {case.root}`, finish it, then close",
        )
    text = path.read_text(encoding="utf-8")
    todo = unfinished_sections(text)
    if todo:
        raise BadInput(
            f"{path} still has {len(todo)} section(s) to write: {'; '.join(todo[:3])}",
            hint="replace every [[FILL IN: ...]] marker, then close",
        )
    return text
