"""`breach seal | verify | decrypt | custody`: sealed evidence bundles (breach.procedure.bundle)."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from breach.commands import invoke
from breach.commands.locker import store_options
from breach.options import PATH, aws_options, json_option, options, trust_options
from breach.output import byte_progress, mark, report, safe

# The custody events a person records (breach.procedure.bundle.RecordableEvent; "sealed" is
# written by sealing only). Listed here so that `--help` imports nothing heavy.
EVENTS = "stored locked legal-hold-on legal-hold-off accessed verified decrypted transferred"
signing_key_option = options(
    (("--signing-key",), dict(envvar="BREACH_SIGNING_KEY", type=PATH, help="Ed25519 private key (PEM). [BREACH_SIGNING_KEY]")),
)  # fmt: skip
bundle_argument = click.argument("bundle", type=PATH)

__all__ = ["trust_options"]  # breach.commands.report takes them from here


def passphrase_for(signing_key: Path | None) -> str | None:
    """Ask a person at the terminal for an encrypted key's passphrase (none in the environment)."""
    from breach.procedure.bundle import passphrase_needed

    if passphrase_needed(signing_key) and sys.stdin.isatty():
        return str(click.prompt(f"passphrase for {signing_key}", hide_input=True))
    return None


@click.command("seal")
@click.argument("source", required=False, type=PATH)
@click.option("--case", "case", envvar="BREACH_CASE", help="Seal this case's staged artifacts.")
@click.option("--out", type=PATH, help="Bundle folder (with SOURCE).")
@click.option("--incident", help="Incident id (with SOURCE).")
@click.option("--severity", type=click.Choice(["P1", "P2", "P3", "P4"]), help="With SOURCE.")
@options(
    (("--recipient", "-r", "recipients"), dict(multiple=True, envvar="BREACH_RECIPIENTS", help="age recipient (age1..., ssh-ed25519, ssh-rsa) or a file of them; repeatable.")),
)  # fmt: skip
@signing_key_option
@click.option(
    "--kms-key", envvar="BREACH_KMS_KEY", help="Sign with this AWS KMS key (ARN or alias)."
)
@aws_options
@json_option
def seal_command(as_json: bool, **values: Any) -> None:
    """Encrypt, hash and sign staged artifacts into a BagIt evidence bundle.

    Either --case DIR (the case's staged artifacts, chained to its previous bundle), or
    SOURCE --out BUNDLE --incident ID for a plain folder.
    """
    from breach.procedure.bundle import SealSettings, seal

    values["passphrase"] = passphrase_for(values["signing_key"])
    with byte_progress("sealing", enabled=not as_json) as progress:
        sealed = invoke(partial(seal, progress=progress), SealSettings, **values)

    def human(out: Console) -> None:
        count, size = len(sealed.artifacts), sealed.plaintext_bytes
        out.print(f"sealed {count} artifact(s), {size:,} bytes -> {sealed.bundle}")
        out.print(f"  bundle id        {sealed.id}")
        out.print(f"  envelope sha256  {sealed.envelope_sha256}")

    report(as_json, sealed.model_dump(mode="json"), human)


@click.command("verify")
@bundle_argument
@trust_options
@click.option(
    "--record",
    is_flag=True,
    help="Record the verification in the custody log (needs --signing-key).",
)
@signing_key_option
@store_options
@json_option
def verify_command(as_json: bool, **values: Any) -> None:
    """Check bag, tag manifest, signer, signature, subjects, chain link and custody against the
    trusted sealer keys (--pubkey, --trust: required) and custodian keys (--custody-trust).
    Exit 1 when a check fails or could not be made (unless waived by its --no-... flag)."""
    from breach.procedure.bundle import VerifySettings, verify

    if values["record"]:
        values["passphrase"] = passphrase_for(values["signing_key"])
    result = invoke(verify, VerifySettings, **values)

    def human(out: Console) -> None:
        out.print(headline(result))
        out.print(f"  folder {safe(result.bundle)}")
        for check in result.checks:
            out.print(f"  {mark(check.ok)}  {check.name}: {safe(check.detail)}")
            for problem in check.problems:
                out.print(f"          - {safe(problem)}")

    report(as_json, result.model_dump(mode="json", exclude={"custody"}), human)
    result.raise_if_failed()


