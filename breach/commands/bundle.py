"""`breach seal | verify | decrypt | custody`: sealed evidence bundles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from breach.options import aws_options, json_option
from breach.output import byte_progress, mark, report
from breach.sealing import record_custody, seal_case, seal_folder
from breach.signers import load_local_signer, load_signer
from core.errors import BadInput, StepFailed
from manifests import chain, custody
from manifests.decrypt import decrypt_bundle
from manifests.keys import load_identities, load_recipients, recipient_lines
from manifests.seal import SealedBundle
from manifests.verify import Report, load_trusted, verify_bundle

signing_key_option = click.option(
    "--signing-key",
    envvar="BREACH_SIGNING_KEY",
    type=click.Path(path_type=Path),
    help="Ed25519 private key (PEM). [BREACH_SIGNING_KEY]",
)
bundle_argument = click.argument("bundle", type=click.Path(path_type=Path))


@click.command("seal")
@click.argument("source", required=False, type=click.Path(path_type=Path))
@click.option("--case", "case_dir", envvar="BREACH_CASE", help="Seal this case's staged artifacts.")
@click.option("--out", type=click.Path(path_type=Path), help="Bundle folder (with SOURCE).")
@click.option("--incident", help="Incident id (with SOURCE).")
@click.option("--severity", type=click.Choice(["P1", "P2", "P3", "P4"]), help="With SOURCE.")
@click.option(
    "--recipient",
    "-r",
    "recipients",
    multiple=True,
    envvar="BREACH_RECIPIENTS",
    help="age recipient (age1..., ssh-ed25519, ssh-rsa) or a file of them; repeatable.",
)
@signing_key_option
@click.option(
    "--kms-key", envvar="BREACH_KMS_KEY", help="Sign with this AWS KMS key (ARN or alias)."
)
@aws_options
@json_option
def seal_command(
    source: Path | None,
    case_dir: str | None,
    out: Path | None,
    incident: str | None,
    severity: str | None,
    recipients: tuple[str, ...],
    signing_key: Path | None,
    kms_key: str | None,
    profile: str | None,
    region: str | None,
    role_arn: str | None,
    endpoint_url: str | None,
    as_json: bool,
) -> None:
    """Encrypt, hash and sign staged artifacts into a BagIt evidence bundle.

    Either --case DIR (the case's staged artifacts, chained to its previous bundle), or
    SOURCE --out BUNDLE --incident ID for a plain folder.
    """
    if bool(case_dir) == bool(source):
        raise BadInput("give either --case DIR or a SOURCE folder", hint="see `breach seal --help`")
    if source and not (out and incident):
        raise BadInput("sealing a folder needs --out BUNDLE and --incident ID")
    names = recipient_lines(list(recipients))
    recipient_keys = load_recipients(names)
    signer = load_signer(
        signing_key, kms_key, region=region, profile=profile, endpoint_url=endpoint_url
    )
    with byte_progress("sealing", enabled=not as_json) as progress:
        if case_dir:
            from breach.case import Case  # not at import time: keeps `breach verify` light

            bundle = seal_case(Case.load(case_dir), recipient_keys, names, signer, progress)
        else:
            assert source and out and incident
            bundle = seal_folder(
                source, out, incident, recipient_keys, names, signer, severity, progress
            )
    _report_sealed(bundle, as_json)


def _report_sealed(bundle: SealedBundle, as_json: bool) -> None:
    data = {
        "bundle": str(bundle.path),
        "id": bundle.id,
        "envelope_sha256": bundle.envelope_sha256,
        "artifacts": bundle.artifacts,
    }

    def human(out: Console) -> None:
        size = sum(a["plaintext"]["size"] for a in bundle.artifacts)
        out.print(f"sealed {len(bundle.artifacts)} artifact(s), {size:,} bytes -> {bundle.path}")
        out.print(f"  bundle id        {bundle.id}")
        out.print(f"  envelope sha256  {bundle.envelope_sha256}")

    report(as_json, data, human)


@click.command("verify")
@bundle_argument
@click.option(
    "--pubkey",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Trusted signer public key (PEM).",
)
@click.option(
    "--trust",
    multiple=True,
    envvar="BREACH_TRUST",
    type=click.Path(path_type=Path),
    help="Folder of trusted public keys (*.pem). [BREACH_TRUST]",
)
@click.option(
    "--record",
    is_flag=True,
    help="Record the verification in the custody log (needs --signing-key).",
)
@signing_key_option
@json_option
def verify_command(
    bundle: Path,
    pubkey: tuple[Path, ...],
    trust: tuple[Path, ...],
    record: bool,
    signing_key: Path | None,
    as_json: bool,
) -> None:
    """Check bag, tag manifest, signer, signature, subjects, chain link and custody. Exit 1 on any failure."""
    result = verify_bundle(bundle, load_trusted(list(pubkey), list(trust)))
    if record:
        if not signing_key:
            raise BadInput("--record needs --signing-key to sign the custody entry")
        outcome = "passed" if result.ok else "failed"
        record_custody(
            bundle, "verified", load_local_signer(signing_key), why=f"verification {outcome}"
        )
    report(as_json, result.to_dict(), lambda out: _print_report(out, result))
    if not result.ok:
        failed = [c.name for c in result.checks if c.ok is False]
        raise StepFailed(f"bundle {bundle} FAILED verification: {', '.join(failed)}")


def _print_report(out: Console, result: Report) -> None:
    out.print(f"bundle {escape(result.bundle)}  ({result.bundle_id or 'unknown id'})")
    for check in result.checks:
        out.print(f"  {mark(check.ok)}  {check.name}: {escape(check.detail)}")
        for problem in check.problems:
            out.print(f"          - {escape(problem)}")
    verdict = "[green]VERIFIED[/green]" if result.ok else "[red]NOT VERIFIED[/red]"
    out.print(f"  {verdict}")


@click.command("decrypt")
@bundle_argument
@click.option(
    "--identity",
    "-i",
    required=True,
    type=click.Path(path_type=Path),
    envvar="BREACH_IDENTITY",
    help="age identity file or SSH private key of a recipient. [BREACH_IDENTITY]",
)
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Folder for the plaintext."
)
@click.option("--reason", help="Why the evidence is accessed (recorded in the custody log).")
@click.option(
    "--pubkey", multiple=True, type=click.Path(path_type=Path), help="Trusted signer public key."
)
@click.option(
    "--trust",
    multiple=True,
    envvar="BREACH_TRUST",
    type=click.Path(path_type=Path),
    help="Folder of trusted public keys.",
)
@signing_key_option
@json_option
def decrypt_command(
    bundle: Path,
    identity: Path,
    out: Path,
    reason: str | None,
    pubkey: tuple[Path, ...],
    trust: tuple[Path, ...],
    signing_key: Path | None,
    as_json: bool,
) -> None:
    """Verify the bundle, decrypt every artifact into OUT, check it against the signed statement,
    and record who accessed it, when and why in the custody log."""
    if not signing_key:
        raise BadInput(
            "decrypting is a custody event and needs --signing-key (or BREACH_SIGNING_KEY)",
            hint="`breach keys generate --out DIR` makes one",
        )
    signer = load_local_signer(signing_key)
    identities = load_identities(identity)
    checked = verify_bundle(bundle, load_trusted(list(pubkey), list(trust)))
    if not checked.ok:
        failed = ", ".join(c.name for c in checked.checks if c.ok is False)
        raise StepFailed(
            f"refusing to decrypt: bundle {bundle} failed verification ({failed})",
            hint="run `breach verify` for details",
        )
    done = decrypt_bundle(bundle, identities, out)
    record_custody(
        bundle, "decrypted", signer, why=reason, details={"artifacts": len(done), "out": str(out)}
    )
    data = {
        "bundle": str(bundle),
        "out": str(out),
        "artifacts": [
            {"name": d.name, "path": str(d.path), "sha256": d.sha256, "size": d.size} for d in done
        ],
    }
    report(
        as_json,
        data,
        lambda o: o.print(
            f"decrypted {len(done)} artifact(s) into {out}; each matches its signed sha256"
        ),
    )


@click.group("custody")
def custody_group() -> None:
    """Read and extend a bundle's chain of custody."""


@custody_group.command("record")
@bundle_argument
@click.option(
    "--event", required=True, type=click.Choice([e for e in custody.EVENTS if e != "sealed"])
)
@click.option("--why", help="Reason, recipient, place: in words.")
@click.option("--to", "to", help="For transferred: who received it.")
@signing_key_option
@json_option
def custody_record(
    bundle: Path,
    event: str,
    why: str | None,
    to: str | None,
    signing_key: Path | None,
    as_json: bool,
) -> None:
    """Record a custody event (stored, locked, legal hold, accessed, transferred...)."""
    if not (bundle / custody.CUSTODY_FILE).is_file():
        raise BadInput(f"{bundle} is not a bundle (no {custody.CUSTODY_FILE})")
    if not signing_key:
        raise BadInput("a custody entry must be signed: pass --signing-key (or BREACH_SIGNING_KEY)")
    entry = record_custody(
        bundle, event, load_local_signer(signing_key), why, {"to": to} if to else None
    )
    report(
        as_json,
        entry,
        lambda o: o.print(f"recorded {event} (entry {entry['seq'] + 1}) for {bundle}"),
    )


@custody_group.command("show")
@bundle_argument
@json_option
def custody_show(bundle: Path, as_json: bool) -> None:
    """List the custody events of a bundle (run `breach verify` to check them)."""
    log = bundle / custody.CUSTODY_FILE
    if not log.is_file():
        raise BadInput(f"{bundle} is not a bundle (no {custody.CUSTODY_FILE})")
    entries = chain.entries(log)

    def human(out: Console) -> None:
        for e in entries:
            why = f" - {e['why']}" if e.get("why") else ""
            out.print(f"{e.get('at')}  {e.get('event'):<15} {e.get('who')}{escape(why)}")

    data: Any = entries
    report(as_json, data, human)
