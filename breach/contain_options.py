"""The options of `breach contain`'s subcommands, each tagged with the adapters that take it, and
a help that lists them grouped by adapter: a command offers only the options of its adapters.

Written out here (not read from containment.registry) so that --help imports no library; a test
checks that every adapter's own options and the registry's settings models agree.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from breach.options import aws_options, case_option, dry_run_option, json_option

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[Any], Any]

# containment.registry.ADAPTERS' names, in its order.
ADAPTER_NAMES: dict[str, tuple[str, ...]] = {
    "revoke-sessions": ("postgres", "redis", "cognito", "iam-role"),
    "disable-accounts": ("iam-user", "cognito", "postgres-role", "app-users"),
    "rotate-keys": ("kms", "iam-access-key", "secretsmanager", "postgres-password", "signing-key"),
    "block": ("wafv2", "nacl", "security-group"),
}
# Adapters acting through AWS, PostgreSQL or Redis (the connection options they take).
AWS = {
    "revoke-sessions": ("cognito", "iam-role"),
    "disable-accounts": ("iam-user", "cognito"),
    "rotate-keys": ("kms", "iam-access-key", "secretsmanager", "postgres-password"),
    "block": ("wafv2", "nacl", "security-group"),
}
DSN = {
    "revoke-sessions": ("postgres",),
    "disable-accounts": ("postgres-role", "app-users"),
    "rotate-keys": ("postgres-password",),
}


def opt(flag: str, help: str, default: Any = None, *others: str, **kwargs: Any) -> Callable[[F], F]:
    """An option; a default other than none or empty is shown in --help. With `others`, the
    choices are the default and those."""
    if others:
        kwargs["type"] = click.Choice([default, *others])
    shown = default not in (None, "")
    return click.option(flag, default=default, show_default=shown, help=help, **kwargs)


class AdapterChoice(click.Choice):
    """The action's adapter names; another is one line naming them (not a usage screen)."""

    def __init__(self, action: str) -> None:
        super().__init__(ADAPTER_NAMES[action])
        self.action = action

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value in self.choices:
            return value
        from core.errors import BadInput

        names = ", ".join(ADAPTER_NAMES[self.action])
        raise BadInput(f"unknown adapter {value!r} for {self.action}", hint=f"one of: {names}")


def common(action: str) -> list[Decorator]:
    """What every adapter of the action takes: case, adapter, targets, dry run, reason, JSON."""
    names = ", ".join(ADAPTER_NAMES[action])
    return [
        case_option(),
        click.option(
            "--adapter",
            "adapter_name",
            required=True,
            type=AdapterChoice(action),
            help=f"One of: {names}.",
        ),
        click.option("--target", "targets", multiple=True, help="A target (repeatable)."),
        opt(
            "--targets-file",
            "Text (one target a line, # comments) or Parquet (scope's affected-users.parquet,"
            " actors.parquet).",
            type=click.Path(path_type=Path),
        ),
        opt("--targets-column", "The Parquet targets file's column (default: user_id, actor...)."),
        dry_run_option,
        opt("--reason", "Why (goes to the journal)."),
        json_option,
    ]


DSN_OPTION = opt("--dsn", "PostgreSQL DSN (or PG* variables). [BREACH_DSN]", envvar="BREACH_DSN")
REQUIRE_SNAPSHOT = click.option(
    "--require-snapshot",
    is_flag=True,
    help="Refuse when the table acted on was not snapshotted in this case (default: warn).",
)
KMS_MODES = ("rotate", "replace")
MODES = ("new-version", "rotate")
KMS_MODES = ("rotate", "replace")
MODES = ("new-version", "rotate")
USER_POOL = opt("--user-pool-id", "The Cognito user pool.")

