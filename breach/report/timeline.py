"""The report's timeline: events on lanes, laid out as the geometry of an inline SVG chart.

Only numbers and the events' own (escaped by the template) text come out of here; the template
draws them. The same events give the same geometry: no clock, no randomness.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime

# The lanes, top to bottom: what the chart shows, in the procedure's order.
LANES: tuple[tuple[str, str], ...] = (
    ("detection", "Detection"),
    ("awareness", "Awareness"),
    ("case", "Case"),
    ("evidence", "Evidence"),
    ("containment", "Containment"),
    ("notices", "Notices"),
    ("custody", "Custody"),
)
LANE_ORDER = {key: index for index, (key, _) in enumerate(LANES)}

WIDTH = 1000
LEFT = 110  # lane labels
RIGHT = 20
TOP = 16
LANE_HEIGHT = 34
AXIS = 48  # room for the time labels under the lanes
TICKS = 5  # at most, per stretch of the axis
PAD = 14  # room inside the plot at either end, for a marker
BREAK_WIDTH = 70  # a cut-out stretch of time on the axis
MAX_BREAKS = 4
NUMBERED = 80  # above this many events the markers carry no number (the table has them)


@dataclass(frozen=True)
class Event:
    at: datetime
    lane: str
    what: str
    who: str = ""
    detail: str = ""
    result: str = "ok"

    @property
    def key(self) -> tuple[datetime, int, str, str, str]:
        return (self.at, LANE_ORDER.get(self.lane, len(LANES)), self.what, self.who, self.detail)


@dataclass(frozen=True)
class Marker:
    number: int
    x: float
    y: float
    failed: bool
    label: bool


@dataclass(frozen=True)
class Break:
    """A long quiet stretch cut out of the axis, drawn as a marked gap with its length."""

    x: float
    label: str


@dataclass
class Chart:
    width: int
    height: int
    lanes: list[dict[str, float | str]] = field(default_factory=list)
    ticks: list[dict[str, float | str]] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    breaks: list[Break] = field(default_factory=list)
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    axis_y: float = 0.0


def ordered(events: list[Event]) -> list[Event]:
    """Events in time order; ties by lane, then by text, so the order never depends on input."""
    return sorted(events, key=lambda e: e.key)


def duration(seconds: float) -> str:
    """A gap's length in words a reader takes in at a glance: '5 d 3 h', '2 h 10 min'."""
    minutes = int(seconds // 60)
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min" if mins else f"{int(seconds)} s"


def _broken(gaps: list[float]) -> set[int]:
    """The gaps to cut: the longest, while it dwarfs the rest (4 times all the others left)."""
    cut: set[int] = set()
    while len(cut) < MAX_BREAKS:
        rest = [(g, i) for i, g in enumerate(gaps) if i not in cut]
        if len(rest) < 2:
            break
        longest, index = max(rest)
        if longest <= 4 * (sum(g for g, _ in rest) - longest):
            break
        cut.add(index)
    return cut


def layout(events: list[Event]) -> Chart:
    """The chart of `events` (already ordered): marker n is the n-th row of the timeline table.

    Time runs left to right, linearly, except that a quiet stretch much longer than the rest
    (detection days before the response, custody months after) is cut out of the axis and
    marked with its length, so that the busy hours stay readable.
    """
    height = TOP + LANE_HEIGHT * len(LANES) + AXIS
    chart = Chart(width=WIDTH, height=height, axis_y=TOP + LANE_HEIGHT * len(LANES))
    for index, (_, title) in enumerate(LANES):
        top = TOP + LANE_HEIGHT * index
        chart.lanes.append({"title": title, "y": top, "mid": top + LANE_HEIGHT / 2})
    if not events:
        return chart
    times = sorted({e.at for e in events})
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    cut = _broken(gaps)
    plot = WIDTH - RIGHT - LEFT - 2 * PAD
    linear = sum(g for i, g in enumerate(gaps) if i not in cut)
    scale = (plot - BREAK_WIDTH * len(cut)) / linear if linear > 0 else 0.0
    x_at: dict[datetime, float] = {times[0]: LEFT + PAD if gaps else LEFT + PAD + plot / 2}
    for index, gap in enumerate(gaps):
        step = BREAK_WIDTH if index in cut else gap * scale
        x_at[times[index + 1]] = round(x_at[times[index]] + step, 2)
        if index in cut:
            middle = round(x_at[times[index]] + step / 2, 2)
            chart.breaks.append(Break(middle, duration(gap)))
    _ticks(chart, times, x_at, cut)
    last: dict[str, tuple[float, int]] = {}
    for number, event in enumerate(events, start=1):
        lane = LANE_ORDER.get(event.lane, len(LANES) - 1)
        x = x_at[event.at]
        # Markers close together in one lane step up and down so each stays visible.
        previous = last.get(event.lane)
        step_index = previous[1] + 1 if previous and x - previous[0] < 12 else 0
        last[event.lane] = (x, step_index)
        offset = (0, -8, 8)[step_index % 3]
        mid = TOP + LANE_HEIGHT * lane + LANE_HEIGHT / 2 + offset
        chart.markers.append(
            Marker(number, x, mid, event.result == "failed", len(events) <= NUMBERED)
        )
    return chart


def _ticks(chart: Chart, times: list[datetime], x_at: dict[datetime, float], cut: set[int]) -> None:
    """Time labels: the start and end of each stretch between cuts, and a few inside a long one,
    on two rows so that neighbours do not overprint."""
    segments: list[tuple[datetime, datetime]] = []
    first = times[0]
    for index in range(len(times) - 1):
        if index in cut:
            segments.append((first, times[index]))
            first = times[index + 1]
    segments.append((first, times[-1]))
    marks: list[tuple[datetime, str]] = []
    for begin, end in segments:
        width = x_at[end] - x_at[begin]
        inner = max(0, min(TICKS - 2, int(width // 170) - 1)) if width > 0 else 0
        span = (end - begin).total_seconds()
        clock = _clock(span)
        marks.append((begin, "%Y-%m-%d " + clock))
        for k in range(1, inner + 1):
            moment = datetime.fromtimestamp(begin.timestamp() + span * k / (inner + 1), UTC)
            marks.append((moment, clock))
        if end != begin:
            marks.append((end, clock if end.date() == begin.date() else "%Y-%m-%d " + clock))
    for row, (moment, pattern) in enumerate(marks):
        x = x_of(moment, times, x_at)
        label = moment.strftime(pattern.replace("%f", f"{moment.microsecond // 1000:03d}"))
        anchor = "end" if x > WIDTH - RIGHT - 50 else "middle"
        chart.ticks.append({"x": x, "label": label, "row": row % 2, "anchor": anchor})


def _clock(span: float) -> str:
    """How precisely a stretch's labels tell the time: to the millisecond for a few seconds."""
    if span < 10:
        return "%H:%M:%S.%f"
    return "%H:%M:%S" if span < 2 * 3600 else "%H:%M"


def x_of(moment: datetime, times: list[datetime], x_at: dict[datetime, float]) -> float:
    """The x of any moment within a stretch: linear between the events on either side."""
    if moment in x_at:
        return x_at[moment]
    after = next(t for t in times if t > moment)
    before = max(t for t in times if t < moment)
    share = (moment - before).total_seconds() / (after - before).total_seconds()
    return round(x_at[before] + share * (x_at[after] - x_at[before]), 2)
