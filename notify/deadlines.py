"""Deadline arithmetic: elapsed hours, calendar days, business days, in a calendar's time zone.

Three kinds of period, because the rules differ:
- elapsed time ("72h", "15m"): an exact number of seconds, whatever the clocks do (DST);
- calendar days ("60d"): the same local wall-clock time N days later, so across a DST change
  the elapsed time is an hour more or less;
- business days ("4bd", "next-business-day"): days after the start's local date that are neither
  weekend nor holiday, ending at the calendar's `day_end` (or the rule's cutoff) local time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    field_serializer,
    field_validator,
)

Kind = Literal["none", "immediate", "elapsed", "days", "business_days", "next_business_day"]
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DURATION = re.compile(r"^\s*(\d+)\s*(m|h|d|bd)\s*$")
_UNIT_SECONDS = {"m": 60, "h": 3600}


@dataclass(frozen=True)
class Duration:
    """A parsed period. `amount` is seconds for elapsed time, else a count of days."""

    kind: Kind
    amount: int = 0
    text: str = ""

    def __str__(self) -> str:
        return self.text


def parse_duration(value: Any) -> Duration:
    """'immediate', '15m', '1h', '72h', '60d', '4bd', 'next-business-day' or '-' (none)."""
    if isinstance(value, Duration):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration; use e.g. '72h', '60d', '4bd', 'immediate'")
    text = value.strip().lower()
    if text in ("-", "none", ""):
        return Duration("none", 0, "-")
    if text in ("immediate", "immediately", "0"):
        return Duration("immediate", 0, "immediate")
    if text in ("next-business-day", "next business day", "next day", "next-day"):
        return Duration("next_business_day", 1, "next-business-day")
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{value!r} is not a duration; use e.g. '72h', '60d', '4bd', 'immediate'")
    count, unit = int(match.group(1)), match.group(2)
    if unit in _UNIT_SECONDS:
        return Duration("elapsed", count * _UNIT_SECONDS[unit], f"{count}{unit}")
    return Duration("days" if unit == "d" else "business_days", count, f"{count}{unit}")


DurationField = Annotated[
    Duration, BeforeValidator(parse_duration), PlainSerializer(str, return_type=str)
]


class Calendar(BaseModel):
    """Where and how business days are counted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "UTC"
    weekend: tuple[str, ...] = ("Sat", "Sun")
    holidays: frozenset[date] = frozenset()
    day_end: time = time(17, 0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)"
            ) from None
        return value

    @field_validator("weekend")
    @classmethod
    def _weekday_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in WEEKDAYS:
                raise ValueError(f"{name!r} is not a weekday; use {', '.join(WEEKDAYS)}")
        return value

    @field_serializer("holidays")
    def _in_order(self, holidays: frozenset[date]) -> list[date]:
        """Sorted: a set's order differs between runs, and a pinned policy is compared as JSON."""
        return sorted(holidays)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_business_day(self, day: date) -> bool:
        return WEEKDAYS[day.weekday()] not in self.weekend and day not in self.holidays


def add_business_days(start: date, count: int, calendar: Calendar) -> date:
    """The `count`-th business day after `start` (the start day itself never counts)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    day, found = start, 0
    while found < count:
        day += timedelta(days=1)
        if calendar.is_business_day(day):
            found += 1
    return day


def business_days_between(start: date, end: date, calendar: Calendar) -> int:
    """Business days after `start` up to and including `end`."""
    days, day = 0, start
    while day < end:
        day += timedelta(days=1)
        days += calendar.is_business_day(day)
    return days


def _local_at(day: date, at: time, zone: ZoneInfo) -> datetime:
    """A local wall-clock time as an aware datetime (a time in a DST gap moves forward)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC).astimezone(zone)


def deadline(
    start: datetime, rule: Duration, calendar: Calendar, cutoff: time | None = None
) -> datetime | None:
    """When an obligation that started at `start` falls due, in UTC; None when there is none."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    zone = calendar.zone
    local = start.astimezone(zone)
    ends_at = cutoff or calendar.day_end
    if rule.kind == "none":
        return None
    if rule.kind == "immediate":
        return start.astimezone(UTC)
    if rule.kind == "elapsed":
        # in UTC: adding to a zoned datetime would be wall-clock arithmetic, wrong across DST
        return start.astimezone(UTC) + timedelta(seconds=rule.amount)
    if rule.kind == "days":
        wall = local.replace(tzinfo=None) + timedelta(days=rule.amount)
        return wall.replace(tzinfo=zone).astimezone(UTC)
    day = add_business_days(local.date(), rule.amount, calendar)
    return _local_at(day, ends_at, zone).astimezone(UTC)


def humanize(delta: timedelta) -> str:
    """'2d 3h 15m', or '-1h 5m' once the moment has passed."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d"] if days else []
    if hours or days:
        parts.append(f"{hours}h")
    parts.append(f"{minutes}m")
    return sign + " ".join(parts)


def local_iso(moment: datetime, calendar: Calendar) -> str:
    """The moment in the calendar's zone, ISO 8601 with its offset (for people)."""
    return moment.astimezone(calendar.zone).isoformat(timespec="minutes")
