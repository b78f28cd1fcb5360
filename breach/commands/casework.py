"""`breach incident list | note | policy` and `breach notify fields`: the responder's view across
cases, notes in the timeline, the pinned policy, and what a notice template accepts.

Thin shells over breach.procedure.casework, .policy and .notify (imported when a command runs).
"""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from breach.commands import invoke
from breach.options import PATH, POLICY_HELP, case_option, json_option, reason_option
from breach.output import report, report_line


@click.command("list")
@click.option("--cases-dir", type=PATH, help="Where the cases are (default $BREACH_CASES_DIR).")
@click.option("--at", help="Evaluate the clocks at this time instead of now (RFC 3339).")
@json_option
def list_(as_json: bool, **opts: Any) -> None:
    """The cases with severity, status, clocks (overdue, next due) and last action."""
    from breach.procedure.casework import ListSettings, list_cases

    found = invoke(list_cases, ListSettings, **opts)

    def human(out: Console) -> None:
        if not found.cases:
            out.print(escape(f"no cases under {found.cases_dir}"))
        for row in found.cases:
            if row.problem:
                out.print(escape(f"{row.id:<20} unreadable: {row.problem}"))
                continue
            late = f"[red]{len(row.overdue)} overdue[/red]" if row.overdue else "none overdue"
            near = f", next {row.next_due.id} {row.next_due.deadline:%Y-%m-%d %H:%M}Z" if row.next_due else ""  # fmt: skip
            last = row.last_action
            did = f"{last.at} {last.what} ({last.who})" if last else "-"
            out.print(f"[bold]{escape(row.id)}[/bold] {row.severity} {row.status:<9} {escape(row.title)}")  # fmt: skip
            out.print(f"    clocks: {late}{escape(near)}   last: {escape(did)}")

    report(as_json, found.model_dump(mode="json"), human)


@click.command("note")
@case_option()
@click.option("--text", required=True, help="The note, in words (journaled).")
@json_option
def note(case_dir: str, text: str, as_json: bool) -> None:
    """Add a responder's note to the case's timeline (the post-mortem includes it)."""
    from breach.procedure.casework import NoteSettings, add_note

    added = invoke(add_note, NoteSettings, case=case_dir, text=text)
    report_line(as_json, added, lambda d: escape(f"{d['case']}: note added at {d['at']}"))


@click.command("policy")
@case_option()
@click.option("--policy", required=True, type=PATH, help=POLICY_HELP.split(" [")[0] + ".")
@reason_option()
@json_option
def policy(case_dir: str, as_json: bool, **opts: Any) -> None:
    """Pin a new notification policy to the case (its clocks, regimes, organisation)."""
    from breach.procedure.policy import SetPolicySettings, set_policy

    changed = invoke(set_policy, SetPolicySettings, case=case_dir, **opts)
    before = changed.before or "the default (not pinned)"
    said = f"{changed.case}: policy {before} -> {changed.source} ({changed.sha256[:12]})"
    report_line(as_json, changed, lambda d: escape(said))


@click.command("fields")
@click.option("--notice", "notices", multiple=True, help="Which notice(s); default: all built in.")
@click.option("--templates", envvar="BREACH_TEMPLATES", type=PATH, help="Folder of your own templates. [BREACH_TEMPLATES]")  # fmt: skip
@json_option
def fields(as_json: bool, **opts: Any) -> None:
    """The names each notice template accepts through --set NAME=VALUE."""
    from breach.procedure.notify import FieldsSettings
    from breach.procedure.notify import fields as step

    found = invoke(step, FieldsSettings, **opts)

    def human(out: Console) -> None:
        for notice, names in found.fields.items():
            out.print(escape(f"{notice}: {', '.join(names) or '-'}"))

    report(as_json, found.model_dump(mode="json"), human)
