"""`breach contain revoke-sessions | disable-accounts | rotate-keys | block`.

Thin wrappers over `containment`: build the adapter, plan (and unless --dry-run apply and read
back), keep the receipt in the case, journal the step, and exit 1 when any target failed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from breach import __version__
from breach.case import Case
from breach.options import aws_options, case_option, dry_run_option, json_option
from breach.output import report
from containment import AdapterOptions, ContainmentReceipt, build, read_targets, run_action
from containment.block.nacl import MAX_RULE
from containment.interface import Action, TargetResult
from containment.registry import ADAPTERS
from core.aws import AwsAccount
from core.errors import BadInput, StepFailed
from core.timeutil import parse_rfc3339, utcnow

F = TypeVar("F", bound=Callable[..., Any])

MARKS = {
    "ok": "[green]ok[/green]     ",
    "planned": "[cyan]plan[/cyan]   ",
    "noop": "[dim]noop[/dim]   ",
    "failed": "[red]FAILED[/red] ",
    "missing": "[yellow]MISSING[/yellow]",
}


def common_options(action: Action) -> Callable[[F], F]:
    """Case, adapter, targets, dry run, JSON and every connection option, uniform across actions."""
    names = ", ".join(ADAPTERS[action])

    def decorate(func: F) -> F:
        for option in reversed(
            [
                case_option(),
                click.option("--adapter", "adapter_name", required=True, help=f"One of: {names}."),
                click.option("--target", "targets", multiple=True, help="A target (repeatable)."),
                click.option(
                    "--targets-file",
                    type=click.Path(path_type=Path),
                    help="One target per line; blank lines and # comments skipped.",
                ),
                dry_run_option,
                click.option("--reason", help="Why (goes to the journal)."),
                click.option(
                    "--dsn",
                    envvar="BREACH_DSN",
                    help="PostgreSQL DSN (or PG* variables). [BREACH_DSN]",
                ),
                click.option(
                    "--redis-url",
                    envvar="BREACH_REDIS_URL",
                    help="redis://host:port/db [BREACH_REDIS_URL]",
                ),
                click.option(
                    "--batch-size",
                    default=1000,
                    show_default=True,
                    type=click.IntRange(min=1),
                    help="Rows or keys per round trip.",
                ),
                aws_options,
                json_option,
            ]
        ):
            func = option(func)
        return func

    return decorate


@click.group("contain")
def contain() -> None:
    """Contain the breach: revoke sessions, disable accounts, rotate keys, block attack vectors."""


@contain.command("revoke-sessions")
@common_options("revoke-sessions")
@click.option("--preset", default="generic", show_default=True, help="postgres: generic or django.")
@click.option("--table", help="postgres: session table (default from the preset).")
@click.option("--user-column", help="postgres: column holding the user id.")
@click.option("--key-column", help="postgres: the session key column.")
@click.option("--pattern", help="redis: key pattern with {user}, e.g. session:{user}:* (default).")
@click.option("--index-key", help="redis: per-user index set, e.g. user_sessions:{user}.")
@click.option("--key-prefix", default="", help="redis: prefix for index set members.")
@click.option("--user-pool-id", help="cognito: the user pool.")
@click.option(
    "--revoke-before", help="iam-role: deny tokens issued before this time (default now)."
)
def revoke_sessions(revoke_before: str | None, **kwargs: Any) -> None:
    """End users' sessions: postgres, redis, cognito, iam-role."""
    since = parse_rfc3339(revoke_before, field="--revoke-before") if revoke_before else None
    _run("revoke-sessions", since=since, **kwargs)


@contain.command("disable-accounts")
@common_options("disable-accounts")
@click.option("--user-pool-id", help="cognito: the user pool.")
@click.option("--table", help="app-users: users table (default users).")
@click.option("--id-column", default="id", show_default=True, help="app-users: id column.")
@click.option(
    "--flag-column", default="is_active", show_default=True, help="app-users: flag column."
)
@click.option(
    "--disabled-value",
    default="false",
    show_default=True,
    help="app-users: flag value meaning disabled.",
)
def disable_accounts(**kwargs: Any) -> None:
    """Stop accounts signing in: iam-user, cognito, postgres-role, app-users."""
    _run("disable-accounts", since=None, **kwargs)


@contain.command("rotate-keys")
@common_options("rotate-keys")
@click.option(
    "--kms-mode",
    default="rotate",
    show_default=True,
    type=click.Choice(["rotate", "replace"]),
    help="kms: on-demand rotation, or a new key behind the alias.",
)
@click.option(
    "--secret-mode",
    default="new-version",
    show_default=True,
    type=click.Choice(["new-version", "rotate"]),
    help="secretsmanager: put a new value, or start the rotation Lambda.",
)
@click.option(
    "--secret-destination",
    help="Where a new secret goes: secretsmanager:NAME or file:PATH ({target} allowed).",
)
@click.option(
    "--since",
    "since_text",
    help="Keys rotated after this need nothing (default: when the case was opened).",
)
def rotate_keys(since_text: str | None, **kwargs: Any) -> None:
    """Replace key material: kms, iam-access-key, secretsmanager, postgres-password, signing-key."""
    since = parse_rfc3339(since_text, field="--since") if since_text else None
    if since is not None and since > utcnow():
        # Every key would count as stale, and each apply would rotate again: not idempotent.
        raise BadInput(
            f"--since {since_text} is in the future", hint="give a past time, or omit it"
        )
    _run("rotate-keys", since=since, **kwargs)


