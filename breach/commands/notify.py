"""Commands for this step are registered here (see the issue that builds it)."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    """Nothing yet."""
