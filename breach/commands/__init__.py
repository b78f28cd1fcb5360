"""Each module adds its commands to the `breach` group through `register(cli)`."""

from __future__ import annotations

from collections.abc import Callable

import click

from breach.commands import bundle, contain, evidence, incident, keys, notify

REGISTRARS: list[Callable[[click.Group], None]] = [
    incident.register,
    keys.register,
    bundle.register,
    evidence.register,
    contain.register,
    notify.register,
]
