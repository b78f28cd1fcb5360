"""Human text (rich) on a terminal, JSON for machines: one place decides which."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def report(as_json: bool, data: Any, human: Callable[[Console], None]) -> None:
    """Print `data` as JSON when asked, otherwise let `human` render it."""
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
        sys.stdout.flush()
    else:
        human(stdout)


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
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TransferSpeedColumn,
    )

    columns = (SpinnerColumn(), TextColumn(label), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=stderr, transient=True) as progress:
        task = progress.add_task(label, total=None)
        yield lambda done: progress.advance(task, done)
