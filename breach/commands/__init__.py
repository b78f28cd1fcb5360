"""The `breach` subcommands, imported only when one runs.

Loading a command's module on demand keeps `breach verify` from importing pyarrow, psycopg and
boto3 it does not need: start-up time and memory stay small for legal's verifier.
"""

from __future__ import annotations

import importlib

import click

COMMANDS: dict[str, str] = {
    "incident": "breach.commands.incident:incident",
    "keys": "breach.commands.keys:keys_group",
    "seal": "breach.commands.bundle:seal_command",
    "verify": "breach.commands.bundle:verify_command",
    "decrypt": "breach.commands.bundle:decrypt_command",
    "custody": "breach.commands.bundle:custody_group",
    "evidence": "breach.commands.evidence:evidence",
    "scope": "breach.commands.evidence:scope",
    "contain": "breach.commands.contain:contain",
    "notify": "breach.commands.notify:notify",
    "postmortem": "breach.commands.notify:postmortem",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported by name, on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command
