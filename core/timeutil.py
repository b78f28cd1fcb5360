"""UTC, RFC 3339, timezone-aware datetimes only."""

from __future__ import annotations

from datetime import UTC, datetime

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


def to_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a time zone is required (RFC 3339, e.g. 2026-11-28T07:30:00Z)")
    return moment.astimezone(UTC)
