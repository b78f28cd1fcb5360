"""How much a long step expects to do, told to its progress callback when it can take it.

A progress callback (a step's `progress=` keyword) is called with what was just done; one that
also has `expect(total)` is told the total first (an estimate for exports: the planner's row
count; exact for seals: the bytes to encrypt), so a terminal can show a bar and the time left.
"""

from __future__ import annotations

from typing import Any


def expect(progress: Any, total: int | None) -> None:
    """Tell `progress` the total to expect, if it listens and the total is known."""
    hook = getattr(progress, "expect", None)
    if hook is not None and total is not None and total > 0:
        hook(int(total))
