"""What a case must look like after any crash, full disk or race, once the next command ran:
the journal's chain holds, nothing hidden is left, every bundle is recorded, the bundles form
one linear chain whose head case.json names, and every bundle verifies."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from breach.case import Case
from manifests import chain


def statement_of(bundle: Path) -> dict[str, Any]:
    envelope = json.loads((bundle / "statement.dsse.json").read_text())
    return json.loads(base64.b64decode(envelope["payload"]))


def hidden_leftovers(root: Path) -> list[str]:
    """Hidden names under staging/, bundles/, receipts/ and the case file's temporaries."""
    found = [p.name for p in root.glob(".case.json*")]
    for name in ("staging", "bundles", "receipts"):
        for folder, dirs, files in os.walk(root / name):
            found += [f"{folder}/{n}" for n in [*dirs, *files] if n.startswith(".")]
    return found


def sealed_chain(root: Path) -> list[str]:
    """The bundles in bundles/, in chain order; asserts the chain is one line, no fork."""
    bundles = {b.name: statement_of(b) for b in (root / "bundles").iterdir()}
    previous = {
        name: (s["predicate"]["bundle"]["previous"] or {}).get("id") for name, s in bundles.items()
    }
    firsts = [name for name, before in previous.items() if before is None]
    assert len(firsts) == (1 if bundles else 0), f"chain starts {len(firsts)} times: {previous}"
    order = firsts[:]
    while order and len(order) < len(bundles):
        children = [name for name, before in previous.items() if before == order[-1]]
        assert len(children) == 1, f"the chain forks or stops after {order[-1]}: {children}"
        order += children
    assert len(order) == len(bundles), previous
    return order


def assert_consistent(root: Path, pubkey: Path) -> list[str]:
    """Check everything above; returns the chain of bundles."""
    from breach.procedure.bundle import VerifySettings, verify

    journal = root / "journal" / "journal.jsonl"
    assert chain.verify(journal)[1] == [], chain.verify(journal)[1]
    assert chain.torn_tail(journal) is None
    assert hidden_leftovers(root) == []
    case = Case.load(root)
    order = sealed_chain(root)
    recorded = [
        e["details"]["bundle"]
        for e in case.timeline()
        if e["what"] == "evidence.seal" and e["result"] in ("ok", "recovered")
    ]
    assert recorded == order, (recorded, order)
    head = case.record.last_bundle
    assert (head or {}).get("id") == (order[-1] if order else None)
    for name in order:
        checked = verify(VerifySettings(bundle=root / "bundles" / name, pubkeys=[pubkey]))
        assert checked.ok, (name, checked.failed)
    return order
