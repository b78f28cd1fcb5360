"""DSSE envelopes (github.com/secure-systems-lab/dsse): sign the PAE, never raw files."""

from __future__ import annotations

import base64
from typing import Any

from core.errors import BadInput, StepFailed
from core.untrusted import loads

IN_TOTO = "application/vnd.in-toto+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """Pre-Authentication Encoding: 'DSSEv1' SP len(type) SP type SP len(body) SP body."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def envelope(payload: bytes, payload_type: str, signatures: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": payload_type,
        "signatures": signatures,
    }


def parse(data: bytes, *, source: str) -> tuple[str, bytes, list[dict[str, str]]]:
    """Return (payloadType, payload bytes, signatures) or raise BadInput naming what is wrong."""
    try:
        env = loads(data, what=source)
    except StepFailed as exc:  # too deep, a duplicate key, not JSON
        raise BadInput(exc.message) from None
    try:
        payload_type = env["payloadType"]
        payload = base64.b64decode(env["payload"], validate=True)
        signatures = env["signatures"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"{source} is not a DSSE envelope ({type(exc).__name__})") from None
    if not isinstance(payload_type, str) or not isinstance(signatures, list) or not signatures:
        raise BadInput(f"{source} is not a DSSE envelope (no signatures)")
    if not all(_is_signature(s) for s in signatures):  # a hostile envelope: never a crash later
        raise BadInput(f"{source} is not a DSSE envelope (a signature is not a keyid and a sig)")
    return payload_type, payload, signatures


def _is_signature(entry: object) -> bool:
    """{"sig": text[, "keyid": text]}: what DSSE's signatures hold (keyid is optional)."""
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("sig"), str)
        and isinstance(entry.get("keyid", ""), str)
    )