# action -> [(the adapters taking them, [options])], in the order help lists them.
BY_ADAPTER: dict[str, list[tuple[tuple[str, ...], list[Decorator]]]] = {
    "revoke-sessions": [
        (
            (),
            [
                click.option(
                    "--from-scope",
                    is_flag=True,
                    help="Take the affected users of the case's scope as targets.",
                )
            ],
        ),
        (
            ("postgres",),
            [
                opt("--preset", "Session table layout.", "generic", "django"),
                opt("--table", "Session table (default from the preset)."),
                opt("--user-column", "Column holding the user id."),
                opt("--key-column", "The session key column."),
                REQUIRE_SNAPSHOT,
            ],
        ),
        (
            ("redis",),
            [
                opt(
                    "--redis-url",
                    "redis://host:port/db [BREACH_REDIS_URL]",
                    envvar="BREACH_REDIS_URL",
                ),
                opt("--pattern", "Key pattern with {user}, e.g. session:{user}:* (default)."),
                opt("--index-key", "Per-user index set, e.g. user_sessions:{user}."),
                opt("--key-prefix", "Prefix for index set members.", ""),
            ],
        ),
        (
            ("postgres", "redis"),
            [opt("--batch-size", "Rows or keys per round trip.", 1000, type=click.IntRange(1))],
        ),
        (("cognito",), [USER_POOL]),
        (
            ("iam-role",),
            [
                click.option(
                    "--revoke-before",
                    "since",  # the step's setting: its errors name this flag
                    help="Deny tokens issued before this (default now).",
                )
            ],
        ),
    ],
    "disable-accounts": [
        (("cognito",), [USER_POOL]),
        (
            ("app-users",),
            [
                opt("--table", "Users table (default users)."),
                opt("--id-column", "Id column.", "id"),
                opt("--flag-column", "Flag column.", "is_active"),
                opt("--disabled-value", "Flag value meaning disabled.", "false"),
                REQUIRE_SNAPSHOT,
            ],
        ),
    ],
    "rotate-keys": [
        (
            (),
            [opt("--since", "Keys rotated after this need nothing (default: case opened).")],
        ),
        (("kms",), [opt("--kms-mode", "Rotate, or a new key behind the alias.", *KMS_MODES)]),
        (("secretsmanager",), [opt("--secret-mode", "Put a new value, or run rotation.", *MODES)]),
        (
            ("iam-access-key", "postgres-password"),
            [
                opt(
                    "--secret-destination",
                    "Where a new secret goes: secretsmanager:NAME or file:PATH ({target} ok).",
                )
            ],
        ),
    ],
    "block": [
        (
            ("wafv2",),
            [
                opt("--ip-set", "IP set NAME or NAME/ID."),
                opt("--waf-scope", "The IP set's scope.", "REGIONAL", "CLOUDFRONT"),
            ],
        ),
        (
            ("nacl",),
            [
                opt("--nacl-id", "The network ACL (acl-...)."),
                # AWS numbers NACL rules 1..32766 (containment.block.nacl.MAX_RULE).
                opt("--first-rule", "Lowest rule number to use.", 1, type=click.IntRange(1, 32766)),
            ],
        ),
        (("security-group",), [opt("--group-id", "The group (sg-...).")]),
    ],
}


def tagged(adapters: tuple[str, ...], decorators: list[Decorator]) -> Callable[[F], F]:
    """Apply the option decorators, marking each new option with the adapters that take it."""

    def apply(func: F) -> F:
        before = len(getattr(func, "__click_params__", []))
        for decorator in reversed(decorators):
            func = decorator(func)
        for param in getattr(func, "__click_params__", [])[before:]:
            param.adapters = adapters
        return func

    return apply


def contain_options(action: str) -> Callable[[F], F]:
    """Every option of the action's command: common, then each adapter's (and its connection)."""
    groups = [((), common(action)), *BY_ADAPTER[action]]
    if action in DSN:
        groups.append((DSN[action], [DSN_OPTION]))
    groups.append((AWS[action], [aws_options]))

    def apply(func: F) -> F:
        for adapters, decorators in reversed(groups):
            func = tagged(adapters, decorators)(func)
        return func

    return apply


class AdapterCommand(click.Command):
    """A `contain` subcommand whose help lists the common options, then one section for each
    adapter (or set of adapters) with the options only it takes."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[tuple[str, ...], list[tuple[str, str]]] = {(): []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                sections.setdefault(getattr(param, "adapters", ()), []).append(record)
        for adapters, rows in sections.items():
            plural = "s" if len(adapters) > 1 else ""
            title = (
                f"Options of the {', '.join(adapters)} adapter{plural}" if adapters else "Options"
            )
            with formatter.section(title):
                formatter.write_dl(rows)
