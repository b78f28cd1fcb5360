"""`breach keys generate`: a signing key pair and an age identity for a recipient."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.console import Console

from breach.commands import invoke
from breach.options import PASSPHRASE_ENV, json_option
from breach.output import report


@click.group("keys")
def keys_group() -> None:
    """Create signing keys and age identities."""


@keys_group.command("generate")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for the keys.")
@click.option(
    "--passphrase",
    "ask_passphrase",
    is_flag=True,
    help=f"Protect the signing key with a passphrase (prompted, or from {PASSPHRASE_ENV}).",
)
@click.option(
    "--name", default="signing", show_default=True, help="File name stem of the key pair."
)
@json_option
def generate(out: Path, ask_passphrase: bool, name: str, as_json: bool) -> None:
    """Ed25519 signing key (PEM, 0600) + public key, and an age X25519 identity + recipient."""
    from breach.procedure.keys import GenerateKeysSettings, generate_keys

    passphrase = os.environ.get(PASSPHRASE_ENV)
    if ask_passphrase and not passphrase:
        passphrase = click.prompt(
            "passphrase for the signing key", hide_input=True, confirmation_prompt=True
        )
    made = invoke(generate_keys, GenerateKeysSettings, out=out, passphrase=passphrase, name=name)

    def human(out_: Console) -> None:
        lock = " (passphrase-protected)" if made.encrypted else ""
        out_.print(f"signing key   {made.signing_key}{lock}")
        out_.print(f"public key    {made.signing_pub}   keyid {made.signing_keyid}")
        out_.print(f"age identity  {made.age_identity}  (give only to whoever decrypts)")
        out_.print(f"age recipient {made.age_recipient}")

    report(as_json, made.model_dump(mode="json"), human)
