"""The `breach` subcommands: each parses options, builds a step's settings, calls it, renders.

A command module imports only click and breach.commands / breach.options / breach.output at
module level; the procedure step it calls (and with it pyarrow, psycopg, boto3, pydantic) is
imported inside the command body. `breach --help` reads the one-line help below, so listing the
commands imports none of them, and `breach evidence --help` imports only its own module.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

# name -> (module:attribute, the one line `breach --help` shows)
COMMANDS: dict[str, tuple[str, str]] = {
    "incident": ("breach.commands.incident:incident", "Open, classify and close incident cases."),
    "keys": ("breach.commands.keys:keys_group", "Create signing keys and age identities."),
    "seal": ("breach.commands.bundle:seal_command", "Seal staged evidence into a signed bundle."),
    "verify": ("breach.commands.bundle:verify_command", "Verify a sealed evidence bundle."),
    "decrypt": ("breach.commands.bundle:decrypt_command", "Verify, then decrypt a bundle."),
    "custody": ("breach.commands.bundle:custody_group", "Read and extend a chain of custody."),
    "bundle": ("breach.commands.locker:bundle_group", "Push, list, fetch and hold stored bundles."),
    "evidence": ("breach.commands.evidence:evidence", "Preserve audit logs and table snapshots."),
    "scope": ("breach.commands.evidence:scope", "Who and what the attacker touched."),
    "contain": ("breach.commands.contain:contain", "Revoke, disable, rotate and block."),
    "notify": ("breach.commands.notify:notify", "Clocks, notices and who was told when."),
    "postmortem": ("breach.commands.notify:postmortem", "Write the post-mortem from the case."),
    "report": ("breach.commands.report:report_command", "A bundle's report for counsel (HTML)."),
    "playbook": ("breach.commands.playbook:playbook_group", "List, show and validate playbooks."),
    "drill": ("breach.commands.drill:drill_command", "Drill a playbook: proof it works today."),
    "run": ("breach.commands.run:run_command", "Run a playbook: the procedure, resumable."),
    "sandbox": ("breach.commands.sandbox:sandbox_group", "A seeded breach on 127.0.0.1 to try on."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported by name, on first use.

    `lazy` maps a name to ("module:attribute", one-line help); the root group's is COMMANDS.
    Commands added the usual way (`@group.command`) sit beside them.
    """

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]] | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.lazy = COMMANDS if lazy is None else lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        target = self.lazy.get(cmd_name)
        if target is None:
            return None
        module, attribute = target[0].split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the one-line helps: no lazy module is imported to show it."""
        rows = []
        for name in self.list_commands(ctx):
            eager = self.commands.get(name)
            rows.append((name, eager.get_short_help_str() if eager else self.lazy[name][1]))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


R = TypeVar("R")


def invoke(step: Callable[[Any], R], settings_type: type[Any], **values: Any) -> R:
    """Build the step's settings from the command's values and call the step.

    A value the settings refuse, or a domain error naming a settings field, becomes one line
    that names the command's own flag for that field (only flags this command has).
    """
    from pydantic import ValidationError

    from core.errors import BadInput, BreachError

    try:
        settings = settings_type.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        message = str(first["msg"]).removeprefix("Value error, ")
        raise BadInput(f"{flag_for(field)}: {message}") from None
    try:
        result = step(settings)
    except BreachError as exc:
        if exc.field and not exc.hint and flag_for(exc.field) != exc.field:
            exc.hint = f"check {flag_for(exc.field)}"
        exc.message = own_flags(exc.message)
        exc.hint = own_flags(exc.hint) if exc.hint else exc.hint
        raise
    note_times(values, settings)  # after the step: an error stays the one line it is
    return result


FLAG = re.compile(r"`[^`]*`|\bbreach [^;()]*|(--[a-z][a-z0-9-]*)")


def own_flags(text: str) -> str:
    """A step's words with each `--flag` the current command does not have replaced by its
    setting's name (`--ip-set` -> ip_set); quoted commands and `breach ...` lines are left as
    they are: their flags are another command's."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return text
    have = {opt for param in ctx.command.params for opt in param.opts}

    def keep_or_name(match: re.Match[str]) -> str:
        flag = match.group(1)
        if flag is None or flag in have:
            return match.group(0)
        return flag[2:].replace("-", "_")

    return FLAG.sub(keep_or_name, text)


MEANINGS = {"date": "the start of that day, UTC", "now": "now", "relative": "relative to now"}


def note_times(values: dict[str, Any], settings: Any) -> None:
    """Say on stderr what a date without a time, `now` or `-2h` was taken to mean."""
    from datetime import datetime

    from breach.output import safe, stderr
    from core.timeutil import moment_form, rfc3339

    for field, given in values.items():
        chosen = getattr(settings, field, None)
        if isinstance(given, str) and isinstance(chosen, datetime):
            form = moment_form(given)
            if form in MEANINGS:
                line = f"{flag_for(field)} {given} is {rfc3339(chosen)} ({MEANINGS[form]})"
                stderr.print(f"note: {safe(line)}")


def flag_for(field: str) -> str:
    """The current command's flag for a settings field (its click parameter of the same name)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        for param in ctx.command.params:
            if param.name == field and param.opts:
                return max(param.opts, key=len)
    return field
