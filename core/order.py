"""Natural order for identifiers: numeric ids numerically ("2" before "10"), and the digits inside
names too ("user2" before "user10"), so lists read the way people count."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """A sort key: runs of digits compare as numbers, other runs as text (digits first)."""
    parts = _DIGITS.split(text)
    return tuple(
        (0, int(part), part) if index % 2 else (1, 0, part)
        for index, part in enumerate(parts)
        if part
    )


def natural_sorted(values: list[str]) -> list[str]:
    return sorted(values, key=natural_key)
