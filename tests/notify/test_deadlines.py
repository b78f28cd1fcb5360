"""Deadlines across DST changes and time zones, and business-day counting."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from notify.deadlines import (
    Calendar,
    add_business_days,
    business_days_between,
    deadline,
    humanize,
    parse_duration,
)
from notify.policy import load_policy

BERLIN = Calendar(timezone="Europe/Berlin")
NEW_YORK = Calendar(timezone="America/New_York")


def test_72_hours_is_elapsed_time_across_the_spring_dst_change() -> None:
    # Berlin moves clocks forward on 2026-03-29 at 02:00 CET.
    aware = datetime(2026, 3, 27, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # 09:00Z
    due = deadline(aware, parse_duration("72h"), BERLIN)
    assert due == datetime(2026, 3, 30, 9, 0, tzinfo=UTC)
    assert due.astimezone(ZoneInfo("Europe/Berlin")).hour == 11  # wall clock moved an hour


def test_72_hours_across_the_autumn_dst_change() -> None:
    aware = datetime(2026, 10, 24, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # CEST, 08:00Z
    due = deadline(aware, parse_duration("72h"), BERLIN)
    assert due == datetime(2026, 10, 27, 8, 0, tzinfo=UTC)
    assert due.astimezone(ZoneInfo("Europe/Berlin")).hour == 9


def test_calendar_days_keep_the_wall_clock_so_elapsed_time_shifts() -> None:
    aware = datetime(2026, 3, 1, 10, 0, tzinfo=ZoneInfo("America/New_York"))  # EST
    due = deadline(aware, parse_duration("60d"), NEW_YORK)
    assert due is not None
    local = due.astimezone(ZoneInfo("America/New_York"))
    assert (local.date(), local.time()) == (date(2026, 4, 30), time(10, 0))  # EDT now
    assert due - aware == timedelta(days=60, hours=-1)


def test_the_same_instant_gives_the_same_elapsed_deadline_in_any_zone() -> None:
    tokyo = datetime(2026, 11, 28, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    utc = tokyo.astimezone(UTC)
    rule = parse_duration("24h")
    assert deadline(tokyo, rule, BERLIN) == deadline(utc, rule, NEW_YORK)


def test_business_days_skip_weekends_and_the_policys_holidays() -> None:
    us = load_policy().calendars["us-federal"]
    # Wednesday before Thanksgiving (Thu 2026-11-26, a holiday): Fri, Mon, Tue, Wed.
    aware = datetime(2026, 11, 25, 15, 0, tzinfo=ZoneInfo("America/New_York"))
    due = deadline(aware, parse_duration("4bd"), us)
    assert due is not None
    assert due.astimezone(ZoneInfo("America/New_York")) == datetime(
        2026, 12, 2, 17, 30, tzinfo=ZoneInfo("America/New_York")
    )
    assert business_days_between(date(2026, 11, 25), date(2026, 12, 2), us) == 4


def test_business_days_use_the_local_date_not_the_utc_date() -> None:
    # 2026-11-27T03:00Z is still Thursday 26th (Thanksgiving) in New York.
    us = load_policy().calendars["us-federal"]
    due = deadline(datetime(2026, 11, 27, 3, 0, tzinfo=UTC), parse_duration("1bd"), us)
    assert due is not None and due.astimezone(ZoneInfo("America/New_York")).date() == date(
        2026, 11, 27
    )


def test_year_end_holidays_and_custom_weekend() -> None:
    us = load_policy().calendars["us-federal"]
    # 2027-12-23 (Thu) -> Fri 24 and Fri 31 are holidays: Mon 27, Tue 28, Wed 29, Thu 30.
    assert add_business_days(date(2027, 12, 23), 4, us) == date(2027, 12, 30)
    gulf = Calendar(timezone="Asia/Dubai", weekend=("Sat", "Sun"))
    friday_off = Calendar(timezone="Asia/Riyadh", weekend=("Fri", "Sat"))
    thursday = date(2026, 12, 3)
    assert add_business_days(thursday, 1, gulf) == date(2026, 12, 4)
    assert add_business_days(thursday, 1, friday_off) == date(2026, 12, 6)


def test_next_business_day_ends_at_day_end_local() -> None:
    calendar = Calendar(timezone="Europe/Berlin", holidays=frozenset({date(2026, 12, 25)}))
    aware = datetime(2026, 12, 24, 16, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # Thursday
    due = deadline(aware, parse_duration("next-business-day"), calendar)
    assert due == datetime(2026, 12, 28, 17, 0, tzinfo=ZoneInfo("Europe/Berlin"))


def test_a_cutoff_inside_the_spring_gap_moves_forward() -> None:
    calendar = Calendar(timezone="Europe/Berlin", day_end=time(2, 30))
    friday = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    # Sunday 2026-03-29 is a weekend day; use a Sunday-working calendar to land in the gap.
    sunday_works = calendar.model_copy(update={"weekend": ("Sat",)})
    due = deadline(friday, parse_duration("1bd"), sunday_works)
    assert due == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 02:30 CET does not exist: 03:30 CEST


def test_immediate_and_none() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert deadline(now, parse_duration("immediate"), BERLIN) == now
    assert deadline(now, parse_duration("-"), BERLIN) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        deadline(datetime(2026, 1, 1), parse_duration("1h"), BERLIN)


@pytest.mark.parametrize("text", ["72 hours", "soon", "1w", "-3h", 72])
def test_bad_durations_are_refused(text: object) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_duration_spellings() -> None:
    assert parse_duration("4 bd").kind == "business_days"
    assert parse_duration("").kind == "none" and parse_duration("-").kind == "none"
    assert parse_duration("15m").amount == 900 and parse_duration("Immediate").kind == "immediate"


def test_humanize() -> None:
    assert humanize(timedelta(days=2, hours=3, minutes=15)) == "2d 3h 15m"
    assert humanize(timedelta(minutes=-65)) == "-1h 5m"
    assert humanize(timedelta(seconds=30)) == "0m"