@contain.command("block")
@common_options("block")
@click.option("--ip-set", help="wafv2: IP set NAME or NAME/ID.")
@click.option(
    "--waf-scope",
    default="REGIONAL",
    show_default=True,
    type=click.Choice(["REGIONAL", "CLOUDFRONT"]),
)
@click.option("--nacl-id", help="nacl: the network ACL (acl-...).")
@click.option(
    "--first-rule",
    default=1,
    show_default=True,
    type=click.IntRange(1, MAX_RULE),
    help="nacl: lowest rule number to use.",
)
@click.option("--group-id", help="security-group: the group (sg-...).")
def block(**kwargs: Any) -> None:
    """Block CIDRs: wafv2, nacl, security-group."""
    _run("block", since=None, **kwargs)


def _run(
    action: Action,
    *,
    case_dir: str,
    adapter_name: str,
    targets: tuple[str, ...],
    targets_file: Path | None,
    dry_run: bool,
    reason: str | None,
    as_json: bool,
    since: datetime | None,
    profile: str | None,
    region: str | None,
    role_arn: str | None,
    endpoint_url: str | None,
    **settings: Any,
) -> None:
    case = Case.load(case_dir)
    names = read_targets(targets, targets_file)
    if action == "rotate-keys" and since is None:
        since = case.record.opened_at
    settings["dsn"] = settings.get("dsn") or _libpq_env_dsn()
    options = AdapterOptions(
        aws=AwsAccount(
            profile=profile, region=region, role_arn=role_arn, endpoint_url=endpoint_url
        ),
        **{k: v for k, v in settings.items() if v is not None},
    )
    adapter = build(action, adapter_name, options)
    try:
        receipt = run_action(adapter, names, dry_run=dry_run, since=since)
    finally:
        adapter.close()
    path = _record(case, receipt, reason)
    report(
        as_json, {**receipt.model_dump(mode="json"), "receipt": str(path)}, _human(receipt, path)
    )
    failed = receipt.failed
    if failed:
        raise StepFailed(
            f"{len(failed)} of {len(receipt.targets)} targets failed or were not found",
            hint=f"see {path}",
        )


def _libpq_env_dsn() -> str | None:
    """With no --dsn, libpq's own PG* variables still work (an empty DSN reads them)."""
    return "" if any(k in os.environ for k in ("PGHOST", "PGDATABASE", "PGSERVICE")) else None


def _record(case: Case, receipt: ContainmentReceipt, reason: str | None) -> Path:
    """Keep the receipt (staged as evidence too) and journal the step."""
    stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
    suffix = "-dry-run" if receipt.dry_run else ""
    name = f"contain-{stamp}-{receipt.action}-{receipt.adapter}{suffix}.json"
    meta = {
        "media_type": "application/json",
        "source": {"system": receipt.system, "action": receipt.action, "adapter": receipt.adapter},
        "collector": {"name": "breachkit.containment", "version": __version__},
    }
    path = case.write_receipt(name, receipt.model_dump(mode="json"), meta)
    case.journal(
        f"contain.{receipt.action}",
        result=receipt.status,
        why=reason,
        where=receipt.system,
        details={
            "adapter": receipt.adapter,
            "summary": receipt.summary,
            "dry_run": receipt.dry_run,
            "operator": receipt.operator,
            "counts": receipt.counts,
            "receipt": f"receipts/{name}",
        },
    )
    return path


SHOWN_TARGETS = 20


def _targets_to_show(targets: list[TargetResult]) -> tuple[list[TargetResult], int]:
    """Every target that failed or was missing, and the first few others: a terminal stays
    readable for 10,000 users while nothing that needs attention is hidden."""
    trouble = {"failed", "missing"}
    calm = [t for t in targets if t.status not in trouble]
    keep = {id(t) for t in calm[:SHOWN_TARGETS]}
    shown = [t for t in targets if t.status in trouble or id(t) in keep]
    return shown, len(targets) - len(shown)


def _human(receipt: ContainmentReceipt, path: Path) -> Callable[[Console], None]:
    def render(out: Console) -> None:
        head = "[bold]dry run[/bold]: " if receipt.dry_run else ""
        out.print(
            f"{head}{escape(receipt.summary)}  [dim]({receipt.adapter}, {escape(receipt.system)})[/dim]"
        )
        shown, hidden = _targets_to_show(receipt.targets)
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
        out.print(f"  receipt: {path}")

    return render
