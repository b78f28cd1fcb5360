"""The in-toto Statement v1 that a bundle's DSSE envelope signs."""

from __future__ import annotations

from typing import Any

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://breachkit.dev/evidence-bundle/v1"


def build(subjects: dict[str, str], predicate: dict[str, Any]) -> dict[str, Any]:
    """subjects: {payload path: sha256 of the payload file (ciphertext)}."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {"name": name, "digest": {"sha256": digest}}
            for name, digest in sorted(subjects.items())
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


def subjects_of(statement: dict[str, Any]) -> dict[str, str]:
    """{name: sha256} of a parsed statement; raises KeyError/TypeError on a malformed one."""
    return {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
