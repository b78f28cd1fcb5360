"""`breach incident verify`: the case journal against the heads its bundles signed
(breach.procedure.journal, imported when the command runs)."""

from __future__ import annotations

import click
from rich.console import Console

from breach.commands import invoke
from breach.options import PATH, case_option, json_option
from breach.output import report, safe


@click.command("verify")
@case_option()
@click.option(
    "--pubkey",
    "pubkeys",
    multiple=True,
    type=PATH,
    help="Trusted sealer public key (PEM): a bundle's head counts only if it signed.",
)
@json_option
def verify(case_dir: str, pubkeys: tuple[str, ...], as_json: bool) -> None:
    """Check the journal against the heads signed in the case's bundles. Exit 1 on any problem."""
    from breach.procedure.journal import JournalVerifySettings, verify_journal

    checked = invoke(verify_journal, JournalVerifySettings, case=case_dir, pubkeys=list(pubkeys))

    def human(out: Console) -> None:
        for problem in checked.problems:
            out.print(f"problem: {safe(problem)}")
        for note in checked.notes:
            out.print(f"note: {safe(note)}")
        out.print(checked.headline)

    report(as_json, checked.model_dump(mode="json"), human)
    checked.raise_if_failed()
