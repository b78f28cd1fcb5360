"""`breach report`: the evidence report counsel reads (breach.procedure.report)."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from breach.commands import invoke
from breach.commands.bundle import passphrase_for, trust_options
from breach.options import PATH, aws_options, json_option, options
from breach.output import report as show

VERDICTS = {
    "verified": "[green]VERIFIED[/green]",
    "failed": "[red]NOT VERIFIED[/red]",
    "no-verdict": "[yellow]NO VERDICT[/yellow]",
}


@click.command("report")
@click.argument("bundle", type=PATH)
@click.option("--out", required=True, type=PATH, help="The HTML file to write.")
@trust_options
@click.option(
    "--case",
    help="The bundle's case folder or incident id (default: the case the bundle lives in).",
)
@click.option(
    "--generated-at",
    envvar="BREACH_GENERATED_AT",
    help="A time (RFC 3339) to print as the report's own; without it the same inputs give "
    "the same bytes. [BREACH_GENERATED_AT]",
)
@options(
    (("--store",), dict(help="Read BUNDLE as a bundle id in this store: s3://BUCKET/PREFIX, file://PATH or a folder.")),
    (("--reason",), dict(help="With --store: why the bundle is fetched (recorded in its custody log).")),
    (("--signing-key",), dict(envvar="BREACH_SIGNING_KEY", type=PATH, help="With --store: the custodian's Ed25519 key (PEM) signing the access. [BREACH_SIGNING_KEY]")),
)  # fmt: skip
@aws_options
@json_option
def report_command(as_json: bool, **values: Any) -> None:
    """Write one self-contained HTML report of a bundle (a folder, or with --store a bundle id)
    for counsel and courts: verification, signer, artifacts, chain, custody, receipts and a
    timeline. Exit 1 when the bundle fails verification (the report is written all the same,
    and says so first)."""
    from breach.procedure.report import ReportSettings, report
    from core.errors import StepFailed

    values["passphrase"] = passphrase_for(values["signing_key"]) if values["store"] else None
    done = invoke(report, ReportSettings, **values)

    def human(out: Console) -> None:
        out.print(f"{VERDICTS[done.verdict]}  bundle {escape(done.bundle_id or str(done.bundle))}")
        out.print(f"  report   {escape(str(done.out))} ({done.size:,} bytes)")
        out.print(f"  sha256   {done.sha256}")
        out.print(
            f"  {done.artifacts} artifact(s), {done.custody_entries} custody entries, "
            f"{done.receipts} receipt(s), {done.timeline_events} timeline events"
        )

    show(as_json, done.model_dump(mode="json"), human)
    if not done.ok:
        what = f"FAILED verification ({', '.join(done.failed)})" if done.failed else ""
        what = what or f"could not be fully checked ({', '.join(done.not_checked)})"
        raise StepFailed(
            f"bundle {done.bundle} {what}; the report {done.out} says so on its first line"
        )
