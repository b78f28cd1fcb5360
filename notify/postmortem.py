"""The seed's post-mortem template, filled from the case: dates, timeline, impact, resolution.

What only a person can write (summary, root cause, action items, lessons) is left as
`[[FILL IN: ...]]` markers; `unfinished_sections` finds them so closing a P1/P2 case can insist.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from manifests.timeutil import parse_rfc3339, rfc3339, utcnow
from notify.context import IncidentContext
from notify.policy import Policy
from notify.render import MARKER, Notice, render_text, variables

REQUIRED_FOR = ("P1", "P2")


def _changes(details: dict[str, Any]) -> str:
    before, after = details.get("before") or {}, details.get("after") or {}
    return ", ".join(f"{key} {before.get(key)} -> {value}" for key, value in after.items())


def _event_text(entry: dict[str, Any]) -> str:
    text = str(entry.get("what", "?"))
    changed = _changes(entry.get("details") or {})
    if changed:
        text += f" ({changed})"
    if entry.get("result") not in (None, "ok"):
        text += f" ({entry['result']})"
    if entry.get("why"):
        text += f": {entry['why']}"
    if entry.get("who"):
        text += f" [{entry['who']}]"
    return text


def timeline_events(timeline: list[dict[str, Any]]) -> list[dict[str, str]]:
    """HH:MM (UTC) per journal entry; the date is added when the incident spans days."""
    times = [parse_rfc3339(str(e["at"]), field="journal time") for e in timeline if e.get("at")]
    spans_days = len({t.date() for t in times}) > 1
    fmt = "%Y-%m-%d %H:%M" if spans_days else "%H:%M"
    return [
        {"when": moment.strftime(fmt), "text": _event_text(entry)}
        for moment, entry in zip(times, (e for e in timeline if e.get("at")), strict=True)
    ]


def _duration(context: IncidentContext, now: datetime) -> str:
    case = context.case
    start = min(t for t in (case.detected_at, case.aware_at) if t is not None)
    end = context.resolved_at()
    tail = rfc3339(end) if end else f"ongoing at {rfc3339(now)}"
    return f"{rfc3339(start)} - {tail}"


def _resolution(context: IncidentContext) -> list[str]:
    return [
        f"{c.summary} ({c.adapter or c.action}, {c.status})"
        for c in context.containment
        if c.summary
    ]


def render_postmortem(
    context: IncidentContext,
    policy: Policy,
    *,
    templates_dir: Path | None = None,
    values: dict[str, str] | None = None,
    now: datetime | None = None,
) -> Notice:
    moment = now or utcnow()
    data = variables(context, policy, values, moment)
    scope = context.scope
    field = data["field"]
    users = scope.affected_users if scope else None
    records = scope.records_touched if scope else None
    data_impact = (
        f"{records} records touched in {', '.join(sorted(scope.tables)) or 'the scoped tables'}"
        if scope and records is not None
        else None
    )
    data.update(
        date=context.case.aware_at.date().isoformat(),
        duration=_duration(context, moment),
        events=timeline_events(context.timeline),
        timeline_zone="UTC",
        users_affected=field("users_affected", users, "count of users affected"),
        data_impact=field("data_impact", data_impact, "data impact, if applicable"),
        resolution=_resolution(context),
    )
    return render_text("postmortem", data, templates_dir)


def unfinished_sections(text: str) -> list[str]:
    """The `[[FILL IN: ...]]` markers still in a post-mortem (or any notice)."""
    return MARKER.findall(text)
