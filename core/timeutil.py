"""UTC, RFC 3339, timezone-aware datetimes only; and the forms a person may type for a moment."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from core.errors import BadInput


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """Render an aware datetime in UTC with a trailing Z (microseconds kept when present)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: breachkit uses timezone-aware datetimes only")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_rfc3339(text: str, *, field: str = "time") -> datetime:
    """Parse an RFC 3339 / ISO 8601 timestamp that carries a zone; a bare date means midnight UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"{field}: {text!r} is not an RFC 3339 time", hint="e.g. 2026-11-28T07:30:00Z"
        ) from None
    if moment.tzinfo is None:
        if len(text.strip()) == 10:  # a bare date
            return moment.replace(tzinfo=UTC)
        raise BadInput(f"{field}: {text!r} has no time zone", hint="add Z or an offset like +01:00")
    return moment


# What `parse_moment` accepts, for the error that refuses anything else.
TIME_FORMS = "2026-11-28T07:30:00Z (RFC 3339), 2026-11-28 (00:00 UTC), now, -30m, -2h, -3d"
_RELATIVE = re.compile(r"^([+-])(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def moment_form(text: str) -> str:
    """Which form `text` is written in: 'now', 'relative', 'date' or 'time'."""
    value = text.strip().lower()
    if value == "now":
        return "now"
    if _RELATIVE.match(value):
        return "relative"
    return "date" if _DATE.match(value) else "time"


def parse_moment(text: str, *, field: str = "time", now: datetime | None = None) -> datetime:
    """A moment as a person types it: RFC 3339 with a zone, a date (midnight UTC), `now`, or a
    time relative to now (`-30m`, `-2h`, `-3d`, `+1w`); anything else is one line naming these."""
    value = text.strip().lower()
    form = moment_form(value)
    if form == "now":
        return now or utcnow()
    if form == "relative":
        sign, amount, unit = _RELATIVE.match(value).groups()  # type: ignore[union-attr]
        delta = timedelta(**{_UNITS[unit]: int(amount)})
        return (now or utcnow()) + (delta if sign == "+" else -delta)
    try:
        return parse_rfc3339(text, field=field)
    except BadInput as exc:  # name every accepted form
        unreadable = exc.message.endswith("is not an RFC 3339 time")
        message = exc.message + (", a date, now or a relative time" if unreadable else "")
        hint = f"accepted: {TIME_FORMS}" if unreadable else f"{exc.hint}; accepted: {TIME_FORMS}"
        raise BadInput(message, hint=hint) from None


def to_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a time zone is required (RFC 3339, e.g. 2026-11-28T07:30:00Z)")
    return moment.astimezone(UTC)
