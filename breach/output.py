"""Human text (rich) on a terminal, JSON for machines: one place decides which."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
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
