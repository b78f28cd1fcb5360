"""Survivors of `make mutate` on notify/deadlines.py, killed (issue 16; docs/mutation.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notify.deadlines import Calendar, add_business_days, deadline, humanize, parse_duration


@pytest.mark.parametrize(
    ("spelling", "kind", "amount", "text"),
    [
        ("-", "none", 0, "-"),
        ("none", "none", 0, "-"),
        (" None ", "none", 0, "-"),
        ("", "none", 0, "-"),
        ("immediate", "immediate", 0, "immediate"),
        ("immediately", "immediate", 0, "immediate"),
        ("0", "immediate", 0, "immediate"),
        ("next-business-day", "next_business_day", 1, "next-business-day"),
        ("next business day", "next_business_day", 1, "next-business-day"),
        ("Next Day", "next_business_day", 1, "next-business-day"),
        ("next-day", "next_business_day", 1, "next-business-day"),
        ("60d", "days", 60, "60d"),
        ("4 BD", "business_days", 4, "4bd"),
        ("15m", "elapsed", 900, "15m"),
        ("72h", "elapsed", 259200, "72h"),
    ],
)
def test_every_spelling_parses_to_its_kind_amount_and_text(
    spelling: str, kind: str, amount: int, text: str
) -> None:
    """Mutations of the alias lists and of each Duration's fields (kind, amount, the text
    shown to people and written to records)."""
    parsed = parse_duration(spelling)
    assert (parsed.kind, parsed.amount, parsed.text, str(parsed)) == (kind, amount, text, text)


@pytest.fixture
def machine_in_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("rule", ["immediate", "72h", "60d", "4bd", "next-business-day"])
def test_every_deadline_is_returned_in_utc_whatever_the_machines_zone(
    machine_in_new_york: None, rule: str
) -> None:
    """Mutation: `.astimezone(UTC)` replaced by `.astimezone(None)` (the machine's zone): the
    same instant, but not in UTC, so records and JSON would carry a local offset."""
    start = datetime(2026, 11, 25, 15, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    due = deadline(start, parse_duration(rule), Calendar(timezone="Europe/Berlin"))
    assert due is not None and due.tzinfo is UTC


def test_exact_error_messages() -> None:
    with pytest.raises(ValueError, match=r"^start must be timezone-aware$"):
        deadline(datetime(2026, 1, 1), parse_duration("1h"), Calendar())
    with pytest.raises(ValueError, match=r"^count must be at least 1$"):
        add_business_days(date(2026, 1, 1), 0, Calendar())


def test_humanize_of_no_time_and_less_than_a_second_is_not_negative() -> None:
    """Mutations of the sign test (`< 0` to `<= 0` or `< 1`)."""
    assert humanize(timedelta(0)) == "0m"
    assert humanize(timedelta(seconds=0.5)) == "0m"
    assert humanize(timedelta(seconds=-1)) == "-0m"


def test_a_holiday_on_a_weekday_is_not_a_business_day() -> None:
    calendar = Calendar(holidays=frozenset({date(2026, 12, 25)}))
    assert calendar.is_business_day(date(2026, 12, 24))
    assert not calendar.is_business_day(date(2026, 12, 25))
    assert not calendar.is_business_day(date(2026, 12, 26))  # Saturday
