"""Guards against mutations that once survived the notification tests (issue 16)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notify.deadlines import Calendar, deadline, parse_duration

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def machine_in_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local zone is New York (clocks go forward on 2026-03-08 at 02:00)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    assert datetime(2026, 3, 7, 12, tzinfo=UTC).astimezone().utcoffset() == timedelta(hours=-5)
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"])
def test_elapsed_deadline_is_exact_seconds_not_the_machines_wall_clock(
    machine_in_new_york: None, zone: str
) -> None:
    """Mutation: an elapsed-time deadline computed on the local wall clock (the machine's zone
    or the calendar's), or the period doubled. 48 hours from Saturday 2026-03-07 12:00Z spans
    New York's spring-forward: exact arithmetic lands on Monday 12:00Z, wall-clock arithmetic
    an hour early, in whatever zone the start is given and whatever the calendar."""
    start_utc = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    rule = parse_duration("48h")
    expected = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
    for start in (start_utc, start_utc.astimezone(NEW_YORK), start_utc.astimezone()):
        due = deadline(start, rule, Calendar(timezone=zone))
        assert due == expected, (start, zone)
        assert due is not None and due.tzinfo == UTC
        assert due - start == timedelta(hours=48)


def test_the_same_instant_across_a_dst_change_gives_one_elapsed_deadline_in_any_zone() -> None:
    """Mutation: an elapsed deadline on the calendar's or the start's wall clock. The instant
    (Saturday 2026-03-07 22:00 in New York) is followed by a DST change in New York only."""
    new_york = datetime(2026, 3, 7, 22, 0, tzinfo=NEW_YORK)
    rule = parse_duration("24h")
    dues = {
        deadline(start, rule, Calendar(timezone=zone))
        for start in (
            new_york,
            new_york.astimezone(UTC),
            new_york.astimezone(ZoneInfo("Asia/Tokyo")),
        )
        for zone in ("America/New_York", "Europe/Berlin", "UTC")
    }
    assert dues == {datetime(2026, 3, 9, 3, 0, tzinfo=UTC)}  # 23:00 EDT on Sunday
