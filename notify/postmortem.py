"""The seed's post-mortem template, filled from the case: dates, timeline, impact, resolution.

What only a person can write (summary, root cause, action items, lessons) is left as
`[[FILL IN: ...]]` markers; `unfinished_sections` finds them so closing a P1/P2 case can insist.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from core.timeutil import parse_rfc3339, utcnow
from notify.context import IncidentContext
from notify.deadlines import humanize
from notify.policy import Policy
from notify.render import MARKER, Notice, check_values, render_text, variables

REQUIRED_FOR = ("P1", "P2")
FILLED_IN_CODE = ("users_affected", "data_impact")  # fields render_postmortem fills, not the .j2


def _changes(details: dict[str, Any]) -> str:
    """`severity P2 -> P1`; a whole table (the scope, the facts) changed is just `updated`."""
    before, after = details.get("before") or {}, details.get("after") or {}
    return ", ".join(
        f"{key} updated"
        if isinstance(value, dict | list)
        else f"{key} {before.get(key)} -> {value}"
        for key, value in after.items()
    )


def _event_text(entry: dict[str, Any]) -> str:
    what = str(entry.get("what", "?"))
    text = "note" if what == "incident.note" else what  # a responder's note: its words follow
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


def timeline_events(
    timeline: list[dict[str, Any]], milestones: list[tuple[datetime, str]] | None = None
) -> list[dict[str, str]]:
    """HH:MM (UTC) per journal entry and milestone, in time order; dates when it spans days."""
    events = [(moment, text) for moment, text in milestones or []]
    events += [
        (parse_rfc3339(str(e["at"]), field="journal time"), _event_text(e))
        for e in timeline
        if e.get("at")
    ]
    events.sort(key=lambda event: event[0])
    spans_days = len({moment.date() for moment, _ in events}) > 1
    fmt = "%Y-%m-%d %H:%M" if spans_days else "%H:%M"
    return [{"when": moment.strftime(fmt), "text": text} for moment, text in events]


def _milestones(context: IncidentContext) -> list[tuple[datetime, str]]:
    """Detection and awareness happen before the case is opened; the journal only records them."""
    case = context.case
    found = [(case.aware_at, "aware of the incident (regulatory clocks start)")]
    if case.detected_at is not None and case.detected_at != case.aware_at:
        found.insert(0, (case.detected_at, "detected"))
    return found


def _minute(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def _duration(context: IncidentContext, now: datetime, closed_at: datetime | None = None) -> str:
    case = context.case
    start = min(t for t in (case.detected_at, case.aware_at) if t is not None)
    end = context.resolved_at() or closed_at
    if end is None:
        return f"{_minute(start)} - ongoing ({humanize(now - start)} at {_minute(now)})"
    return f"{_minute(start)} - {_minute(end)} ({humanize(end - start)})"


def _resolution(context: IncidentContext) -> list[str]:
    """What was done: applied actions, failed ones included; dry-run plans and no-ops are not."""
    return [
        f"{c.summary} ({c.adapter or c.action}, {c.status})"
        for c in context.containment
        if c.summary and c.status not in ("planned", "noop")
    ]


def render_postmortem(
    context: IncidentContext,
    policy: Policy,
    *,
    templates_dir: Path | None = None,
    values: dict[str, str] | None = None,
    now: datetime | None = None,
) -> Notice:
    check_values("postmortem", values, templates_dir, extra=FILLED_IN_CODE)
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
        events=timeline_events(context.timeline, _milestones(context)),
        timeline_zone="UTC",
        users_affected=field("users_affected", users, "count of users affected"),
        data_impact=field("data_impact", data_impact, "data impact, if applicable"),
        resolution=_resolution(context),
    )
    return render_text("postmortem", data, templates_dir)


_DURATION_LINE = re.compile(r"(?m)^\*\*Duration\*\*: .*$")
_TIMELINE = re.compile(r"(?ms)^### Timeline\n.*?(?=^### |\Z)")


def refresh_postmortem(text: str, context: IncidentContext, closed_at: datetime) -> str:
    """The post-mortem at close: its Duration and Timeline made again from the case (the final
    journal, the close itself); every section a person wrote is kept as written."""
    duration = _duration(context, closed_at, closed_at)
    events = timeline_events(context.timeline, [*_milestones(context), (closed_at, "case closed")])
    rows = "".join(f"- {event['when']} - {event['text']}\n" for event in events)
    text = _DURATION_LINE.sub(lambda _: f"**Duration**: {duration}", text, count=1)
    return _TIMELINE.sub(lambda _: f"### Timeline\n(times UTC)\n{rows}\n", text, count=1)


def unfinished_sections(text: str) -> list[str]:
    """The `[[FILL IN: ...]]` markers still in a post-mortem (or any notice)."""
    return MARKER.findall(text)
