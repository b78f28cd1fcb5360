"""Human text (rich) on a terminal, JSON for machines: one place decides which."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)
# C0 and C1 controls, DEL, line/paragraph separators and bidi overrides: what can move a
# terminal's cursor, recolour it, or make one line read as two or backwards.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(value: object) -> str:
    """Text from a bundle, a case or a breached system, fit for the terminal: control characters
    shown as \\xNN / \\uNNNN escapes and rich markup escaped, so it prints as the bytes it is."""
    return escape(_CONTROL.sub(_visible, str(value)))


class _StderrLines(logging.Handler):
    """The library's warnings (e.g. a case with a run started but never finished), one stderr
    line each, printed to whatever stderr is when they come (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        stderr.print(f"[yellow]warning:[/yellow] {safe(record.getMessage())}")


def route_library_warnings() -> None:
    """Send the `breach` loggers' warnings to stderr (once, however often main runs)."""
    logger = logging.getLogger("breach")
    if not any(isinstance(h, _StderrLines) for h in logger.handlers):
        logger.addHandler(_StderrLines(logging.WARNING))
        logger.propagate = False


def report(as_json: bool, data: Any, human: Callable[[Console], None]) -> None:
    """Print `data` as JSON when asked, otherwise let `human` render it."""
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
        sys.stdout.flush()
    else:
        human(stdout)


def report_line(as_json: bool, result: Any, line: Callable[[dict[str, Any]], str]) -> None:
    """A result model as JSON, or as one human line made from its JSON form."""
    data = result.model_dump(mode="json")
    report(as_json, data, lambda out: out.print(line(data)))


def warn(warnings: list[str], as_json: bool) -> None:
    """Warnings go to stderr on a terminal run; under --json they are in the result."""
    for line in [] if as_json else warnings:
        stderr.print(f"[yellow]warning:[/yellow] {safe(line)}")


def some(values: list[str], shown: int = 20) -> str:
    """A list for a terminal: the first few, then how many more (--json has them all)."""
    text = ", ".join(values[:shown]) or "-"
    return f"{text} ... ({len(values) - shown} more)" if len(values) > shown else text


def mark(ok: bool | None) -> str:
    """A check's mark: pass, fail, or skipped/warned (None)."""
    if ok is None:
        return "[yellow]skip[/yellow]"
    return "[green]pass[/green]" if ok else "[red]FAIL[/red]"


@contextlib.contextmanager
def byte_progress(label: str, *, enabled: bool = True) -> Iterator[Callable[[int], None] | None]:
    """A rich progress line counting bytes, on a terminal only; yields the callback (or None)."""
    if not enabled or not stderr.is_terminal:
        yield None
        return
    from rich.progress import (  # only on a terminal: keeps start-up light for scripts
        BarColumn,
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (SpinnerColumn(), TextColumn(label), BarColumn(), DownloadColumn())
    eta = (TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, *eta, console=stderr, transient=True) as progress:
        yield Advance(progress, progress.add_task(label, total=None))


@contextlib.contextmanager
def count_progress(label: str, show: bool) -> Iterator[Callable[[int, int], None] | None]:
    """N of a known total, the rate and the time left, on a terminal only."""
    if not show or not stderr.is_terminal:
        yield None
        return
    import rich.progress as rp
    from rich.text import Text

    class PerMinute(rp.ProgressColumn):
        def render(self, task: rp.Task) -> Text:
            return Text(f"{task.speed * 60:.0f}/min" if task.speed else "-/min")

    columns = (rp.TextColumn(label), rp.BarColumn(), rp.MofNCompleteColumn(), PerMinute())
    remaining = rp.TimeRemainingColumn()
    with rp.Progress(*columns, remaining, console=stderr, transient=True) as progress:
        task = progress.add_task(label, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


@contextlib.contextmanager
def row_progress(label: str, show: bool) -> Iterator[Callable[[str, int], None] | None]:
    """Rows read so far, on a terminal only (workers call it from their threads)."""
    if not show or not stderr.is_terminal:
        yield None
        return
    import rich.progress as rp

    columns = (rp.SpinnerColumn(), rp.TextColumn(label), rp.BarColumn(), rp.MofNCompleteColumn())
    times = (rp.TimeElapsedColumn(), rp.TimeRemainingColumn())
    with rp.Progress(*columns, *times, console=stderr, transient=True) as progress:
        yield Advance(progress, progress.add_task(label, total=None))


class Advance:
    """A progress callback (its last argument is the amount just done) that a step may tell
    how much to expect (`expect(total)`, see core.progress): then a bar and the time left."""

    def __init__(self, progress: Any, task: Any) -> None:
        self.progress, self.task = progress, task

    def __call__(self, *args: Any) -> None:
        self.progress.advance(self.task, args[-1])

    def expect(self, total: int) -> None:
        self.progress.update(self.task, total=total)
