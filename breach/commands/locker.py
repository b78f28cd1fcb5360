"""`breach bundle push | list | fetch | hold`: the evidence locker (breach.procedure.locker)."""

from __future__ import annotations

from functools import partial
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from breach.commands import invoke
from breach.options import PATH, aws_options, json_option, options, trust_options
from breach.output import byte_progress, mark, report

STORE_HELP = "Evidence store: s3://BUCKET/PREFIX, file://PATH or a folder. [BREACH_STORE]"
store_option = click.option(
    "--store",
    help="Read BUNDLE as a bundle id in this store: s3://BUCKET/PREFIX, file://PATH or a folder.",
)
store_required = click.option("--store", required=True, envvar="BREACH_STORE", help=STORE_HELP)
locker_options = options(
    (("--signing-key",), dict(envvar="BREACH_SIGNING_KEY", type=PATH, help="Custodian's Ed25519 key (PEM): every access is a signed custody entry. [BREACH_SIGNING_KEY]")),
)  # fmt: skip


def store_options(func: Any) -> Any:
    """--store and the AWS options, for `breach verify|decrypt --store URI BUNDLE_ID` too."""
    return store_option(aws_options(func))


def _lock_line(o: dict[str, Any]) -> str:
    hold = "hold on" if o.get("legal_hold") else "no hold"
    until = (
        f"{o.get('mode')} until {o['retain_until']}" if o.get("retain_until") else "no retention"
    )
    version = f" v{o['version_id']}" if o.get("version_id") else ""
    return f"{escape(o['uri'])}{escape(version)}  {until}, {hold}"


@click.group("bundle")
def bundle_group() -> None:
    """The evidence locker: push sealed bundles to a store, list, fetch and hold them."""


@bundle_group.command("push")
@click.argument("bundle", type=PATH)
@store_required
@click.option("--retain-days", type=int, help="Object Lock retention, in days from now.")
@click.option(
    "--mode",
    type=click.Choice(["compliance", "governance"]),
    default="governance",
    show_default=True,
    help="Object Lock retention mode.",
)
@click.option("--legal-hold", is_flag=True, help="Put a legal hold on every object.")
@click.option("--allow-unlocked", is_flag=True, help="Store on a bucket without Object Lock.")
@click.option("--reason", help="Why it is stored (journaled).")
@locker_options
@aws_options
@json_option
def push_command(as_json: bool, **values: Any) -> None:  # fmt: skip
    """Store a sealed bundle: every object with its SHA-256 checked against the manifests,
    locked, read back, and recorded in the custody log and the case journal. Run again after
    an interruption, it sends only what the store lacks."""
    from breach.procedure.locker import PushSettings, push

    with byte_progress("pushing", enabled=not as_json) as progress:
        done = invoke(partial(push, progress=progress), PushSettings, **values)

    def human(out: Console) -> None:
        out.print(f"bundle {done.bundle_id} -> {escape(done.store)}")
        out.print(f"  sent {len(done.uploaded)}, already stored {len(done.already_stored)}")
        for o in done.objects:
            out.print(f"  {mark(True)}  {_lock_line(o.model_dump())}")
        seq = done.custody_seq
        out.print(f"  custody entry {seq} (stored)" if seq is not None else "  recorded before")

    report(as_json, done.model_dump(mode="json"), human)


@bundle_group.command("list")
@store_required
@click.option("--incident", help="Only the bundles of this incident.")
@click.option("--reason", help="Why (recorded as an access in each listed bundle's custody).")
@locker_options
@aws_options
@json_option
def list_command(as_json: bool, **values: Any) -> None:  # fmt: skip
    """Each bundle in the store: incident, created, signer key id, size, retention and hold."""
    from breach.procedure.locker import ListSettings, list_bundles

    found = invoke(list_bundles, ListSettings, **values)

    def human(out: Console) -> None:
        for b in found.bundles:
            out.print(
                f"{escape(b.bundle_id)}  incident {escape(str(b.incident))}  created "
                f"{b.created_at}  signer {str(b.signer_keyid)[:16]}…  {b.size:,} bytes  "
                f"retain until {b.retain_until or '-'}  hold {b.legal_hold}"
            )
        if not found.bundles:
            out.print(f"no bundle in {escape(found.store)}")

    report(as_json, found.model_dump(mode="json"), human)


@bundle_group.command("fetch")
@click.argument("bundle_id")
@store_required
@click.option("--out", required=True, type=PATH, help="Folder; the bundle goes to OUT/BUNDLE_ID.")
@click.option("--reason", required=True, help="Why the evidence is accessed (custody log).")
@trust_options
@locker_options
@aws_options
@json_option
def fetch_command(as_json: bool, **values: Any) -> None:  # fmt: skip
    """Download a bundle, checking each object's SHA-256 on the way, verify it as `breach
    verify` does, and report retention and legal hold. Exit 1 when a check fails."""
    from breach.procedure.locker import FetchSettings, fetch

    with byte_progress("fetching", enabled=not as_json) as progress:
        got = invoke(partial(fetch, progress=progress), FetchSettings, **values)

    def human(out: Console) -> None:
        from breach.commands.bundle import headline

        out.print(headline(got.verification))
        out.print(f"fetched {got.bundle_id} -> {escape(str(got.bundle))}")
        out.print(f"  retain until {got.retain_until or '-'}, legal hold {got.legal_hold}")
        for check in got.verification.checks:
            out.print(f"  {mark(check.ok)}  {check.name}: {escape(check.detail)}")
            for problem in check.problems:
                out.print(f"          - {escape(problem)}")

    report(as_json, got.model_dump(mode="json"), human)
    got.verification.raise_if_failed()


@bundle_group.command("hold")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.argument("bundle_id")
@store_required
@click.option("--reason", required=True, help="Why (the matter, the order): custody log.")
@locker_options
@aws_options
@json_option
def hold_command(as_json: bool, **values: Any) -> None:  # fmt: skip
    """Legal hold on or off on every object version of a stored bundle, read back, recorded."""
    from breach.procedure.locker import HoldSettings, hold

    done = invoke(hold, HoldSettings, **values)

    def human(out: Console) -> None:
        out.print(
            f"legal hold {done.state} on {len(done.objects)} object version(s) of {done.bundle_id}"
        )
        for o in done.objects:
            out.print(f"  {mark(True)}  {_lock_line(o.model_dump())}")

    report(as_json, done.model_dump(mode="json"), human)
