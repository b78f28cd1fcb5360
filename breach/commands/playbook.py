"""`breach playbook list|show|validate`: the declarative procedures `breach run` will follow."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from breach.commands import invoke
from breach.options import PATH, json_option
from breach.output import report, safe


@click.group("playbook")
def playbook_group() -> None:
    """List, show and validate playbooks."""


@playbook_group.command("list")
@click.option("--dir", "folder", type=PATH, help="Folder of playbooks [default: ./playbooks].")
@json_option
def list_command(folder: Path | None, as_json: bool) -> None:
    """The playbooks in a folder, and those that do not validate."""
    from breach.procedure.playbook import ListSettings, list_playbooks

    found = invoke(list_playbooks, ListSettings, folder=folder)

    def human(out: Console) -> None:
        for book in found.playbooks:
            out.print(f"{safe(book.name):24} {book.steps:3} steps  {safe(book.description)}")
            out.print(f"{'':24} {safe(book.path)}", style="dim")
        for problem in found.invalid.values():
            out.print(f"INVALID {safe(problem)}", style="red")
        if not found.playbooks and not found.invalid:
            out.print(f"no playbooks in {safe(found.folder)}")

    report(as_json, found.model_dump(mode="json"), human)
    if found.invalid:
        from core.errors import StepFailed

        raise StepFailed(f"{len(found.invalid)} playbook(s) in {found.folder} do not validate")


@playbook_group.command("show")
@click.argument("playbook", type=PATH)
@json_option
def show_command(playbook: Path, as_json: bool) -> None:
    """A playbook's inputs and its steps in the order a run takes them."""
    from breach.procedure.playbook import ShowSettings, show_playbook

    view = invoke(show_playbook, ShowSettings, playbook=playbook)

    def human(out: Console) -> None:
        out.print(f"{safe(view.name)}: {safe(view.description)}")
        out.print("inputs (--set NAME=VALUE):")
        for name, spec in view.inputs.items():
            default = (
                f" \\[default: {safe(spec['default'])}]" if spec["default"] is not None else ""
            )
            out.print(f"  {safe(name):22} {safe(spec['description'])}{default}")
        out.print("steps:")
        for n, step in enumerate(view.order, 1):
            needs = f"  (after {', '.join(step.needs)})" if step.needs else ""
            out.print(f"  {n:2}. {safe(step.id):22} {step.kind}{needs}")
            out.print(f"      {safe(step.description or step.summary)}", style="dim")

    report(as_json, view.model_dump(mode="json"), human)


@playbook_group.command("validate")
@click.argument("playbooks", type=PATH, nargs=-1, required=True)
@json_option
def validate_command(playbooks: tuple[Path, ...], as_json: bool) -> None:
    """Check playbooks whole: YAML, steps, settings, variables and needs (exit 2 if wrong)."""
    from breach.procedure.playbook import ValidateSettings, validate_playbooks

    checked = invoke(validate_playbooks, ValidateSettings, playbooks=list(playbooks))

    def human(out: Console) -> None:
        for book in checked.playbooks:
            out.print(f"valid  {safe(book.path)}  ({book.name}, {book.steps} steps)")

    report(as_json, checked.model_dump(mode="json"), human)


@playbook_group.command("policy")
@click.argument("playbook", type=PATH)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="NAME=VALUE",
    help="An input naming a resource (or BREACH_INPUT_NAME): scopes the policy to it.",
)
@click.option(
    "--role",
    default="breach_responder",
    show_default=True,
    help="The PostgreSQL role the grants are for.",
)
@json_option
def policy_command(playbook: Path, sets: tuple[str, ...], role: str, as_json: bool) -> None:
    """The least IAM policy and PostgreSQL grants the playbook's steps need."""
    import json

    from breach.commands.run import parse_sets
    from breach.procedure.playbook import PolicySettings, playbook_policy

    found = invoke(
        playbook_policy, PolicySettings, playbook=playbook, inputs=parse_sets(sets), role=role
    )

    def human(out: Console) -> None:
        out.print(f"# IAM policy for {safe(found.playbook)}")
        for note in found.notes:
            out.print(f"# {safe(note)}", style="yellow")
        out.print(json.dumps(found.iam_policy, indent=2), markup=False, highlight=False)
        out.print(f"-- PostgreSQL grants for the role {safe(role)}")
        for line in found.pg_grants or ["-- none: no step uses PostgreSQL"]:
            out.print(line, markup=False, highlight=False)

    report(as_json, found.model_dump(mode="json"), human)
