"""`breach contain revoke-sessions | disable-accounts | rotate-keys | block`: options in, one call
to `breach.procedure.contain.contain`, the receipt rendered; exit 1 when any target failed."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape

from breach.commands import invoke
from breach.contain_options import AdapterCommand, contain_options
from breach.output import report, safe, warn

if TYPE_CHECKING:
    from breach.procedure.contain import ContainResult
    from core.records import Action, Backend, ContainmentReceipt

MARKS = {
    "ok": "[green]ok[/green]     ",
    "planned": "[cyan]plan[/cyan]   ",
    "noop": "[dim]noop[/dim]   ",
    "failed": "[red]FAILED[/red] ",
    "missing": "[yellow]MISSING[/yellow]",
}


@click.group("contain")
def contain() -> None:
    """Contain the breach: revoke sessions, disable accounts, rotate keys, block attack vectors."""


@contain.command("revoke-sessions", cls=AdapterCommand)
@contain_options("revoke-sessions")
def revoke_sessions(since: str | None, **kwargs: Any) -> None:
    """End users' sessions: postgres, redis, cognito, iam-role."""
    _run("revoke-sessions", since=since, **kwargs)


@contain.command("disable-accounts", cls=AdapterCommand)
@contain_options("disable-accounts")
def disable_accounts(**kwargs: Any) -> None:
    """Stop accounts signing in: iam-user, cognito, postgres-role, app-users."""
    _run("disable-accounts", since=None, **kwargs)


@contain.command("rotate-keys", cls=AdapterCommand)
@contain_options("rotate-keys")
def rotate_keys(since: str | None, **kwargs: Any) -> None:
    """Replace key material: kms, iam-access-key, secretsmanager, postgres-password, signing-key."""
    _run("rotate-keys", since=since, **kwargs)


@contain.command("block", cls=AdapterCommand)
@contain_options("block")
def block(**kwargs: Any) -> None:
    """Block CIDRs: wafv2, nacl, security-group."""
    _run("block", since=None, **kwargs)


STEP = ("targets", "targets_file", "targets_column", "dry_run", "reason", "since")
# Offered by the commands of the adapters that take them only.
OPTIONAL = {"from_scope": False, "require_snapshot": False, "dsn": None, "redis_url": None}
AWS = ("profile", "region", "role_arn", "endpoint_url")


def _run(action: Action, *, case_dir: str, adapter_name: str, as_json: bool, **values: Any) -> None:
    from breach.procedure.contain import ContainSettings, contain
    from containment.registry import options_for
    from core.errors import StepFailed

    step = {k: values.pop(k) for k in STEP} | {k: values.pop(k, v) for k, v in OPTIONAL.items()}
    aws = {k: values.pop(k) for k in AWS}
    options = options_for(action, adapter_name, values)  # of the flags, those this adapter takes
    given = {"case": case_dir, "action": action, "adapter": adapter_name, "aws": aws}
    done = invoke(contain, ContainSettings, **given, **step, options=options)
    data = {**done.receipt.model_dump(mode="json"), "receipt": str(done.path)}
    data["warnings"] = done.warnings
    data["reconciled"] = [
        {**k.receipt.model_dump(mode="json"), "receipt": str(k.path)} for k in done.reconciled
    ]
    warn(done.warnings, as_json)
    report(as_json, data, _human(done))
    if done.failed:
        raise StepFailed(
            f"{len(done.failed)} of {len(done.receipt.targets)} targets failed or were not found",
            hint=f"see {done.path}",
        )


def _human(done: ContainResult) -> Callable[[Console], None]:
    receipt = done.receipt

    def render(out: Console) -> None:
        for kept in done.reconciled:  # an interrupted run's work, read back before this run
            out.print(f"{escape(kept.receipt.summary)}  [dim](receipt: {kept.path})[/dim]")
        head = "[bold]dry run[/bold]: " if receipt.dry_run else ""
        out.print(
            f"{head}{escape(receipt.summary)}  [dim]({receipt.adapter}, {escape(receipt.system)})[/dim]"
        )
        _targets(out, receipt)
        for staged in receipt.captured:
            hashed = f"; hashed: {', '.join(staged.hashed)}" if staged.hashed else ""
            out.print(
                f"  kept before deleting: staging/{escape(staged.artifact)}"
                f" ({staged.records} records{escape(hashed)})"
            )
        out.print(f"  undo: {escape(receipt.undo)}")
        out.print(f"  receipt: {done.path}")

    return render


def _targets(out: Console, receipt: ContainmentReceipt) -> None:
    """Each target worth showing, with the backends it ended; how many more there are."""
    from containment.run import targets_to_show

    shown, hidden = targets_to_show(receipt.targets)
    for target in shown:
        detail = target.change or ""
        if target.reason:
            detail = f"{detail}  {target.reason}".strip()
        if target.hint:
            detail += f" (hint: {target.hint})"
        out.print(f"  {MARKS[target.status]} {escape(target.name)}  {escape(detail)}")
        for backend in target.backends[:SHOWN_BACKENDS]:
            out.print(f"      [dim]ended[/dim] {safe(_backend_line(backend))}")
    if hidden:
        out.print(f"  ... and {hidden} more like those (every target is in the receipt)")


SHOWN_BACKENDS = 5


def _backend_line(backend: Backend) -> str:
    """pid 4242 svc@203.0.113.7 (psql) idle since 2026-11-28T06:02:11Z: SELECT ..."""
    where = backend.client_addr or "local socket"
    started = backend.backend_start.isoformat() if backend.backend_start else "?"
    query = backend.query if backend.query is not None else f"({backend.query_withheld})"
    text = f"pid {backend.pid} {backend.user}@{where} ({backend.application_name or '-'})"
    return f"{text} {backend.state or '?'} since {started}: {' '.join(query.split())[:80]}"
