"""`breach contain revoke-sessions | disable-accounts | rotate-keys | block`: options in, one call
to `breach.procedure.contain.contain`, the receipt rendered; exit 1 when any target failed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from breach.commands import invoke
from breach.options import aws_options, case_option, dry_run_option, json_option
from breach.output import report

if TYPE_CHECKING:
    from breach.procedure.contain import ContainResult
    from core.records import Action

F = TypeVar("F", bound=Callable[..., Any])

# containment.registry.ADAPTERS' names, written out so that --help imports no library (a test
# checks that the two agree).
ADAPTER_NAMES = {
    "revoke-sessions": "postgres, redis, cognito, iam-role",
    "disable-accounts": "iam-user, cognito, postgres-role, app-users",
    "rotate-keys": "kms, iam-access-key, secretsmanager, postgres-password, signing-key",
    "block": "wafv2, nacl, security-group",
}
MARKS = {
    "ok": "[green]ok[/green]     ",
    "planned": "[cyan]plan[/cyan]   ",
    "noop": "[dim]noop[/dim]   ",
    "failed": "[red]FAILED[/red] ",
    "missing": "[yellow]MISSING[/yellow]",
}


def opt(flag: str, help: str, default: Any = None, *others: str, **kwargs: Any) -> Callable[[F], F]:
    """An option; a default other than none or empty is shown in --help. With `others`, the
    choices are the default and those."""
    if others:
        kwargs["type"] = click.Choice([default, *others])
    shown = default not in (None, "")
    return click.option(flag, default=default, show_default=shown, help=help, **kwargs)


def common_options(action: Action) -> Callable[[F], F]:
    """Case, adapter, targets, dry run, JSON and every connection option, uniform across actions."""
    options = [
        case_option(),
        click.option(
            "--adapter", "adapter_name", required=True, help=f"One of: {ADAPTER_NAMES[action]}."
        ),
        click.option("--target", "targets", multiple=True, help="A target (repeatable)."),
        opt(
            "--targets-file",
            "One target per line; blank lines and # comments skipped.",
            type=click.Path(path_type=Path),
        ),
        dry_run_option,
        opt("--reason", "Why (goes to the journal)."),
        opt("--dsn", "PostgreSQL DSN (or PG* variables). [BREACH_DSN]", envvar="BREACH_DSN"),
        opt("--redis-url", "redis://host:port/db [BREACH_REDIS_URL]", envvar="BREACH_REDIS_URL"),
        opt("--batch-size", "Rows or keys per round trip.", 1000, type=click.IntRange(min=1)),
        aws_options,
        json_option,
    ]

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


@click.group("contain")
def contain() -> None:
    """Contain the breach: revoke sessions, disable accounts, rotate keys, block attack vectors."""


@contain.command("revoke-sessions")
@common_options("revoke-sessions")
@opt("--preset", "postgres: generic or django.", "generic")
@opt("--table", "postgres: session table (default from the preset).")
@opt("--user-column", "postgres: column holding the user id.")
@opt("--key-column", "postgres: the session key column.")
@opt("--pattern", "redis: key pattern with {user}, e.g. session:{user}:* (default).")
@opt("--index-key", "redis: per-user index set, e.g. user_sessions:{user}.")
@opt("--key-prefix", "redis: prefix for index set members.", "")
@opt("--user-pool-id", "cognito: the user pool.")
@opt("--revoke-before", "iam-role: deny tokens issued before this time (default now).")
def revoke_sessions(revoke_before: str | None, **kwargs: Any) -> None:
    """End users' sessions: postgres, redis, cognito, iam-role."""
    _run("revoke-sessions", since=revoke_before, **kwargs)


@contain.command("disable-accounts")
@common_options("disable-accounts")
@opt("--user-pool-id", "cognito: the user pool.")
@opt("--table", "app-users: users table (default users).")
@opt("--id-column", "app-users: id column.", "id")
@opt("--flag-column", "app-users: flag column.", "is_active")
@opt("--disabled-value", "app-users: flag value meaning disabled.", "false")
def disable_accounts(**kwargs: Any) -> None:
    """Stop accounts signing in: iam-user, cognito, postgres-role, app-users."""
    _run("disable-accounts", since=None, **kwargs)


@contain.command("rotate-keys")
@common_options("rotate-keys")
@opt("--kms-mode", "kms: on-demand rotation, or a new key behind the alias.", "rotate", "replace")
@opt(
    "--secret-mode",
    "secretsmanager: put a new value, or start the rotation Lambda.",
    "new-version",
    "rotate",
)
@opt(
    "--secret-destination",
    "Where a new secret goes: secretsmanager:NAME or file:PATH ({target} allowed).",
)
@opt("--since", "Keys rotated after this need nothing (default: when the case was opened).")
def rotate_keys(since: str | None, **kwargs: Any) -> None:
    """Replace key material: kms, iam-access-key, secretsmanager, postgres-password, signing-key."""
    _run("rotate-keys", since=since, **kwargs)


@contain.command("block")
@common_options("block")
@opt("--ip-set", "wafv2: IP set NAME or NAME/ID.")
@opt("--waf-scope", "wafv2: the IP set's scope.", "REGIONAL", "CLOUDFRONT")
@opt("--nacl-id", "nacl: the network ACL (acl-...).")
# AWS numbers NACL rules 1..32766 (containment.block.nacl.MAX_RULE).
@opt("--first-rule", "nacl: lowest rule number to use.", 1, type=click.IntRange(1, 32766))
@opt("--group-id", "security-group: the group (sg-...).")
def block(**kwargs: Any) -> None:
    """Block CIDRs: wafv2, nacl, security-group."""
    _run("block", since=None, **kwargs)


STEP = ("targets", "targets_file", "dry_run", "reason", "since", "dsn", "redis_url")
AWS = ("profile", "region", "role_arn", "endpoint_url")


def _run(action: Action, *, case_dir: str, adapter_name: str, as_json: bool, **values: Any) -> None:
    from breach.procedure.contain import ContainSettings, contain
    from containment.registry import options_for
    from core.errors import StepFailed

    step = {k: values.pop(k) for k in STEP}
    aws = {k: values.pop(k) for k in AWS}
    options = options_for(action, adapter_name, values)  # of the flags, those this adapter takes
    given = {"case": case_dir, "action": action, "adapter": adapter_name, "aws": aws}
    done = invoke(contain, ContainSettings, **given, **step, options=options)
    data = {**done.receipt.model_dump(mode="json"), "receipt": str(done.path)}
    report(as_json, data, _human(done))
    if done.failed:
        raise StepFailed(
            f"{len(done.failed)} of {len(done.receipt.targets)} targets failed or were not found",
            hint=f"see {done.path}",
        )


def _human(done: ContainResult) -> Callable[[Console], None]:
    from containment.run import targets_to_show

    receipt = done.receipt

    def render(out: Console) -> None:
        head = "[bold]dry run[/bold]: " if receipt.dry_run else ""
        out.print(
            f"{head}{escape(receipt.summary)}  [dim]({receipt.adapter}, {escape(receipt.system)})[/dim]"
        )
        shown, hidden = targets_to_show(receipt.targets)
        for target in shown:
            detail = target.change or ""
            if target.reason:
                detail = f"{detail}  {target.reason}".strip()
            if target.hint:
                detail += f" (hint: {target.hint})"
            out.print(f"  {MARKS[target.status]} {escape(target.name)}  {escape(detail)}")
        if hidden:
            out.print(f"  ... and {hidden} more like those (every target is in the receipt)")
        out.print(f"  undo: {escape(receipt.undo)}")
        out.print(f"  receipt: {done.path}")

    return render
