"""`breach sandbox up|down`: local stand-ins for the systems a breach touches, seeded."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from breach.commands import invoke
from breach.options import PATH, json_option
from breach.output import report


@click.group("sandbox")
def sandbox_group() -> None:
    """A seeded breach on 127.0.0.1 to try playbooks and drills on."""


@sandbox_group.command("up")
@click.option("--dir", "folder", type=PATH, required=True, help="A new folder for the sandbox.")
@click.option("--no-redis", is_flag=True, help="Do not start Redis (its steps are skipped).")
@json_option
def up_command(folder: Path, no_redis: bool, as_json: bool) -> None:
    """Start and seed PostgreSQL, Redis, moto and an SMTP sink; print their settings.

    The settings are `export NAME=value` lines on stdout (also in DIR/sandbox.env), so
    `eval "$(breach sandbox up --dir sbx)"` sets them in the shell.
    """
    from breach.procedure.sandbox import ENV_FILE, UpSettings, sandbox_up

    up = invoke(sandbox_up, UpSettings, dir=folder, redis=not no_redis)
    if as_json:
        report(True, up.model_dump(mode="json"), lambda _: None)
        return
    err = Console(stderr=True, soft_wrap=True)
    for service in up.services:
        where = f"127.0.0.1:{service.port}" if service.port else "unix socket"
        err.print(f"[green]up[/green]      {service.name:12} pid {service.pid:<8} {where}")
    for name, why in up.skipped.items():
        err.print(f"[yellow]skipped[/yellow] {name:12} {why}")
    err.print(f"settings in {up.dir / ENV_FILE}; stop with `breach sandbox down --dir {up.dir}`")
    click.echo((up.dir / ENV_FILE).read_text(), nl=False)


@sandbox_group.command("down")
@click.option("--dir", "folder", type=PATH, required=True, help="The sandbox's folder.")
@json_option
def down_command(folder: Path, as_json: bool) -> None:
    """Stop the processes `sandbox up` started there (by the process ids it recorded)."""
    from breach.procedure.sandbox import DownSettings, sandbox_down

    down = invoke(sandbox_down, DownSettings, dir=folder)

    def human(out: Console) -> None:
        for name in down.stopped:
            out.print(f"stopped  {name}")
        for name in down.not_running:
            out.print(f"gone     {name} (was no longer running)")
        if not down.stopped and not down.not_running:
            out.print("nothing was recorded as running (already down)")
        out.print(f"the sandbox's data stays in {down.dir}")

    report(as_json, down.model_dump(mode="json"), human)
