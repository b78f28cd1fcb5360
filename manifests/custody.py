"""The chain of custody: one signed, hash-chained entry per event after sealing.

It lives beside the bag's tag files as `custody.jsonl` (a tag file the tag manifest does not list,
since it grows after sealing), so custody travels with the evidence. The first entry records the
sealing and names the sha256 of the envelope and of the tag manifest, binding log and bag.
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import BadInput, StepFailed
from core.timeutil import rfc3339, utcnow
from manifests import chain
from manifests.keys import PublicKey, keyid, load_public_key
from manifests.signing import Signer, signer_pem, verify

CUSTODY_FILE = "custody.jsonl"
EVENTS = (
    "sealed",
    "stored",
    "locked",
    "legal-hold-on",
    "legal-hold-off",
    "accessed",
    "verified",
    "decrypted",
    "transferred",
)


def _chain_signer(signer: Signer) -> chain.Signer:
    pem = signer_pem(signer).decode()

    def sign(body: bytes) -> dict[str, str]:
        return {
            "keyid": keyid(signer.public_key),
            "alg": signer.algorithm,
            "public_key": pem,
            "sig": base64.b64encode(signer.sign(body)).decode(),
        }

    return sign


def record(
    bundle: Path,
    event: str,
    signer: Signer,
    *,
    who: str,
    why: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Append one signed custody event for the bundle at `bundle`."""
    if event not in EVENTS:
        raise BadInput(f"unknown custody event {event!r}", hint=f"one of: {', '.join(EVENTS)}")
    fields: dict[str, Any] = {"at": rfc3339(utcnow()), "event": event, "who": who}
    if why:
        fields["why"] = why
    if details:
        fields["details"] = details
    log = bundle / CUSTODY_FILE
    if os.path.lexists(log):
        log_of(bundle)  # never append through a link or into a FIFO
    return chain.append(log, fields, sign=_chain_signer(signer))


def log_of(bundle: Path) -> Path:
    """The bundle's custody log; a folder without one is not a bundle, and a log that is a
    link, a FIFO or a device is refused (it is never followed or opened)."""
    log = bundle / CUSTODY_FILE
    try:
        mode = os.lstat(log).st_mode
    except FileNotFoundError:
        raise BadInput(f"{bundle} is not a bundle (no {CUSTODY_FILE})") from None
    if not stat.S_ISREG(mode):
        raise StepFailed(f"{log} is not a regular file (a link, FIFO or device); refusing it")
    return log


def entries(bundle: Path) -> list[dict[str, Any]]:
    """The custody entries as found in the log (`verify` checks their chain and signatures)."""
    return chain.entries(log_of(bundle))


def signature_checker(trusted: set[str] | None) -> Callable[[dict[str, Any]], str | None]:
    """Check an entry's signature with its embedded key, and that the key is trusted.

    `trusted` None means no trust anchor was given: any valid signature is accepted.
    """

    def check(entry: dict[str, Any]) -> str | None:
        signature = entry.get("signature")
        if not isinstance(signature, dict):
            return "is not signed"
        try:
            key: PublicKey = load_public_key(signature["public_key"].encode(), source="entry key")
            raw = base64.b64decode(signature["sig"], validate=True)
        except (BadInput, KeyError, ValueError, AttributeError):
            return "carries an unreadable signature"
        if keyid(key) != signature.get("keyid"):
            return "names a key id that does not match its key"
        if not verify(key, raw, chain.signed_body(entry)):
            return f"({entry.get('event', '?')} by {entry.get('who', '?')}) has a signature that does not match its content"
        if trusted is not None and keyid(key) not in trusted:
            return (
                f"({entry.get('event', '?')} by {entry.get('who', '?')}) is signed by key "
                f"{keyid(key)[:16]}…, which is not trusted (add its public key with --trust)"
            )
        return None

    return check