def headline(result: Any) -> str:
    """The verdict first, coloured by what it means, then the notes (a renamed folder)."""
    colour = {"verified": "green", "signer-not-checked": "yellow"}.get(result.verdict, "red")
    lines = [f"[{colour}]{safe(result.headline)}[/{colour}]"]
    lines += [f"  note: {safe(note)}" for note in result.notes]
    return "\n".join(lines)


@click.command("decrypt")
@bundle_argument
@options(
    (("--identity", "-i"), dict(required=True, type=PATH, envvar="BREACH_IDENTITY", help="age identity file or SSH private key of a recipient. [BREACH_IDENTITY]")),
)  # fmt: skip
@click.option("--out", required=True, type=PATH, help="Folder for the plaintext.")
@click.option("--reason", help="Why the evidence is accessed (recorded in the custody log).")
@trust_options
@signing_key_option
@store_options
@json_option
def decrypt_command(as_json: bool, **values: Any) -> None:
    """Verify the bundle, decrypt every artifact into OUT, check it against the signed statement,
    and record who accessed it, when and why in the custody log."""
    from breach.procedure.bundle import DecryptSettings, decrypt

    values["passphrase"] = passphrase_for(values["signing_key"])
    done = invoke(decrypt, DecryptSettings, **values)
    count = len(done.artifacts)
    report(
        as_json,
        done.model_dump(mode="json", exclude={"custody"}),
        lambda o: o.print(
            f"{safe(done.headline)}\n"
            f"decrypted {count} artifact(s) into {safe(done.out)}; each matches its signed sha256"
        ),
    )


@click.group("custody")
def custody_group() -> None:
    """Read and extend a bundle's chain of custody."""


@custody_group.command("record")
@bundle_argument
@click.option(
    "--event", required=True, type=click.Choice(EVENTS.split()), help="What happened to it."
)
@click.option("--why", help="Reason, recipient, place: in words.")
@click.option("--to", "to", help="For transferred: who received it.")
@signing_key_option
@json_option
def custody_record(as_json: bool, **values: Any) -> None:
    """Record a custody event (stored, locked, legal hold, accessed, transferred...)."""
    from breach.procedure.bundle import CustodyRecordSettings
    from breach.procedure.bundle import custody_record as record_step

    values["passphrase"] = passphrase_for(values["signing_key"])
    entry = invoke(record_step, CustodyRecordSettings, **values)
    report(
        as_json,
        entry.model_dump(mode="json", exclude_none=True),
        lambda o: o.print(
            f"recorded {entry.event} (entry {entry.seq + 1}) for {safe(values['bundle'])}, signed "
            f"by custodian key {entry.signature['keyid']}: verifiers trust it with --custody-trust"
        ),
    )


@custody_group.command("show")
@bundle_argument
@options(
    (("--custody-trust",), dict(multiple=True, envvar="BREACH_CUSTODY_TRUST", type=PATH, help="Trusted custodian public key (PEM) or folder of them: marks whose entries are vouched for. [BREACH_CUSTODY_TRUST]")),
)  # fmt: skip
@json_option
def custody_show(as_json: bool, **values: Any) -> None:
    """List the custody events of a bundle, each with the role of its signer's key: sealer,
    custodian (in --custody-trust), outside (not in it), invalid (run `breach verify`)."""
    from breach.procedure.bundle import CustodyShowSettings
    from breach.procedure.bundle import custody_show as show_step

    shown = invoke(show_step, CustodyShowSettings, **values)

    def human(out: Console) -> None:
        for e in shown.entries:
            why = f" - {e['why']}" if e.get("why") else ""
            signature = e.get("signature")
            key = signature.get("keyid") if isinstance(signature, dict) else None
            signer = f"  [{e['role']} key {key}]"
            out.print(safe(f"{e.get('at')}  {e.get('event')!s:<15} {e.get('who')}{why}{signer}"))

    report(as_json, shown.entries, human)
